// Administration: the role catalogue.

import { api, seg } from "../api.js";
import {
  h,
  page,
  say,
  field,
  alertBox,
  showAlert,
  clearErrors,
  showErrors,
  busy,
  confirmInline,
  table,
  td,
  empty,
} from "../dom.js";
import { timeEl } from "../format.js";

export function rolesView() {
  const { el, status } = page("Roles");

  // ---- Create ---------------------------------------------------------------
  const name = field({
    id: "role-name",
    name: "name",
    label: "Name",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    hint: "Lowercase letters, digits and single hyphens, like a username.",
  });
  const description = field({
    id: "role-description",
    name: "description",
    label: "Description",
    autocomplete: "off",
    required: true,
  });
  const createAlert = alertBox();
  const create = h("button", { type: "submit", class: "btn btn-primary" }, "Create role");
  const createForm = h(
    "form",
    { class: "form", "aria-label": "Create role", novalidate: true },
    createAlert,
    name.wrapper,
    description.wrapper,
    h("div", { class: "form-actions" }, create),
  );
  createForm.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(createForm, createAlert);
    say(status, "");
    busy(create, "Creating…", async () => {
      let role;
      try {
        role = await api.post("/roles", {
          json: { name: name.input.value.trim(), description: description.input.value.trim() },
        });
      } catch (error) {
        showErrors(createForm, createAlert, error);
        return;
      }
      createForm.reset();
      tbody.append(row(role));
      refresh();
      say(status, `Created role ${role.name}.`);
    });
  });

  // ---- List -----------------------------------------------------------------
  const alert = alertBox();
  const tableEl = table(["Name", "Description", "Created", "Actions"], [], { caption: "Roles" });
  const tbody = tableEl.querySelector("tbody");
  const emptyEl = empty("No roles yet.");
  const loading = h("p", { class: "muted" }, "Loading roles…");
  tableEl.hidden = true;
  emptyEl.hidden = true;

  function refresh() {
    loading.hidden = true;
    tableEl.hidden = tbody.rows.length === 0;
    emptyEl.hidden = tbody.rows.length !== 0;
  }

  function row(role) {
    const inputId = `role-desc-${role.name}`;
    const input = h("input", { id: inputId, name: "description", type: "text", autocomplete: "off" });
    input.value = role.description;
    const save = h("button", { type: "submit", class: "btn btn-secondary btn-small" }, "Save");
    const editAlert = alertBox("alert-inline");
    const editForm = h(
      "form",
      { class: "edit-form", "aria-label": `Edit role ${role.name}`, novalidate: true },
      h("label", { for: inputId, class: "visually-hidden" }, `Describe the ${role.name} role`),
      h("div", { class: "edit-row" }, input, save),
      h("p", { class: "field-error", id: `${inputId}-error`, hidden: true }),
      editAlert,
    );
    editForm.addEventListener("submit", (event) => {
      event.preventDefault();
      clearErrors(editForm, editAlert);
      say(status, "");
      busy(save, "Saving…", async () => {
        let updated;
        try {
          updated = await api.patch(`/roles/${seg(role.name)}`, {
            json: { description: input.value.trim() },
          });
        } catch (error) {
          showErrors(editForm, editAlert, error);
          return;
        }
        input.value = updated.description;
        say(status, `Saved the description of ${updated.name}.`);
      });
    });

    const remove = h("button", { type: "button", class: "btn btn-danger btn-small" }, "Delete");
    const rowAlert = alertBox("alert-inline");
    const tr = h(
      "tr",
      { "data-role": role.name },
      td("Name", h("strong", {}, role.name)),
      td("Description", editForm),
      td("Created", timeEl(role.created_at)),
      td("Actions", remove, rowAlert),
    );
    remove.addEventListener("click", () => {
      showAlert(rowAlert, "");
      say(status, "");
      confirmInline(remove, {
        question: `Delete the role ${role.name}? Its holders lose it.`,
        busyText: "Deleting…",
        onConfirm: async () => {
          try {
            await api.delete(`/roles/${seg(role.name)}`);
          } catch (error) {
            if (!error.handled) showAlert(rowAlert, error.detail);
            return;
          }
          tr.remove();
          refresh();
          say(status, `Deleted role ${role.name}.`);
        },
      });
    });
    return tr;
  }

  async function load() {
    let roles;
    try {
      roles = (await api.get("/roles")).items;
    } catch (error) {
      loading.hidden = true;
      if (!error.handled) showAlert(alert, error.detail);
      return;
    }
    tbody.append(...roles.map(row));
    refresh();
  }

  el.append(
    h(
      "section",
      { class: "card" },
      h("h2", { id: "create-role-heading" }, "New role"),
      createForm,
    ),
    h(
      "section",
      { class: "card" },
      h("h2", { id: "roles-heading" }, "All roles"),
      alert,
      loading,
      emptyEl,
      tableEl,
    ),
  );
  load();
  return el;
}
