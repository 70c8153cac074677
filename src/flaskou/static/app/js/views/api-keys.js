// The caller's personal API keys: made here (the token is shown once),
// listed with when each was last used, and revoked.
//
// The API only lets a login session manage keys, never a key itself, so this
// page (signed in with the session cookie) is the one place they are made.

import { api, seg } from "../api.js";
import {
  h,
  page,
  say,
  field,
  selectField,
  alertBox,
  showAlert,
  setFieldError,
  clearErrors,
  showErrors,
  busy,
  confirmInline,
  table,
  td,
  empty,
} from "../dom.js";
import { timeEl } from "../format.js";

const NAME_MAX = 100;
const DAY_MS = 24 * 60 * 60 * 1000;

// What each scope lets a key do, in the order the form offers them.
const SCOPES = [
  { name: "account:read", text: "See your account: username, email and roles." },
  { name: "files:read", text: "List and download your files, and see your storage use." },
  { name: "files:write", text: "Upload and delete your files." },
  { name: "admin:read", text: "Read users, roles and the audit trail.", admin: true },
  { name: "admin:write", text: "Change users and roles, like an administrator.", admin: true },
];

// Expiration choices; days null is "No expiration".
const EXPIRATIONS = [
  { value: "7", label: "7 days", days: 7 },
  { value: "30", label: "30 days", days: 30 },
  { value: "90", label: "90 days", days: 90 },
  { value: "365", label: "1 year", days: 365 },
  { value: "never", label: "No expiration", days: null },
];
const DEFAULT_EXPIRATION = "30";

function isAdmin(user) {
  return Boolean(user && Array.isArray(user.roles) && user.roles.includes("admin"));
}

/** The expires_at to send for a choice: UTC ISO 8601 ("…Z"), or null for never. */
function expiresAt(choice) {
  const option = EXPIRATIONS.find((o) => o.value === choice);
  if (!option || option.days === null) return null;
  return new Date(Date.now() + option.days * DAY_MS).toISOString();
}

/**
 * A message about one item of the list ("scopes.1": a scope the schema does
 * not know) belongs under the scope group, like those about the whole list.
 */
function foldScopeErrors(error) {
  if (!error || !error.errors) return error;
  const errors = {};
  for (const [key, messages] of Object.entries(error.errors)) {
    const name = /^scopes\.\d+$/.test(key) ? "scopes" : key;
    errors[name] = [...(errors[name] || []), ...[].concat(messages)];
  }
  error.errors = errors;
  return error;
}

function isPast(iso) {
  const time = new Date(iso).getTime();
  return Number.isFinite(time) && time <= Date.now();
}

export function apiKeysView(ctx) {
  const { el, status } = page("API keys");
  const admin = isAdmin(ctx.user);

  // ---- Create ---------------------------------------------------------------
  const name = field({
    id: "apikey-name",
    name: "name",
    label: "Name",
    autocomplete: "off",
    required: true,
    hint: "What the key is for, e.g. “Backup script” or “Laptop CLI”.",
  });
  name.input.setAttribute("maxlength", String(NAME_MAX));

  // The fieldset carries name="scopes" so that showErrors() puts the API's
  // errors.scopes under the whole group, not under its first checkbox.
  const scopesErrorId = "apikey-scopes-error";
  const scopeBoxes = [];
  const scopes = h(
    "fieldset",
    { class: "field scopes", id: "apikey-scopes", name: "scopes", tabindex: "-1" },
    h("legend", {}, "Scopes"),
    h("p", { class: "field-hint" }, "A key can do only what its scopes allow."),
    SCOPES.filter((scope) => admin || !scope.admin).map((scope) => {
      const id = `apikey-scope-${scope.name.replace(":", "-")}`;
      const box = h("input", {
        id,
        type: "checkbox",
        name: "scope",
        value: scope.name,
        "aria-describedby": `${id}-text`,
      });
      scopeBoxes.push(box);
      return h(
        "div",
        { class: "scope-option" },
        box,
        h(
          "div",
          { class: "scope-words" },
          h("label", { for: id }, h("code", {}, scope.name)),
          h("p", { class: "field-hint", id: `${id}-text` }, scope.text),
        ),
      );
    }),
    h("p", { class: "field-error", id: scopesErrorId, hidden: true }),
  );

  const expiration = selectField({
    id: "apikey-expiration",
    name: "expires_at",
    label: "Expiration",
    options: EXPIRATIONS.map(({ value, label }) => ({ value, label })),
    value: DEFAULT_EXPIRATION,
  });
  const neverHint = h(
    "p",
    { class: "field-hint field-warning", id: "apikey-expiration-hint", hidden: true },
    "A key that never expires works until you revoke it: prefer an expiration date.",
  );
  expiration.input.after(neverHint);
  function syncNeverHint() {
    const never = expiration.input.value === "never";
    neverHint.hidden = !never;
    const ids = (expiration.input.getAttribute("aria-describedby") || "")
      .split(/\s+/)
      .filter((x) => x && x !== neverHint.id);
    if (never) ids.unshift(neverHint.id);
    if (ids.length) expiration.input.setAttribute("aria-describedby", ids.join(" "));
    else expiration.input.removeAttribute("aria-describedby");
  }
  expiration.input.addEventListener("change", syncNeverHint);

  const createAlert = alertBox();
  const create = h("button", { type: "submit", class: "btn btn-primary" }, "Create key");
  const createForm = h(
    "form",
    { class: "form", "aria-labelledby": "apikey-create-heading", novalidate: true },
    createAlert,
    name.wrapper,
    scopes,
    expiration.wrapper,
    h("div", { class: "form-actions" }, create),
  );

  createForm.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(createForm, createAlert);
    say(status, "");
    const label = name.input.value.trim();
    const chosen = scopeBoxes.filter((box) => box.checked).map((box) => box.value);
    // The server says the same; asking first saves a round trip.
    let invalid = false;
    if (!label) {
      setFieldError(name.input, "Give the key a name.");
      invalid = true;
    }
    if (!chosen.length) {
      setFieldError(scopes, "Choose at least one scope.");
      invalid = true;
    }
    if (invalid) {
      showAlert(createAlert, "Please correct the errors below.");
      createForm.querySelector('[aria-invalid="true"]').focus();
      return;
    }
    busy(create, "Creating…", async () => {
      let key;
      try {
        key = await api.post("/users/me/api-keys", {
          json: { name: label, scopes: chosen, expires_at: expiresAt(expiration.input.value) },
        });
      } catch (error) {
        showErrors(createForm, createAlert, foldScopeErrors(error));
        return;
      }
      // Not form.reset(): the default expiration is a property, not an attribute.
      name.input.value = "";
      for (const box of scopeBoxes) box.checked = false;
      expiration.input.value = DEFAULT_EXPIRATION;
      syncNeverHint();
      showToken(key);
      await load();
    });
  });

  // ---- The new token, shown once --------------------------------------------
  // It lives only in this card's DOM: "Done" or leaving the page drops it.
  const tokenCard = h("section", {
    class: "card token-card",
    "aria-labelledby": "apikey-token-heading",
    hidden: true,
  });

  function showToken(key) {
    const tokenId = "apikey-token";
    const token = h("input", {
      id: tokenId,
      type: "text",
      class: "token-value",
      readonly: true,
      autocomplete: "off",
      spellcheck: "false",
      "aria-describedby": "apikey-token-warning",
    });
    token.value = key.token;
    const copyStatus = h("p", { class: "status", role: "status" });
    const copy = h("button", { type: "button", class: "btn btn-secondary" }, "Copy");
    const done = h("button", { type: "button", class: "btn btn-primary" }, "Done");
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(token.value);
        say(copyStatus, "Copied the token.");
      } catch {
        // No clipboard access (permission, plain http, an older browser):
        // select it so a keyboard shortcut copies it.
        token.focus();
        token.select();
        say(copyStatus, "Could not copy by itself: the token is selected, copy it with your keyboard.");
      }
    });
    done.addEventListener("click", () => {
      tokenCard.replaceChildren();
      tokenCard.hidden = true;
      say(status, `The key ${key.name} is ready to use.`);
      el.querySelector("h1").focus();
    });
    tokenCard.replaceChildren(
      h("h2", { id: "apikey-token-heading", tabindex: "-1" }, `Your new key: ${key.name}`),
      h(
        "p",
        { id: "apikey-token-warning" },
        h("strong", {}, "Copy it now: you will not see it again."),
        " flaskou keeps only a hash of it. Send it as ",
        h("code", {}, "Authorization: Bearer …"),
        ".",
      ),
      h(
        "div",
        { class: "field" },
        h("label", { for: tokenId }, "Token"),
        h("div", { class: "token-row" }, token, copy),
      ),
      h("div", { class: "form-actions" }, done),
      copyStatus,
    );
    tokenCard.hidden = false;
    tokenCard.querySelector("h2").focus();
  }

  // ---- List -----------------------------------------------------------------
  const listAlert = alertBox();
  const list = h("div", { class: "list-area" }, h("p", { class: "muted" }, "Loading API keys…"));

  function expiresCell(key) {
    if (!key.expires_at) return h("span", { class: "muted" }, "Never");
    if (isPast(key.expires_at)) {
      return [timeEl(key.expires_at), " ", h("span", { class: "pill pill-off" }, "Expired")];
    }
    return timeEl(key.expires_at);
  }

  function row(key) {
    const rowAlert = alertBox("alert-inline");
    const revoke = h("button", { type: "button", class: "btn btn-danger btn-small" }, "Revoke");
    const tr = h(
      "tr",
      { "data-api-key": key.id },
      td("Name", h("strong", { class: "apikey-name" }, key.name)),
      td("Prefix", h("code", { class: "apikey-prefix" }, `${key.prefix}…`)),
      td(
        "Scopes",
        h(
          "ul",
          { class: "chips scope-chips" },
          (key.scopes || []).map((scope) => h("li", { class: "chip scope-chip" }, scope)),
        ),
      ),
      td("Created", timeEl(key.created_at)),
      td("Expires", expiresCell(key)),
      td(
        "Last used",
        key.last_used_at ? timeEl(key.last_used_at) : h("span", { class: "muted" }, "Never used"),
      ),
      td("Actions", h("div", { class: "row-actions" }, revoke), rowAlert),
    );
    revoke.addEventListener("click", () => {
      showAlert(rowAlert, "");
      say(status, "");
      confirmInline(revoke, {
        question: `Revoke ${key.name}? Anything using it stops working at once.`,
        confirmText: "Revoke",
        busyText: "Revoking…",
        onConfirm: async () => {
          try {
            await api.delete(`/users/me/api-keys/${seg(key.id)}`);
          } catch (error) {
            if (error.handled) return;
            if (error.status !== 404) {
              showAlert(rowAlert, error.detail);
              return;
            }
            // Already gone (revoked in another tab): the list below says what is left.
          }
          await load();
          say(status, `Revoked the key ${key.name}.`);
        },
      });
    });
    return tr;
  }

  async function load() {
    let keys;
    try {
      keys = (await api.get("/users/me/api-keys")).items;
    } catch (error) {
      if (!error.handled) {
        list.replaceChildren();
        showAlert(listAlert, `Could not load your API keys: ${error.detail}`);
      }
      return;
    }
    showAlert(listAlert, "");
    if (!keys.length) {
      list.replaceChildren(empty("No API keys yet."));
      return;
    }
    list.replaceChildren(
      table(
        ["Name", "Prefix", "Scopes", "Created", "Expires", "Last used", "Actions"],
        keys.map(row),
        { caption: "Your API keys" },
      ),
    );
  }

  el.append(
    h(
      "p",
      { class: "lead" },
      "An API key lets a script or another program use the flaskou API as you, limited to the scopes you choose. It cannot manage API keys itself.",
    ),
    tokenCard,
    h(
      "section",
      { class: "card", "aria-labelledby": "apikey-create-heading" },
      h("h2", { id: "apikey-create-heading" }, "New API key"),
      createForm,
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "apikey-list-heading" },
      h("h2", { id: "apikey-list-heading" }, "Your keys"),
      listAlert,
      list,
    ),
  );
  load();
  return el;
}
