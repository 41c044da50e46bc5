// Words a field worker can act on, for every reason code the API returns ({"error": {"code", "message"}}).
// Each entry is [what happened, what to do]. A code not listed here falls back to the server's own message,
// which is written for the same reader.

export const ERROR_WORDS = {
  // The photo itself (422 from enrol and identify; "inconclusive" reasons from verify)
  no_face: ["No face was found in the photo.", "Make sure the whole face is in the frame and well lit, then take the photo again."],
  multiple_faces: ["More than one face is in the photo.", "Take it again with only the person in the frame."],
  face_too_small: ["The face is too small in the photo.", "Move closer so the face fills more of the frame."],
  too_blurred: ["The photo is blurred.", "Hold the phone still, let it focus on the face, and take the photo again."],
  bad_exposure: ["The light on the face is wrong.", "Move out of direct sun or into a brighter place, then take the photo again."],
  face_turned: ["The face is turned away.", "Ask the person to look straight at the camera."],
  not_an_image: ["That file is not a photo the service can read.", "Take the photo again with the camera."],
  not_a_still_image: ["That is a video or an animated image.", "Send one still photo."],
  too_large: ["The photo is too large to send.", "Take it again at a lower resolution, or use the camera on this page."],
  unsupported_media_type: ["That kind of file is not accepted.", "Send a JPEG, PNG or WebP photo (the camera on this page does this)."],

  // Consent (409)
  consent_expired: ["This person's consent has expired.", "Read the consent text again and record a new consent before any photo."],
  purpose_not_consented: ["The person did not agree to this use of their photos.", "Do not go on. Ask whether they agree, and record a new consent if they do."],
  modality_not_consented: ["The person did not agree to give this kind of photo.", "Do not go on without a new consent that includes it."],
  consent_withdrawn: ["This person withdrew their consent, and their data was erased.", "They can be enrolled again only with a newly signed consent."],
  unknown_consent_text: ["The consent text on this device is not registered on the server.", "Ask an admin to register it (Consent screen, admin button)."],
  duplicate_capture: ["This exact photo is already enrolled for this person.", "Nothing more to do; take a new photo if another one is needed."],
  no_reference: ["This person has no face enrolled yet.", "Enrol a face photo first."],
  template_not_found: ["The earlier photo to replace is no longer in this person's record.", "Nothing was enrolled. Take the photo again with “Take another face photo”: it is added to the record."],
  template_not_a_face: ["Only a face photo can be replaced by a face photo.", "Nothing was enrolled. Take the photo again with “Take another face photo”."],

  // People and galleries (404, 409)
  subject_not_found: ["No person has this Tessera number.", "Check the number on the person's card and type it again."],
  subject_erased: ["This person's data was erased.", "They can be enrolled again only with a newly signed consent."],
  gallery_not_found: ["This gallery does not exist on the server.", "Choose another gallery on the Gallery screen."],
  gallery_exists: ["A gallery with that name already exists.", "Choose it from the list, or give the new one another name."],
  gallery_closed: ["This gallery was closed when its programme ended.", "Nobody can be enrolled or searched in it any more."],

  // 1:N search (409, 422, 503)
  identification_not_enabled: ["Duplicate search is switched off for this gallery.", "An admin must allow it on the Gallery screen, citing the DPIA."],
  identification_suspended: ["All duplicate searches are stopped by an administrator.", "Try again later, or ask your administrator why."],
  purpose_not_allowed: ["This gallery may not be searched for that purpose.", "Choose another purpose, or ask an admin."],
  purpose_not_searchable: ["That purpose does not allow a search among everyone.", "Choose the duplicate-check purpose."],
  case_reference_required: ["A case reference is needed for every search.", "Type the case or file number this search is for."],
  dpia_required: ["The DPIA reference is missing.", "Type the reference of the impact assessment."],
  cross_sensor_not_calibrated: ["A phone photo cannot be compared with this person's scanner print on this server.", "Take the finger on a contact scanner, or enrol a phone photo of it first."],
  beyond_calibration: ["The gallery is too large for the error rates this server can vouch for.", "Ask your administrator."],

  // Keys and roles (401, 403)
  missing_key: ["You are not signed in.", "Sign in with your API key."],
  invalid_key: ["That key was not accepted.", "Check the key and type it again, or ask your administrator for a new one."],
  key_revoked: ["That key was switched off by an administrator.", "Ask your administrator for a new key."],
  forbidden: ["Your key is not allowed to do this.", "Ask your administrator for a key with the right role."],

  // Requests
  invalid_request: ["Something on the form is missing or wrong.", null],
  bad_idempotency_key: ["The retry code of this request was wrong.", "Start the step again."],
  idempotency_key_reused: ["This retry does not match the first attempt.", "Start the step again; nothing was enrolled twice."],
  consent_text_exists: ["This consent text is already registered.", null],
  consent_text_version_exists: ["Another text already uses this version number.", "Ask an admin."],
  internal_error: ["Something went wrong inside the service; nothing was saved.", "Try again. If it happens again, tell your administrator."],
  unavailable: ["The service is not available right now.", "Try again in a few minutes."],

  // The console itself
  no_gallery: ["No gallery is chosen.", "Open Gallery settings and choose the programme's gallery first."],
  consent_incomplete: ["The consent is not complete.", null],
  consent_text_mismatch: ["The consent text received does not match its registered fingerprint.", "Do not go on. Tell your administrator."],
  field_missing: ["Something on the form is missing.", null],
  non_biometric_not_allowed: ["This gallery does not register new people without biometrics.", "People already registered without biometrics are still served: use Find and record service. To register someone new, ask an admin to allow it (Without biometrics screen, admin setting)."],
  programme_id_taken: ["This programme id is already registered without biometrics.", "Serve that person with the form below instead."],
  record_not_found: ["No one is registered without biometrics under that programme id.", "Check the card and type it again, or register the person."],
  record_erased: ["This record was erased: the person withdrew.", "Nothing is kept under this number. If the person asks, register them again: they get a new record number."],
  notice_not_found: ["There is no such notice.", "Check the notice number on the paper the person has."],
  already_contested: ["This finding is already contested.", "The re-review is under way; the person will get a new notice with its outcome."],
  not_contestable: ["This finding cannot be contested.", "It was contested already or has been corrected: show the person their newest notice."],
  first_reviewer_cannot_rereview: ["You took the first decision on this finding.", "Another reviewer must re-review it."],
  bad_number: ["This is not a Tessera number.", "A Tessera number looks like TSR-4K7P-9QXM-2W5. Check the person's card."],
  invalid_number: ["This is not a Tessera number.", "A Tessera number looks like TSR-4K7P-9QXM-2W5. Check the person's card."],
  number_check_failed: ["This number has a typo.", "One character is wrong or two are swapped. Read it again from the person's card."],
  pending_review: ["This person's enrolment is being reviewed.", "Their first photo resembled someone already enrolled. Nothing can be done with this number until the review ends."],
  external_id_taken: ["This programme id is already used in this gallery.", "Check the id on the person's programme document."],
  no_camera: ["The camera could not start.", "Allow the camera for this page, or use the phone's camera app button."],

  // Four fingers in one photo (POST /v1/subjects/{id}/hands, hand_image in verify and search)
  hand_detector_unavailable: ["The hand detector cannot run on this phone.", "Enrol one fingertip at a time with 'Which finger' above."],
  no_hand_found: ["No hand was found in the photo.", "Hold the hand flat, palm towards the camera, all four fingertips in the frame, and take the photo again."],
  not_a_hand: ["The hand could not be read as a hand held flat.", "Hold the hand flat, palm towards the camera, fingers straight and apart, and take the photo again."],
  handedness_mismatch: ["The photo shows the other hand, or the back of the hand.", "Check which hand you chose, show the palm side, and take the photo again."],
  no_usable_finger: ["None of the four fingers could be used.", "Hand flat, fingers apart, in daylight or with the torch on; take the photo again."],
  invalid_landmarks: ["The hand points sent with the photo could not be read.", "Take the photo again; if it happens again, use one fingertip at a time."],

  // The liveness challenge (docs/liveness.md): refusals of the challenge, and the burst's failed checks
  challenge_expired: ["The check took too long and has expired.", "Start the check again and follow each step as soon as it shows."],
  challenge_used: ["This check was already sent.", "Start the check again."],
  challenge_not_found: ["The server does not know this check.", "Start the check again."],
  challenge_mismatch: ["The check did not match what the server asked.", "Start the check again."],
  challenge_not_yours: ["This check was started with another key.", "Start the check again."],
  too_few_frames: ["Too few pictures were taken during the check.", "Start the check again and keep the face in view."],
  too_many_images: ["Too many pictures were sent for the check.", "Start the check again."],
  liveness_failed: ["The liveness check did not pass.", "Start the check again in good light, facing the camera, and follow each step."],
  frame_unusable: ["The face could not be seen well during the check.", "Find better light, keep the whole face in the frame, and start again."],
  not_same_face: ["The face changed during the check.", "Only the person should be in front of the camera. Start again."],
  no_motion: ["The head did not move as asked.", "Start again and turn or tilt the head clearly when each arrow shows."],
  flat_image: ["This looked like a photo or a screen, not a person.", "The person must stand in front of the camera themselves. Start again."],
  liveness_required: ["This gallery needs a liveness check before the photo.", "Tick 'Check the person is present' and try again."],
  liveness_unavailable_for_fingers: ["This gallery is self-service: fingers alone cannot show the person is present.", "Add the face with 'Check the person is present' ticked, or take the fingers where a trained worker sees the person."],
  liveness_token_invalid: ["The liveness check has expired or was already used.", "Do the check again, then take the photo straight away."],
  liveness_face_mismatch: ["The photo is not of the person who did the liveness check.", "Do the check again with the same person."],
  liveness_needs_face: ["A face photo is needed with the liveness check.", "Take the face photo again."],

  // The connection (no answer from the server at all)
  network: ["No answer from the server.", "Check the signal, then try again. It is safe: nobody is enrolled twice."],
  timeout: ["The server took too long to answer.", "Check the signal, then try again. It is safe: nobody is enrolled twice."],
  not_json: ["The server sent an answer this page cannot read.", "Try again. If it happens again, tell your administrator."],
};

const BY_STATUS = {
  401: "invalid_key",
  403: "forbidden",
  413: "too_large",
  415: "unsupported_media_type",
  500: "internal_error",
  502: "unavailable",
  503: "unavailable",
  504: "timeout",
};

// A code whose fix differs on one screen: its words there, by screen name. Fingers are refused in a self-service
// gallery on every screen, but only a comparison or a search can take them beside a face that passed the check.
const SCREEN_WORDS = {
  enrol: {
    liveness_unavailable_for_fingers: ["This gallery is self-service: fingers cannot show the person is present, so none are enrolled here.", "Enrol the face with 'Check the person is present' ticked. Fingers are enrolled where a trained worker sees the person."],
  },
};

// Why a person's data was erased (a subject_erased answer's detail.reason, from the erasure receipt): what to say.
export const ERASED_WORDS = {
  consent_withdrawn: ["This person's data was erased when their consent was withdrawn.", "They can be enrolled again only with a newly signed consent."],
  consent_expired: ["This person's data was erased when their consent expired.", "They can be enrolled again only with a newly signed consent."],
  retention_period_ended: ["This person's data was erased: it had not been used for the whole retention period.", "They can be enrolled again only with a newly signed consent."],
  purpose_met: ["This person's data was erased when the programme closed this gallery.", "Nothing more can be done with this number."],
  duplicate_confirmed: ["This registration was erased as a duplicate: two reviewers found the person was enrolled already.", "Their own notice waits under the case number they were given (DUP-...) or this number: find it under Notices and contests. They can contest it there if they registered only once."],
};

// The notices of a registration erased as a duplicate, on the Notices and contests screen.
export const NOTICE_WORDS = {
  findLabel: "Case number (DUP-...) or Tessera number of a registration erased as a duplicate",
  findButton: "Find the person's notices",
  findMissing: "Type the case number the person was given, or their Tessera number.",
  noneFound: "No notice under that number. Check it on the paper the person has.",
  caseNumber: "Case number",
  erasedNumber: "Erased registration",
};

/** [headline, hint] for an API failure ({status, code, message, detail}), in the words of `screen` when it has its own. */
export function describeError(failure, screen = "") {
  const words = { ...ERROR_WORDS, ...SCREEN_WORDS[screen] };
  const code = failure.code && words[failure.code] ? failure.code : BY_STATUS[failure.status];
  let [headline, hint] = words[code] || [failure.message || "Something went wrong.", "Try again."];
  if (code === "subject_erased" && ERASED_WORDS[failure.detail?.reason]) [headline, hint] = ERASED_WORDS[failure.detail.reason];
  if (code === "bad_exposure" && failure.detail) {
    const tooDark = failure.detail.minimum !== undefined || (failure.message || "").includes("dark");
    headline = tooDark ? "The face is too dark." : "The face is too bright.";
    hint = tooDark ? "Move to a brighter place or turn the person towards the light." : "Move out of direct sun and avoid the flash.";
  }
  // Codes without a hint of their own (a form's missing fields, a malformed request) show what is missing.
  if (!hint && failure.message) hint = failure.message.replace(/^Invalid request\.\s*/, "");
  return [headline, hint];
}

// A person registered without biometrics withdraws (Without biometrics screen; DELETE /v1/non-biometric/{record_id}).
export const WITHDRAW_RECORD_WORDS = {
  button: "Withdraw: erase this record…",
  question: (programmeId) => `Erase the record of ${programmeId} for good? Their programme id, the reason and every `
    + "service recorded are deleted at once. This cannot be undone.",
  yes: "Yes, erase for good",
  no: "No, keep",
  done: "Withdrawn: the record is erased.",
  recordNumber: "Record number",
  erasedAt: "Erased at",
  erased: "What was erased",
  erasedWhat: "The programme id, the reason, the registration and every service recorded",
  auditEntry: "Audit entry",
  fingerprint: "Receipt fingerprint",
  keep: "Give the person the receipt fingerprint: it proves the erasure in the audit trail.",
};

// Live guidance, computed in the browser while the camera runs.
export const GUIDANCE = {
  starting: "Starting the camera…",
  noCamera: "No camera found. Use the phone's camera app button below.",
  tooDark: "Too dark: find more light",
  tooBright: "Too bright: move out of direct sun",
  holdStill: "Hold still",
  noFace: "No face in view: point the camera at the face",
  oneFace: "One face only: others out of the frame",
  moveCloser: "Move closer",
  moveBack: "Move back a little",
  lookAtCamera: "The face is turned away from the camera. Ask the person to look straight at the camera.",
  faceReady: "Good: hold still and take the photo",
  noHand: "Show the fingertips to the camera",
  fillFingertip: "Fill the frame with your fingertip",
  fourFingers: "Good: hand flat, fingers apart. Hold steady and take the photo",
  handCloser: "Move closer: the four fingers should fill most of the frame",
  spreadFingers: "Spread the fingers apart",
  torchOn: "Too little light on the fingers: turn the torch on or move to daylight",
  plainReady: "Frame the face, then take the photo",
};

// The liveness challenge, step by step (the server's own instructions are shown when it gives them).
export const LIVENESS = {
  intro: "The person will be asked to move their head. Follow the arrow on the screen.",
  asking: "Preparing the check…",
  straight: "Look straight at the camera",
  steps: {
    turn_left: "Turn your head slowly to your left",
    turn_right: "Turn your head slowly to your right",
    look_up: "Tilt your head up a little",
    look_down: "Tilt your head down a little",
    move_closer: "Move closer to the camera",
  },
  stepDone: "Good",
  sending: "Checking…",
  passed: "Check passed: the person is present. Now take the photo.",
  timed: "Guidance without face tracking: follow each step until the time runs out.",
};
