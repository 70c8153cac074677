// Signing in with a passkey, and the second step of a password sign-in for an
// account with two-step sign-in: a code from an authenticator app, a
// recovery code or a passkey (POST /login/mfa with the mfa_token the
// password step answered).

import { api, problemIs } from "../api.js";
import { h, field, alertBox, showAlert, setFieldError, clearErrors, showErrors, busy } from "../dom.js";
import { passkeysSupported, usePasskey, passkeyErrorText } from "../webauthn.js";

const LOGIN_MFA = "/login/mfa";

/**
 * "Sign in with a passkey": a discoverable credential names the account
 * itself, so no username is asked. `onSignedIn` runs once the cookie is set.
 */
export function passkeySignIn({ onSignedIn, onUnverified }) {
  if (!passkeysSupported()) return null;
  const alert = alertBox();
  const button = h("button", { type: "button", class: "btn btn-secondary" }, "Sign in with a passkey");
  button.addEventListener("click", () => {
    showAlert(alert, "");
    busy(button, "Waiting for your passkey…", async () => {
      try {
        const options = await api.post("/login/passkey/options", { handle401: false });
        const credential = await usePasskey(options);
        await api.post("/login/passkey", { json: { credential, cookie: true }, handle401: false });
      } catch (error) {
        if (problemIs(error, "email-unverified") && onUnverified) {
          await onUnverified();
          return;
        }
        showAlert(alert, passkeyFailure(error));
        return;
      }
      await onSignedIn();
    });
  });
  return h(
    "div",
    { class: "card alt-signin" },
    h("p", { class: "alt-signin-text" }, "Have a passkey? Sign in with it alone, no password needed."),
    alert,
    h("div", { class: "form-actions" }, button),
  );
}

function passkeyFailure(error) {
  const text = passkeyErrorText(error);
  if (text) return text;
  if (error.status === 401) {
    return "That passkey was not accepted here: it may have been removed from your account. Sign in with your password instead.";
  }
  let detail = error.detail || String(error);
  if (error.status === 429) detail += " Wait a little and try again.";
  return detail;
}

/**
 * The second step. `problem` is the 401 mfa-required answer ({mfa_token,
 * methods}); `onSignedIn` runs once the cookie is set, `onStartOver` puts the
 * password form back (the token is single use, so a void one means that).
 */
export function secondFactorStep({ problem, onSignedIn, onStartOver }) {
  const token = problem.mfa_token;
  const methods = Array.isArray(problem.methods) ? problem.methods : [];
  const canTotp = methods.includes("totp");
  const canRecovery = methods.includes("recovery_code");
  const canPasskey = methods.includes("passkey") && passkeysSupported();
  let mode = canTotp ? "totp" : canRecovery ? "recovery_code" : null;

  const intro = h("p", { class: "second-factor-intro" });
  const alert = alertBox();
  const code = field({
    id: "mfa-code",
    name: "code",
    label: "Authentication code",
    autocomplete: "one-time-code",
    inputmode: "numeric",
    spellcheck: "false",
    required: true,
    hint: "The 6-digit code your authenticator app shows now.",
  });
  code.input.setAttribute("maxlength", "9");
  const recovery = field({
    id: "mfa-recovery-code",
    name: "recovery_code",
    label: "Recovery code",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    hint: "One of the recovery codes you saved when you turned on two-step sign-in. Each works once.",
  });
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Verify");
  const toRecovery = h("button", { type: "button", class: "btn btn-link" }, "Use a recovery code");
  const toTotp = h("button", { type: "button", class: "btn btn-link" }, "Use your authenticator app");
  const passkeyButton = h("button", { type: "button", class: "btn btn-secondary" }, "Use a passkey");
  const startOver = h("button", { type: "button", class: "btn btn-link" }, "Start over");

  const form = h(
    "form",
    { class: "form", "aria-label": "Second factor", novalidate: true },
    code.wrapper,
    recovery.wrapper,
    h("div", { class: "form-actions" }, submit, toRecovery, toTotp),
  );
  const card = h(
    "section",
    { class: "card second-factor", "aria-labelledby": "second-factor-heading" },
    h("h2", { id: "second-factor-heading", tabindex: "-1" }, "Two-step sign-in"),
    intro,
    alert,
    form,
    canPasskey
      ? h(
          "div",
          { class: "second-factor-passkey" },
          h("p", { class: "muted" }, "Or confirm with a passkey on this device:"),
          passkeyButton,
        )
      : null,
    h("p", { class: "aside" }, "Not you, or want another account? ", startOver),
  );

  function showMode() {
    clearErrors(form, alert);
    form.hidden = mode === null;
    code.wrapper.hidden = mode !== "totp";
    code.input.disabled = mode !== "totp";
    recovery.wrapper.hidden = mode !== "recovery_code";
    recovery.input.disabled = mode !== "recovery_code";
    toRecovery.hidden = !(mode === "totp" && canRecovery);
    toTotp.hidden = !(mode === "recovery_code" && canTotp);
    if (mode === "totp") {
      intro.textContent = "Your password is right. Now enter the code from your authenticator app.";
    } else if (mode === "recovery_code") {
      intro.textContent = "Your password is right. Now enter one of your recovery codes.";
    } else if (canPasskey) {
      intro.textContent = "Your password is right. Now confirm with your passkey.";
    } else {
      intro.textContent =
        "Your password is right, but this account signs in with a passkey, which this browser " +
        "cannot use. Try a browser that supports passkeys, or ask an administrator.";
    }
  }

  function currentInput() {
    return mode === "totp" ? code.input : recovery.input;
  }

  // A void token (expired, already used, or five wrong factors) cannot be
  // retried: say so and offer the way back, nothing else.
  function voided(error) {
    const box = h(
      "div",
      { class: "alert", role: "alert", tabindex: "-1" },
      `${error.detail} `,
      "This sign-in attempt has ended (it lasts 5 minutes and allows a few tries). " +
        "Start over with your password.",
    );
    const again = h("button", { type: "button", class: "btn btn-primary" }, "Start over");
    again.addEventListener("click", () => onStartOver());
    card.replaceChildren(
      h("h2", { id: "second-factor-heading" }, "Two-step sign-in"),
      box,
      h("div", { class: "form-actions" }, again),
    );
    box.focus();
  }

  async function complete(body) {
    try {
      await api.post(LOGIN_MFA, {
        json: { mfa_token: token, ...body, cookie: true },
        handle401: false,
      });
    } catch (error) {
      return error;
    }
    await onSignedIn();
    return null;
  }

  function failed(error, input) {
    if (problemIs(error, "mfa-token-invalid")) {
      voided(error);
      return;
    }
    if (problemIs(error, "mfa-failed") && input) {
      clearErrors(form, alert);
      setFieldError(
        input,
        mode === "totp"
          ? "That code is not right. Check the time on your phone and use the code shown now."
          : "That recovery code is not right, or it was used already.",
      );
      showAlert(alert, error.detail);
      input.focus();
      input.select();
      return;
    }
    showErrors(form, alert, error);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form, alert);
    const input = currentInput();
    const value =
      mode === "totp" ? input.value.replace(/\s+/g, "") : input.value.trim();
    if (!value) {
      setFieldError(input, mode === "totp" ? "Enter the code." : "Enter a recovery code.");
      input.focus();
      return;
    }
    busy(submit, "Verifying…", async () => {
      const error = await complete(mode === "totp" ? { code: value } : { recovery_code: value });
      if (error) failed(error, input);
    });
  });

  passkeyButton.addEventListener("click", () => {
    clearErrors(form, alert);
    busy(passkeyButton, "Waiting for your passkey…", async () => {
      let credential;
      try {
        const options = await api.post("/login/mfa/passkey-options", {
          json: { mfa_token: token },
          handle401: false,
        });
        credential = await usePasskey(options);
      } catch (error) {
        const text = passkeyErrorText(error);
        if (text) showAlert(alert, text);
        else failed(error, null);
        return;
      }
      const error = await complete({ credential });
      if (error) {
        if (problemIs(error, "mfa-failed")) {
          showAlert(alert, `${error.detail} That passkey was not accepted; try another way.`);
        } else {
          failed(error, null);
        }
      }
    });
  });

  toRecovery.addEventListener("click", () => {
    mode = "recovery_code";
    showMode();
    recovery.input.focus();
  });
  toTotp.addEventListener("click", () => {
    mode = "totp";
    showMode();
    code.input.focus();
  });
  startOver.addEventListener("click", () => onStartOver());

  showMode();
  /** Focus what the user acts on first. */
  card.focusFirst = () => {
    if (mode) currentInput().focus();
    else if (canPasskey) passkeyButton.focus();
    else card.querySelector("h2").focus();
  };
  return card;
}
