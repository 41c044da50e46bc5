// The consent text shown to people, and its SHA-256 computed here, in the browser, from the exact
// characters on the screen: the subject's consent record points at that hash, so what the person was
// shown can be proved later (GET /v1/subjects/{id}/consent).

/**
 * The text this console carries for a server that has none registered yet. An admin registers it
 * (POST /v1/consent-texts) from the consent screen; a programme should register its own wording,
 * in its own languages, instead.
 */
export const DEFAULT_CONSENT_TEXT = Object.freeze({
  version: "tessera-default-1",
  language: "en",
  text: [
    "We would like to take photos of your face for this programme. Please listen, and ask anything you want to know.",
    "",
    "What we keep: the photos are turned into a number pattern (a template) that is stored encrypted. The photos themselves are not kept.",
    "",
    "What it is used for: only what you agree to today, to confirm who you are when you come back, and, if you agree, to check that you are not registered twice in this programme. The computer only suggests: a trained person always checks.",
    "",
    "What it is never used for: it is never sold, never shared for other purposes, never used to track where you go, and never searched on the internet.",
    "",
    "How long: until the consent date below ends, or sooner when the programme ends, and never more than three years after your last visit.",
    "",
    "Your choice: you can say no, and you can ask for another way to prove who you are. You can withdraw at any time: your data is then erased for good and you get a receipt. You can ask to see everything that is held about you.",
  ].join("\n"),
});

/** Lowercase hex SHA-256 of the UTF-8 bytes of `text`, as the server computes it. */
export async function sha256Hex(text) {
  if (!(window.crypto && crypto.subtle)) {
    throw new Error("This page needs a secure (https://) address to compute the consent fingerprint.");
  }
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
