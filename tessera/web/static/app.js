// The operator console: sign in, gallery, consent, enrol, verify, search, withdraw, audit.
//
// Privacy in the browser: the API key and the chosen gallery live in sessionStorage (this tab only)
// and are wiped at sign-out, which also reloads the page so nothing about anyone stays in memory.
// Nothing is ever written to localStorage, IndexedDB, cookies or the HTTP cache (requests are no-store).

import { Api, ApiError, newIdempotencyKey } from "./api.js";
import { Camera } from "./camera.js";
import {
  DEFAULT_CONSENT_TEXT, EVIDENCE_KINDS, SignaturePad, gallerySummary, languageName, markPhoto, pagedText, preflight, sha256Hex,
} from "./consent.js";
import { Guidance, handLandmarks } from "./guidance.js";
import { guideChallenge } from "./liveness.js";
import { GUIDANCE, describeError } from "./messages.js";
import { installNonBiometric } from "./nonbiometric.js";
import { installPeople } from "./people.js";
import { checkNumber } from "./numbers.js";
import { lookUpNumber, showCard, watchNumberField } from "./subjectnumber.js";
import { ReviewBench } from "./review.js";

const SESSION_KEY = "tessera.session";
const IDLE_SIGN_OUT_MS = 15 * 60 * 1000; // shared phones: a forgotten session closes itself
/** Hook for finger enrolment: the console offers it as soon as the server's OpenAPI lists this route. */
const FINGER_PATH = "/v1/subjects/{subject_id}/fingers";
/** Refusals about the photo itself: the fix is another photo, so the camera stays open. */
const PHOTO_PROBLEMS = new Set([
  "no_face", "multiple_faces", "face_too_small", "too_blurred", "bad_exposure", "face_turned",
  "not_an_image", "not_a_still_image", "too_large", "unsupported_media_type", "duplicate_capture",
  "not_a_hand", "handedness_mismatch", "no_usable_finger", "invalid_landmarks", "not_a_finger", "move_closer",
  "too_dark", "too_bright", "finger_out_of_focus", "too_few_minutiae",
]);
/** Four fingers from one photo: offered when the server's OpenAPI lists this route. */
const HAND_PATH = "/v1/subjects/{subject_id}/hands";
const FINGER_NAMES = ["", "Right thumb", "Right index", "Right middle", "Right ring", "Right little",
  "Left thumb", "Left index", "Left middle", "Left ring", "Left little"];
/** ISO/IEC 19794-2 positions of a slap's index, middle, ring and little finger. */
const SLAP_POSITIONS = { right: [2, 3, 4, 5], left: [7, 8, 9, 10] };


const $ = (selector, root = document) => root.querySelector(selector);
const screen = (name) => $(`[data-screen="${name}"]`);

const state = {
  api: null,
  keyId: "",
  role: "",
  permissions: null, // from GET /v1/me: the console shows only what the key may do
  galleryId: "",
  galleryName: "",
  galleries: [],
  retention: null,
  consentTexts: [],
  consentText: null, // {version, language, text, sha256, modalities, purposes, registered}
  pager: null, // the consent text's pages: consent is recorded only once every page was shown
  gallerySettings: null, // GET /v1/galleries/{id}/settings: 1:N, retention, evidence accepted, texts
  thumbprint: null, // a photo of a thumbprint mark, as a data URL
  pendingConsent: null, // {formKey, body, key}: a retry of the same consent reuses its Idempotency-Key
  subjectId: "",
  subjectNumber: "",
  fingersAvailable: false,
  handsAvailable: false,
  capture: null,
  reveal: null, // an element to scroll to once the next screen shows (an answer below its form)
};

// ---------------------------------------------------------------------------------------------
// Small DOM helpers (text only: nothing from the server is ever parsed as HTML)

function el(tag, text = "", className = "") {
  const node = document.createElement(tag);
  if (text) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function facts(rows) {
  const list = el("dl");
  for (const [term, value] of rows) {
    if (value === undefined || value === null || value === "") continue;
    list.append(el("dt", term), el("dd", String(value)));
  }
  return list;
}

function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

function oneIn(rate, upperBound = false) {
  if (!(rate > 0)) return "too rare to have been measured";
  const n = Math.round(1 / rate);
  return `${upperBound ? "at most" : "about"} 1 in ${n.toLocaleString("en")}`;
}

/** The chance that a different person passes: the band of a banded answer, or the exact rate. */
function chanceRows(answer) {
  if (answer.score_disclosure === "banded") {
    return answer.fmr_band ? [["Chance a different person passes", bandWords(answer.fmr_band)]] : [];
  }
  return [["Chance a different person passes", `${oneIn(answer.fmr, answer.fmr_detail && answer.fmr_detail.upper_bound)} (FMR ${rate(answer.fmr)})`]];
}

/** An FMR band in words: "1 in 100,000 or rarer". */
function bandWords(band) {
  if (!band) return "not stated";
  return band.label.startsWith("≤") ? `${band.label.slice(1).trim()} or rarer` : `more often than ${band.label.slice(1).trim()}`;
}

/** A rate as a short number: 0.001, 4.6e-7. */
function rate(value) {
  return String(Number(Number(value).toPrecision(2)));
}

function qualityRows(quality) {
  if (!quality) return [];
  return [
    ["Eye distance", quality.inter_eye_px !== undefined ? `${Math.round(quality.inter_eye_px)} px` : ""],
    ["Sharpness", quality.sharpness !== undefined ? quality.sharpness.toFixed(2) : ""],
    ["Brightness", quality.brightness !== undefined ? `${Math.round(quality.brightness)} of 255` : ""],
    ["Head turn", quality.yaw !== undefined ? `${Math.abs(Math.round(quality.yaw))}°` : ""],
  ];
}

/** The server's advice to retake a photo it kept (quality.retake_advised: a turned, blurred or badly lit face that
 * still made a template), or null. dlib and older templates have none. */
function retakeAdvice(quality) {
  const advice = quality && quality.retake_advised;
  return advice && advice.message ? advice : null;
}

/** A hint beside a verification's or a search's answer when its photo was kept with a retake advised; the decision
 * is shown as it is, the hint only says a clearer photo may give a clearer answer. */
function retakeHint(quality) {
  const advice = retakeAdvice(quality);
  if (!advice) return [];
  const hint = el("p", `This photo: ${advice.message} A retake may give a clearer answer.`, "retake-hint");
  hint.dataset.reason = advice.reason;
  return [hint];
}

function showError(name, error) {
  const box = $(".error", screen(name));
  const [headline, hint] = error instanceof ApiError || error.code ? describeError(error, name) : [error.message || String(error), null];
  box.replaceChildren(el("strong", headline));
  if (hint) box.append(el("p", hint, "hint"));
  box.dataset.code = error.code || "";
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
}

function clearError(name) {
  const box = $(".error", screen(name));
  box.hidden = true;
  box.replaceChildren();
  delete box.dataset.code;
}

function problem(code, message = "") {
  return new ApiError({ status: -1, code, message });
}

/** Run an action for a screen: its button is disabled meanwhile and any failure is shown in words. */
async function act(name, button, action) {
  clearError(name);
  if (button) button.disabled = true;
  try {
    return await action();
  } catch (error) {
    showError(name, error);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Session

function saveSession() {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify({ key: state.api.key, galleryId: state.galleryId, galleryName: state.galleryName }));
}

function restoreSession() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
    if (saved && saved.key) {
      startSession(saved.key);
      state.galleryId = saved.galleryId || "";
      state.galleryName = saved.galleryName || "";
      loadRole(); // a reload asks the server again what this key may do
    }
  } catch {
    sessionStorage.removeItem(SESSION_KEY);
  }
}

function startSession(key) {
  state.api = new Api(key);
  // A key reads tsk_<id>_<secret>; the id is public and names the actor in the audit trail.
  state.keyId = key.startsWith("tsk_") ? key.slice(4).split("_")[0] : "";
  $("#who").textContent = state.keyId ? `Key ${state.keyId}` : "Signed in";
  $("#who").hidden = false;
  $("#sign-out").hidden = false;
  detectFingerEnrolment();
}

/** What the signed-in key may do (GET /v1/me): screens and tiles it may not use are hidden. */
function applyRole(me) {
  state.role = me.role;
  state.permissions = new Set(me.permissions || []);
  document.body.dataset.role = me.role;
  $("#who").textContent = `${me.role[0].toUpperCase()}${me.role.slice(1)} · key ${state.keyId}`;
  for (const node of document.querySelectorAll(".tile[data-needs]")) node.hidden = !allowed(node);
  $(".gallery-line").hidden = !needsGallery();
}

function may(permission) {
  return Boolean(state.permissions && state.permissions.has(permission));
}

/** Whether the key may use an element marked data-needs="p1 p2" (any one of them); unknown yet: yes. */
function allowed(node) {
  if (!state.permissions || !node.dataset.needs) return true;
  return node.dataset.needs.split(" ").some(may);
}

/** Operators work in a gallery; a reviewer or an auditor does not choose one. */
function needsGallery() {
  return !state.permissions || ["enrol", "verify", "identify", "manage_galleries"].some(may);
}

async function loadRole() {
  try {
    applyRole(await state.api.call("GET", "/v1/me"));
    route();
  } catch (error) {
    if (error.status === 401) signOut(); // the key was revoked meanwhile
  }
}

async function signIn(event) {
  event.preventDefault();
  const input = $("#api-key");
  const key = input.value.trim();
  if (!key) return showError("signin", problem("field_missing", "Type your API key."));
  await act("signin", $("#signin-form button"), async () => {
    const me = await new Api(key).call("GET", "/v1/me"); // any valid key answers: its role and permissions
    input.value = "";
    startSession(key);
    applyRole(me);
    saveSession();
    const target = may("adjudicate") ? "#review" : state.galleryId || !needsGallery() ? "#home" : "#gallery";
    if (location.hash === target) route();
    else location.hash = target; // the hashchange routes
  });
}

function signOut() {
  camera.stop();
  guidance.stop();
  sessionStorage.clear();
  // Reloading drops everything held in memory and on screen: receipts, candidates, names.
  location.replace("/");
}

function watchIdle() {
  let timer = null;
  const reset = () => {
    clearTimeout(timer);
    timer = setTimeout(() => state.api && signOut(), IDLE_SIGN_OUT_MS);
  };
  for (const type of ["pointerdown", "keydown"]) document.addEventListener(type, reset, { passive: true });
  reset();
}

async function detectFingerEnrolment() {
  try {
    const response = await fetch("/openapi.json", { cache: "no-store", credentials: "omit" });
    const paths = (await response.json()).paths || {};
    state.fingersAvailable = FINGER_PATH in paths;
    state.handsAvailable = HAND_PATH in paths;
  } catch {
    state.fingersAvailable = false;
    state.handsAvailable = false;
  }
  $("#hand-enrolment").hidden = !state.handsAvailable;
  for (const select of [$("#verify-with"), $("#identify-with")]) {
    for (const option of select.options) option.disabled = option.value !== "face" && !state.handsAvailable;
  }
  showHandChoice();
  const box = $('#consent-form input[value="finger"]');
  // Fingers can be ticked only when the server takes them and the consent text shown asks for them.
  box.disabled = !state.fingersAvailable || Boolean(state.consentText && !(state.consentText.modalities || []).includes("finger"));
  $("#finger-note").hidden = state.fingersAvailable;
  $("#finger-enrolment").hidden = !state.fingersAvailable;
}

// ---------------------------------------------------------------------------------------------
// Screens and the router (the hash names the screen, so the phone's back button works)

const ENTER = {
  home: enterHome,
  gallery: enterGallery,
  consent: enterConsent,
  enrol: enterEnrol,
  capture: enterCapture,
  camera: () => openCapture({ title: "Camera check", kind: "face", check: true, returnTo: "home" }),
  review: () => review.enter(),
};

// Screens that live in their own modules add themselves (their markup, home tile and router entry).
const ui = { $, el, facts, when, act, showError, clearError, problem, state };
Object.assign(ENTER, installNonBiometric(ui), installPeople(ui));

let current = "";

function route() {
  let name = location.hash.replace(/^#/, "") || "home";
  if (!state.api) name = "signin";
  else if (name === "signin") name = "home";
  if (!screen(name) && name !== "camera") name = "home";
  if (screen(name) && !allowed(screen(name))) name = "home"; // a screen this key may not use is never shown
  if (name === "capture" && !state.capture) name = "home";
  if (name === "enrol" && !state.subjectId) name = "home";
  if (current === "capture" && name !== "capture") closeCapture();
  if (name !== "camera") show(name);
  current = name;
  if (ENTER[name]) ENTER[name]();
  if (state.reveal) {
    state.reveal.scrollIntoView({ block: "start" });
    state.reveal = null;
  }
}

function show(name) {
  for (const section of document.querySelectorAll(".screen")) section.hidden = section.dataset.screen !== name;
  const heading = $("h1", screen(name));
  window.scrollTo(0, 0);
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
  document.body.dataset.current = name;
}

function enterHome() {
  $("#home-gallery").textContent = state.galleryName || "none chosen";
}

// ---------------------------------------------------------------------------------------------
// Gallery

async function loadPolicy() {
  const policy = await state.api.call("GET", "/v1/policy/retention");
  state.retention = policy;
  state.galleries = (policy.galleries || []).filter((g) => !g.closed);
  return policy;
}

async function enterGallery() {
  clearError("gallery");
  $('[data-screen="gallery"] .ok').hidden = true;
  delete screen("gallery").dataset.loaded;
  await act("gallery", null, async () => {
    await loadPolicy();
    const select = $("#gallery-select");
    select.replaceChildren(el("option", "— choose a gallery —"));
    select.firstChild.value = "";
    for (const gallery of state.galleries) {
      const option = el("option", gallery.name);
      option.value = gallery.gallery_id;
      option.selected = gallery.gallery_id === state.galleryId;
      select.append(option);
    }
    if (state.galleries.length === 0) $("#gallery-create-box").open = true;
    await showGallerySettings();
    screen("gallery").dataset.loaded = "true";
  });
}

/** Whether 1:N is on, the retention period, the consent evidence and texts of the chosen gallery. */
async function showGallerySettings() {
  const box = $("#gallery-settings");
  box.hidden = true;
  if (!state.galleryId) return;
  try {
    state.gallerySettings = await state.api.call("GET", `/v1/galleries/${encodeURIComponent(state.galleryId)}/settings`);
  } catch (error) {
    if (error.status === 403) return; // a key that may not read gallery settings still works in the gallery
    throw error;
  }
  $("#gallery-settings-title").textContent = `This gallery: ${state.gallerySettings.name}`;
  $("#gallery-settings-facts").replaceChildren(facts(gallerySummary(state.gallerySettings)));
  box.dataset.identification = String(state.gallerySettings.identification.enabled);
  box.hidden = false;
}

function chooseGallery(id, name) {
  state.galleryId = id;
  state.galleryName = name;
  saveSession();
}

function galleryDone(message) {
  const ok = $('[data-screen="gallery"] .ok');
  ok.textContent = message;
  ok.hidden = false;
}

async function useGallery(event) {
  event.preventDefault();
  const select = $("#gallery-select");
  if (!select.value) return showError("gallery", problem("no_gallery"));
  chooseGallery(select.value, select.selectedOptions[0].textContent);
  location.hash = "#home";
  state.gallerySettings = null;
}

async function createGallery(event) {
  event.preventDefault();
  const name = $("#gallery-name").value.trim();
  const purpose = $("#gallery-purpose").value.trim();
  if (!name || !purpose) return showError("gallery", problem("field_missing", "Give the gallery a name and a purpose."));
  await act("gallery", $("#gallery-create-form button"), async () => {
    const created = await state.api.call("POST", "/v1/galleries", { json: { name, purpose } });
    chooseGallery(created.id, name);
    $("#gallery-name").value = "";
    $("#gallery-purpose").value = "";
    await enterGallery();
    $("#gallery-create-box").open = false;
    $("#gallery-identify-box").open = true;
    galleryDone(`Gallery “${name}” created and chosen.`);
  });
}

async function allowIdentification(event) {
  event.preventDefault();
  if (!state.galleryId) return showError("gallery", problem("no_gallery"));
  const dpia = $("#dpia-reference").value.trim();
  if (!dpia) return showError("gallery", problem("dpia_required"));
  await act("gallery", $("#gallery-identify-form button"), async () => {
    await state.api.call("POST", `/v1/galleries/${encodeURIComponent(state.galleryId)}/identification`, {
      json: { dpia_reference: dpia },
    });
    $("#dpia-reference").value = "";
    $("#gallery-identify-box").open = false;
    await showGallerySettings();
    galleryDone(`Duplicate search is allowed in “${state.galleryName}” (impact assessment ${dpia}).`);
  });
}

// ---------------------------------------------------------------------------------------------
// Consent: nothing is captured before it is recorded

async function enterConsent() {
  clearError("consent");
  $("#consent-form button").disabled = true;
  if (!state.galleryId) return showError("consent", problem("no_gallery"));
  await act("consent", null, async () => {
    let texts = [];
    try {
      // Only the texts offered in this gallery: its own and the shared ones.
      texts = await state.api.call("GET", `/v1/consent-texts?gallery_id=${encodeURIComponent(state.galleryId)}`);
    } catch (error) {
      if (error.status !== 403) throw error; // this key may enrol without reading the ledger
    }
    state.consentTexts = texts;
    const languages = [...new Set(texts.map((t) => t.language))];
    const language = $("#consent-language");
    const keep = languages.includes(language.value) ? language.value : languages[0];
    language.replaceChildren(...languages.map((tag) => Object.assign(el("option", languageName(tag)), { value: tag })));
    if (keep) language.value = keep;
    language.hidden = $("#consent-language-label").hidden = languages.length < 2;
    fillTextChoice();
    if (!state.retention) await loadPolicy();
    showRetentionTerm();
    state.gallerySettings = await state.api.call("GET", `/v1/galleries/${encodeURIComponent(state.galleryId)}/settings`).catch(() => null);
    showEvidenceChoice();
    await showConsentText();
  });
}

/** The texts of the chosen language, newest last; the newest is chosen. */
function fillTextChoice() {
  const language = $("#consent-language").value;
  const offered = state.consentTexts.filter((t) => !language || t.language === language);
  const choice = $("#consent-choice");
  choice.replaceChildren(
    ...offered.map((t) => Object.assign(el("option", `${t.version}${t.shared ? " (shared)" : ""}: ${t.modalities.join(" and ")}`), { value: t.sha256 })),
  );
  if (offered.length) choice.value = offered[offered.length - 1].sha256;
  choice.hidden = $("#consent-choice-label").hidden = offered.length < 2;
}

async function showConsentText() {
  const registered = state.consentTexts.find((t) => t.sha256 === $("#consent-choice").value) || null;
  const text = registered || DEFAULT_CONSENT_TEXT;
  const sha256 = await sha256Hex(text.text);
  state.consentText = {
    ...text, sha256, registered: Boolean(registered),
    keepsReferencePhoto: Boolean(registered && registered.keeps_reference_photo),
  };
  showRetentionTerm();
  state.pager = pagedText($("#consent-text"), text, {
    status: $("#consent-page-status"),
    previous: $("#consent-previous"),
    next: $("#consent-next"),
    onChange: (pager) => ($("#consent-form").dataset.read = String(pager.seenAll)),
  });
  $("#consent-version").textContent = `${text.version} (${languageName(text.language)})`;
  $("#consent-sha").textContent = `${sha256.slice(0, 16)}…`;
  $("#consent-sha").title = sha256;
  $("#consent-sha").dataset.sha256 = sha256;
  // Only what the text asks for can be ticked: a face-only text cannot consent to fingers.
  for (const input of document.querySelectorAll('#consent-form input[name="modality"], #consent-form input[name="purpose"]')) {
    const asked = (input.name === "modality" ? text.modalities : text.purposes).includes(input.value);
    const available = input.value !== "finger" || state.fingersAvailable;
    input.disabled = !asked || !available;
    if (input.disabled) input.checked = false;
  }
  const mark = $("#consent-registered");
  $("#consent-register").hidden = Boolean(registered);
  if (registered && registered.sha256 !== sha256) {
    mark.textContent = "✗ does not match the server";
    $("#consent-form button").disabled = true;
    throw problem("consent_text_mismatch");
  }
  mark.textContent = registered ? "✓ registered on the server" : "✗ not registered on the server yet";
  $("#consent-form button").disabled = !registered;
  if (!registered) showError("consent", problem("no_consent_text"));
}

/** The ways of showing consent this gallery accepts; the strongest is chosen first. */
function showEvidenceChoice() {
  const accepted = state.gallerySettings ? state.gallerySettings.consent_evidence : EVIDENCE_KINDS.map(([kind]) => kind);
  const box = $("#evidence-choice");
  box.replaceChildren(el("legend", "How the person showed they agree"));
  let first = true;
  for (const [kind, label] of EVIDENCE_KINDS) {
    if (!accepted.includes(kind)) continue;
    const input = Object.assign(document.createElement("input"), { type: "radio", name: "evidence", value: kind, checked: first });
    input.addEventListener("change", showEvidenceFields);
    const row = el("label", "", "check");
    row.append(input, ` ${label}`);
    box.append(row);
    first = false;
  }
  showEvidenceFields();
}

function showEvidenceFields() {
  const kind = evidenceKind();
  $("#evidence-signature").hidden = kind !== "signature";
  $("#evidence-thumbprint").hidden = kind !== "thumbprint_mark";
  $("#evidence-spoken").hidden = kind !== "spoken_witnessed";
}

function evidenceKind() {
  const checked = $('#evidence-choice input[name="evidence"]:checked');
  return checked ? checked.value : "typed_name";
}

/** The evidence to send, or a problem naming what is missing. */
function consentEvidence() {
  const kind = evidenceKind();
  if (kind === "signature") {
    if (signaturePad.empty) throw problem("evidence_missing", "Ask the person to sign in the box.");
    return { kind, image: signaturePad.toDataURL() };
  }
  if (kind === "thumbprint_mark") {
    if (!state.thumbprint) throw problem("evidence_missing", "Take a photo of the thumbprint mark.");
    return { kind, image: state.thumbprint };
  }
  if (kind === "spoken_witnessed") {
    const witness = $("#witness-key").value.trim();
    if (!witness) throw problem("evidence_missing", "The second worker types their own key.");
    return { kind, witness_key: witness };
  }
  return null; // typed_name: the name alone
}

async function pickThumbprint(event) {
  const file = event.target.files && event.target.files[0];
  event.target.value = "";
  if (!file) return;
  await act("consent", null, async () => {
    state.thumbprint = await markPhoto(file);
    const preview = $("#thumbprint-preview");
    preview.src = state.thumbprint;
    preview.hidden = false;
  });
}

function showRetentionTerm() {
  const policy = state.retention || {};
  const gallery = (policy.galleries || []).find((g) => g.gallery_id === state.galleryId);
  const days = (gallery && gallery.retention_days) || policy.default_retention_days;
  $("#retention-term").textContent =
    `Kept while the consent lasts${days ? `, and erased at most ${days} days (about ${Math.round(days / 365 * 10) / 10} years) after the person's last visit` : ""}, ` +
    "or at once when they withdraw consent or the programme ends. " +
    (state.consentText && state.consentText.keepsReferencePhoto
      ? "Where duplicate search is on, one photo of the face is kept sealed for two trained reviewers, and erased with the rest."
      : "Photos are not kept, only their templates.");
}

async function registerConsentText() {
  const text = state.consentText;
  await act("consent", $("#consent-register"), async () => {
    // The console's own text is shared by every gallery; a programme registers its own for its gallery.
    await state.api.call("POST", "/v1/consent-texts", {
      json: { version: text.version, text: text.text, language: text.language, shared: true, modalities: text.modalities, purposes: text.purposes },
    });
    await enterConsent();
  });
}

function consentForm() {
  const checked = (name) => [...document.querySelectorAll(`#consent-form input[name="${name}"]:checked`)].map((i) => i.value);
  return {
    gallery: state.galleryId,
    purposes: checked("purpose"),
    modalities: checked("modality"),
    days: Number($("#consent-term").value),
    signedBy: $("#signed-by").value.trim(),
    evidence: evidenceKind(),
    given: $("#consent-given").checked,
    text: [state.consentText.version, state.consentText.sha256],
  };
}

async function recordConsent(event) {
  event.preventDefault();
  clearError("consent");
  const form = consentForm();
  const missing = [
    !form.purposes.length && "tick at least one use the person agrees to",
    !form.modalities.length && "tick at least one body part",
    !form.signedBy && "type the name of the person who signed",
    !form.given && "tick that the person heard or read the text and agreed",
  ].filter(Boolean);
  if (missing.length) return showError("consent", problem("consent_incomplete", `Please ${missing.join("; ")}.`));
  if (!state.pager || !state.pager.seenAll) return showError("consent", problem("consent_not_read"));
  let evidence;
  try {
    evidence = consentEvidence();
  } catch (error) {
    return showError("consent", error);
  }
  const formKey = JSON.stringify({ ...form, evidence });
  if (!state.pendingConsent || state.pendingConsent.formKey !== formKey) {
    const signedAt = new Date();
    const expiresAt = new Date(signedAt.getTime() + form.days * 86400 * 1000);
    state.pendingConsent = {
      formKey,
      key: newIdempotencyKey(),
      body: {
        gallery_id: form.gallery,
        consent: {
          purposes: form.purposes,
          modalities: form.modalities,
          text_version: state.consentText.version,
          text_sha256: state.consentText.sha256,
          signed_by: form.signedBy,
          signed_at: signedAt.toISOString(),
          expires_at: expiresAt.toISOString(),
          ...(evidence ? { evidence } : {}),
        },
      },
    };
  }
  const pending = state.pendingConsent;
  await act("consent", $("#consent-form button"), async () => {
    const created = await state.api.call("POST", "/v1/subjects", { json: pending.body, idempotencyKey: pending.key });
    state.pendingConsent = null;
    state.subjectId = created.id;
    state.subjectModalities = pending.body.consent.modalities;
    state.subjectNumber = created.number || created.id;
    $("#consent-form").reset();
    signaturePad.clear();
    state.thumbprint = null;
    $("#thumbprint-preview").hidden = true;
    $("#enrol-result").hidden = true;
    $("#enrol-face").textContent = "Take face photo";
    location.hash = "#enrol";
  });
}

// ---------------------------------------------------------------------------------------------
// Enrol, verify, search

/** Ask the server whether this capture may go ahead (gallery open, consent, 1:N on, role...); the camera opens
 * only when it says yes, so a refusal is read before anyone is photographed. */
async function checkThenCapture(name, button, action, params, task) {
  await act(name, button, async () => {
    await preflight(state.api, action, params);
    openCapture(task);
  });
}

function enterEnrol() {
  $("#enrol-subject").textContent = state.subjectNumber || state.subjectId;
}

async function printCard() {
  await act("enrol", $("#enrol-card-button"), async () => {
    await showCard(state.api, state.subjectNumber, $("#enrol-card"));
    window.print();
  });
}

function enrolFace() {
  captureFace(state.subjectId, $("#enrol-face"));
}

/** Open the camera for a face photo of `subject` and enrol it; `replaces`: the template id of a photo kept with a
 * retake advised, which this better photo replaces (the server erases the earlier one once this one is enrolled). */
function captureFace(subject, button, replaces = null) {
  const retake = replaces !== null;
  clearError("enrol");
  const liveness = livenessPurpose("enrol", "face");
  if (liveness && !state.galleryId) return showError("enrol", problem("no_gallery"));
  return checkThenCapture("enrol", button, "enrol", capturePreflight({ subject_id: subject }, ["face"], liveness), {
    title: retake ? "A better face photo for enrolment" : "Face photo for enrolment",
    kind: "face",
    returnTo: "enrol",
    liveness,
    idempotent: true, // POST /v1/subjects/{id}/faces honours Idempotency-Key: retries are safe
    send: (photo, options) =>
      state.api.upload(`/v1/subjects/${encodeURIComponent(subject)}/faces`,
        { ...tokenField(options), ...(retake ? { replaces } : {}) }, photo, { ...options, retry: true }),
    done: (enrolment) => {
      const box = $("#enrol-result");
      if (enrolment.status === "pending_review") {
        // The first photo resembled someone already enrolled: two reviewers decide; nothing says who.
        box.className = "result warn";
        box.replaceChildren(
          el("h2", "Possible duplicate — sent for review"),
          facts([["Case number", enrolment.review.case_number], livenessRow(enrolment)]),
          el("p", enrolment.review.message),
        );
        box.hidden = false;
        $("#enrol-face").hidden = true;
        return;
      }
      box.className = "result good";
      box.replaceChildren(el("h2", "Face enrolled"));
      if (enrolment.replaced && enrolment.replaced.length) {
        box.append(el("p", "This photo replaced the earlier one, which was erased from the person's record.", "retake-replaced"));
      }
      const advice = retakeAdvice(enrolment.quality);
      if (advice) box.append(retakeNotice(subject, advice, enrolment.template_id));
      box.append(facts([["Template", enrolment.template_id], ...qualityRows(enrolment.quality), livenessRow(enrolment)]));
      box.hidden = false;
      $("#enrol-face").textContent = "Take another face photo";
    },
  });
}

/** After an enrolment kept with a retake advised: the advice in words, why it matters, a better photo at once (it
 * replaces `templateId`, this photo) or keep this one. Inside the enrolment's answer, itself a status region. */
function retakeNotice(subject, advice, templateId) {
  const notice = el("div", "", "notice retake-notice");
  notice.dataset.reason = advice.reason;
  const better = el("button", "Take a better photo", "primary");
  better.type = "button";
  const keep = el("button", "Keep this photo", "secondary");
  keep.type = "button";
  better.addEventListener("click", () => captureFace(subject, better, templateId));
  keep.addEventListener("click", () => {
    notice.replaceChildren(el("p", "This photo is kept. A better one can still be added with “Take another face photo”."));
    notice.className = "note retake-kept";
    $("#enrol-face").focus();
  });
  notice.append(
    el("p", `Enrolled. A better photo is advised: ${advice.message}`, "retake-advice"),
    el("p", "Why it matters: a turned, blurred or poorly lit reference photo makes this person harder to find later in " +
      "a duplicate check, and harder to confirm when they come back. A better photo replaces this one, which is then erased.",
    "retake-why"),
    el("div", "", "retake-actions"),
  );
  notice.lastChild.append(better, keep);
  return notice;
}

function enrolFinger() {
  clearError("enrol");
  const subject = state.subjectId;
  const path = FINGER_PATH.replace("{subject_id}", encodeURIComponent(subject));
  const select = $("#finger-position");
  const finger = select.options[select.selectedIndex].text;
  // Mode A of the finger pipeline: one fingertip close-up, photographed (not scanned).
  const fields = { finger_position: select.value, capture: "contactless" };
  checkThenCapture("enrol", $("#enrol-finger"), "enrol", capturePreflight({ subject_id: subject }, ["finger"], null), {
    title: `${finger}: fingertip photo for enrolment`,
    kind: "fingertip",
    returnTo: "enrol",
    idempotent: true,
    send: (photo, options) => state.api.upload(path, fields, photo, { ...options, retry: true }),
    done: (enrolment) => {
      const box = $("#enrol-result");
      box.className = "result good";
      const quality = enrolment.quality || {};
      box.replaceChildren(
        el("h2", `${finger} enrolled`),
        facts([["Template", enrolment.template_id], ["Minutiae found", String(quality.minutiae_count ?? "not given")]]),
      );
      box.hidden = false;
    },
  });
}

function showHandChoice() {
  for (const name of ["verify", "identify"]) {
    const mode = $(`#${name}-with`).value;
    for (const node of screen(name).querySelectorAll(".hand-choice")) node.hidden = mode === "face";
    // The liveness check is of the face: with fingers only there is no face to check.
    $(`#${name}-liveness`).closest("label").hidden = mode === "fingers";
  }
}

/** What a verification or search sends (its "Compare with" / "Search with"), as the API names modalities. */
const MODALITIES = { face: ["face"], fingers: ["finger"], both: ["face", "finger"] };

/**
 * The liveness purpose (enrol | verify | identify: the screen's name) when the screen's "Check the person is
 * present first" is ticked and a face is taken (the check is of the face), else null: the capture then runs the
 * challenge before the photo.
 */
function livenessPurpose(name, mode) {
  return mode !== "fingers" && $(`#${name}-liveness`).checked ? name : null;
}

/**
 * The checks before the camera opens for an enrolment, verification or search (GET /v1/preflight/{name}), with
 * the modalities it will send (as the API names them) and whether the liveness check comes first: a self-service
 * gallery's refusal (liveness_required, liveness_unavailable_for_fingers) is then read before anyone is
 * photographed.
 */
function capturePreflight(params, modalities, liveness) {
  return [
    ...Object.entries(params),
    ...modalities.map((modality) => ["modality", modality]),
    ["liveness_check", String(Boolean(liveness))],
  ];
}

function enrolHand() {
  clearError("enrol");
  const subject = state.subjectId;
  const path = HAND_PATH.replace("{subject_id}", encodeURIComponent(subject));
  const hand = $("#hand-side").value;
  checkThenCapture("enrol", $("#enrol-hand"), "enrol", capturePreflight({ subject_id: subject }, ["finger"], null), {
    title: `${hand === "right" ? "Right" : "Left"} hand: four fingers in one photo`,
    kind: "four",
    hand,
    returnTo: "enrol",
    idempotent: true,
    // No hand model on this phone: one fingertip at a time, with the finger control on the enrol screen.
    fallback: () => problem("hand_detector_unavailable",
      "The hand detector cannot run on this phone. Enrol one fingertip at a time with 'Which finger' above."),
    send: (photo, options) =>
      state.api.upload(path, { landmarks: JSON.stringify(options.landmarks), hand }, photo, { ...options, retry: true }),
    done: showHandEnrolment,
  });
}

function showHandEnrolment(enrolment) {
  const box = $("#enrol-result");
  if (enrolment.status === "pending_review") {
    box.className = "result warn";
    box.replaceChildren(el("h2", "Possible duplicate — sent for review"), facts([["Case number", enrolment.review.case_number]]),
      el("p", enrolment.review.message));
    box.hidden = false;
    return;
  }
  const enrolled = enrolment.fingers.filter((f) => f.status === "enrolled");
  box.className = `result ${enrolled.length === enrolment.fingers.length ? "good" : "warn"}`;
  box.dataset.fingers = String(enrolled.length);
  box.replaceChildren(el("h2", `${enrolled.length} of ${enrolment.fingers.length} fingers enrolled`), fingerList(enrolment.fingers));
  box.hidden = false;
}

/** Each finger of a hand photo: enrolled or used, or refused with the reason in words. */
function fingerList(fingers) {
  const list = el("ul", "", "fingers");
  for (const finger of fingers) {
    const name = FINGER_NAMES[finger.finger_position] || finger.finger;
    const used = finger.status !== "refused";
    const item = el("li", `${name}: ${used ? (finger.status === "enrolled" ? "enrolled" : "used") : `not used. ${finger.message}`}`,
      used ? "ok" : "refused");
    item.dataset.finger = String(finger.finger_position);
    if (!used) item.dataset.reason = finger.reason;
    list.append(item);
  }
  return list;
}

/**
 * The captures of a verification or search, in turn: the face (when chosen), then the hand (one photo, its
 * landmarks found on the phone) or, without a hand model, its four fingertips one by one. The last capture
 * sends everything in one request through `finish(fields, photo, options)`.
 */
function captureSteps(mode, hand, base, finish) {
  const held = {};
  const handStep = {
    ...base,
    title: `${hand === "right" ? "Right" : "Left"} hand: four fingers in one photo`,
    kind: "four",
    hand,
    liveness: null,
    fallback: () => fingertipStep(0),
    send: (photo, options) =>
      finish({ ...held, hand_landmarks: JSON.stringify(options.landmarks), hand }, photo, { ...options, photoField: "hand_image" }),
  };
  const fingertipStep = (number) => {
    const position = SLAP_POSITIONS[hand][number];
    return {
      ...base,
      title: `${FINGER_NAMES[position]} (${number + 1} of 4): fingertip photo`,
      kind: "fingertip",
      liveness: null,
      send: async (photo, options) => {
        held.finger_image = [...(held.finger_image || []), photo];
        held.finger_position = [...(held.finger_position || []), String(position)];
        if (number < 3) return { nextTask: fingertipStep(number + 1) };
        const { finger_image: images, ...fields } = held;
        const last = images.pop();
        return finish({ ...fields, finger_image: images, capture: "contactless" }, last, { ...options, photoField: "finger_image" });
      },
    };
  };
  if (mode === "fingers") return handStep;
  const faceStep = { ...base, title: base.title, kind: "face" };
  if (mode === "face") return { ...faceStep, send: (photo, options) => finish({ ...tokenField(options) }, photo, options) };
  return {
    ...faceStep,
    send: async (photo, options) => {
      held.image = photo;
      Object.assign(held, tokenField(options));
      return { nextTask: handStep };
    },
  };
}

async function verify(event) {
  event.preventDefault();
  clearError("verify");
  const typed = $("#verify-subject").value.trim();
  if (!typed) return showError("verify", problem("field_missing", "Type the Tessera number the person gives."));
  // Checked here and by the server before the camera opens: a typo or an unknown number costs no photo.
  const record = await act("verify", $("#verify-form button"), () => lookUpNumber(state.api, typed));
  if (!record) return undefined;
  if (record.status === "pending_review") return showError("verify", problem("pending_review"));
  const subject = record.number;
  const mode = $("#verify-with").value;
  const liveness = livenessPurpose("verify", mode);
  if (liveness && !state.galleryId) return showError("verify", problem("no_gallery"));
  $("#verify-result").hidden = true;
  const base = { title: "Photo to compare", returnTo: "verify", liveness, done: (answer) => showVerification(answer, subject) };
  const finish = (fields, photo, options) => state.api.upload("/v1/verify", { subject_id: subject, ...fields }, photo, options);
  // The verification's preflight takes one modality: the face whenever one is taken.
  const modality = mode === "fingers" ? "finger" : "face";
  checkThenCapture("verify", $("#verify-form button"), "verify", capturePreflight({ subject_id: subject }, [modality], liveness),
    captureSteps(mode, $("#verify-hand").value, base, finish));
}

/** The liveness token of the capture, as the form field enrol, verify and identify take (docs/liveness.md). */
function tokenField(options) {
  return options.livenessToken ? { liveness_token: options.livenessToken } : {};
}

const LIVENESS_RESULT = { passed: "passed: the person was present", not_done: "not done" };

/** The answer's liveness check (enrol, verify, identify), as a row of facts. */
function livenessRow(answer) {
  return ["Liveness check", answer.liveness ? LIVENESS_RESULT[answer.liveness.challenge] || answer.liveness.challenge : ""];
}

function showVerification(answer, subject) {
  const box = $("#verify-result");
  const rows = [
    ["Tessera number", subject],
    ...(answer.score === null || answer.score === undefined ? [] : [["Score", `${answer.score.toFixed(3)} (needs ${answer.threshold.toFixed(3)})`]]),
    ...chanceRows(answer),
    ...qualityRows(answer.quality),
    livenessRow(answer),
  ];
  if (answer.decision === "match") {
    box.className = "result good";
    box.replaceChildren(el("h2", "Same person"), el("p", "The photo agrees with the person enrolled under this number."));
  } else if (answer.decision === "no_match") {
    box.className = "result bad";
    box.replaceChildren(
      el("h2", "Not confirmed"),
      el("p", "The photo does not agree with the person enrolled under this number. Take another photo in good light; " +
        "if it is still not confirmed, check who they are another way."),
    );
  } else {
    const [headline, hint] = describeError({ code: answer.reason, message: answer.message });
    box.className = "result neutral";
    box.replaceChildren(el("h2", "Could not compare"), el("p", headline), el("p", hint || ""));
  }
  box.dataset.decision = answer.decision;
  box.append(...retakeHint(answer.quality), facts(rows));
  if ((answer.comparisons || []).length > 1 || answer.hand) box.append(el("h3", "What was compared"), comparedList(answer));
  if (answer.hand) box.append(fingerList(answer.hand.fingers.filter((f) => f.status === "refused")));
  box.hidden = false;
}

/** Each comparison of a verification: the face or the finger, and its outcome or why it was not compared. */
function comparedList(answer) {
  const list = el("ul", "", "compared");
  for (const comparison of answer.comparisons || []) {
    const name = comparison.modality === "face" ? "Face" : FINGER_NAMES[comparison.finger_position] || "Finger";
    const outcome = comparison.decision === "match" ? "agrees"
      : comparison.decision === "no_match" ? "does not agree"
        : comparison.reason === "beyond_calibration" && comparison.pair_kind === "contactless-contact"
          ? "compared, but a phone photo against a scanner print cannot be decided at this error rate"
          : comparison.reason === "beyond_calibration" ? "compared (decided with the other fingers)"
          : `not compared: ${describeError({ code: comparison.reason, message: comparison.message })[0]}`;
    const item = el("li", `${name}: ${outcome}`);
    item.dataset.modality = comparison.modality;
    if (comparison.reason) item.dataset.reason = comparison.reason;
    list.append(item);
  }
  if (answer.fused && (answer.modalities_compared || []).length > 1) {
    const together = el("li", "Face and fingers decided together" +
      (answer.fmr ? ` (chance of a wrong match ${answer.fmr.toExponential(1)})` : ""));
    together.dataset.rule = (answer.fusion && answer.fusion.rule) || "fused";
    list.append(together);
  }
  if (answer.multi_finger) {
    const rule = answer.multi_finger;
    list.append(el("li", `Fingers decided together: ${rule.fingers_at_or_above ?? "?"} of ${rule.fingers} agree` +
      (answer.fmr ? ` (chance of a wrong match at most ${answer.fmr.toExponential(1)})` : "")));
  }
  return list;
}

function identify(event) {
  event.preventDefault();
  clearError("identify");
  if (!state.galleryId) return showError("identify", problem("no_gallery"));
  const purpose = $("#identify-purpose").value;
  const caseReference = $("#identify-case").value.trim();
  const missing = [!purpose && "choose why you are searching", !caseReference && "type the case reference"].filter(Boolean);
  if (missing.length) return showError("identify", problem("field_missing", `Please ${missing.join(" and ")}.`));
  $("#identify-result").hidden = true;
  const mode = $("#identify-with").value;
  const liveness = livenessPurpose("identify", mode);
  const base = { title: "Photo to search with", returnTo: "identify", liveness, done: showCase };
  const finish = (fields, photo, options) =>
    state.api.upload("/v1/identify", { gallery_id: state.galleryId, purpose, case_reference: caseReference, ...fields }, photo, options);
  checkThenCapture("identify", $("#identify-form button"), "identify",
    capturePreflight({ gallery_id: state.galleryId, purpose }, MODALITIES[mode], liveness),
    captureSteps(mode, $("#identify-hand").value, base, finish));
}

/** The answer to a search: its case number and status. No candidate is ever named here: two trained
 * reviewers decide first, and only a confirmed person is named (GET /v1/searches/{id}). */
function showCase(search) {
  const box = $("#identify-result");
  const sent = search.status === "sent_for_review";
  box.className = `result ${sent ? "neutral" : "good"}`;
  box.replaceChildren(
    el("h2", sent ? "Sent for review" : "No likely match"),
    el("p", sent
      ? "Someone enrolled may resemble this person. Two trained reviewers will compare the photos; nobody is named until both confirm the same person."
      : "Nobody enrolled resembled this person closely enough to be reviewed."),
    ...retakeHint(search.quality),
    el("h3", "This search"),
    facts([
      ["Case reference", search.case_reference],
      ["Case number", search.search_id],
      ["People searched", search.gallery_size],
      ["Wrong candidates expected per search", Number(search.expected_false_candidates).toPrecision(2)],
      ...qualityRows(search.quality).map(([term, value]) => [`This photo: ${term.toLowerCase()}`, value]),
      livenessRow(search),
    ]),
  );
  if (sent) box.append(el("p", "Keep the case number: the outcome is given under it once the review is done."));
  box.dataset.status = search.status;
  box.hidden = false;
}

// ---------------------------------------------------------------------------------------------
// Withdraw consent

function askWithdraw(event) {
  event.preventDefault();
  clearError("withdraw");
  const typed = $("#withdraw-subject").value.trim();
  if (!typed) return showError("withdraw", problem("field_missing", "Type the person's Tessera number."));
  const checked = checkNumber(typed);
  if (!checked.ok) return showError("withdraw", problem(checked.code));
  const subject = checked.number;
  $("#withdraw-receipt").hidden = true;
  $("#withdraw-confirm-text").textContent =
    `Erase everything held about ${subject}? Their templates are deleted and their key destroyed at once. This cannot be undone.`;
  $("#withdraw-confirm").hidden = false;
  $("#withdraw-form button").disabled = true;
  $("#withdraw-no").focus();
}

function cancelWithdraw() {
  $("#withdraw-confirm").hidden = true;
  $("#withdraw-form button").disabled = false;
}

async function withdraw() {
  const subject = $("#withdraw-subject").value.trim();
  await act("withdraw", $("#withdraw-yes"), async () => {
    const receipt = await state.api.call("DELETE", `/v1/subjects/${encodeURIComponent(subject)}`);
    const box = $("#withdraw-receipt");
    box.className = "result good";
    box.replaceChildren(
      el("h2", "Consent withdrawn: data erased"),
      facts([
        ["Tessera number", receipt.subject_id],
        ["Erased at", when(receipt.erased_at)],
        ["Templates erased", receipt.templates_erased],
        ["Search index entries removed", receipt.index_entries_removed],
        ["Encryption key destroyed", receipt.data_key_destroyed ? "yes" : "no"],
        ["Audit entry", `#${receipt.audit_seq}`],
        ["Receipt fingerprint", receipt.receipt_sha256],
      ]),
      el("p", "Give the person the receipt fingerprint: it proves the erasure in the audit trail."),
    );
    box.hidden = false;
    $("#withdraw-subject").value = "";
  });
  cancelWithdraw();
}

// ---------------------------------------------------------------------------------------------
// Audit

async function checkAudit() {
  await act("audit", $("#audit-check"), async () => {
    const check = await state.api.call("GET", "/v1/audit/verify");
    const box = $("#audit-result");
    box.className = `result ${check.ok ? "good" : "bad"}`;
    box.dataset.ok = String(check.ok);
    box.replaceChildren(
      el("h2", check.ok ? "Audit trail intact" : "Audit trail damaged"),
      el("p", check.ok
        ? `All ${check.entries.toLocaleString("en")} entries check out: none was edited, removed or reordered.`
        : "Some entries do not check out. Tell your administrator at once."),
    );
    if (!check.ok) {
      const list = el("ul");
      for (const item of check.problems || []) list.append(el("li", item));
      box.append(list);
    }
    box.append(facts([["Entries", check.entries], ["Newest link", check.head_hash]]));
    box.hidden = false;
  });
}

// ---------------------------------------------------------------------------------------------
// Capture: camera, live guidance, still, upload with progress and safe retries

const camera = new Camera($("#camera-video"));
const signaturePad = new SignaturePad($("#signature-pad"));
const guidance = new Guidance($("#camera-video"), showAdvice, showGuidanceStatus);
const review = new ReviewBench({ api: () => state.api, act, el, when, $ });

function showAdvice({ key, text, tone }) {
  const box = $("#guidance");
  box.textContent = text;
  box.className = `guidance ${tone || ""}`;
  box.dataset.advice = key;
}

function showGuidanceStatus(mode, text) {
  $("#guidance-mode").textContent = text;
  document.body.dataset.guidance = mode;
}

/** Open the camera for one task; `send(photo, options)` uploads, `done(answer)` shows the answer on `returnTo`. */
function openCapture(task) {
  state.capture = { ...task, photo: null, key: null, busy: false, url: null, livenessToken: null };
  $("#capture-note").hidden = true;
  $("#capture-title").textContent = task.title;
  $("#guidance-choice").value = task.kind;
  $("#liveness").hidden = !task.liveness;
  $("#liveness").className = "card liveness";
  delete $("#liveness").dataset.outcome;
  $("#liveness-status").textContent = "";
  $("#liveness-start").textContent = "Start the check";
  $("#guidance-choice").hidden = !task.check;
  $("#guidance-choice-label").hidden = !task.check;
  if (location.hash === "#camera") location.replace("#capture");
  else location.hash = "#capture";
}

function resetCaptureView() {
  const task = state.capture;
  if (task && task.url) URL.revokeObjectURL(task.url);
  if (task) task.url = null;
  $("#camera-still").hidden = true;
  $("#camera-still").removeAttribute("src");
  $("#camera-video").hidden = false;
  $("#live-controls").hidden = false;
  $("#still-controls").hidden = true;
  $("#use-photo").hidden = Boolean(task && task.check);
  $("#use-photo").disabled = false;
  $("#retake").disabled = false;
  $("#retake").className = "secondary";
  $("#upload").hidden = true;
  $("#upload-retry").hidden = true;
  clearError("capture");
}

async function enterCapture() {
  resetCaptureView();
  await startCamera();
}

async function startCamera() {
  const task = state.capture;
  $("#take-photo").disabled = true;
  $("#take-photo").hidden = false;
  $("#file-pick-label").hidden = true;
  showAdvice({ key: "starting", text: GUIDANCE.starting, tone: "info" });
  try {
    if (!Camera.available()) throw new Error("no camera API");
    await camera.start();
  } catch {
    if (state.capture !== task) return;
    // The plain fallback: the phone's own camera app through a file input.
    showAdvice({ key: "noCamera", text: GUIDANCE.noCamera, tone: "fix" });
    showGuidanceStatus("none", "Guidance: off (no live camera).");
    $("#take-photo").hidden = true;
    $("#file-pick-label").hidden = false;
    $("#file-pick").setAttribute("capture", task && task.kind === "face" ? "user" : "environment");
    return;
  }
  if (state.capture !== task) return camera.stop();
  $("#take-photo").disabled = false;
  $("#switch-camera").hidden = camera.cameraCount < 2;
  guidance.start($("#guidance-choice").value || task.kind);
  showLiveness(task);
}

/** A task with `liveness` (its purpose) asks for the challenge first; the photo comes once it passed. */
function showLiveness(task) {
  const needed = Boolean(task.liveness && !task.livenessToken);
  $("#liveness").hidden = !task.liveness;
  $("#take-photo").hidden = needed;
  $("#liveness-start").hidden = !needed;
}

async function runLiveness() {
  const task = state.capture;
  if (!task || !task.liveness) return;
  $("#liveness-start").disabled = true;
  guidance.stop();
  $("#guidance").textContent = "";
  const token = await guideChallenge({
    api: state.api, video: $("#camera-video"), galleryId: state.galleryId, purpose: task.liveness,
    cue: $("#liveness-cue"), panel: $("#liveness"),
  });
  $("#liveness-start").disabled = false;
  if (state.capture !== task) return;
  task.livenessToken = token;
  $("#liveness-start").textContent = "Start the check again";
  showLiveness(task);
  if (token) guidance.start(task.kind); // the photo is next; after a failure the words of the check stay alone
}

function closeCapture() {
  guidance.stop();
  camera.stop();
  const task = state.capture;
  if (task && task.url) URL.revokeObjectURL(task.url);
  state.capture = null;
}

async function takePhoto() {
  $("#take-photo").disabled = true;
  try {
    showStill(await camera.takePhoto());
  } catch (error) {
    showError("capture", problem("no_camera", String(error)));
  } finally {
    $("#take-photo").disabled = false;
  }
}

function showStill(photo) {
  const task = state.capture;
  if (!task) return;
  guidance.stop();
  task.photo = photo;
  task.key = newIdempotencyKey(); // one key per photo: every retry of this photo reuses it
  task.url = URL.createObjectURL(photo);
  const still = $("#camera-still");
  still.src = task.url;
  still.hidden = false;
  $("#camera-video").hidden = true;
  $("#live-controls").hidden = true;
  $("#still-controls").hidden = false;
  $("#guidance").textContent = "";
  still.onload = () => {
    $("#guidance-mode").textContent = `Photo: ${still.naturalWidth} × ${still.naturalHeight} pixels, ${Math.round(photo.size / 1024)} kB`;
  };
  if (task.kind === "four") findHand(task, photo);
}

/** Find the hand's landmarks on the still itself (so they are in its coordinates); without a hand model, the
 * task's fallback: one fingertip at a time. */
async function findHand(task, photo) {
  task.landmarks = null;
  $("#use-photo").disabled = true;
  $("#guidance").textContent = "Finding the hand in the photo…";
  let landmarks;
  try {
    landmarks = await handLandmarks(photo);
  } catch (error) {
    if (state.capture !== task) return;
    const fallback = task.fallback && task.fallback();
    if (fallback instanceof ApiError) {
      $("#use-photo").hidden = true;
      return showError("capture", fallback);
    }
    continueCapture(fallback);
    $("#capture-note").textContent = `The hand detector cannot run on this phone (${error.message}): one fingertip at a time.`;
    $("#capture-note").hidden = false;
    return undefined;
  }
  if (state.capture !== task || task.photo !== photo) return;
  $("#use-photo").disabled = false;
  $("#guidance").textContent = "";
  if (!landmarks) {
    $("#use-photo").hidden = true;
    $("#retake").className = "primary";
    return showError("capture", problem("no_hand_found"));
  }
  task.landmarks = landmarks;
  document.body.dataset.handFound = "true";
  $("#guidance").textContent = "Hand found: send the photo";
}

/** The next capture of a sequence (a hand after the face, the next fingertip), on the same open camera. */
function continueCapture(next) {
  const previous = state.capture;
  if (previous && previous.url) URL.revokeObjectURL(previous.url);
  state.capture = { ...next, photo: null, key: null, busy: false, url: null, livenessToken: null };
  $("#capture-title").textContent = next.title;
  $("#guidance-choice").value = next.kind;
  $("#liveness").hidden = true;
  resetCaptureView();
  if (!camera.stream) startCamera();
  else guidance.start(next.kind);
}

async function retake() {
  resetCaptureView();
  if (!camera.stream) await startCamera();
  else guidance.start($("#guidance-choice").value || state.capture.kind);
}

async function sendPhoto() {
  const task = state.capture;
  if (!task || task.busy || !task.photo) return;
  task.busy = true;
  clearError("capture");
  $("#upload").hidden = false;
  $("#upload-retry").hidden = true;
  $("#use-photo").disabled = true;
  $("#retake").disabled = true;
  const bar = $("#upload-progress");
  const label = $("#upload-label");
  bar.value = 0;
  label.textContent = "Sending the photo… 0%";
  try {
    const answer = await task.send(task.photo, {
      idempotencyKey: task.key,
      livenessToken: task.livenessToken,
      landmarks: task.landmarks,
      onProgress: (fraction) => {
        bar.value = Math.round(fraction * 100);
        label.textContent = fraction < 1 ? `Sending the photo… ${Math.round(fraction * 100)}%` : "Photo sent. Checking it…";
      },
      onRetry: (attempt) => {
        label.textContent = `Connection lost. Sending again (try ${attempt + 1})… Nobody is enrolled twice.`;
      },
    });
    if (state.capture !== task) return; // the worker left this screen meanwhile
    if (answer && answer.nextTask) {
      task.busy = false;
      return continueCapture(answer.nextTask);
    }
    task.done(answer);
    state.reveal = $(`[data-screen="${task.returnTo}"] .result`);
    closeCapture();
    location.hash = `#${task.returnTo}`;
  } catch (error) {
    task.busy = false;
    if (state.capture !== task) return;
    $("#use-photo").disabled = false;
    $("#retake").disabled = false;
    if (error instanceof ApiError && error.retryable) {
      label.textContent = "The photo was not sent.";
      // A search or a comparison sent again is a new one (and is audited as such); an enrolment is not.
      $("#upload-retry").textContent = task.idempotent ? "Try again (safe: nobody is enrolled twice)" : "Try again";
      $("#upload-retry").hidden = false;
      showError("capture", error);
    } else if (error instanceof ApiError && PHOTO_PROBLEMS.has(error.code)) {
      $("#upload").hidden = true;
      $("#use-photo").hidden = true; // the fix is another photo
      $("#retake").className = "primary";
      showError("capture", error);
    } else {
      // Not about the photo (wrong number, no consent, switched off…): show it where it can be fixed.
      closeCapture();
      state.reveal = $(`[data-screen="${task.returnTo}"] .error`);
      location.hash = `#${task.returnTo}`;
      showError(task.returnTo, error);
    }
  }
}

async function switchCamera() {
  $("#switch-camera").disabled = true;
  try {
    await camera.switch();
  } catch {
    $("#switch-camera").hidden = true;
    await camera.start("user").catch(() => {});
  } finally {
    $("#switch-camera").disabled = false;
  }
}

function pickedFile(event) {
  const file = event.target.files && event.target.files[0];
  event.target.value = "";
  if (file) showStill(file);
}

// ---------------------------------------------------------------------------------------------

function wire() {
  $("#signin-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", signOut);
  $("#gallery-choose-form").addEventListener("submit", useGallery);
  $("#gallery-create-form").addEventListener("submit", createGallery);
  $("#gallery-identify-form").addEventListener("submit", allowIdentification);
  $("#consent-choice").addEventListener("change", () => act("consent", null, showConsentText));
  $("#consent-language").addEventListener("change", () => act("consent", null, async () => {
    fillTextChoice();
    await showConsentText();
  }));
  $("#signature-clear").addEventListener("click", () => signaturePad.clear());
  $("#thumbprint-pick").addEventListener("change", pickThumbprint);
  $("#consent-register").addEventListener("click", registerConsentText);
  $("#consent-form").addEventListener("submit", recordConsent);
  $("#enrol-face").addEventListener("click", enrolFace);
  $("#enrol-finger").addEventListener("click", enrolFinger);
  $("#enrol-hand").addEventListener("click", enrolHand);
  $("#verify-with").addEventListener("change", showHandChoice);
  $("#identify-with").addEventListener("change", showHandChoice);
  $("#verify-form").addEventListener("submit", verify);
  $("#identify-form").addEventListener("submit", identify);
  $("#withdraw-form").addEventListener("submit", askWithdraw);
  $("#withdraw-yes").addEventListener("click", withdraw);
  $("#withdraw-no").addEventListener("click", cancelWithdraw);
  $("#audit-check").addEventListener("click", checkAudit);
  $("#enrol-card-button").addEventListener("click", printCard);
  watchNumberField($("#verify-subject"), $("#verify-subject-hint"));
  watchNumberField($("#withdraw-subject"), $("#withdraw-subject-hint"));
  $("#take-photo").addEventListener("click", takePhoto);
  $("#liveness-start").addEventListener("click", runLiveness);
  $("#switch-camera").addEventListener("click", switchCamera);
  $("#retake").addEventListener("click", retake);
  $("#use-photo").addEventListener("click", sendPhoto);
  $("#upload-retry").addEventListener("click", sendPhoto);
  $("#file-pick").addEventListener("change", pickedFile);
  $("#capture-cancel").addEventListener("click", () => history.back());
  $("#guidance-choice").addEventListener("change", (event) => guidance.start(event.target.value));
  review.wire();
  window.addEventListener("hashchange", route);
  const online = () => ($("#offline").hidden = navigator.onLine);
  window.addEventListener("online", online);
  window.addEventListener("offline", online);
  online();
  $("#insecure").hidden = window.isSecureContext;
}

wire();
restoreSession();
watchIdle();
route();
