// The caller's files: upload (picker or drag and drop) with progress,
// storage used, the list with download and delete.

import { api, seg, uploadFile } from "../api.js";
import {
  h,
  page,
  say,
  field,
  alertBox,
  showAlert,
  clearErrors,
  showErrors,
  setFieldError,
  busy,
  confirmInline,
  table,
  td,
  empty,
} from "../dom.js";
import { formatBytes, timeEl } from "../format.js";

// Until /files/usage answers, the bar's scale is flaskou's default quota.
const DEFAULT_QUOTA_BYTES = 1024 * 1024 * 1024;
const PAGE_SIZE = 50;

export function filesView(ctx) {
  const { el, status } = page("Files");

  // ---- Storage used -------------------------------------------------------
  let used = null;
  let quota = DEFAULT_QUOTA_BYTES;
  const usedText = h("p", { class: "storage-text" }, "Used: calculating…");
  const meter = h("meter", {
    id: "storage-meter",
    min: "0",
    max: String(DEFAULT_QUOTA_BYTES),
    low: String(DEFAULT_QUOTA_BYTES * 0.75),
    high: String(DEFAULT_QUOTA_BYTES * 0.9),
    optimum: "0",
    value: "0",
  });
  const storage = h(
    "section",
    { class: "card storage" },
    h("h2", { id: "storage-heading", class: "visually-hidden" }, "Storage"),
    h("label", { for: "storage-meter", class: "storage-label" }, "Storage used"),
    meter,
    usedText,
  );
  function drawUsed() {
    if (used === null) return;
    meter.max = quota;
    meter.low = quota * 0.75;
    meter.high = quota * 0.9;
    meter.value = Math.min(used, quota);
    meter.textContent = `${formatBytes(used)} of ${formatBytes(quota)}`;
    usedText.textContent = `Used: ${formatBytes(used)} of ${formatBytes(quota)}`;
  }
  async function computeUsed() {
    try {
      const usage = await api.get("/files/usage");
      used = Number(usage.used_bytes) || 0;
      quota = Number(usage.quota_bytes) || DEFAULT_QUOTA_BYTES;
      drawUsed();
    } catch (error) {
      if (!error.handled) usedText.textContent = `Used: unknown (${error.detail})`;
    }
  }
  function addUsed(delta) {
    if (used === null) return;
    used = Math.max(0, used + delta);
    drawUsed();
  }

  // ---- Upload ---------------------------------------------------------------
  const picker = field({ id: "upload-file", name: "file", label: "File", type: "file" });
  picker.input.multiple = true;
  const uploadAlert = alertBox();
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Upload");
  const progress = h("progress", { id: "upload-progress", max: "100", value: "0" });
  const percent = h("span", { class: "progress-percent" }, "0%");
  const progressName = h("p", { class: "progress-name" });
  const cancel = h("button", { type: "button", class: "btn btn-secondary btn-small" }, "Cancel upload");
  const progressArea = h(
    "div",
    { class: "progress-area", hidden: true },
    progressName,
    h(
      "div",
      { class: "progress-row" },
      h("label", { for: "upload-progress", class: "progress-label" }, "Upload progress"),
      progress,
      percent,
    ),
    h("div", { class: "form-actions" }, cancel),
  );
  const form = h(
    "form",
    { class: "form upload-form", "aria-label": "Upload", novalidate: true },
    uploadAlert,
    picker.wrapper,
    h("div", { class: "form-actions" }, submit),
  );
  const dropzone = h(
    "div",
    { class: "dropzone" },
    h("p", { class: "dropzone-text" }, "Drag and drop files here, or choose them with the picker."),
    form,
    progressArea,
  );

  const queue = [];
  let uploading = false;
  let current = null;
  let cancelled = false;

  function setProgress(pct, label) {
    progress.value = pct;
    percent.textContent = `${pct}%`;
    if (label) progressName.textContent = label;
  }

  async function pump() {
    if (uploading) return;
    uploading = true;
    cancelled = false;
    submit.disabled = true;
    submit.setAttribute("aria-busy", "true");
    submit.textContent = "Uploading…";
    progressArea.hidden = false;
    cancel.disabled = false;
    try {
      while (queue.length && !cancelled) {
        const file = queue.shift();
        const waiting = queue.length ? ` (${queue.length} more waiting)` : "";
        setProgress(0, `Uploading ${file.name}, ${formatBytes(file.size)}${waiting}`);
        current = uploadFile(file, {
          onProgress: (loaded, total) => {
            const pct = total ? Math.min(100, Math.floor((loaded * 100) / total)) : 0;
            setProgress(pct, pct >= 100 ? `Saving ${file.name}…${waiting}` : null);
          },
        });
        let stored;
        try {
          stored = await current.promise;
        } catch (error) {
          if (error.handled) break;
          if (cancelled) {
            say(status, `Upload of ${file.name} cancelled.`);
            break;
          }
          showErrors(form, uploadAlert, {
            status: error.status,
            errors: error.errors,
            detail: `Could not upload ${file.name}: ${error.detail}`,
          });
          continue;
        }
        setProgress(100);
        addUsed(stored.size);
        list.prepend(stored);
        say(status, `Uploaded ${stored.filename}.`);
      }
    } finally {
      queue.length = 0;
      current = null;
      uploading = false;
      submit.disabled = false;
      submit.removeAttribute("aria-busy");
      submit.textContent = "Upload";
      progressArea.hidden = true;
      form.reset();
    }
  }

  function enqueue(files) {
    const chosen = Array.from(files || []);
    if (!chosen.length) return;
    clearErrors(form, uploadAlert);
    say(status, "");
    queue.push(...chosen);
    pump();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (uploading) return;
    if (!picker.input.files || !picker.input.files.length) {
      clearErrors(form, uploadAlert);
      setFieldError(picker.input, "Choose a file first.");
      picker.input.focus();
      return;
    }
    enqueue(picker.input.files);
  });
  cancel.addEventListener("click", () => {
    cancelled = true;
    cancel.disabled = true;
    if (current) current.abort();
  });

  let dragDepth = 0;
  dropzone.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    dragDepth += 1;
    dropzone.classList.add("is-dragover");
  });
  dropzone.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  dropzone.addEventListener("dragleave", () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (!dragDepth) dropzone.classList.remove("is-dragover");
  });
  dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    dragDepth = 0;
    dropzone.classList.remove("is-dragover");
    enqueue(event.dataTransfer ? event.dataTransfer.files : []);
  });

  // ---- List -----------------------------------------------------------------
  const listAlert = alertBox();
  const list = fileList({ status, alert: listAlert, onDeleted: (file) => addUsed(-file.size) });

  el.append(
    storage,
    h(
      "section",
      { class: "card" },
      h("h2", { id: "upload-heading" }, "Upload"),
      dropzone,
    ),
    h(
      "section",
      { class: "card" },
      h("h2", { id: "list-heading" }, "Your files"),
      listAlert,
      list.el,
    ),
  );
  list.load();
  computeUsed();
  return el;
}

function hasFiles(event) {
  return Boolean(event.dataTransfer && Array.from(event.dataTransfer.types || []).includes("Files"));
}

function fileList({ status, alert, onDeleted }) {
  const tableEl = table(["Name", "Size", "Uploaded", "Actions"], [], { caption: "Your files" });
  const tbody = tableEl.querySelector("tbody");
  const emptyEl = empty("No files yet.");
  const loading = h("p", { class: "muted" }, "Loading files…");
  const more = h("button", { type: "button", class: "btn btn-secondary", hidden: true }, "Load more");
  tableEl.hidden = true;
  emptyEl.hidden = true;
  let cursor = null;

  function refresh() {
    const rows = tbody.rows.length;
    tableEl.hidden = rows === 0;
    emptyEl.hidden = rows !== 0 || !loading.hidden;
  }

  function row(file) {
    const remove = h("button", { type: "button", class: "btn btn-danger btn-small" }, "Delete");
    const actions = td(
      "Actions",
      h("div", { class: "row-actions" },
        h("a", { href: `/api/v1/files/${seg(file.id)}/content`, class: "btn btn-secondary btn-small" }, "Download"),
        remove,
      ),
    );
    const tr = h(
      "tr",
      {},
      td("Name", h("span", { class: "filename" }, file.filename)),
      td("Size", h("span", { title: `${file.size} bytes` }, formatBytes(file.size))),
      td("Uploaded", timeEl(file.created_at)),
      actions,
    );
    remove.addEventListener("click", () => {
      showAlert(alert, "");
      say(status, "");
      confirmInline(remove, {
        question: `Delete ${file.filename}?`,
        busyText: "Deleting…",
        onConfirm: async () => {
          try {
            await api.delete(`/files/${seg(file.id)}`);
          } catch (error) {
            if (error.handled) return;
            if (error.status !== 404) {
              showAlert(alert, `Could not delete ${file.filename}: ${error.detail}`);
              return;
            }
          }
          tr.remove();
          onDeleted(file);
          refresh();
          say(status, `Deleted ${file.filename}.`);
        },
      });
    });
    return tr;
  }

  async function loadPage() {
    showAlert(alert, "");
    let result;
    try {
      result = await api.get("/files", { query: { limit: PAGE_SIZE, cursor } });
    } catch (error) {
      if (!error.handled) showAlert(alert, error.detail);
      return;
    }
    tbody.append(...result.items.map(row));
    cursor = result.next_cursor;
    more.hidden = !cursor;
  }

  more.addEventListener("click", () => busy(more, "Loading…", loadPage));

  return {
    el: h("div", { class: "list-area" }, loading, emptyEl, tableEl, h("div", { class: "list-more" }, more)),
    async load() {
      await loadPage();
      loading.hidden = true;
      refresh();
    },
    prepend(file) {
      tbody.prepend(row(file));
      refresh();
    },
  };
}
