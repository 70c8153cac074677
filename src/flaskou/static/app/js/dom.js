// Small DOM helpers. Text always goes in as text nodes, never as HTML, so
// whatever a user typed (a filename, a role description) cannot inject markup.

const PROPERTIES = new Set(["value", "checked", "disabled", "hidden", "selected", "multiple"]);

/** h("button", {class: "btn", onClick: fn}, "Save") */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "for") el.htmlFor = value;
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (PROPERTIES.has(key)) el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** el.replaceChildren(), skipping null/false children as h() does (the DOM would write "null"). */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let idCounter = 0;
/** A document-unique id with a readable prefix. */
export function uid(prefix) {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** The page frame: a heading (focused after navigation) and the page's status region. */
export function page(title, ...children) {
  const status = h("p", { class: "status", role: "status" });
  const el = h(
    "section",
    { class: "page" },
    h("h1", { class: "page-title", tabindex: "-1" }, title),
    status,
    ...children,
  );
  return { el, status };
}

/** Put a success or progress message in a status region. */
export function say(statusEl, text) {
  statusEl.textContent = text || "";
  statusEl.classList.toggle("is-visible", Boolean(text));
}

/** An alert region, hidden while empty. */
export function alertBox(extraClass = "") {
  return h("div", { class: `alert ${extraClass}`.trim(), role: "alert", hidden: true });
}

export function showAlert(alertEl, text) {
  alertEl.textContent = text || "";
  alertEl.hidden = !text;
}

/** A labelled input with room for its error messages right under it. */
export function field({
  id,
  name,
  label,
  type = "text",
  autocomplete,
  value,
  required = false,
  hint,
  inputmode,
  spellcheck,
}) {
  const input = h("input", {
    id,
    name,
    type,
    autocomplete,
    required,
    inputmode,
    spellcheck,
    autocapitalize: type === "email" || type === "password" || name === "username" ? "none" : undefined,
  });
  if (value !== undefined) input.value = value;
  const hintEl = hint ? h("p", { class: "field-hint", id: `${id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute("aria-describedby", hintEl.id);
  const wrapper = h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    input,
    hintEl,
    errorSlot(id),
  );
  return { wrapper, input };
}

/** A labelled <select>. options: [{value, label}] */
export function selectField({ id, name, label, options, value }) {
  const select = h(
    "select",
    { id, name },
    options.map((o) => h("option", { value: o.value, selected: o.value === value }, o.label)),
  );
  const wrapper = h("div", { class: "field" }, h("label", { for: id }, label), select, errorSlot(id));
  return { wrapper, input: select };
}

function errorSlot(id) {
  return h("p", { class: "field-error", id: `${id}-error`, hidden: true });
}

function describedBy(input) {
  return (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
}

/** Show messages under an input and link them with aria-describedby. */
export function setFieldError(input, messages) {
  const errorEl = document.getElementById(`${input.id}-error`);
  if (!errorEl) return false;
  const text = [].concat(messages).join(" ");
  errorEl.textContent = text;
  errorEl.hidden = !text;
  const ids = describedBy(input).filter((x) => x !== errorEl.id);
  if (text) {
    ids.push(errorEl.id);
    input.setAttribute("aria-invalid", "true");
  } else {
    input.removeAttribute("aria-invalid");
  }
  if (ids.length) input.setAttribute("aria-describedby", ids.join(" "));
  else input.removeAttribute("aria-describedby");
  return true;
}

/** Forget the errors shown by a previous submit of the form. */
export function clearErrors(form, alertEl) {
  for (const input of form.querySelectorAll("[aria-invalid]")) setFieldError(input, []);
  if (alertEl) showAlert(alertEl, "");
}

/**
 * Show an API error on a form: each `errors[field]` under the input named
 * `field` (linked with aria-describedby), and the problem's detail in the
 * alert region. When the messages sit under the inputs, the alert only
 * points at them, since the detail usually repeats them ("That username is
 * already taken." next to "Already taken.").
 */
export function showErrors(form, alertEl, error) {
  if (!error || error.handled) return;
  if (form) clearErrors(form, alertEl);
  else if (alertEl) showAlert(alertEl, "");
  const leftover = [];
  let firstInvalid = null;
  for (const [name, messages] of Object.entries(error.errors || {})) {
    const input = form ? form.querySelector(`[name="${CSS.escape(name)}"]`) : null;
    if (input && setFieldError(input, messages)) {
      firstInvalid = firstInvalid || input;
    } else {
      leftover.push(`${name}: ${[].concat(messages).join(" ")}`);
    }
  }
  let text =
    firstInvalid && !leftover.length
      ? "Please correct the errors below."
      : error.detail || error.message || String(error);
  if (error.status === 429) text += ` ${tryAgainText(error.retryAfter)}`;
  if (leftover.length) text += ` ${leftover.join(" ")}`;
  if (alertEl) showAlert(alertEl, text);
  // Focus the first invalid input in page order (the API sorts its field names).
  if (firstInvalid) form.querySelector('[aria-invalid="true"]').focus();
}

function plural(n, unit) {
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}

/**
 * "Try again in 5 minutes." from a 429's Retry-After (seconds). Mail limits
 * count per hour, so a wait of 3412 seconds reads better as 57 minutes.
 */
export function tryAgainText(retryAfter) {
  const seconds = Number.parseInt(retryAfter, 10);
  if (!Number.isFinite(seconds) || seconds <= 0) return "Try again later.";
  if (seconds < 60) return `Try again in ${plural(seconds, "second")}.`;
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 60) return `Try again in ${plural(minutes, "minute")}.`;
  return `Try again in ${plural(Math.ceil(minutes / 60), "hour")}.`;
}

/** Disable a button and change its text while `work` runs. */
export async function busy(button, busyText, work) {
  const original = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = busyText;
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = original;
  }
}

/**
 * An in-page confirmation (instead of window.confirm, which tests and
 * screen-reader users handle badly): hides `trigger`, shows the question
 * with "Confirm" and "Cancel" after it, and runs `onConfirm` on Confirm.
 */
export function confirmInline(trigger, { question, confirmText = "Confirm", busyText, onConfirm }) {
  const existing = trigger.parentElement.querySelector(":scope > .confirm");
  if (existing) existing.remove();
  const cancel = h("button", { type: "button", class: "btn btn-secondary btn-small" }, "Cancel");
  const confirm = h("button", { type: "button", class: "btn btn-danger btn-small" }, confirmText);
  const box = h(
    "div",
    { class: "confirm", role: "group", "aria-label": "Confirm" },
    h("span", { class: "confirm-question" }, question),
    confirm,
    cancel,
  );
  const close = () => {
    box.remove();
    trigger.hidden = false;
  };
  cancel.addEventListener("click", () => {
    close();
    trigger.focus();
  });
  confirm.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      await busy(confirm, busyText || `${confirmText}…`, onConfirm);
    } finally {
      if (box.isConnected) close();
    }
  });
  trigger.hidden = true;
  trigger.after(box);
  confirm.focus();
  return box;
}

/** A table that scrolls within its container, or becomes stacked rows on a phone. */
export function table(columns, rows, { caption } = {}) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "table" },
      caption ? h("caption", { class: "visually-hidden" }, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows),
    ),
  );
}

/** A table cell that shows its column name when rows are stacked (see app.css). */
export function td(label, ...children) {
  return h("td", { "data-label": label }, ...children);
}

/** An empty-state paragraph. */
export function empty(text) {
  return h("p", { class: "empty" }, text);
}
