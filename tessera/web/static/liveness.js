// The liveness challenge on the capture page (docs/liveness.md): ask the server for a challenge, guide the
// person through its steps with a large arrow, plain words and a countdown, take a short burst of frames
// bound to the challenge, send it, and hand back the server's verdict (and its single-use token).
//
// The browser only guides: MediaPipe Face Detection's keypoints (the same vendored model as the live
// guidance) tell the page when the head did what was asked, so the frames are taken at the right moment.
// When the model cannot run, each step gets a fixed time instead. Either way the server decides: it
// measures the pose and the 3D parallax of every frame itself, and the page never says "passed" on its own.

import { detector } from "./guidance.js";
import { LIVENESS, describeError } from "./messages.js";

// Tuning values, in one place. Pose changes are in face units, as the server measures them
// (tessera/liveness/geometry.py): the page waits for a little more than the server asks, so that a
// frame the page took as "done" is not refused for being just short.
export const LIVENESS_CONFIG = Object.freeze({
  straightMs: 1000, // time to look straight at the camera before the first frame
  stepMs: 5000, // longest wait for one step; then its frames are taken anyway and the server judges
  fallbackStepMs: 2500, // time given to each step when the landmarks model cannot run
  holdGapMs: 300, // between the two frames that must hold each pose
  sampleMs: 100, // between two landmark samples
  straightBelow: 0.12, // |yaw| counted as looking straight
  turnAbove: 0.22, // yaw change of a turn (server: 0.18)
  lookAbove: 0.15, // pitch change of a look (server: 0.12)
  closerAbove: 1.2, // interocular distance ratio of moving closer (server: x1.15)
  frameLongSide: 800, // pixels: the server shrinks to 1 MP anyway; 640x480 is plenty
});

// What each step looks like from the camera, as a pose change from the first (straight) frame. Directions
// are the person's own: turning to their left moves the nose to the right of the unmirrored frame.
const REACHED = {
  turn_left: (change) => change.yaw >= LIVENESS_CONFIG.turnAbove,
  turn_right: (change) => change.yaw <= -LIVENESS_CONFIG.turnAbove,
  look_up: (change) => change.pitch <= -LIVENESS_CONFIG.lookAbove,
  look_down: (change) => change.pitch >= LIVENESS_CONFIG.lookAbove,
  move_closer: (change) => change.scale >= LIVENESS_CONFIG.closerAbove,
};

const ARROWS = { straight: "●", turn_left: "←", turn_right: "→", look_up: "↑", look_down: "↓", move_closer: "⤢" };

const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Pose of one face in face units from MediaPipe Face Detection's keypoints (normalised x, y; 0 and 1 the
 * eyes, 2 the nose tip, 3 the mouth centre), in pixels of a `cols` x `rows` frame.
 * yaw: nose offset from the eyes' midpoint along the eye axis over the eye distance (+ = person's left);
 * pitch: nose drop below the eye line over the mouth's drop; scale: eye distance in pixels.
 */
export function poseOf(keypoints, cols, rows) {
  const [a, b, nose, mouth] = keypoints.slice(0, 4).map((p) => [p.x * cols, p.y * rows]);
  const axis = [b[0] - a[0], b[1] - a[1]];
  const interocular = Math.hypot(axis[0], axis[1]);
  if (!(interocular > 0)) return null;
  const along = [axis[0] / interocular, axis[1] / interocular];
  const down = [-along[1], along[0]];
  const mid = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
  const dot = (p, v) => (p[0] - mid[0]) * v[0] + (p[1] - mid[1]) * v[1];
  const mouthDrop = dot(mouth, down);
  return { yaw: dot(nose, along) / interocular, pitch: mouthDrop > 0 ? dot(nose, down) / mouthDrop : NaN, scale: interocular };
}

function change(reference, now) {
  return { yaw: now.yaw - reference.yaw, pitch: now.pitch - reference.pitch, scale: now.scale / reference.scale };
}

/** The current video frame as a JPEG no larger than frameLongSide, never mirrored. */
function grab(video) {
  const ratio = Math.min(1, LIVENESS_CONFIG.frameLongSide / Math.max(video.videoWidth, video.videoHeight));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(video.videoWidth * ratio);
  canvas.height = Math.round(video.videoHeight * ratio);
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve, reject) =>
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("The frame could not be encoded."))), "image/jpeg", 0.9),
  );
}

export class LivenessChallenge {
  /**
   * @param {object} options
   * @param {import("./api.js").Api} options.api the signed-in API
   * @param {HTMLVideoElement} options.video the live camera
   * @param {{detect(video): Promise<object>} | null} options.engine MediaPipe Face Detection, or null (timed steps)
   * @param {(cue: {step: string, text: string, seconds: number|null, phase: string}) => void} options.show the cue on screen
   */
  constructor({ api, video, engine, show }) {
    this.api = api;
    this.video = video;
    this.engine = engine;
    this.show = show;
    this.cancelled = false;
  }

  cancel() {
    this.cancelled = true;
  }

  /** The face's pose in the current frame, or null (no model, no face, or more than one face). */
  async pose() {
    if (!this.engine) return null;
    const results = await this.engine.detect(this.video);
    const faces = (results && results.detections) || [];
    if (faces.length !== 1 || !faces[0].landmarks || faces[0].landmarks.length < 4) return null;
    return poseOf(faces[0].landmarks, this.video.videoWidth, this.video.videoHeight);
  }

  /**
   * Run one challenge for `galleryId` and `purpose` (enrol | verify | identify): the server's answer to the
   * burst ({liveness, reason, message, checks, liveness_token, …}). Refusals (challenge_expired, …) throw
   * the API's ApiError.
   */
  async run(galleryId, purpose) {
    this.show({ step: "asking", text: LIVENESS.asking, seconds: null, phase: "asking" });
    const challenge = await this.api.call("POST", "/v1/liveness/challenges", { json: { gallery_id: galleryId, purpose } });
    const frames = [];
    const started = performance.now(); // the person's part: from the first cue to the last frame
    const reference = await this.straight(frames);
    for (const [index, step] of challenge.steps.entries()) {
      const words = (challenge.instructions && challenge.instructions[step]) || LIVENESS.steps[step] || step;
      await this.step(step, `${index + 1} of ${challenge.steps.length}: ${words}`, reference, frames);
      if (this.cancelled) throw new Error("cancelled");
    }
    const personMs = Math.round(performance.now() - started);
    this.show({ step: "sending", text: LIVENESS.sending, seconds: null, phase: "sending" });
    const form = new FormData();
    form.append("nonce", challenge.nonce);
    frames.slice(0, challenge.max_frames).forEach((frame, i) => form.append("frame", frame, `frame-${i}.jpg`));
    const path = `/v1/liveness/challenges/${encodeURIComponent(challenge.challenge_id)}/burst`;
    const answer = await this.api.once("POST", path, this.api.headers(), form);
    return { ...answer, steps: challenge.steps, personMs };
  }

  /** The first frame, looking straight at the camera; its pose (or null) is what every step is measured from. */
  async straight(frames) {
    const started = performance.now();
    let pose = null;
    while (performance.now() - started < LIVENESS_CONFIG.stepMs) {
      const left = Math.max(0, LIVENESS_CONFIG.straightMs - (performance.now() - started));
      this.show({ step: "straight", text: LIVENESS.straight, seconds: Math.ceil(left / 1000), phase: "step" });
      pose = await this.pose();
      const straight = pose && Math.abs(pose.yaw) < LIVENESS_CONFIG.straightBelow;
      if (left <= 0 && (straight || !this.engine)) break;
      await wait(LIVENESS_CONFIG.sampleMs);
    }
    frames.push(await grab(this.video));
    return pose;
  }

  /** Guide one step; push two frames holding it (or, after the step's time, the two latest frames). */
  async step(step, text, reference, frames) {
    const limit = this.engine && reference ? LIVENESS_CONFIG.stepMs : LIVENESS_CONFIG.fallbackStepMs;
    const started = performance.now();
    let held = [];
    for (;;) {
      const elapsed = performance.now() - started;
      this.show({ step, text, seconds: Math.ceil(Math.max(0, limit - elapsed) / 1000), phase: "step" });
      if (elapsed >= limit || this.cancelled) break;
      const pose = reference ? await this.pose() : null;
      if (pose && REACHED[step] && REACHED[step](change(reference, pose))) {
        held.push(await grab(this.video)); // a pose must hold in two consecutive samples, as the server asks
        if (held.length === 2) break;
      } else {
        held = [];
      }
      await wait(LIVENESS_CONFIG.sampleMs);
    }
    while (held.length < 2) {
      // Not seen (or no model): take the frames now and let the server judge them.
      held.push(await grab(this.video));
      if (held.length < 2) await wait(LIVENESS_CONFIG.holdGapMs);
    }
    this.show({ step, text: LIVENESS.stepDone, seconds: null, phase: "done" });
    frames.push(...held);
  }
}

/**
 * Guide the person through one challenge on the capture screen and say the outcome in `panel`.
 *
 * @param {object} options
 * @param {import("./api.js").Api} options.api the signed-in API
 * @param {HTMLVideoElement} options.video the live camera (already started)
 * @param {string} options.galleryId the gallery the token is for
 * @param {string} options.purpose enrol | verify | identify
 * @param {HTMLElement} options.cue the overlay on the camera (.arrow, .words, .countdown)
 * @param {HTMLElement} options.panel the card under the camera; its data-outcome (passed, failed, refused)
 *   and data-code (the reason code) say what happened
 * @returns {Promise<string|null>} the single-use liveness token when the server passed the burst, else null
 */
export async function guideChallenge({ api, video, galleryId, purpose, cue, panel }) {
  const status = panel.querySelector("p");
  const say = (outcome, code, headline, hint = "") => {
    panel.dataset.outcome = outcome;
    panel.dataset.code = code || "";
    panel.className = `card liveness ${outcome}`;
    status.replaceChildren(Object.assign(document.createElement("strong"), { textContent: headline }));
    if (hint) status.append(document.createElement("br"), hint);
  };
  for (const key of ["outcome", "code", "steps", "serverMs", "personMs"]) delete panel.dataset[key];
  panel.className = "card liveness";
  // The same detector as the live guidance: already loading or loaded while the camera runs.
  const engine = await detector("face").catch(() => null);
  status.textContent = engine ? LIVENESS.intro : `${LIVENESS.intro} ${LIVENESS.timed}`;
  panel.dataset.tracking = engine ? "landmarks" : "timed";
  const show = ({ step, text, seconds, phase }) => {
    cue.hidden = false;
    cue.dataset.step = step;
    cue.dataset.phase = phase;
    cue.querySelector(".arrow").textContent = ARROWS[step] || "";
    cue.querySelector(".words").textContent = text;
    cue.querySelector(".countdown").textContent = seconds === null ? "" : `${seconds}`;
  };
  try {
    const answer = await new LivenessChallenge({ api, video, engine, show }).run(galleryId, purpose);
    panel.dataset.steps = answer.steps.join(" ");
    panel.dataset.serverMs = answer.server_ms ?? "";
    panel.dataset.personMs = answer.personMs;
    if (answer.liveness === "passed" && answer.liveness_token) {
      say("passed", "", LIVENESS.passed);
      return answer.liveness_token;
    }
    const [headline, hint] = describeError({ code: answer.reason || "liveness_failed", message: answer.message });
    say("failed", answer.reason || "liveness_failed", headline, hint || answer.message || "");
    return null;
  } catch (error) {
    const [headline, hint] = describeError(error);
    say("refused", error.code || "", headline, hint || "");
    return null;
  } finally {
    cue.hidden = true;
  }
}
