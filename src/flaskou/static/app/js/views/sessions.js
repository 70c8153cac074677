// The caller's live login sessions: one per device, each revocable.

import { api, seg } from "../api.js";
import { h, page, say, alertBox, showAlert, busy, table, td, empty } from "../dom.js";
import { timeEl } from "../format.js";

export function sessionsView(ctx) {
  const { el, status } = page("Sessions");
  const alert = alertBox();
  const list = h("div", { class: "list-area" }, h("p", { class: "muted" }, "Loading sessions…"));
  const everywhere = h("button", { type: "button", class: "btn btn-danger" }, "Log out everywhere");

  everywhere.addEventListener("click", () => {
    showAlert(alert, "");
    busy(everywhere, "Logging out…", async () => {
      try {
        await api.delete("/tokens");
      } catch (error) {
        if (!error.handled) showAlert(alert, error.detail);
        return;
      }
      await ctx.loggedOut("You have been logged out on every device.");
    });
  });

  function row(session) {
    const cells = [
      td(
        "Session",
        h("span", { class: "session-description" }, session.description || "Unknown device"),
        session.current ? [" ", h("strong", { class: "badge" }, "(this session)")] : null,
      ),
      td("Created", timeEl(session.created_at)),
      td("Last used", timeEl(session.last_used_at)),
      td("Expires", timeEl(session.expires_at)),
    ];
    const actions = td("Actions");
    const tr = h("tr", { class: session.current ? "is-current" : null }, cells, actions);
    if (!session.current) {
      const revoke = h("button", { type: "button", class: "btn btn-secondary btn-small" }, "Revoke");
      revoke.addEventListener("click", () => {
        showAlert(alert, "");
        say(status, "");
        busy(revoke, "Revoking…", async () => {
          try {
            await api.delete(`/tokens/${seg(session.id)}`);
          } catch (error) {
            if (error.handled) return;
            if (error.status !== 404) {
              showAlert(alert, error.detail);
              return;
            }
            // Already gone (expired or revoked elsewhere): drop the row all the same.
          }
          tr.remove();
          say(status, "Session revoked.");
        });
      });
      actions.append(revoke);
    }
    return tr;
  }

  async function load() {
    let sessions;
    try {
      sessions = (await api.get("/tokens")).items;
    } catch (error) {
      if (!error.handled) {
        list.replaceChildren();
        showAlert(alert, error.detail);
      }
      return;
    }
    if (!sessions.length) {
      list.replaceChildren(empty("No live sessions."));
      return;
    }
    // The current session first, then the most recently used.
    sessions.sort(
      (a, b) =>
        Number(b.current) - Number(a.current) ||
        String(b.last_used_at).localeCompare(String(a.last_used_at)),
    );
    list.replaceChildren(
      table(["Session", "Created", "Last used", "Expires", "Actions"], sessions.map(row), {
        caption: "Your live sessions",
      }),
    );
  }

  el.append(
    h(
      "p",
      { class: "lead" },
      "Every device or browser you logged in from has its own session. Revoke the ones you do not recognise.",
    ),
    h("section", { class: "card" }, alert, list),
    h(
      "section",
      { class: "card" },
      h("h2", { id: "everywhere-heading" }, "Every device"),
      h("p", {}, "End every session of your account, this one included; you will need to log in again."),
      h("div", { class: "form-actions" }, everywhere),
    ),
  );
  load();
  return el;
}
