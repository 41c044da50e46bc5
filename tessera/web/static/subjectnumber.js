// The number field of the verify and withdraw screens: checked as the person types (same algorithm as the
// server, numbers.js) and by the server (GET /v1/subjects/lookup) before the camera opens; and the
// printable card shown after consent is recorded.

import { ApiError } from "./api.js";
import { checkNumber } from "./numbers.js";

const HINTS = {
  invalid_number: "A Tessera number looks like TSR-4K7P-9QXM-2W5.",
  number_check_failed: "This number has a typo: check each character against the card.",
};

// Mark the field as the person types: a calm hint, never an error before they have finished.
export function watchNumberField(input, hint) {
  input.addEventListener("input", () => {
    const value = input.value.trim();
    const result = checkNumber(value);
    const complete = value.replace(/[\s-]/g, "").length >= 11;
    input.setAttribute("aria-invalid", String(complete && !result.ok));
    hint.textContent = !value ? "" : result.ok ? `✓ ${result.number}` : complete ? HINTS[result.code] : "";
    hint.className = result.ok ? "note good" : "note";
  });
}

// The number checked locally, then by the server: resolves to the subject's record, or throws the error to
// show (an ApiError from the server, or {code} from the local check), so the camera never opens for nothing.
export async function lookUpNumber(api, text) {
  const result = checkNumber(text);
  if (!result.ok) throw new ApiError({ status: -1, code: result.code });
  if (!result.number.startsWith("TSR-")) return { number: result.number, status: "active" }; // an older long id
  return api.call("GET", `/v1/subjects/lookup?number=${encodeURIComponent(result.number)}`);
}

// Fetch the subject's card (SVG: the number and a QR code of it only) into the box, ready for window.print().
export async function showCard(api, number, box) {
  const response = await fetch(`/v1/subjects/${encodeURIComponent(number)}/card?format=svg`, {
    headers: api.headers(),
    cache: "no-store",
    credentials: "omit",
  });
  const svg = await response.text();
  if (!response.ok) {
    let error = {};
    try {
      error = JSON.parse(svg).error || {};
    } catch {
      // not the error shape: the status says enough
    }
    throw new ApiError({ status: response.status, code: error.code || `http_${response.status}`, message: error.message || "" });
  }
  box.replaceChildren();
  const image = document.createElement("img");
  image.alt = `Card with Tessera number ${number} and its QR code`;
  image.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
  box.append(image);
  box.hidden = false;
}
