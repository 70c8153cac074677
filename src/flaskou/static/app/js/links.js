// Tokens that arrive in the fragment of a mailed link (/reset-password#token=...).
//
// A fragment never reaches a server log or a Referer, but it stays in the
// address bar and the history; takeLinkToken() moves it into memory and
// rewrites the address without it before anything else happens. A reload
// after that loses the token: the page then asks for a new link.

const tokens = new Map();

/** Move a `#token=` of the current address into memory (call before drawing). */
export function takeLinkToken() {
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
  const token = fragment.get("token");
  if (!token) return;
  tokens.set(location.pathname.replace(/\/+$/, ""), token);
  history.replaceState(history.state, "", location.pathname + location.search);
}

/** The token the link to `path` brought, if any. */
export function linkToken(path) {
  return tokens.get(path) || null;
}

/** Forget a spent token, so going back to the page does not offer it again. */
export function forgetLinkToken(path) {
  tokens.delete(path);
}
