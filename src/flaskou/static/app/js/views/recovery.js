// Account recovery: asking for a reset link, and choosing a new password
// with the link's token. Both pages are open whether or not someone is
// signed in (a forgotten password is often noticed on another device).

import { api, problemIs } from "../api.js";
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
  tryAgainText,
} from "../dom.js";
import { linkToken, forgetLinkToken } from "../links.js";
import { strengthMeter } from "../strength.js";

const RESET_PATH = "/reset-password";

function backLink(ctx) {
  return ctx.user
    ? h("p", { class: "aside" }, h("a", { href: "/profile" }, "Back to your profile"))
    : h("p", { class: "aside" }, "Remembered it? ", h("a", { href: "/login" }, "Log in"));
}

export function forgotPasswordView(ctx) {
  const { el, status } = page("Forgot your password?");
  const email = field({
    id: "forgot-email",
    name: "email",
    label: "Email",
    type: "email",
    autocomplete: "email",
    required: true,
    value: ctx.user ? ctx.user.email : undefined,
    hint: "The address of your account. We will mail it a link to choose a new password.",
  });
  const alert = alertBox();
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Send the link");
  const form = h(
    "form",
    { class: "form card", "aria-label": "Ask for a password reset link", novalidate: true },
    alert,
    email.wrapper,
    h("div", { class: "form-actions" }, submit),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form, alert);
    say(status, "");
    const address = email.input.value.trim();
    busy(submit, "Sending…", async () => {
      try {
        await api.post("/password-reset", { json: { email: address }, handle401: false });
      } catch (error) {
        if (error.status === 429) {
          showAlert(
            alert,
            `Too many reset links were asked for from here or for this address. ${tryAgainText(error.retryAfter)}`,
          );
          return;
        }
        showErrors(form, alert, error);
        return;
      }
      // The same words whether or not the address has an account: the page
      // must not tell a stranger which addresses are registered.
      say(
        status,
        `If an account uses ${address}, a link to choose a new password is on its way. ` +
          "It works once and for a limited time. Nothing after a few minutes? " +
          "Check your spam folder or ask again.",
      );
    });
  });
  el.append(form, backLink(ctx));
  return el;
}

function invalidLink(text) {
  return h(
    "div",
    { class: "alert", role: "alert" },
    text,
    " ",
    h("a", { href: "/forgot-password" }, "Ask for a new link"),
    ".",
  );
}

export function resetPasswordView(ctx) {
  const { el } = page("Choose a new password");
  const token = linkToken(RESET_PATH);
  if (!token) {
    el.append(
      invalidLink(
        "This page needs the link from your email, whole. Links work only once, and this one " +
          "is no longer in the address (a reload forgets it).",
      ),
      backLink(ctx),
    );
    return el;
  }
  const password = field({
    id: "reset-password",
    name: "password",
    label: "New password",
    type: "password",
    autocomplete: "new-password",
    required: true,
    hint: "At least 8 characters. Every session of the account will be logged out.",
  });
  password.wrapper.append(strengthMeter(password.input));
  const alert = alertBox();
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Set the new password");
  const form = h(
    "form",
    { class: "form card", "aria-label": "Reset password", novalidate: true },
    alert,
    password.wrapper,
    h("div", { class: "form-actions" }, submit),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form, alert);
    busy(submit, "Saving…", async () => {
      try {
        await api.post("/password-reset/confirm", {
          json: { token, password: password.input.value },
          handle401: false,
        });
      } catch (error) {
        if (problemIs(error, "invalid-token")) {
          forgetLinkToken(RESET_PATH);
          const box = invalidLink(
            "This link is invalid or has expired: a reset link works once, for a limited " +
              "time, and asking for a new one voids the earlier ones.",
          );
          form.replaceWith(box);
          box.setAttribute("tabindex", "-1");
          box.focus();
          return;
        }
        showErrors(form, alert, error);
        return;
      }
      forgetLinkToken(RESET_PATH);
      // Every session of the account is revoked, this browser's included.
      await ctx.loggedOut("Password changed, sign in with the new one.");
    });
  });
  el.append(form, backLink(ctx));
  return el;
}
