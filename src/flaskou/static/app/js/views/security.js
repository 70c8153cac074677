// The caller's second factors: an authenticator app (TOTP), passkeys and
// the recovery codes that stand in for either when a device is lost.

import { api, seg } from "../api.js";
import {
  h,
  replace,
  page,
  say,
  field,
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
import { passkeysSupported, createPasskey, passkeyErrorText } from "../webauthn.js";

const CODES_FILE = "flaskou-recovery-codes.txt";

function mfaOn(mfa) {
  return Boolean(mfa && (mfa.totp || (mfa.passkeys && mfa.passkeys.length)));
}

function passwordField(id) {
  return field({
    id,
    name: "current_password",
    label: "Current password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
}

/** "JBSWY3DPEHPK3PXP" -> "JBSW Y3DP EHPK 3PXP": easier to type into an app by hand. */
function groupSecret(secret) {
  return String(secret)
    .replace(/\s+/g, "")
    .replace(/(.{4})/g, "$1 ")
    .trim();
}

/**
 * The server's QR code (an SVG document made by segno) as an image. An SVG in
 * an <img> runs no script and loads nothing, and a data: URL is what the
 * page's CSP allows for images (img-src 'self' data:); the text is never
 * parsed into this page's DOM.
 */
function qrImage(svg) {
  if (typeof svg !== "string" || !/^\s*(<\?xml[^>]*>\s*)?<svg[\s>]/.test(svg)) return null;
  return h("img", {
    class: "qr",
    src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`,
    alt: "QR code to add your flaskou account to an authenticator app",
    width: "192",
    height: "192",
  });
}

export function securityView(ctx) {
  const { el, status } = page("Security");
  let mfa = null;
  const username = ctx.user.username;

  const loadAlert = alertBox();
  const loading = h("p", { class: "muted" }, "Loading your second factors…");

  // ---- Overview -------------------------------------------------------------
  const overview = h("section", { class: "card", "aria-labelledby": "security-overview" });
  function drawOverview() {
    const on = mfaOn(mfa);
    const left = Number(mfa.recovery_codes_left) || 0;
    replace(
      overview,
      h("h2", { id: "security-overview" }, "Two-step sign-in"),
      h(
        "p",
        { class: "mfa-state" },
        h("span", { class: `pill ${on ? "pill-ok" : "pill-off"}` }, on ? "On" : "Off"),
        " ",
        on
          ? "Signing in asks for a second factor after your password, or takes a passkey alone."
          : "Signing in takes your password alone. Add an authenticator app or a passkey to protect your account even if your password leaks.",
      ),
      on
        ? h(
            "p",
            { class: "muted" },
            `Recovery codes left: ${left} of 10.`,
            left <= 3 ? " Consider getting new ones below." : "",
          )
        : null,
    );
  }

  // ---- Recovery codes shown once --------------------------------------------
  const codesCard = h("section", {
    class: "card codes-card",
    "aria-labelledby": "recovery-codes-heading",
    hidden: true,
  });

  function showCodes(codes, why) {
    const text = [
      `flaskou recovery codes for ${username}`,
      `Made ${new Date().toISOString()}. Each code signs you in once, in place of your second factor.`,
      "",
      ...codes,
      "",
    ].join("\n");
    const list = h(
      "ol",
      { class: "recovery-codes", "aria-label": "Recovery codes" },
      codes.map((code) => h("li", {}, h("code", {}, code))),
    );
    const copyStatus = h("p", { class: "status", role: "status" });
    const copy = h("button", { type: "button", class: "btn btn-secondary" }, "Copy");
    const download = h("button", { type: "button", class: "btn btn-secondary" }, "Download");
    const done = h("button", { type: "button", class: "btn btn-primary" }, "I have saved them");
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(text);
        say(copyStatus, "Copied the recovery codes.");
      } catch {
        // No clipboard access (permission, an older browser): select them
        // so a keyboard shortcut copies them.
        const range = document.createRange();
        range.selectNodeContents(list);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        say(copyStatus, "Could not copy by itself: the codes are selected, copy them with your keyboard.");
      }
    });
    download.addEventListener("click", () => {
      const url = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
      const link = h("a", { href: url, download: CODES_FILE, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      // The download has its own copy once started.
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      say(copyStatus, `Downloaded ${CODES_FILE}.`);
    });
    done.addEventListener("click", () => {
      codesCard.replaceChildren();
      codesCard.hidden = true;
      say(status, "Keep your recovery codes safe.");
      el.querySelector("h1").focus();
    });
    replace(
      codesCard,
      h("h2", { id: "recovery-codes-heading", tabindex: "-1" }, "Your recovery codes"),
      h(
        "p",
        {},
        why,
        " Each code signs you in once if you lose your authenticator app or passkey. ",
        h("strong", {}, "They are shown only this once:"),
        " copy or download them now and keep them somewhere safe.",
      ),
      list,
      h("div", { class: "form-actions" }, copy, download, done),
      copyStatus,
    );
    codesCard.hidden = false;
    codesCard.querySelector("h2").focus();
  }

  // ---- Authenticator app (TOTP) ---------------------------------------------
  const totpCard = h("section", { class: "card", "aria-labelledby": "totp-heading" });
  let totpPending = false;

  function drawTotp() {
    totpPending = false;
    const heading = h("h2", { id: "totp-heading" }, "Authenticator app");
    if (mfa.totp) {
      replace(totpCard, heading, totpOffForm());
    } else {
      replace(totpCard, heading, totpSetupForm());
    }
  }

  function totpSetupForm() {
    const password = passwordField("totp-setup-password");
    const alert = alertBox();
    const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Set up an authenticator app");
    const form = h(
      "form",
      { class: "form", "aria-label": "Set up an authenticator app", novalidate: true },
      h(
        "p",
        {},
        "An app such as Google Authenticator, Microsoft Authenticator, 1Password or Aegis shows a new 6-digit code every 30 seconds. Confirm your password to start.",
      ),
      alert,
      password.wrapper,
      h("div", { class: "form-actions" }, submit),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      clearErrors(form, alert);
      say(status, "");
      busy(submit, "Starting…", async () => {
        let setup;
        try {
          setup = await api.post("/users/me/mfa/totp", {
            json: { current_password: password.input.value },
          });
        } catch (error) {
          showErrors(form, alert, error);
          if (error.status === 409) await reload();
          return;
        }
        showTotpPending(setup);
      });
    });
    return form;
  }

  function showTotpPending(setup) {
    totpPending = true;
    const code = field({
      id: "totp-confirm-code",
      name: "code",
      label: "Code from the app",
      autocomplete: "one-time-code",
      inputmode: "numeric",
      spellcheck: "false",
      required: true,
      hint: "The 6-digit code the app shows now for flaskou.",
    });
    code.input.setAttribute("maxlength", "9");
    const alert = alertBox();
    const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Turn on");
    const cancel = h("button", { type: "button", class: "btn btn-secondary" }, "Cancel");
    const form = h(
      "form",
      { class: "form", "aria-label": "Confirm the authenticator app", novalidate: true },
      alert,
      code.wrapper,
      h("div", { class: "form-actions" }, submit, cancel),
    );
    const image = qrImage(setup.qr_svg);
    replace(
      totpCard,
      h("h2", { id: "totp-heading", tabindex: "-1" }, "Authenticator app"),
      h("p", {}, "1. Scan this QR code with your authenticator app."),
      image ? h("div", { class: "qr-frame" }, image) : null,
      h(
        "p",
        {},
        "Cannot scan it? Add an account in the app by hand with this key (time-based, 6 digits):",
      ),
      h("p", {}, h("code", { class: "totp-secret", "aria-label": "Setup key" }, groupSecret(setup.secret))),
      setup.otpauth_uri
        ? h(
            "p",
            { class: "aside" },
            "On a phone with the app: ",
            h("a", { href: setup.otpauth_uri }, "open it in your authenticator app"),
            ".",
          )
        : null,
      h("p", {}, "2. Enter the code the app shows, to check it works."),
      form,
    );
    cancel.addEventListener("click", () => {
      drawTotp();
      say(status, "The authenticator app was not set up.");
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      clearErrors(form, alert);
      const value = code.input.value.replace(/\s+/g, "");
      if (!value) {
        setFieldError(code.input, "Enter the code the app shows.");
        code.input.focus();
        return;
      }
      busy(submit, "Checking…", async () => {
        let answer;
        try {
          answer = await api.post("/users/me/mfa/totp/confirm", { json: { code: value } });
        } catch (error) {
          if (error.status === 422 && !Object.keys(error.errors).length) {
            setFieldError(code.input, "That code is not right. Use the code the app shows now.");
            showAlert(alert, error.detail);
            code.input.focus();
            code.input.select();
            return;
          }
          showErrors(form, alert, error);
          return;
        }
        say(status, "Your authenticator app is on: signing in now asks for its code.");
        await reload();
        if (answer && Array.isArray(answer.recovery_codes)) {
          showCodes(answer.recovery_codes, "Two-step sign-in is on.");
        }
      });
    });
    totpCard.querySelector("h2").focus();
  }

  function totpOffForm() {
    const password = passwordField("totp-off-password");
    const alert = alertBox();
    const submit = h("button", { type: "submit", class: "btn btn-danger" }, "Turn off the authenticator app");
    const form = h(
      "form",
      { class: "form", "aria-label": "Turn off the authenticator app", novalidate: true },
      h("p", {}, h("span", { class: "pill pill-ok" }, "On"), " Signing in asks for a code from your app."),
      alert,
      password.wrapper,
      h("div", { class: "form-actions" }, submit),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      clearErrors(form, alert);
      say(status, "");
      busy(submit, "Turning off…", async () => {
        try {
          await api.delete("/users/me/mfa/totp", {
            json: { current_password: password.input.value },
          });
        } catch (error) {
          showErrors(form, alert, error);
          if (error.status === 404) await reload();
          return;
        }
        await reload();
        say(status, "The authenticator app is off.");
      });
    });
    return form;
  }

  // ---- Passkeys -------------------------------------------------------------
  const passkeysCard = h("section", { class: "card", "aria-labelledby": "passkeys-heading" });
  const passkeysAlert = alertBox();
  const passkeysTable = table(["Name", "Added", "Last used", "Actions"], [], { caption: "Passkeys" });
  const passkeysBody = passkeysTable.querySelector("tbody");
  const noPasskeys = empty("No passkeys yet.");

  function drawPasskeys() {
    passkeysBody.replaceChildren(...mfa.passkeys.map(passkeyRow));
    passkeysTable.hidden = mfa.passkeys.length === 0;
    noPasskeys.hidden = mfa.passkeys.length !== 0;
  }

  function passkeyRow(passkey) {
    const tr = h("tr", { "data-passkey": passkey.id });
    const rowAlert = alertBox("alert-inline");
    const nameCell = td("Name", h("strong", { class: "passkey-name" }, passkey.name));
    const rename = h("button", { type: "button", class: "btn btn-secondary btn-small" }, "Rename");
    const remove = h("button", { type: "button", class: "btn btn-danger btn-small" }, "Remove");

    rename.addEventListener("click", () => {
      showAlert(rowAlert, "");
      const inputId = `passkey-name-${passkey.id}`;
      const input = h("input", { id: inputId, name: "name", type: "text", autocomplete: "off" });
      input.value = passkey.name;
      const save = h("button", { type: "submit", class: "btn btn-primary btn-small" }, "Save");
      const cancel = h("button", { type: "button", class: "btn btn-secondary btn-small" }, "Cancel");
      const editAlert = alertBox("alert-inline");
      const form = h(
        "form",
        { class: "edit-form", "aria-label": `Rename passkey ${passkey.name}`, novalidate: true },
        h("label", { for: inputId, class: "visually-hidden" }, "New name"),
        h("div", { class: "edit-row" }, input, save, cancel),
        h("p", { class: "field-error", id: `${inputId}-error`, hidden: true }),
        editAlert,
      );
      cancel.addEventListener("click", () => {
        tr.replaceWith(passkeyRow(passkey));
      });
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        clearErrors(form, editAlert);
        say(status, "");
        busy(save, "Saving…", async () => {
          let updated;
          try {
            updated = await api.patch(`/users/me/passkeys/${seg(passkey.id)}`, {
              json: { name: input.value.trim() },
            });
          } catch (error) {
            showErrors(form, editAlert, error);
            if (error.status === 404) await reload();
            return;
          }
          const index = mfa.passkeys.findIndex((p) => p.id === passkey.id);
          if (index >= 0) mfa.passkeys[index] = updated;
          const fresh = passkeyRow(updated);
          tr.replaceWith(fresh);
          say(status, `Renamed the passkey to ${updated.name}.`);
          fresh.querySelector("button").focus();
        });
      });
      nameCell.replaceChildren(form);
      rename.hidden = true;
      input.focus();
      input.select();
    });

    remove.addEventListener("click", () => {
      showAlert(rowAlert, "");
      say(status, "");
      confirmInline(remove, {
        question: `Remove the passkey ${passkey.name}? It will no longer sign you in.`,
        confirmText: "Remove",
        busyText: "Removing…",
        onConfirm: async () => {
          try {
            await api.delete(`/users/me/passkeys/${seg(passkey.id)}`);
          } catch (error) {
            if (error.handled) return;
            if (error.status !== 404) {
              showAlert(rowAlert, error.detail);
              return;
            }
            // Already removed elsewhere: the list below says what is left.
          }
          await reload();
          say(status, `Removed the passkey ${passkey.name}.`);
        },
      });
    });

    tr.replaceChildren(
      nameCell,
      td("Added", timeEl(passkey.created_at)),
      td("Last used", passkey.last_used_at ? timeEl(passkey.last_used_at) : h("span", { class: "muted" }, "Never")),
      td("Actions", h("div", { class: "row-actions" }, rename, remove), rowAlert),
    );
    return tr;
  }

  function addPasskeyForm() {
    if (!passkeysSupported()) {
      return h(
        "p",
        { class: "muted" },
        "This browser cannot make passkeys. Open this page in a browser that supports them to add one.",
      );
    }
    const name = field({
      id: "passkey-new-name",
      name: "name",
      label: "Passkey name",
      autocomplete: "off",
      required: true,
      hint: "To tell your passkeys apart, e.g. “Work laptop” or “Phone”.",
    });
    const password = passwordField("passkey-password");
    const alert = alertBox();
    const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Add a passkey");
    const form = h(
      "form",
      { class: "form", "aria-label": "Add a passkey", novalidate: true },
      h("h3", {}, "Add a passkey"),
      alert,
      name.wrapper,
      password.wrapper,
      h("div", { class: "form-actions" }, submit),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      clearErrors(form, alert);
      say(status, "");
      const label = name.input.value.trim();
      if (!label) {
        setFieldError(name.input, "Give the passkey a name.");
        name.input.focus();
        return;
      }
      busy(submit, "Waiting for your device…", async () => {
        let added;
        try {
          const options = await api.post("/users/me/passkeys/options", {
            json: { current_password: password.input.value },
          });
          const credential = await createPasskey(options);
          added = await api.post("/users/me/passkeys", { json: { name: label, credential } });
        } catch (error) {
          const text = passkeyErrorText(error, { creating: true });
          if (text) showAlert(alert, text);
          else showErrors(form, alert, error);
          return;
        }
        form.reset();
        await reload();
        say(status, `Added the passkey ${added.name}: it signs you in without a password.`);
        if (Array.isArray(added.recovery_codes)) {
          showCodes(added.recovery_codes, "Two-step sign-in is on.");
        }
      });
    });
    return form;
  }

  passkeysCard.append(
    h("h2", { id: "passkeys-heading" }, "Passkeys"),
    h(
      "p",
      {},
      "A passkey lives on your device (or in your password manager) and signs you in with your fingerprint, face or device PIN, without a password.",
    ),
    passkeysAlert,
    noPasskeys,
    passkeysTable,
    addPasskeyForm(),
  );

  // ---- New recovery codes ---------------------------------------------------
  const recoveryCard = h("section", { class: "card", "aria-labelledby": "recovery-heading" });
  function drawRecovery() {
    const heading = h("h2", { id: "recovery-heading" }, "Recovery codes");
    if (!mfaOn(mfa)) {
      replace(
        recoveryCard,
        heading,
        h("p", { class: "muted" }, "You get recovery codes when you add your first second factor."),
      );
      return;
    }
    const password = passwordField("codes-password");
    const alert = alertBox();
    const submit = h("button", { type: "submit", class: "btn btn-secondary" }, "Get new recovery codes");
    const form = h(
      "form",
      { class: "form", "aria-label": "Get new recovery codes", novalidate: true },
      h(
        "p",
        {},
        `You have ${Number(mfa.recovery_codes_left) || 0} unused recovery codes. New ones replace them all: the old codes stop working.`,
      ),
      alert,
      password.wrapper,
      h("div", { class: "form-actions" }, submit),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      clearErrors(form, alert);
      say(status, "");
      busy(submit, "Making new codes…", async () => {
        let answer;
        try {
          answer = await api.post("/users/me/mfa/recovery-codes", {
            json: { current_password: password.input.value },
          });
        } catch (error) {
          showErrors(form, alert, error);
          if (error.status === 409) await reload();
          return;
        }
        await reload();
        say(status, "New recovery codes made; the old ones no longer work.");
        showCodes(answer.recovery_codes, "Your old recovery codes no longer work.");
      });
    });
    replace(recoveryCard, heading, form);
  }

  // ---- Loading --------------------------------------------------------------
  async function reload() {
    let fresh;
    try {
      fresh = await api.get("/users/me/mfa");
    } catch (error) {
      if (!error.handled) showAlert(loadAlert, `Could not load your second factors: ${error.detail}`);
      return;
    }
    showAlert(loadAlert, "");
    mfa = { totp: false, passkeys: [], recovery_codes_left: 0, ...fresh };
    loading.hidden = true;
    for (const card of [overview, totpCard, passkeysCard, recoveryCard]) card.hidden = false;
    drawOverview();
    // A setup in progress stays on screen until confirmed or cancelled.
    if (!totpPending || mfa.totp) drawTotp();
    drawPasskeys();
    drawRecovery();
  }

  for (const card of [overview, totpCard, passkeysCard, recoveryCard]) card.hidden = true;
  el.append(loadAlert, loading, overview, codesCard, totpCard, passkeysCard, recoveryCard);
  reload().then(() => {
    if (!mfa) loading.hidden = true;
  });
  return el;
}
