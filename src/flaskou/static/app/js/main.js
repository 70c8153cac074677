// flaskou web app: start-up, navigation bar, route table and access rules.

import { api, onUnauthorized } from "./api.js";
import { h, alertBox, showAlert, busy, say } from "./dom.js";
import { startRouter, navigate, currentPath } from "./router.js";
import { loginView, signupView, checkInboxView } from "./views/auth.js";
import { forgotPasswordView, resetPasswordView } from "./views/recovery.js";
import { verifyEmailView } from "./views/verify.js";
import { loadSettings, verificationOn, UNKNOWN_SETTINGS } from "./settings.js";
import { resendControl } from "./verification.js";
import { takeLinkToken } from "./links.js";
import { filesView } from "./views/files.js";
import { sessionsView } from "./views/sessions.js";
import { apiKeysView } from "./views/api-keys.js";
import { profileView } from "./views/profile.js";
import { securityView } from "./views/security.js";
import { usersView } from "./views/admin-users.js";
import { rolesView } from "./views/admin-roles.js";
import { auditView } from "./views/admin-audit.js";
import { notFoundView, forbiddenView, failureView } from "./views/misc.js";

const ADMIN = "admin";

// access: "guest" (logged-out only), "user" (logged in), "admin" (role admin),
// "any" (either: the pages a mailed link opens, whoever is signed in).
const ROUTES = {
  "/login": { title: "Log in", access: "guest", view: loginView },
  "/signup": { title: "Sign up", access: "guest", view: signupView },
  "/check-inbox": { title: "Check your inbox", access: "guest", view: checkInboxView },
  "/forgot-password": { title: "Forgot your password?", access: "any", view: forgotPasswordView },
  "/reset-password": { title: "Choose a new password", access: "any", view: resetPasswordView },
  "/verify-email": { title: "Verify your email address", access: "any", view: verifyEmailView },
  "/files": { title: "Files", access: "user", view: filesView },
  "/sessions": { title: "Sessions", access: "user", view: sessionsView },
  "/api-keys": { title: "API keys", access: "user", view: apiKeysView },
  "/profile": { title: "Profile", access: "user", view: profileView },
  "/security": { title: "Security", access: "user", view: securityView },
  "/admin/users": { title: "Users", access: "admin", view: usersView },
  "/admin/roles": { title: "Roles", access: "admin", view: rolesView },
  "/admin/audit": { title: "Audit trail", access: "admin", view: auditView },
};

// Pages that say themselves whether the address is verified: no banner there.
const NO_BANNER = new Set(["/profile", "/verify-email"]);

const NAV_USER = [
  ["/files", "Files"],
  ["/sessions", "Sessions"],
  ["/api-keys", "API keys"],
  ["/profile", "Profile"],
  ["/security", "Security"],
];
const NAV_ADMIN = [
  ["/admin/users", "Users"],
  ["/admin/roles", "Roles"],
  ["/admin/audit", "Audit"],
];

const state = {
  user: null,
  // The access level of the page on screen ("guest", "user", "admin" or null).
  access: null,
  // A message for the next page drawn: {kind: "error" | "info", text}.
  flash: null,
  // Where to go after logging in, when a logged-out visitor opened a private page.
  afterLogin: null,
  // Set by redirect(): the next render reuses the user just fetched.
  reuseUser: false,
  // True from a 401 on a private page until the login page is drawn.
  ending: false,
  // True once /users/me has been asked at least once.
  checked: false,
  // The server's settings (settings.js); UNKNOWN_SETTINGS until read.
  settings: UNKNOWN_SETTINGS,
  // Data handed to the next page drawn (navigateWith), e.g. the address just signed up.
  carry: null,
  rendered: false,
};
let renderSeq = 0;

export function isAdmin(user) {
  return Boolean(user && Array.isArray(user.roles) && user.roles.includes(ADMIN));
}

function setFlash(kind, text) {
  state.flash = { kind, text };
}

// Any API call answering 401 on a private page: the session is gone
// (logged out elsewhere, revoked, expired, or the account was deactivated).
onUnauthorized(() => {
  if (state.ending) return true;
  // Pages open to anyone show the error themselves.
  if (state.access === "guest" || state.access === "any") return false;
  setFlash("error", "Your session has ended. Please log in again.");
  state.user = null;
  state.ending = true;
  navigate("/login");
  return true;
});

async function fetchMe() {
  try {
    return await api.get("/users/me", { handle401: false });
  } catch (error) {
    if (error.status === 401) return null;
    throw error;
  }
}

function redirect(path) {
  state.reuseUser = true;
  return navigate(path, { replace: true });
}

async function render() {
  const seq = ++renderSeq;
  takeLinkToken();
  const path = currentPath();
  const main = document.getElementById("main");
  let user;
  const route = ROUTES[path];
  // A logged-out visitor moving between the login and sign-up pages needs no
  // new check (each check answers 401, which browsers log in the console).
  const guestOnly = state.checked && !state.user && route && route.access === "guest";
  if (state.reuseUser || guestOnly) {
    state.reuseUser = false;
    user = state.user;
  } else {
    main.setAttribute("aria-busy", "true");
    try {
      // Read on every navigation, so role changes show up without a reload.
      let settings;
      [user, settings] = await Promise.all([fetchMe(), loadSettings()]);
      state.settings = settings;
    } catch (error) {
      if (seq !== renderSeq) return;
      main.removeAttribute("aria-busy");
      show({ title: "Something went wrong", access: null, view: failureView }, { error });
      return;
    }
    if (seq !== renderSeq) return;
    main.removeAttribute("aria-busy");
    state.checked = true;
  }
  if (!user && state.user && !state.flash) {
    // We were logged in a moment ago: the session was revoked or expired.
    setFlash("error", "Your session has ended. Please log in again.");
  }
  state.user = user;
  renderNav(path);

  if (path === "/") return redirect(user ? "/files" : "/login");
  if (!route) return show({ title: "Not found", access: null, view: notFoundView });
  if (route.access !== "guest" && route.access !== "any" && !user) {
    state.afterLogin = path + location.search;
    return redirect("/login");
  }
  if (route.access === "guest" && user) return redirect("/files");
  if (route.access === "admin" && !isAdmin(user)) {
    return show({ title: "Not allowed", access: "user", view: forbiddenView });
  }
  show(route);
}

function show(route, extra = {}) {
  const main = document.getElementById("main");
  state.access = route.access;
  state.ending = false;
  document.title = `${route.title} · flaskou`;
  const ctx = {
    user: state.user,
    settings: state.settings,
    carried: state.carry,
    navigate,
    navigateWith,
    retry: () => render(),
    loggedIn,
    loggedOut,
    refreshNav,
    flash: setFlash,
    ...extra,
  };
  state.carry = null;
  const view = route.view(ctx);
  const flash = state.flash;
  state.flash = null;
  if (flash) {
    // Information goes in the page's own status region (one per page);
    // an error gets an alert under the heading.
    const status = view.querySelector(".status[role=status]");
    if (flash.kind !== "error" && status) {
      say(status, flash.text);
    } else {
      const el = h("div", { class: "alert flash", role: "alert" }, flash.text);
      const heading = view.querySelector("h1");
      if (heading) heading.after(el);
      else view.prepend(el);
    }
  }
  main.replaceChildren(view);
  if (state.rendered) {
    window.scrollTo(0, 0);
    const heading = main.querySelector("h1");
    if (heading) heading.focus({ preventScroll: true });
  }
  state.rendered = true;
}

/** Called by the login and sign-up pages once the session cookie is set. */
function loggedIn(flashText, { next: nextPath } = {}) {
  if (flashText) setFlash("info", flashText);
  const next = nextPath || state.afterLogin || "/files";
  state.afterLogin = null;
  return navigate(next);
}

/** Go to a page of the app and hand it `data` (as ctx.carried), for this drawing only. */
function navigateWith(path, data) {
  state.carry = data;
  return navigate(path);
}

/** Called after logging out, deleting the account or revoking every session. */
function loggedOut(flashText, kind = "info") {
  state.user = null;
  state.access = "guest";
  state.afterLogin = null;
  if (flashText) setFlash(kind, flashText);
  return navigate("/login");
}

/** Re-read the caller (after changing one's own roles or email) and redraw the nav. */
async function refreshNav() {
  try {
    const user = await fetchMe();
    if (user) {
      state.user = user;
      renderNav(currentPath());
    }
  } catch {
    // The nav keeps what it shows; the next navigation reads the user again.
  }
}

function navLink(path, label, current) {
  return h(
    "li",
    {},
    h("a", { href: path, class: "nav-link", "aria-current": path === current ? "page" : null }, label),
  );
}

let bannerKey = null;

/**
 * "Your email address is not verified" under the header, on every page of a
 * signed-in user whose address is not verified yet, while this server asks
 * for verification. It is drawn again only when the account or address
 * changes, so a "Sent" message stays while the user moves between pages.
 */
function renderBanner(current) {
  const area = document.getElementById("banner");
  const user = state.user;
  const wanted =
    user && user.email_verified === false && verificationOn(state.settings) && !NO_BANNER.has(current);
  if (!wanted) {
    area.replaceChildren();
    area.hidden = true;
    bannerKey = null;
    return;
  }
  const key = `${user.id} ${user.email}`;
  area.hidden = false;
  if (key === bannerKey) return;
  bannerKey = key;
  const required = state.settings.email_verification === "required";
  area.replaceChildren(
    h(
      "section",
      { class: "banner", "aria-labelledby": "banner-text" },
      h(
        "p",
        { class: "banner-text", id: "banner-text" },
        "Your email address ",
        h("strong", {}, user.email),
        " is not verified yet. Open the link we mailed you",
        required ? " (you need it to log in again)" : "",
        ", or ask for a new one.",
      ),
      resendControl(user, { onVerified: () => refreshNav() }),
    ),
  );
}

function renderNav(current) {
  renderBanner(current);
  const nav = document.getElementById("nav");
  const user = state.user;
  if (!user) {
    // The login and sign-up pages link to each other; the bar stays empty.
    nav.replaceChildren();
    return;
  }
  const links = isAdmin(user) ? [...NAV_USER, ...NAV_ADMIN] : NAV_USER;
  const logout = h("button", { type: "button", class: "btn btn-secondary btn-small" }, "Log out");
  const error = alertBox("nav-alert");
  logout.addEventListener("click", () =>
    busy(logout, "Logging out…", async () => {
      showAlert(error, "");
      try {
        await api.post("/logout", { handle401: false });
      } catch (err) {
        if (err.status !== 401) {
          showAlert(error, err.detail);
          return;
        }
      }
      loggedOut("You have been logged out.");
    }),
  );
  nav.replaceChildren(
    h("ul", { class: "nav-list" }, links.map(([p, l]) => navLink(p, l, current))),
    h(
      "div",
      { class: "nav-user" },
      h("span", { class: "nav-username" }, "Signed in as ", h("strong", {}, user.username)),
      logout,
    ),
    error,
  );
}

// A message carried over from the previous page goes once the user acts.
document.addEventListener(
  "submit",
  () => {
    for (const el of document.querySelectorAll("#main .flash")) el.remove();
  },
  true,
);

// Dropping a file anywhere but a drop zone must not make the browser open it
// in place of the app.
for (const type of ["dragover", "drop"]) {
  window.addEventListener(type, (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (target && target.closest(".dropzone")) return;
    if (event.dataTransfer && Array.from(event.dataTransfer.types || []).includes("Files")) {
      event.preventDefault();
      if (type === "dragover") event.dataTransfer.dropEffect = "none";
    }
  });
}

// A mailed link opened in a tab already on that page only changes the
// fragment: draw the page again for the new token.
window.addEventListener("hashchange", () => {
  if (/(?:^#|&)token=/.test(location.hash)) render();
});

startRouter(render);
