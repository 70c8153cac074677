// Logging in and signing up, and the "check your inbox" page that follows
// them when this server wants verified addresses (EMAIL_VERIFICATION=required).

import { api, problemIs } from "../api.js";
import { h, append, page, field, alertBox, clearErrors, showErrors, busy } from "../dom.js";
import { strengthMeter } from "../strength.js";
import { verificationOn } from "../settings.js";
import { passkeySignIn, secondFactorStep } from "./second-factor.js";

/** POST /login with cookie: true; the token only ever lives in the HttpOnly cookie. */
function logIn(username, password) {
  return api.post("/login", { json: { username, password, cookie: true }, handle401: false });
}

export function loginView(ctx) {
  const { el } = page("Log in");
  const username = field({
    id: "login-username",
    name: "username",
    label: "Username",
    autocomplete: "username",
    required: true,
    spellcheck: "false",
    hint: "Your username or your email address.",
  });
  const password = field({
    id: "login-password",
    name: "password",
    label: "Password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const alert = alertBox();
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Log in");
  const form = h(
    "form",
    { class: "form card", "aria-label": "Log in", novalidate: true },
    alert,
    username.wrapper,
    password.wrapper,
    h(
      "div",
      { class: "form-actions" },
      submit,
      h("a", { href: "/forgot-password", class: "form-link" }, "Forgot your password?"),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form, alert);
    busy(submit, "Logging in…", async () => {
      const name = username.input.value.trim();
      try {
        await logIn(name, password.input.value);
      } catch (error) {
        if (problemIs(error, "email-unverified")) {
          // The password was right; the server has mailed a new link itself.
          await ctx.navigateWith("/check-inbox", { reason: "login" });
          return;
        }
        if (problemIs(error, "mfa-required") && error.problem.mfa_token) {
          askSecondFactor(error.problem);
          return;
        }
        showErrors(form, alert, error);
        return;
      }
      await ctx.loggedIn();
    });
  });
  const passkey = passkeySignIn({
    onSignedIn: () => ctx.loggedIn(),
    // As with a password: the passkey was right, the address is not verified yet.
    onUnverified: () => ctx.navigateWith("/check-inbox", { reason: "passkey" }),
  });
  const firstStep = [form, passkey];

  // The password was right and the account has a second factor: the step
  // takes the place of the password form until it succeeds or starts over.
  function askSecondFactor(problem) {
    const step = secondFactorStep({
      problem,
      onSignedIn: () => ctx.loggedIn(),
      onStartOver: () => {
        step.replaceWith(...firstStep.filter(Boolean));
        password.input.value = "";
        password.input.focus();
      },
    });
    form.before(step);
    for (const part of firstStep) if (part) part.remove();
    step.focusFirst();
  }

  append(el, [
    form,
    passkey,
    ctx.settings.signup_enabled === false
      ? null
      : h("p", { class: "aside" }, "No account yet? ", h("a", { href: "/signup" }, "Sign up")),
  ]);
  return el;
}

export function signupView(ctx) {
  const { el } = page("Sign up");
  if (ctx.settings.signup_enabled === false) {
    el.append(
      h(
        "p",
        { class: "lead" },
        "This server does not take new sign-ups; an administrator creates accounts.",
      ),
      h("p", { class: "aside" }, "Already have an account? ", h("a", { href: "/login" }, "Log in")),
    );
    return el;
  }
  const username = field({
    id: "signup-username",
    name: "username",
    label: "Username",
    autocomplete: "username",
    required: true,
    spellcheck: "false",
    hint: "Lowercase letters, digits and single hyphens, up to 39 characters.",
  });
  const email = field({
    id: "signup-email",
    name: "email",
    label: "Email",
    type: "email",
    autocomplete: "email",
    required: true,
  });
  const password = field({
    id: "signup-password",
    name: "password",
    label: "Password",
    type: "password",
    autocomplete: "new-password",
    required: true,
    hint:
      ctx.settings.password_min_score > 0
        ? "At least 8 characters, and hard to guess: the meter says when it is strong enough."
        : "At least 8 characters.",
  });
  password.wrapper.append(
    strengthMeter(password.input, {
      context: () => ({ username: username.input.value.trim(), email: email.input.value.trim() }),
    }),
  );
  const alert = alertBox();
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Sign up");
  const form = h(
    "form",
    { class: "form card", "aria-label": "Sign up", novalidate: true },
    alert,
    username.wrapper,
    email.wrapper,
    password.wrapper,
    h("div", { class: "form-actions" }, submit),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form, alert);
    busy(submit, "Signing up…", async () => {
      const name = username.input.value.trim();
      const secret = password.input.value;
      let user;
      try {
        user = await api.post("/signup", {
          json: { username: name, email: email.input.value.trim(), password: secret },
        });
      } catch (error) {
        showErrors(form, alert, error);
        return;
      }
      const checkInbox = () =>
        ctx.navigateWith("/check-inbox", { reason: "signup", email: user.email });
      // Logging in would be refused (and mail a second link): say what to do instead.
      if (ctx.settings.email_verification === "required") {
        await checkInbox();
        return;
      }
      try {
        await logIn(name, secret);
      } catch (error) {
        if (problemIs(error, "email-unverified")) {
          await checkInbox();
          return;
        }
        // The account exists; let the user log in by hand (e.g. when throttled).
        ctx.flash("info", "Your account was created. Please log in.");
        ctx.navigate("/login");
        return;
      }
      const welcome = `Welcome to flaskou, ${name}! Your account is ready.`;
      const toVerify = user.email_verified === false && verificationOn(ctx.settings);
      await ctx.loggedIn(
        toVerify ? `${welcome} We have mailed a link to ${user.email} to verify it.` : welcome,
        { next: "/files" },
      );
    });
  });
  el.append(
    form,
    h("p", { class: "aside" }, "Already have an account? ", h("a", { href: "/login" }, "Log in")),
  );
  return el;
}

/** After a sign-up, or a refused login, while the address is not verified. */
export function checkInboxView(ctx) {
  const { el } = page("Check your inbox");
  const carried = ctx.carried || {};
  let message;
  if (carried.reason === "signup") {
    message = [
      "Your account is ready. Check your inbox to verify ",
      h("strong", {}, carried.email),
      ", then log in: open the link we have just mailed there.",
    ];
  } else if (carried.reason === "passkey") {
    message = [
      "Your passkey is right, but your email address is not verified yet, so you cannot " +
        "sign in. We have mailed a new verification link to the address of your account: " +
        "open it, then sign in.",
    ];
  } else if (carried.reason === "login") {
    message = [
      "Your password is right, but your email address is not verified yet, so you cannot " +
        "log in. We have mailed a new verification link to the address of your account: " +
        "open it, then log in.",
    ];
  } else {
    message = ["Open the verification link we have mailed you, then log in."];
  }
  el.append(
    h("div", { class: "card notice", role: "status" }, h("p", {}, ...message)),
    h(
      "p",
      { class: "aside" },
      "Nothing after a few minutes? Check your spam folder. Logging in again mails a new link " +
        "(a few per hour at most).",
    ),
    h("p", {}, h("a", { href: "/login" }, "Log in")),
  );
  return el;
}
