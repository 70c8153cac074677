// The page a verification link opens: it confirms the address on load.

import { api, problemIs } from "../api.js";
import { h, page, say, alertBox, showAlert, busy } from "../dom.js";
import { linkToken, forgetLinkToken } from "../links.js";
import { resendControl } from "../verification.js";

const VERIFY_PATH = "/verify-email";

// One confirmation per token, whatever redraws the page: a token works once,
// so a second POST of it would turn a success into "invalid link".
const confirmations = new Map();

function confirm(token) {
  if (!confirmations.has(token)) {
    const pending = api.post("/verify-email", { json: { token }, handle401: false });
    // A failure that is not about the token (the network) may be tried again.
    pending.catch((error) => {
      if (!problemIs(error, "invalid-token")) confirmations.delete(token);
    });
    confirmations.set(token, pending);
  }
  return confirmations.get(token);
}

function nextSteps(ctx) {
  return ctx.user
    ? h("p", {}, h("a", { href: "/files" }, "Go to your files"))
    : h("p", {}, h("a", { href: "/login" }, "Log in"));
}

export function verifyEmailView(ctx) {
  const { el, status } = page("Verify your email address");
  const body = h("div", { class: "verify-body" });
  el.append(body);

  function showInvalid(reason) {
    const parts = [h("div", { class: "alert", role: "alert" }, reason)];
    const user = ctx.user;
    if (user && user.email_verified === false) {
      parts.push(
        h(
          "div",
          { class: "card verify-resend" },
          h("p", {}, "Ask for a new link to ", h("strong", {}, user.email), ":"),
          resendControl(user, {
            onVerified: async () => {
              await ctx.refreshNav();
              say(status, `Your address ${user.email} is already verified.`);
            },
          }),
        ),
      );
    } else if (user) {
      parts.push(h("p", {}, "Your address ", h("strong", {}, user.email), " is verified already."));
    } else if (ctx.settings.email_verification === "required") {
      parts.push(
        h(
          "p",
          {},
          "Log in with your password: as long as your address is not verified, " +
            "that mails you a new link.",
        ),
      );
    } else {
      parts.push(h("p", {}, "Log in to ask for a new link."));
    }
    parts.push(nextSteps(ctx));
    body.replaceChildren(...parts);
  }

  const token = linkToken(VERIFY_PATH);
  if (!token) {
    showInvalid(
      "This page needs the link from your email, whole. It is no longer in the address " +
        "(a reload forgets it).",
    );
    return el;
  }

  async function run() {
    body.replaceChildren(h("p", { class: "muted", "aria-busy": "true" }, "Checking your link…"));
    let user;
    try {
      user = await confirm(token);
    } catch (error) {
      if (problemIs(error, "invalid-token")) {
        forgetLinkToken(VERIFY_PATH);
        showInvalid(
          "This verification link is invalid or has expired. A link works once, for 48 hours, " +
            "and only while the account keeps the address it was sent to.",
        );
        return;
      }
      const alert = alertBox();
      showAlert(alert, error.detail);
      const retry = h("button", { type: "button", class: "btn btn-primary" }, "Try again");
      retry.addEventListener("click", () => busy(retry, "Checking…", run));
      body.replaceChildren(alert, h("div", { class: "form-actions" }, retry));
      return;
    }
    forgetLinkToken(VERIFY_PATH);
    say(status, `Your address ${user.email} is verified.`);
    body.replaceChildren(
      ctx.user
        ? null
        : h("p", {}, "You can log in with your username or this address."),
      nextSteps(ctx),
    );
    // The banner and the user the pages see must learn it too.
    if (ctx.user) await ctx.refreshNav();
  }
  run();
  return el;
}
