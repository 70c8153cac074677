// Asking for a new email verification link (POST /users/me/verify-email),
// from the banner, the profile page and a verification page whose link failed.

import { api } from "./api.js";
import { h, busy, tryAgainText } from "./dom.js";

/**
 * Ask for a new link. Answers {kind, text}: "sent" (202), "verified" (409:
 * verified meanwhile, e.g. in another tab), "handled" (a 401 already sent
 * the user to the login page) or "error".
 */
export async function resendVerification(user) {
  try {
    await api.post("/users/me/verify-email");
  } catch (error) {
    if (error.handled) return { kind: "handled", text: "" };
    if (error.status === 409) return { kind: "verified", text: "Your address is already verified." };
    if (error.status === 429) {
      return {
        kind: "error",
        text: `Too many links were asked for this address. ${tryAgainText(error.retryAfter)}`,
      };
    }
    return { kind: "error", text: error.detail };
  }
  return { kind: "sent", text: `Sent. Check your inbox at ${user.email} for the new link.` };
}

/**
 * A "Resend" button with its own status line. `onVerified` runs after a 409,
 * so the page can read the account again and stop offering the button.
 */
export function resendControl(user, { onVerified = () => {}, label = "Resend" } = {}) {
  const button = h("button", { type: "button", class: "btn btn-secondary btn-small" }, label);
  const message = h("span", { class: "resend-message", role: "status" });
  button.addEventListener("click", () =>
    busy(button, "Sending…", async () => {
      message.textContent = "";
      message.classList.remove("is-error");
      const result = await resendVerification(user);
      message.textContent = result.text;
      message.classList.toggle("is-error", result.kind === "error");
      if (result.kind === "verified") onVerified();
    }),
  );
  return h("span", { class: "resend" }, button, message);
}
