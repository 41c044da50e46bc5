// Live guidance while the camera runs, computed in the browser: nothing leaves the phone.
//
// Light and steadiness are measured on every frame from a small copy of it. Faces are found with
// MediaPipe Face Detection and hands with MediaPipe Hands, both loaded from /static/vendor/ (copied
// from npm by `make install`). When a model cannot start (not installed, no WebGL, an old phone) the
// guidance falls back to light and steadiness alone and the camera works as before: the server's
// quality check still has the last word on every photo.

import { GUIDANCE } from "./messages.js";

const VENDOR = "/static/vendor/";
const LOAD_TIMEOUT_MS = 20000;
const SAMPLE = { cols: 96, rows: 72 };

// Tuning values, in one place. Sizes are fractions of the frame's shorter side.
export const GUIDANCE_CONFIG = Object.freeze({
  tooDarkBelow: 55, // mean luma 0-255 of the face (or whole frame)
  tooBrightAbove: 195, // the server refuses a face region brighter than 200 (SFaceConfig.max_brightness)
  motionAbove: 7, // mean absolute luma change between samples
  faceMoveAbove: 0.04, // face centre shift between samples
  faceTooSmallBelow: 0.25, // face width
  faceTooLargeAbove: 0.9,
  faceTurnedAbove: 22, // head turn, degrees; the server advises a retake above 25 (SFACE_RETAKE_LIMITS.max_abs_yaw)
  handTooSmallBelow: 0.45, // width of the four fingers
  fingertipsApartAbove: 0.6, // gap between neighbouring fingertips, over their knuckles' spacing
  torchBelow: 90, // mean luma under which a slap photo needs the torch (ridges need light)
  faceIntervalMs: 200,
  handIntervalMs: 150, // added after each (slow) hand inference
});

// How far the nose tip stands in front of the eye centres, over the distance between them: the server's
// SFaceConfig.nose_depth_ratio for YuNet's nose tip, used here on MediaPipe's.
export const NOSE_TIP_DEPTH_RATIO = 0.9;
// MediaPipe Face Detection keypoint numbers. Its "right eye" (0) is the person's: on the image's left, as the
// detector sees the camera's unmirrored frames.
const FACE_KEYPOINTS = { eyeOnImageRight: 1, eyeOnImageLeft: 0, noseTip: 2 };

const FINGERTIPS = [8, 12, 16, 20]; // index, middle, ring, little: MediaPipe Hands landmark numbers
const KNUCKLES = [5, 9, 13, 17];

const detectors = {}; // one per model for the page's life: starting one costs seconds

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const existing = document.querySelector(`script[src="${src}"]`);
    if (existing) return existing.dataset.loaded ? resolve() : existing.addEventListener("load", resolve, { once: true });
    const script = document.createElement("script");
    script.src = src;
    script.async = true;
    script.onload = () => {
      script.dataset.loaded = "1";
      resolve();
    };
    script.onerror = () => {
      script.remove(); // a later try loads it afresh instead of waiting on this failed element
      reject(new Error(`${src} could not be loaded`));
    };
    document.head.append(script);
  });
}

function withTimeout(promise, ms, what) {
  return Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} timed out`)), ms))]);
}

/** A started MediaPipe solution for `model` ("face" or "hands"), or a rejection saying why not. */
export function detector(model) {
  if (!detectors[model]) {
    detectors[model] = withTimeout(startDetector(model), LOAD_TIMEOUT_MS, `the ${model} model`);
    detectors[model].catch(() => delete detectors[model]); // let a later camera session try again
  }
  return detectors[model];
}

async function startDetector(model) {
  if (!document.createElement("canvas").getContext("webgl2") && !document.createElement("canvas").getContext("webgl")) {
    throw new Error("this browser has no WebGL");
  }
  const folder = model === "face" ? "face_detection" : "hands";
  await loadScript(`${VENDOR}${folder}/${folder}.js`);
  const locateFile = (file) => `${VENDOR}${folder}/${file}`;
  let solution;
  if (model === "face") {
    solution = new window.FaceDetection({ locateFile });
    solution.setOptions({ model: "short", minDetectionConfidence: 0.5 });
  } else {
    solution = new window.Hands({ locateFile });
    solution.setOptions({ maxNumHands: 1, modelComplexity: 0, minDetectionConfidence: 0.5, minTrackingConfidence: 0.5 });
  }
  let latest = null;
  solution.onResults((results) => {
    latest = results;
  });
  await solution.initialize();
  return {
    async detect(video) {
      latest = null;
      await solution.send({ image: video });
      return latest;
    },
  };
}

const LANDMARK_SIDE = 1280; // the still is shrunk to this for the hand model: landmarks are normalised anyway

/**
 * The 21 hand landmarks of a still photo (MediaPipe Hands, run on the photo itself so that the points are in
 * its own, unmirrored coordinates: x = col / width, y = row / height), or null when no hand is found.
 * Rejects when the model cannot run here (not installed, no WebGL): the caller falls back to one fingertip
 * at a time. MediaPipe's handedness label is not used: it assumes a mirrored image; the person's hand is the
 * operator's choice, and the server checks it against the landmarks.
 */
export async function handLandmarks(photo) {
  const engine = await detector("hands");
  const bitmap = await createImageBitmap(photo);
  const scale = Math.min(1, LANDMARK_SIDE / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  if (bitmap.close) bitmap.close();
  const results = await engine.detect(canvas);
  const hand = results && results.multiHandLandmarks && results.multiHandLandmarks[0];
  return hand ? hand.map((point) => ({ x: point.x, y: point.y })) : null;
}

export class Guidance {
  /**
   * @param {HTMLVideoElement} video the live camera
   * @param {(advice: {key: string, text: string, tone: string}) => void} show where advice goes
   * @param {(status: string) => void} status what the guidance can do right now
   */
  constructor(video, show, status) {
    this.video = video;
    this.show = show;
    this.status = status;
    this.canvas = document.createElement("canvas");
    this.canvas.width = SAMPLE.cols;
    this.canvas.height = SAMPLE.rows;
    this.context = this.canvas.getContext("2d", { willReadFrequently: true });
    this.running = false;
    this.previousLuma = null;
    this.previousCentre = null;
    this.engine = null;
    this.runs = 0; // each start() bumps it, so a stale loop or model load knows to stop
  }

  /** Start guiding for `kind`: "face", "fingertip" (one finger) or "four" (four fingers). */
  async start(kind) {
    this.stop();
    this.kind = kind;
    this.running = true;
    this.engine = null;
    const run = ++this.runs;
    const model = kind === "face" ? "face" : "hands";
    this.status("basic", "Guidance: light and steadiness (loading the detector…)");
    this.loop(run);
    try {
      const engine = await detector(model);
      if (!this.running || run !== this.runs) return;
      this.engine = engine;
      this.status(model === "face" ? "face-detector" : "hand-detector",
        model === "face" ? "Guidance: face detector on" : "Guidance: hand detector on");
    } catch (error) {
      if (!this.running || run !== this.runs) return;
      this.status("basic", `Guidance: light and steadiness only (${error.message}). Photos still work.`);
    }
  }

  stop() {
    this.running = false;
    this.previousLuma = null;
    this.previousCentre = null;
  }

  async loop(run) {
    while (this.running && run === this.runs) {
      const started = performance.now();
      try {
        if (this.video.readyState >= 2 && this.video.videoWidth) {
          const advice = await this.assess();
          if (this.running && run === this.runs) this.show(advice);
        }
      } catch {
        this.engine = null; // a detector that failed once is not trusted again in this session
        this.status("basic", "Guidance: light and steadiness only (the detector stopped). Photos still work.");
      }
      const interval = this.kind === "face" ? GUIDANCE_CONFIG.faceIntervalMs : GUIDANCE_CONFIG.handIntervalMs;
      await new Promise((resolve) => setTimeout(resolve, Math.max(interval - (performance.now() - started), 50)));
    }
  }

  /** The luma (0-255) of a small copy of the frame, row-major. */
  sample() {
    this.context.drawImage(this.video, 0, 0, SAMPLE.cols, SAMPLE.rows);
    const { data } = this.context.getImageData(0, 0, SAMPLE.cols, SAMPLE.rows);
    const luma = new Float32Array(SAMPLE.cols * SAMPLE.rows);
    for (let i = 0; i < luma.length; i++) luma[i] = 0.299 * data[4 * i] + 0.587 * data[4 * i + 1] + 0.114 * data[4 * i + 2];
    return luma;
  }

  motion(luma) {
    const previous = this.previousLuma;
    this.previousLuma = luma;
    if (!previous) return 0;
    let total = 0;
    for (let i = 0; i < luma.length; i++) total += Math.abs(luma[i] - previous[i]);
    return total / luma.length;
  }

  async assess() {
    const luma = this.sample();
    const moving = this.motion(luma) > GUIDANCE_CONFIG.motionAbove;
    const results = this.engine ? await this.engine.detect(this.video) : null;
    if (this.kind === "face") return this.faceAdvice(luma, moving, results);
    return this.fingerAdvice(luma, moving, results);
  }

  faceAdvice(luma, moving, results) {
    if (!results) return lightAdvice(meanLuma(luma)) || advice(moving ? "holdStill" : "plainReady", moving ? "fix" : "info");
    const faces = results.detections || [];
    if (faces.length === 0) return lightAdvice(meanLuma(luma)) || advice("noFace", "fix");
    if (faces.length > 1) return advice("oneFace", "fix");
    const box = faces[0].boundingBox;
    const light = lightAdvice(meanLuma(luma, box));
    if (light) return light;
    const { videoWidth: cols, videoHeight: rows } = this.video;
    const width = (box.width * cols) / Math.min(cols, rows);
    if (width < GUIDANCE_CONFIG.faceTooSmallBelow) return advice("moveCloser", "fix");
    if (width > GUIDANCE_CONFIG.faceTooLargeAbove) return advice("moveBack", "fix");
    const turn = faceTurn(faces[0].landmarks, cols, rows);
    if (turn !== null && Math.abs(turn) > GUIDANCE_CONFIG.faceTurnedAbove) return advice("lookAtCamera", "fix");
    const centre = [box.xCenter, box.yCenter];
    const previous = this.previousCentre;
    this.previousCentre = centre;
    const shifted = previous && Math.hypot(centre[0] - previous[0], centre[1] - previous[1]) > GUIDANCE_CONFIG.faceMoveAbove;
    if (moving || shifted) return advice("holdStill", "fix");
    return advice("faceReady", "good");
  }

  fingerAdvice(luma, moving, results) {
    const light = lightAdvice(meanLuma(luma));
    if (light) return light;
    const hand = results && results.multiHandLandmarks && results.multiHandLandmarks[0];
    if (this.kind === "fingertip") {
      // A fingertip that fills the frame is no longer a whole hand to the detector: then only light and steadiness count.
      if (moving) return advice("holdStill", "fix");
      if (hand && spread(hand, [...FINGERTIPS, ...KNUCKLES]) < 0.9) return advice("fillFingertip", "fix");
      return advice("fillFingertip", "info");
    }
    if (!results) return advice(moving ? "holdStill" : "fourFingers", moving ? "fix" : "info");
    if (!hand) return advice("noHand", "fix");
    const inFrame = FINGERTIPS.every((i) => hand[i].x > 0.02 && hand[i].x < 0.98 && hand[i].y > 0.02 && hand[i].y < 0.98);
    if (!inFrame) return advice("noHand", "fix");
    if (spread(hand, [...FINGERTIPS, ...KNUCKLES]) < GUIDANCE_CONFIG.handTooSmallBelow) return advice("handCloser", "fix");
    if (!fingersApart(hand)) return advice("spreadFingers", "fix");
    if (meanLuma(luma) < GUIDANCE_CONFIG.torchBelow) return advice("torchOn", "fix");
    return advice(moving ? "holdStill" : "fourFingers", moving ? "fix" : "good");
  }
}

function advice(key, tone) {
  return { key, text: GUIDANCE[key], tone };
}

function lightAdvice(mean) {
  if (mean < GUIDANCE_CONFIG.tooDarkBelow) return advice("tooDark", "fix");
  if (mean > GUIDANCE_CONFIG.tooBrightAbove) return advice("tooBright", "fix");
  return null;
}

/** Mean luma of the sample, or of the part inside a normalised box {xCenter, yCenter, width, height}. */
function meanLuma(luma, box = null) {
  let [c0, c1, r0, r1] = [0, SAMPLE.cols, 0, SAMPLE.rows];
  if (box) {
    c0 = Math.max(0, Math.floor((box.xCenter - box.width / 2) * SAMPLE.cols));
    c1 = Math.min(SAMPLE.cols, Math.ceil((box.xCenter + box.width / 2) * SAMPLE.cols));
    r0 = Math.max(0, Math.floor((box.yCenter - box.height / 2) * SAMPLE.rows));
    r1 = Math.min(SAMPLE.rows, Math.ceil((box.yCenter + box.height / 2) * SAMPLE.rows));
    if (c1 <= c0 || r1 <= r0) return meanLuma(luma);
  }
  let total = 0;
  for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) total += luma[r * SAMPLE.cols + c];
  return total / ((c1 - c0) * (r1 - r0));
}

/**
 * Head turn in degrees from two eye centres and the nose tip, each {x, y} in pixels, as the server's
 * tessera.face.quality.turn_angle: the nose's sideways shift along the line through the eyes, over the distance
 * between them, against `depth` (how far the nose stands in front of the eyes, over that distance). Positive when
 * the nose points to the image's right.
 */
export function turnAngle(eyeOnImageRight, eyeOnImageLeft, noseTip, depth) {
  const between = [eyeOnImageRight.x - eyeOnImageLeft.x, eyeOnImageRight.y - eyeOnImageLeft.y];
  const distance = Math.hypot(between[0], between[1]);
  if (distance === 0) return 0;
  const middle = [(eyeOnImageRight.x + eyeOnImageLeft.x) / 2, (eyeOnImageRight.y + eyeOnImageLeft.y) / 2];
  const shift = ((noseTip.x - middle[0]) * between[0] + (noseTip.y - middle[1]) * between[1]) / distance;
  return (Math.atan2(shift / distance, depth) * 180) / Math.PI;
}

/** The head turn of one detected face (normalised keypoints, a cols x rows frame), or null without its eyes and nose. */
function faceTurn(keypoints, cols, rows) {
  const wanted = [FACE_KEYPOINTS.eyeOnImageRight, FACE_KEYPOINTS.eyeOnImageLeft, FACE_KEYPOINTS.noseTip];
  const points = wanted.map((i) => keypoints && keypoints[i]);
  if (points.some((point) => !point || !Number.isFinite(point.x) || !Number.isFinite(point.y))) return null;
  const [eyeOnImageRight, eyeOnImageLeft, noseTip] = points.map((point) => ({ x: point.x * cols, y: point.y * rows }));
  return turnAngle(eyeOnImageRight, eyeOnImageLeft, noseTip, NOSE_TIP_DEPTH_RATIO);
}

/** Width of the landmarks `indices` of one hand, as a fraction of the frame. */
function spread(hand, indices) {
  const xs = indices.map((i) => hand[i].x);
  return Math.max(...xs) - Math.min(...xs);
}

/** Whether neighbouring fingertips stand apart: each gap at least a fraction of the knuckles' spacing. */
function fingersApart(hand) {
  for (let i = 0; i < FINGERTIPS.length - 1; i++) {
    const tips = Math.hypot(hand[FINGERTIPS[i]].x - hand[FINGERTIPS[i + 1]].x, hand[FINGERTIPS[i]].y - hand[FINGERTIPS[i + 1]].y);
    const knuckles = Math.hypot(hand[KNUCKLES[i]].x - hand[KNUCKLES[i + 1]].x, hand[KNUCKLES[i]].y - hand[KNUCKLES[i + 1]].y);
    if (tips < GUIDANCE_CONFIG.fingertipsApartAbove * knuckles) return false;
  }
  return true;
}
