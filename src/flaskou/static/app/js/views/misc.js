// Pages for unknown routes, missing permissions and a server that cannot be reached.

import { h, page, alertBox, showAlert } from "../dom.js";

export function notFoundView() {
  const { el } = page("Not found");
  el.append(
    h("p", {}, "There is no page at this address."),
    h("p", {}, h("a", { href: "/" }, "Go to the home page")),
  );
  return el;
}

export function forbiddenView() {
  const { el } = page("Not allowed");
  el.append(
    h("p", {}, "This page is for administrators; your account does not have the admin role."),
    h("p", {}, h("a", { href: "/" }, "Go to the home page")),
  );
  return el;
}

export function failureView(ctx) {
  const { el } = page("Something went wrong");
  const alert = alertBox();
  showAlert(alert, ctx.error ? ctx.error.detail || ctx.error.message : "The page could not be loaded.");
  const retry = h("button", { type: "button", class: "btn btn-primary" }, "Try again");
  retry.addEventListener("click", () => ctx.retry());
  el.append(alert, h("div", { class: "form-actions" }, retry));
  return el;
}
