// What this server is configured to do (GET /api/v1/settings), so pages can
// adapt: whether sign-up is open, whether email addresses must be verified,
// how strong a new password must be.

import { api } from "./api.js";

// Until the server has answered (or when it cannot), nothing is assumed:
// `email_verification: null` shows no verification banner and lets the
// answers of signup and login decide.
export const UNKNOWN_SETTINGS = Object.freeze({
  signup_enabled: true,
  email_verification: null,
  password_min_score: 0,
});

let settings = null;

/** The server's settings, read once per page load; UNKNOWN_SETTINGS when they cannot be read. */
export async function loadSettings() {
  if (settings) return settings;
  try {
    const answer = await api.get("/settings", { handle401: false });
    settings = { ...UNKNOWN_SETTINGS, ...answer };
    return settings;
  } catch {
    // Asked again on the next navigation; meanwhile the pages work without.
    return UNKNOWN_SETTINGS;
  }
}

/** Whether this server asks users to verify their address at all. */
export function verificationOn(current) {
  return current.email_verification === "optional" || current.email_verification === "required";
}
