// The caller's account: details, email and password changes, deletion.

import { api } from "../api.js";
import {
  h,
  page,
  say,
  field,
  alertBox,
  clearErrors,
  showErrors,
  busy,
  confirmInline,
} from "../dom.js";
import { timeEl } from "../format.js";
import { verificationOn } from "../settings.js";
import { strengthMeter } from "../strength.js";
import { resendControl } from "../verification.js";

/** "Verified", or "Not verified" with a Resend button; nothing when this server does not verify. */
function verificationState(user, settings, onVerified) {
  if (typeof user.email_verified !== "boolean" || !verificationOn(settings)) return null;
  if (user.email_verified) {
    return h("div", { class: "verification" }, h("span", { class: "pill pill-ok" }, "Verified"));
  }
  return h(
    "div",
    { class: "verification" },
    h("span", { class: "pill pill-warn" }, "Not verified"),
    resendControl(user, { onVerified }),
  );
}

/** Whether a second factor is asked at sign-in, with the way to change it. */
function mfaState(user) {
  if (typeof user.mfa_enabled !== "boolean") return null;
  return h(
    "div",
    {},
    h("dt", {}, "Two-step sign-in"),
    h(
      "dd",
      { class: "mfa-summary" },
      h("span", { class: `pill ${user.mfa_enabled ? "pill-ok" : "pill-off"}` }, user.mfa_enabled ? "On" : "Off"),
      " ",
      h("a", { href: "/security" }, user.mfa_enabled ? "Manage" : "Turn on"),
    ),
  );
}

function details(user, settings, onVerified) {
  const roles = user.roles && user.roles.length ? user.roles.join(", ") : "None";
  return h(
    "dl",
    { class: "details" },
    h("div", {}, h("dt", {}, "Username"), h("dd", {}, user.username)),
    h(
      "div",
      {},
      h("dt", {}, "Email"),
      h(
        "dd",
        {},
        h("span", { class: "profile-email" }, user.email),
        verificationState(user, settings, onVerified),
      ),
    ),
    h("div", {}, h("dt", {}, "Roles"), h("dd", {}, roles)),
    mfaState(user),
    h("div", {}, h("dt", {}, "Member since"), h("dd", {}, timeEl(user.created_at))),
  );
}

export function profileView(ctx) {
  const { el, status } = page("Profile");
  let user = ctx.user;
  const info = h("section", { class: "card" });
  // Verified meanwhile (another tab, the link opened elsewhere): read the account again.
  const reread = async () => {
    try {
      user = await api.get("/users/me");
    } catch {
      return;
    }
    drawInfo();
    await ctx.refreshNav();
  };
  const drawInfo = () =>
    info.replaceChildren(
      h("h2", { id: "profile-account" }, "Your account"),
      details(user, ctx.settings, reread),
    );
  drawInfo();

  // Change email
  const email = field({
    id: "email-new",
    name: "email",
    label: "Email",
    type: "email",
    autocomplete: "email",
    value: user.email,
    required: true,
  });
  const emailCurrent = field({
    id: "email-current-password",
    name: "current_password",
    label: "Current password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const emailAlert = alertBox();
  const emailSubmit = h("button", { type: "submit", class: "btn btn-primary" }, "Change email");
  const emailForm = h(
    "form",
    { class: "form", "aria-label": "Change email", novalidate: true },
    emailAlert,
    email.wrapper,
    emailCurrent.wrapper,
    h("div", { class: "form-actions" }, emailSubmit),
  );
  emailForm.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(emailForm, emailAlert);
    say(status, "");
    busy(emailSubmit, "Saving…", async () => {
      try {
        user = await api.patch("/users/me", {
          json: { email: email.input.value.trim(), current_password: emailCurrent.input.value },
        });
      } catch (error) {
        showErrors(emailForm, emailAlert, error);
        return;
      }
      emailCurrent.input.value = "";
      email.input.value = user.email;
      drawInfo();
      const toVerify = user.email_verified === false && verificationOn(ctx.settings);
      say(
        status,
        toVerify
          ? `Email changed to ${user.email}. We have mailed a link there to verify it.`
          : `Email changed to ${user.email}.`,
      );
      await ctx.refreshNav();
    });
  });

  // Change password
  const newPassword = field({
    id: "password-new",
    name: "password",
    label: "New password",
    type: "password",
    autocomplete: "new-password",
    required: true,
    hint: "At least 8 characters. Your other sessions will be logged out.",
  });
  const meter = strengthMeter(newPassword.input, {
    context: () => ({ username: user.username, email: user.email }),
  });
  newPassword.wrapper.append(meter);
  const passwordCurrent = field({
    id: "password-current-password",
    name: "current_password",
    label: "Current password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const passwordAlert = alertBox();
  const passwordSubmit = h("button", { type: "submit", class: "btn btn-primary" }, "Change password");
  const passwordForm = h(
    "form",
    { class: "form", "aria-label": "Change password", novalidate: true },
    passwordAlert,
    newPassword.wrapper,
    passwordCurrent.wrapper,
    h("div", { class: "form-actions" }, passwordSubmit),
  );
  passwordForm.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(passwordForm, passwordAlert);
    say(status, "");
    busy(passwordSubmit, "Saving…", async () => {
      try {
        user = await api.patch("/users/me", {
          json: { password: newPassword.input.value, current_password: passwordCurrent.input.value },
        });
      } catch (error) {
        showErrors(passwordForm, passwordAlert, error);
        return;
      }
      newPassword.input.value = "";
      passwordCurrent.input.value = "";
      meter.reset();
      say(status, "Password changed. Your other sessions have been logged out.");
    });
  });

  // Delete account
  const deleteCurrent = field({
    id: "delete-current-password",
    name: "current_password",
    label: "Current password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const deleteAlert = alertBox();
  const deleteButton = h("button", { type: "submit", class: "btn btn-danger" }, "Delete account");
  const deleteActions = h("div", { class: "form-actions" }, deleteButton);
  const deleteForm = h(
    "form",
    { class: "form", "aria-label": "Delete account", novalidate: true },
    h("p", {}, "Deleting your account also deletes your sessions and all your files. This cannot be undone."),
    deleteAlert,
    deleteCurrent.wrapper,
    deleteActions,
  );
  deleteForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (deleteButton.hidden) return;
    clearErrors(deleteForm, deleteAlert);
    say(status, "");
    confirmInline(deleteButton, {
      question: "Delete your account and all your files for good?",
      busyText: "Deleting…",
      onConfirm: async () => {
        try {
          await api.delete("/users/me", { json: { current_password: deleteCurrent.input.value } });
        } catch (error) {
          showErrors(deleteForm, deleteAlert, error);
          return;
        }
        await ctx.loggedOut("Your account has been deleted.");
      },
    });
  });

  el.append(
    info,
    h(
      "section",
      { class: "card" },
      h("h2", { id: "profile-email-heading" }, "Email address"),
      emailForm,
    ),
    h(
      "section",
      { class: "card" },
      h("h2", { id: "profile-password-heading" }, "Password"),
      passwordForm,
    ),
    h(
      "section",
      { class: "card card-danger" },
      h("h2", { id: "profile-delete-heading" }, "Delete your account"),
      deleteForm,
    ),
  );
  return el;
}
