from __future__ import annotations

import json
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile

from tessera.api.deps import GALLERY, InstanceDep, SubjectIdForm, read_upload, require
from tessera.api.rate import admit_verification
from tessera.api.routes.liveness import LivenessToken
from tessera.api.schemas import IdentificationOut, VerificationOut
from tessera.errors import InvalidRequest
from tessera.finger.slap import HAND_LANDMARKS, parse_landmarks
from tessera.governance.roles import Permission
from tessera.governance.vocabulary import Purpose
from tessera.workflows.captures import Capture
from tessera.workflows.disclosure import identification_answer
from tessera.workflows.hands import HandCapture, HandReading, hand_captures
from tessera.workflows.identify import admit_search, identify, search_action
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.liveness import photo_liveness
from tessera.workflows.score_disclosure import verify_for_requester
from tessera.workflows.verify import consented_verification

router = APIRouter(prefix="/v1", tags=["matching"])

Sensor = Literal["contactless", "contact"]
FaceImage = Annotated[UploadFile | None, File(description="JPEG, PNG or WebP photo of the face")]
FingerImages = Annotated[
    list[UploadFile] | None,
    File(
        description="Finger photos (contactless) or scans (contact), one finger each; repeat the field for "
        "several fingers."
    ),
]
FingerPositions = Annotated[
    list[int] | None,
    Form(
        description="ISO/IEC 19794-2 finger position (1 right thumb ... 10 left little) of each finger_image, "
        "in the same order; any other number is refused with 422 invalid_finger_position."
    ),
]
Captures = Annotated[
    list[Sensor] | None,
    Form(description="contactless | contact, for each finger_image in order, or once for all of them."),
]
Hand = Literal["left", "right"]
HAND_DESCRIPTION = (
    "left | right: the person's own hand (not MediaPipe's label, which assumes a mirrored selfie image and names "
    "the other hand in an unmirrored photo)."
)
LANDMARKS_DESCRIPTION = (
    f'JSON list of the hand\'s {HAND_LANDMARKS} landmarks in MediaPipe Hands order, each {{"x": .., "y": ..}} '
    "(or [x, y]) normalised to the photo as sent, unmirrored: x = col / width, y = row / height."
)
MAX_LANDMARKS_CHARS = 8_000
HandImage = Annotated[
    UploadFile | None,
    File(
        description="JPEG, PNG or WebP photo of the palm side of one hand's four fingers (a slap), full resolution; "
        "with hand_landmarks and hand. Its index, middle, ring and little fingertips are compared as contactless "
        "fingers (positions from the hand: right 2-5, left 7-10)."
    ),
]
HandLandmarks = Annotated[str | None, Form(max_length=MAX_LANDMARKS_CHARS, description=LANDMARKS_DESCRIPTION)]
HandSide = Annotated[Hand | None, Form(description=HAND_DESCRIPTION)]
VERIFY_LOGGED = {"purpose": Purpose.VERIFY.value}
"""What a verification's audit entries say beside the outcome (a refused hand's too)."""


def hand_capture(
    instance: Instance, image: UploadFile | None, landmarks: str | None, hand: str | None
) -> HandCapture | None:
    """The request's hand capture, or None; 422 ``invalid_landmarks`` when its landmarks cannot be read."""
    if image is None:
        if landmarks is not None or hand is not None:
            raise InvalidRequest("hand_landmarks and hand were sent without a hand_image.", code="invalid_request")
        return None
    if landmarks is None or hand is None:
        raise InvalidRequest("A hand_image needs its hand_landmarks and hand (left or right).", code="invalid_request")
    return HandCapture(read_upload(instance, image), read_landmarks(landmarks), hand)


def read_landmarks(text: str) -> np.ndarray:
    """Parse the landmarks field (JSON) into a (21, 2) array; 422 ``invalid_landmarks`` saying what is wrong."""
    try:
        return parse_landmarks(json.loads(text))
    except (ValueError, RecursionError) as error:
        message = str(error) if not isinstance(error, json.JSONDecodeError) else f"landmarks is not JSON: {error}"
        raise InvalidRequest(f"{message}.", code="invalid_landmarks") from None


def finger_captures(
    instance: Instance, images: list[UploadFile] | None, positions: list[int] | None, captures: list[str] | None
) -> list[Capture]:
    """Pair each finger_image with its finger_position and capture (one capture may serve all)."""
    images, positions, captures = images or [], positions or [], captures or []
    if not images:
        if positions or captures:
            raise InvalidRequest(
                "finger_position and capture were sent without any finger_image.", code="invalid_request"
            )
        return []
    if len(positions) != len(images):
        raise InvalidRequest(
            f"Send one finger_position per finger_image: got {len(images)} finger_image and {len(positions)} "
            "finger_position.",
            code="invalid_request",
        )
    if len(captures) not in (1, len(images)):
        raise InvalidRequest(
            f"Send capture once for all fingers or once per finger_image: got {len(images)} finger_image and "
            f"{len(captures)} capture.",
            code="invalid_request",
        )
    captures = captures * len(images) if len(captures) == 1 else captures
    return [
        Capture.finger(read_upload(instance, image), position, capture)
        for image, position, capture in zip(images, positions, captures)
    ]


@router.post(
    "/verify",
    response_model=VerificationOut,
    openapi_extra=GALLERY,
    summary="1:1 - is this the person enrolled under subject_id? (face, fingers, or both)",
    description="Send a face `image`, finger captures (`finger_image` with `finger_position` and `capture`, "
    "repeated per finger), or both. Each modality is compared on its own and reported under `comparisons` with "
    "its score and false-match rate (or `calibrated: false` when no calibration speaks for it). The top-level "
    "decision is the single comparison's; with several scores it is the fused decision (`fused: true`: `score` "
    "and `threshold` are the fused LLR and its threshold, `fmr` the fused FMR, `fusion` the details, what was "
    "missing or not fused and why), or `inconclusive` (`not_fused`) when fewer than two scores can be fused "
    "(contactless fingers have no fusion model). A gallery whose `score_disclosure` is `banded` (the default) "
    "answers the decision and, for a match, `fmr_band` (e.g. `≤ 1 in 100,000`) with `score`, `threshold`, `fmr`, "
    "`quality` and `fusion` null. Beyond `verify_limit_per_key` or `verify_limit_per_subject` verifications in a "
    "window: 429 `verify_rate_limited` with Retry-After.",
)
def post_verify(
    request: Request,
    instance: InstanceDep,
    actor: Annotated[Actor, Depends(require(Permission.VERIFY))],
    subject_id: SubjectIdForm,
    image: FaceImage = None,
    finger_image: FingerImages = None,
    finger_position: FingerPositions = None,
    capture: Captures = None,
    hand_image: HandImage = None,
    hand_landmarks: HandLandmarks = None,
    hand: HandSide = None,
    liveness_token: LivenessToken = None,
):
    admit_verification(request, instance, actor, subject_id)
    slap = hand_capture(instance, hand_image, hand_landmarks, hand)
    captures = _captures(instance, image, finger_image, finger_position, capture, slap is not None)
    face = _face_capture(captures)
    gallery_id = consented_verification(instance, actor, subject_id, captures + _slap(slap))  # before any image
    liveness = photo_liveness(instance, actor, gallery_id, "verify", face, liveness_token)
    fingers, reading = hand_captures(instance, actor, slap, "finger.verify", gallery_id, subject_id, VERIFY_LOGGED)
    answer = verify_for_requester(instance, actor, subject_id, captures + fingers)
    return answer | ({"liveness": liveness.as_dict()} if liveness else {}) | _hand_answer(reading)


@router.post(
    "/identify",
    response_model=IdentificationOut,
    openapi_extra=GALLERY,
    summary="1:N - a case sent for review, or no likely match, among those who consented to the purpose",
    description="Send a face `image`, finger captures (`finger_image` with `finger_position` and `capture`), or both. "
    "The answer names no candidate: it gives the case number (`search_id`) and its `status` "
    "(`no_likely_match` or `sent_for_review`); `GET /v1/searches/{search_id}` names a subject only once two "
    "trained reviewers have confirmed them. One probe is searched with its own threshold (a finger among the "
    "same finger of the same capture kind; it needs a "
    "finger calibration, else 409 not_calibrated). Several probes are fused: every eligible subject's scores are fused "
    "and candidates are ranked by fused LLR with their fused FMR (`fused: true`, `fusion`); when fewer than two can be "
    "fused, each probe is searched on its own and `fusion` says why.",
)
def post_identify(
    instance: InstanceDep,
    actor: Annotated[Actor, Depends(require(Permission.IDENTIFY))],
    gallery_id: Annotated[str, Form(max_length=64)],
    purpose: Annotated[
        str, Form(max_length=64, description="Why the search is run; must be on the gallery's allow-list.")
    ],
    case_reference: Annotated[
        str, Form(min_length=1, max_length=200, description="The case this search is for (a case or file number).")
    ],
    image: FaceImage = None,
    finger_image: FingerImages = None,
    finger_position: FingerPositions = None,
    capture: Captures = None,
    hand_image: HandImage = None,
    hand_landmarks: HandLandmarks = None,
    hand: HandSide = None,
    liveness_token: LivenessToken = None,
):
    slap = hand_capture(instance, hand_image, hand_landmarks, hand)
    captures = _captures(instance, image, finger_image, finger_position, capture, slap is not None)
    admit_search(instance, actor, gallery_id, purpose, case_reference, captures + _slap(slap))  # before any image
    fingers_sent = slap is not None or any(capture.part for capture in captures)
    face = _face_capture(captures)
    liveness = photo_liveness(instance, actor, gallery_id, "identify", face, liveness_token, fingers_sent)
    searched = {"purpose": purpose, "case_reference": case_reference}
    fingers, reading = hand_captures(
        instance, actor, slap, search_action(captures + _slap(slap)), gallery_id, None, searched
    )
    answer = identification_answer(identify(instance, actor, gallery_id, purpose, case_reference, captures + fingers))
    return answer | ({"liveness": liveness.as_dict()} if liveness else {}) | _hand_answer(reading)


def _slap(hand: HandCapture | None) -> list[Capture]:
    """What a hand stands for in the checks before its photo is read (consent, scope, the audit action): a
    (contactless) finger capture."""
    return [Capture.finger(b"", 2, "contactless")] if hand is not None else []


def _hand_answer(reading: HandReading | None) -> dict[str, object]:
    return {"hand": reading.as_dict()} if reading is not None else {}


def _captures(instance, image, finger_image, finger_position, capture, has_hand: bool = False) -> list[Capture]:
    """The request's face capture (if any) and finger captures; at least one of them (or a hand), else a 422."""
    fingers = finger_captures(instance, finger_image, finger_position, capture)
    if image is None and not fingers and not has_hand:
        raise InvalidRequest(
            "Send a face image, one or more finger_image with their finger_position and capture, or a hand_image "
            "with its hand_landmarks and hand.",
            code="invalid_request",
        )
    face = [Capture.face(read_upload(instance, image))] if image is not None else []
    return face + fingers


def _face_capture(captures: list[Capture]) -> Capture | None:
    """The face photo among the request's captures (at most one), for the liveness checks (which decode it once for
    the whole request)."""
    return next((capture for capture in captures if not capture.part), None)
