// Logging in and signing up.

import { api } from "../api.js";
import { h, page, field, alertBox, clearErrors, showErrors, busy } from "../dom.js";

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
    h("div", { class: "form-actions" }, submit),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form, alert);
    busy(submit, "Logging in…", async () => {
      try {
        await logIn(username.input.value.trim(), password.input.value);
      } catch (error) {
        showErrors(form, alert, error);
        return;
      }
      await ctx.loggedIn();
    });
  });
  el.append(
    form,
    h("p", { class: "aside" }, "No account yet? ", h("a", { href: "/signup" }, "Sign up")),
  );
  return el;
}

export function signupView(ctx) {
  const { el } = page("Sign up");
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
    hint: "At least 8 characters.",
  });
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
      try {
        await api.post("/signup", {
          json: { username: name, email: email.input.value.trim(), password: secret },
        });
      } catch (error) {
        showErrors(form, alert, error);
        return;
      }
      try {
        await logIn(name, secret);
      } catch {
        // The account exists; let the user log in by hand (e.g. when throttled).
        ctx.flash("info", "Your account was created. Please log in.");
        ctx.navigate("/login");
        return;
      }
      await ctx.loggedIn(`Welcome to flaskou, ${name}! Your account is ready.`, { next: "/files" });
    });
  });
  el.append(
    form,
    h("p", { class: "aside" }, "Already have an account? ", h("a", { href: "/login" }, "Log in")),
  );
  return el;
}
