// Administration: search users, activate/deactivate them, grant and revoke roles.

import { api, seg } from "../api.js";
import {
  h,
  uid,
  page,
  say,
  field,
  alertBox,
  showAlert,
  busy,
  confirmInline,
  table,
  td,
  empty,
} from "../dom.js";

const PAGE_SIZE = 50;

export function usersView(ctx) {
  const { el, status } = page("Users");
  let roles = []; // every role name, for the grant forms
  let cursor = null;
  let query = "";
  let seq = 0;

  // ---- Search ---------------------------------------------------------------
  const search = field({
    id: "user-search",
    name: "q",
    label: "Search",
    type: "search",
    autocomplete: "off",
    spellcheck: "false",
    hint: "The start of a username or an email address.",
  });
  const searchButton = h("button", { type: "submit", class: "btn btn-primary" }, "Search");
  const searchForm = h(
    "form",
    { class: "form form-inline", role: "search", "aria-label": "Find users", novalidate: true },
    search.wrapper,
    h("div", { class: "form-actions" }, searchButton),
  );
  let debounce = null;
  searchForm.addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(debounce);
    busy(searchButton, "Searching…", () => reload());
  });
  search.input.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => reload(), 300);
  });

  // ---- List -----------------------------------------------------------------
  const alert = alertBox();
  const rolesAlert = alertBox();
  const tableEl = table(["Username", "Email", "Active", "Roles", "Actions"], [], { caption: "Users" });
  const tbody = tableEl.querySelector("tbody");
  const emptyEl = empty("No users found.");
  const loading = h("p", { class: "muted" }, "Loading users…");
  const more = h("button", { type: "button", class: "btn btn-secondary", hidden: true }, "Load more");
  tableEl.hidden = true;
  emptyEl.hidden = true;
  more.addEventListener("click", () => busy(more, "Loading…", () => loadPage(seq)));

  function refresh() {
    tableEl.hidden = tbody.rows.length === 0;
    emptyEl.hidden = tbody.rows.length !== 0;
  }

  function row(user) {
    const tr = h("tr", { "data-username": user.username });
    drawRow(tr, user);
    return tr;
  }

  function drawRow(tr, user) {
    const rowAlert = alertBox("alert-inline");
    const isMe = ctx.user && user.username === ctx.user.username;

    const act = async (button, busyText, work, message) => {
      showAlert(rowAlert, "");
      say(status, "");
      await busy(button, busyText, async () => {
        let updated;
        try {
          updated = await work();
        } catch (error) {
          if (!error.handled) showAlert(rowAlert, error.detail);
          return;
        }
        drawRow(tr, updated);
        say(status, message(updated));
        // Changing one's own roles shows up in the navigation at once.
        if (isMe) ctx.refreshNav();
      });
    };

    // Roles held, each with its own revoke button.
    const held = h(
      "ul",
      { class: "chips" },
      user.roles.map((role) => {
        const nameId = uid("role-chip");
        const revoke = h(
          "button",
          { type: "button", class: "btn btn-link btn-small", "aria-describedby": nameId },
          "Revoke role",
        );
        revoke.addEventListener("click", () =>
          act(
            revoke,
            "Revoking…",
            () => api.delete(`/users/${seg(user.username)}/roles/${seg(role)}`),
            () => `Revoked ${role} from ${user.username}.`,
          ),
        );
        return h("li", { class: "chip" }, h("span", { class: "chip-name", id: nameId }, role), revoke);
      }),
    );
    const rolesCell = td("Roles", user.roles.length ? held : h("span", { class: "muted" }, "None"));

    // Grant form: the roles this user does not hold yet.
    const grantable = roles.filter((name) => !user.roles.includes(name));
    if (grantable.length) {
      const selectId = `grant-role-${user.username}`;
      const select = h(
        "select",
        { id: selectId, name: "role" },
        grantable.map((name) => h("option", { value: name }, name)),
      );
      const grant = h("button", { type: "submit", class: "btn btn-secondary btn-small" }, "Grant");
      const grantForm = h(
        "form",
        { class: "grant-form", "aria-label": `Grant to ${user.username}`, novalidate: true },
        h("label", { for: selectId }, "Role"),
        select,
        grant,
      );
      grantForm.addEventListener("submit", (event) => {
        event.preventDefault();
        const role = select.value;
        act(
          grant,
          "Granting…",
          () => api.post(`/users/${seg(user.username)}/roles/${seg(role)}`),
          () => `Granted ${role} to ${user.username}.`,
        );
      });
      rolesCell.append(grantForm);
    }

    const toggle = h(
      "button",
      { type: "button", class: `btn btn-small ${user.is_active ? "btn-danger" : "btn-secondary"}` },
      user.is_active ? "Deactivate" : "Activate",
    );
    toggle.addEventListener("click", () =>
      act(
        toggle,
        user.is_active ? "Deactivating…" : "Activating…",
        () => api.patch(`/users/${seg(user.username)}`, { json: { is_active: !user.is_active } }),
        (updated) => `${updated.is_active ? "Activated" : "Deactivated"} ${updated.username}.`,
      ),
    );

    // For a user locked out of their second factors (a lost phone and no
    // recovery codes): afterwards their password alone signs them in.
    let resetMfa = null;
    if (user.mfa_enabled === true) {
      resetMfa = h("button", { type: "button", class: "btn btn-secondary btn-small" }, "Reset second factors");
      resetMfa.addEventListener("click", () => {
        showAlert(rowAlert, "");
        say(status, "");
        confirmInline(resetMfa, {
          question: `Remove every second factor of ${user.username} (authenticator app, passkeys, recovery codes)?`,
          confirmText: "Reset",
          busyText: "Resetting…",
          onConfirm: async () => {
            try {
              await api.delete(`/users/${seg(user.username)}/mfa`);
            } catch (error) {
              if (!error.handled) showAlert(rowAlert, error.detail);
              return;
            }
            drawRow(tr, { ...user, mfa_enabled: false });
            say(status, `Reset the second factors of ${user.username}: their password alone signs them in now.`);
          },
        });
      });
    }

    tr.replaceChildren(
      td(
        "Username",
        h("strong", {}, user.username),
        isMe ? h("span", { class: "muted" }, " (you)") : null,
        user.mfa_enabled === true ? [" ", h("span", { class: "pill pill-ok", title: "Two-step sign-in is on" }, "2-step")] : null,
      ),
      td("Email", h("span", { class: "email" }, user.email)),
      td(
        "Active",
        h("span", { class: `pill ${user.is_active ? "pill-ok" : "pill-off"}` }, user.is_active ? "Yes" : "No"),
      ),
      rolesCell,
      td("Actions", h("div", { class: "row-actions" }, toggle, resetMfa), rowAlert),
    );
  }

  async function loadPage(mySeq) {
    showAlert(alert, "");
    let result;
    try {
      result = await api.get("/users", { query: { limit: PAGE_SIZE, cursor, q: query } });
    } catch (error) {
      if (mySeq === seq && !error.handled) showAlert(alert, error.detail);
      return;
    }
    if (mySeq !== seq) return; // a newer search started meanwhile
    tbody.append(...result.items.map(row));
    cursor = result.next_cursor;
    more.hidden = !cursor;
    refresh();
  }

  async function reload() {
    const mySeq = ++seq;
    query = search.input.value.trim();
    cursor = null;
    tbody.replaceChildren();
    more.hidden = true;
    await loadPage(mySeq);
  }

  async function start() {
    try {
      roles = (await api.get("/roles")).items.map((role) => role.name);
    } catch (error) {
      if (error.handled) return;
      showAlert(rolesAlert, `Could not load the roles, so none can be granted here: ${error.detail}`);
    }
    await reload();
    loading.hidden = true;
  }

  el.append(
    searchForm,
    h(
      "section",
      { class: "card" },
      rolesAlert,
      alert,
      loading,
      emptyEl,
      tableEl,
      h("div", { class: "list-more" }, more),
    ),
  );
  start();
  return el;
}
