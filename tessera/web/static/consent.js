// Consent in the console: the chosen gallery's texts in the chosen language, shown whole and paged; how the
// person signified consent (a signature drawn here, a photo of a thumbprint mark, a second worker's key);
// the gallery's settings; and the checks the server makes before any camera opens.
//
// The text's SHA-256 is computed here, in the browser, from the exact characters of the text: the subject's
// consent record points at that hash, so what the person was shown can be proved later
// (GET /v1/subjects/{id}/consent). The pages hold the text's own characters and blank lines, so the text of
// the whole box is the text that was hashed, character for character.

import { ERROR_WORDS } from "./messages.js";

/**
 * The text this console carries for a server that has none registered yet. An admin registers it
 * (POST /v1/consent-texts, shared by every gallery) from the consent screen; a programme should register its
 * own wording, for its own gallery, in its own languages, instead.
 */
export const DEFAULT_CONSENT_TEXT = Object.freeze({
  version: "tessera-default-2",
  language: "en",
  modalities: ["face", "finger"],
  purposes: ["verify", "deduplicate"],
  text: [
    "We would like to take photos of your face, and if you agree of your fingertips, for this programme. Please listen, and ask anything you want to know.",
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

/** Words for the reason codes of consent texts, evidence and the checks before the camera. */
Object.assign(ERROR_WORDS, {
  consent_text_other_gallery: ["This consent text belongs to another programme.", "Choose one of this gallery's texts."],
  modality_not_in_consent_text: ["The consent text the person read does not ask for this kind of photo.", "Do not go on. Use a text that names it, and record a new consent."],
  purpose_not_in_consent_text: ["The consent text does not ask for this use.", "Untick it, or use a text that names it."],
  consent_text_versions_differ: ["A translation must ask for exactly what the original asks for.", "Ask an admin."],
  consent_evidence_not_accepted: ["This gallery does not accept that way of showing consent.", "Choose one of the ways offered on the screen."],
  evidence_not_an_image: ["The signature or mark could not be read.", "Draw the signature again, or take the photo of the mark again."],
  evidence_blank: ["The signature or mark is blank.", "Draw the signature again, or take the photo of the mark again."],
  witness_key_invalid: ["The witness's key was not accepted.", "The second worker types their own key again."],
  witness_is_recorder: ["The witness must be a second worker.", "Ask another field worker to witness and type their own key."],
  witness_not_allowed: ["The witness's key may not enrol in this programme.", "Ask a field worker of this programme to witness."],
  consent_not_read: ["The whole text has not been shown yet.", "Go through every page with the person, then record the consent."],
  no_consent_text: ["No consent text is registered for this gallery.", "Ask an admin to register the programme's text (or the console's text, button below)."],
  evidence_missing: ["The consent evidence is missing.", null],
});

export const EVIDENCE_KINDS = Object.freeze([
  ["signature", "Signature drawn on this screen"],
  ["thumbprint_mark", "Photo of a thumbprint mark on paper"],
  ["spoken_witnessed", "Spoken consent, heard by a second worker"],
  ["typed_name", "Name typed by me only"],
]);

const LANGUAGE_NAMES = (() => {
  try {
    return new Intl.DisplayNames(["en"], { type: "language" });
  } catch {
    return null;
  }
})();

/** "French (fr)" for a BCP 47 tag. */
export function languageName(tag) {
  const name = LANGUAGE_NAMES ? LANGUAGE_NAMES.of(tag) : "";
  return name && name !== tag ? `${name} (${tag})` : tag;
}

/** Lowercase hex SHA-256 of the UTF-8 bytes of `text`, as the server computes it. */
export async function sha256Hex(text) {
  if (!(window.crypto && crypto.subtle)) {
    throw new Error("This page needs a secure (https://) address to compute the consent fingerprint.");
  }
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The text cut at its blank lines: [{page, gap}], `gap` the blank-line characters that followed the page. */
export function textPages(text) {
  const parts = text.split(/(\n[ \t]*\n\s*)/);
  const pages = [];
  for (let i = 0; i < parts.length; i += 2) {
    if (parts[i] === "" && pages.length) pages[pages.length - 1].gap += parts[i + 1] || "";
    else pages.push({ page: parts[i], gap: parts[i + 1] || "" });
  }
  return pages;
}

/**
 * Show `text` in `box`, one paragraph block per page, with "Page n of m" and buttons; every page is in the
 * document (hidden ones too, so a screen reader's "read all" and the hash see the whole text) and the box's
 * language is the text's. `onChange(pager)` runs at every page turn. Returns the pager.
 */
export function pagedText(box, { text, language }, { status, previous, next, onChange = () => {} }) {
  const pages = textPages(text);
  box.replaceChildren();
  box.lang = language;
  const sections = pages.map(({ page, gap }, index) => {
    const section = document.createElement("p");
    section.className = "consent-page";
    section.textContent = page;
    section.id = `consent-page-${index + 1}`;
    box.append(section);
    if (gap) box.append(document.createTextNode(gap)); // the blank lines, kept: the box's text is the text hashed
    return section;
  });
  const pager = {
    count: pages.length,
    current: 0,
    seen: new Set(),
    get seenAll() {
      return this.seen.size === this.count;
    },
    show(index) {
      this.current = Math.max(0, Math.min(index, this.count - 1));
      this.seen.add(this.current);
      sections.forEach((section, i) => (section.hidden = i !== this.current));
      status.textContent = `Page ${this.current + 1} of ${this.count}`;
      previous.disabled = this.current === 0;
      next.disabled = this.current === this.count - 1;
      box.dataset.page = String(this.current + 1);
      onChange(this);
    },
  };
  previous.hidden = next.hidden = pages.length < 2; // a one-page text needs no page buttons
  previous.onclick = () => pager.show(pager.current - 1);
  next.onclick = () => {
    pager.show(pager.current + 1);
    sections[pager.current].scrollIntoView({ block: "nearest" });
  };
  pager.show(0);
  return pager;
}

/** A signature pad: pointer strokes on a canvas, exported as a PNG data URL. */
export class SignaturePad {
  constructor(canvas) {
    this.canvas = canvas;
    this.strokes = 0;
    this.drawing = false;
    canvas.addEventListener("pointerdown", (event) => this.start(event));
    canvas.addEventListener("pointermove", (event) => this.move(event));
    for (const type of ["pointerup", "pointerleave", "pointercancel"]) canvas.addEventListener(type, () => (this.drawing = false));
    this.clear();
  }

  point(event) {
    const box = this.canvas.getBoundingClientRect();
    return [((event.clientX - box.left) * this.canvas.width) / box.width, ((event.clientY - box.top) * this.canvas.height) / box.height];
  }

  start(event) {
    event.preventDefault();
    this.canvas.setPointerCapture?.(event.pointerId);
    this.drawing = true;
    this.last = this.point(event);
    this.strokes += 1;
  }

  move(event) {
    if (!this.drawing) return;
    event.preventDefault();
    const [x, y] = this.point(event);
    const context = this.canvas.getContext("2d");
    context.lineWidth = 3;
    context.lineCap = "round";
    context.strokeStyle = "#111";
    context.beginPath();
    context.moveTo(...this.last);
    context.lineTo(x, y);
    context.stroke();
    this.last = [x, y];
    this.canvas.dataset.strokes = String(this.strokes);
  }

  clear() {
    const context = this.canvas.getContext("2d");
    context.fillStyle = "#fff";
    context.fillRect(0, 0, this.canvas.width, this.canvas.height);
    this.strokes = 0;
    this.canvas.dataset.strokes = "0";
  }

  get empty() {
    return this.strokes === 0;
  }

  toDataURL() {
    return this.canvas.toDataURL("image/png");
  }
}

/** A picked photo of a thumbprint mark, made smaller (at most 800 px a side) and sent as a JPEG data URL. */
export async function markPhoto(file) {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, 800 / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close?.();
  return canvas.toDataURL("image/jpeg", 0.85);
}

/**
 * The checks the server makes before a camera opens (GET /v1/preflight/{action}): resolves when the capture
 * may go ahead, rejects with the server's refusal (its reason code) otherwise.
 */
export function preflight(api, action, params) {
  return api.call("GET", `/v1/preflight/${action}?${new URLSearchParams(params)}`);
}

/** The gallery's settings in words: 1:N on or off, retention, consent evidence, consent texts. */
export function gallerySummary(settings) {
  const search = settings.identification;
  const years = Math.round((settings.retention_days / 365) * 10) / 10;
  const labels = Object.fromEntries(EVIDENCE_KINDS);
  return [
    ["Duplicate search (1:N)", search.enabled
      ? `On (impact assessment ${search.dpia_reference}; for: ${search.search_purposes.join(", ")})${search.suspended ? ", but stopped for now by an administrator" : ""}`
      : "Off: only 1:1 verification"],
    ["Data kept", `At most ${settings.retention_days} days (about ${years} years) after the person's last visit`],
    ["Consent shown by", settings.consent_evidence.map((kind) => labels[kind] || kind).join("; ")],
    ["Consent texts", settings.consent_texts.length
      ? settings.consent_texts.map((t) => `${t.version}, ${languageName(t.language)}${t.shared ? " (shared)" : ""}: ${t.modalities.join(" and ")}`).join("; ")
      : "none registered yet"],
    ["Status", settings.closed ? "Closed: the programme ended" : "Open"],
  ];
}
