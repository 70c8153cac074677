// A strength meter under a new-password field. The server estimates
// (POST /password-strength, zxcvbn with the username and email as context),
// so the meter and the rule a new password must pass are the same estimate.

import { api } from "./api.js";
import { h, uid } from "./dom.js";

const WORDS = ["Very weak", "Weak", "Fair", "Good", "Strong"];
// Wait for a pause in typing: the endpoint is throttled like login.
const DELAY_MS = 350;
// The endpoint's own bounds; past them it would answer 422 for the context.
const USERNAME_MAX = 39;
const EMAIL_MAX = 254;
const PASSWORD_MAX = 1024;

/** The words for a zxcvbn score (0-4). */
export function strengthWords(score) {
  return WORDS[Math.max(0, Math.min(WORDS.length - 1, score))];
}

/**
 * Attach a meter to `input` (a field() input) and answer its element, to be
 * placed in the field's wrapper. `context()` answers {username, email} the
 * estimate counts against. Empty input asks nothing; any failure (429 when
 * typing fast, a network hiccup) hides the meter rather than showing an error.
 */
export function strengthMeter(input, { context = () => ({}) } = {}) {
  const wordsId = uid("strength");
  // The live region stays in the document even when empty: screen readers
  // announce changes to a region they already know, not one that appears.
  const region = h("div", { class: "strength", "aria-live": "polite" });
  let timer = null;
  let controller = null;
  // The password whose estimate is on screen: asking again for it is waste.
  let shown = "";

  const clear = () => {
    shown = "";
    region.replaceChildren();
  };

  function show(estimate) {
    const score = Number(estimate.score) || 0;
    const feedback = Array.isArray(estimate.feedback) ? estimate.feedback : [];
    const verdict = estimate.acceptable
      ? null
      : h("span", { class: "strength-verdict" }, " Not strong enough for this server.");
    region.replaceChildren(
      h(
        "div",
        { class: "strength-row" },
        // The words say the same as the bar; the bar is for the eyes only.
        h("meter", {
          class: "strength-bar",
          min: "0",
          max: "4",
          low: "2",
          high: "3",
          optimum: "4",
          value: String(score),
          "aria-hidden": "true",
        }),
        h(
          "p",
          { class: "strength-words", id: wordsId },
          "Strength: ",
          h("strong", {}, strengthWords(score)),
          ` (${score} of 4).`,
          verdict,
        ),
      ),
      feedback.length
        ? h("ul", { class: "strength-feedback" }, feedback.map((text) => h("li", {}, text)))
        : null,
    );
  }

  async function check() {
    const password = input.value;
    if (!password || password === shown) return;
    if (controller) controller.abort();
    controller = new AbortController();
    const { username, email } = context() || {};
    const json = { password: password.slice(0, PASSWORD_MAX) };
    if (username) json.username = String(username).slice(0, USERNAME_MAX);
    if (email) json.email = String(email).slice(0, EMAIL_MAX);
    let estimate;
    try {
      estimate = await api.post("/password-strength", {
        json,
        signal: controller.signal,
        handle401: false,
      });
    } catch (error) {
      if (error && error.name === "AbortError") return;
      // Quietly: a meter that cannot measure says nothing.
      clear();
      return;
    }
    // An answer for what the field no longer holds is of no use.
    if (input.value === password) {
      show(estimate || {});
      shown = password;
    }
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    if (!input.value) {
      if (controller) controller.abort();
      clear();
      return;
    }
    timer = setTimeout(check, DELAY_MS);
  });

  // Read with the field when it gets focus again (the region itself is polite).
  const described = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
  input.setAttribute("aria-describedby", [...described, wordsId].join(" "));

  /** Forget the estimate (after the form was sent and emptied). */
  region.reset = () => {
    clearTimeout(timer);
    if (controller) controller.abort();
    clear();
  };
  return region;
}
