// Administration: the audit trail, newest first, filtered by action and actor.

import { api } from "../api.js";
import { h, page, field, alertBox, showErrors, clearErrors, busy, table, td, empty } from "../dom.js";
import { timeEl } from "../format.js";

const PAGE_SIZE = 50;
// The audit actions come from the server's own OpenAPI document (the `action`
// filter's enum), so this page never falls behind the server's list.
async function loadActions(datalist) {
  try {
    const spec = await api.get("/openapi.json");
    const parameters = spec.paths["/api/v1/audit"].get.parameters || [];
    const parameter = parameters.find((p) => p.name === "action");
    const names = (parameter && parameter.schema && parameter.schema.enum) || [];
    datalist.append(...names.map((name) => h("option", { value: name })));
  } catch {
    // Suggestions are a convenience; filtering works without them.
  }
}

function describe(detail) {
  if (!detail || typeof detail !== "object") return "";
  return Object.entries(detail)
    .map(([key, value]) => `${key}: ${typeof value === "object" ? JSON.stringify(value) : value}`)
    .join(", ");
}

export function auditView() {
  const { el } = page("Audit trail");
  let cursor = null;
  let filters = { action: "", actor: "" };
  let seq = 0;

  // ---- Filters --------------------------------------------------------------
  const action = field({ id: "audit-action", name: "action", label: "Action", autocomplete: "off", spellcheck: "false" });
  action.input.setAttribute("list", "audit-actions");
  const actions = h("datalist", { id: "audit-actions" });
  loadActions(actions);
  const actor = field({ id: "audit-actor", name: "actor", label: "Actor", autocomplete: "off", spellcheck: "false" });
  const filterButton = h("button", { type: "submit", class: "btn btn-primary" }, "Filter");
  const clear = h("button", { type: "button", class: "btn btn-secondary" }, "Clear");
  const filterAlert = alertBox();
  const filterForm = h(
    "form",
    { class: "form form-inline", role: "search", "aria-label": "Filter events", novalidate: true },
    filterAlert,
    action.wrapper,
    actions,
    actor.wrapper,
    h("div", { class: "form-actions" }, filterButton, clear),
  );
  filterForm.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(filterButton, "Filtering…", () => reload());
  });
  clear.addEventListener("click", () => {
    filterForm.reset();
    reload();
  });

  // ---- List -----------------------------------------------------------------
  const tableEl = table(["Time", "Actor", "Action", "Target", "IP", "Details"], [], {
    caption: "Audit events, newest first",
  });
  const tbody = tableEl.querySelector("tbody");
  const emptyEl = empty("No events found.");
  const loading = h("p", { class: "muted" }, "Loading events…");
  const more = h("button", { type: "button", class: "btn btn-secondary", hidden: true }, "Load more");
  tableEl.hidden = true;
  emptyEl.hidden = true;
  more.addEventListener("click", () => busy(more, "Loading…", () => loadPage(seq)));

  function row(event) {
    return h(
      "tr",
      {},
      td("Time", timeEl(event.at, { seconds: true })),
      td("Actor", event.actor || h("span", { class: "muted" }, "—")),
      td("Action", h("code", {}, event.action)),
      td("Target", event.target || h("span", { class: "muted" }, "—")),
      td("IP", event.ip || h("span", { class: "muted" }, "—")),
      td("Details", h("span", { class: "audit-detail" }, describe(event.detail))),
    );
  }

  async function loadPage(mySeq) {
    clearErrors(filterForm, filterAlert);
    let result;
    try {
      result = await api.get("/audit", { query: { limit: PAGE_SIZE, cursor, ...filters } });
    } catch (error) {
      if (mySeq === seq) {
        loading.hidden = true;
        showErrors(filterForm, filterAlert, error);
      }
      return;
    }
    if (mySeq !== seq) return;
    loading.hidden = true;
    tbody.append(...result.items.map(row));
    cursor = result.next_cursor;
    more.hidden = !cursor;
    tableEl.hidden = tbody.rows.length === 0;
    emptyEl.hidden = tbody.rows.length !== 0;
  }

  async function reload() {
    const mySeq = ++seq;
    filters = { action: action.input.value.trim(), actor: actor.input.value.trim() };
    cursor = null;
    tbody.replaceChildren();
    more.hidden = true;
    await loadPage(mySeq);
  }

  el.append(
    filterForm,
    h(
      "section",
      { class: "card" },
      loading,
      emptyEl,
      tableEl,
      h("div", { class: "list-more" }, more),
    ),
  );
  reload();
  return el;
}
