"""Hand captures: one photo of four fingers (a slap) and its landmarks, read into four finger captures.

::

    decode the photo -> cut out the fingertips (tessera.finger.slap) -> one contactless finger capture each

A :class:`HandCapture` is what a request carries: the photo, the hand's 21
landmarks (normalised image coordinates, found on the phone) and which hand
it is (the person's own). :func:`read_hand` cuts the index, middle, ring and
little fingertips out along their axes; each becomes an ordinary contactless
finger :class:`~tessera.workflows.captures.Capture` whose image is the
upright crop (PNG), so that enrolment, verification and search treat it as
any finger photo, and whose position comes from the hand (right 2-5, left
7-10). A finger that cannot be cut out (outside the photo, bent, against its
neighbour) is kept with its refusal, so the answer can say why.

:func:`enrol_hand` stores the usable fingers' templates in one transaction
(one audit entry that lists every finger), or refuses the photo (422) when
none is usable, naming each finger's reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace

import cv2
import numpy as np

from tessera.capture.decode import decode_image
from tessera.capture.refusal import Refusal
from tessera.errors import NotFound, TesseraError, UnusableCapture
from tessera.finger.slap import Slap, crop_slap
from tessera.governance.vocabulary import Modality, SubjectStatus
from tessera.match.matchers import Matcher
from tessera.store.keystore import KeyMissing
from tessera.workflows.budget import checkpoint
from tessera.workflows.captures import Capture, Probe, decode_limits, read_probe, refuse_capture
from tessera.workflows.dedup import MESSAGE, check_first_capture, void_case
from tessera.workflows.enrolment import consented_enrolment, store
from tessera.workflows.idempotency import Idempotency, remember
from tessera.workflows.indexing import drain
from tessera.workflows.instance import Actor, Instance

SENSOR = "contactless"
NO_USABLE_FINGER = (
    "None of the four fingers in the photo could be used; each finger's reason is in detail.fingers. Hold the "
    "hand flat, palm towards the camera, fingers straight and apart, in daylight or with the torch on."
)


@dataclass(frozen=True, eq=False)
class HandCapture:
    """A slap photo in a request, with what the phone found in it.

    Attributes
    ----------
    image : bytes
        The encoded photo as uploaded (JPEG, PNG or WebP), full resolution.
    landmarks : numpy.ndarray, shape (21, 2)
        (x, y) normalised to the photo (:func:`tessera.finger.slap.parse_landmarks`).
    hand : str
        ``left`` or ``right``: the person's own hand.
    """

    image: bytes
    landmarks: np.ndarray
    hand: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.image).hexdigest()


@dataclass(frozen=True, eq=False)
class HandFinger:
    """One finger of a hand capture: the finger capture cut from the photo, or why there is none."""

    name: str
    finger_position: int
    capture: Capture | None
    image: np.ndarray | None
    """The upright crop (decoded), while the request lasts."""
    refusal: Refusal | None

    def as_dict(self) -> dict[str, object]:
        """``finger``, ``finger_position``, ``status`` (``cropped`` or ``refused``), and a refusal's
        ``reason``, ``message`` and ``detail``."""
        answer: dict[str, object] = {"finger": self.name, "finger_position": self.finger_position}
        if self.refusal is None:
            return answer | {"status": "cropped"}
        return answer | {
            "status": "refused",
            "reason": self.refusal.reason,
            "message": self.refusal.message,
            "detail": self.refusal.detail,
        }


@dataclass(frozen=True, eq=False)
class HandReading:
    """A slap photo read into its four fingers."""

    hand: str
    photo_sha256: str
    fingers: tuple[HandFinger, ...]

    @property
    def captures(self) -> list[Capture]:
        """The finger captures cut out, index to little."""
        return [finger.capture for finger in self.fingers if finger.capture is not None]

    def as_dict(self) -> dict[str, object]:
        """What an answer says of the hand: which hand, the photo's SHA-256, and each finger's crop or refusal."""
        return {
            "hand": self.hand,
            "photo_sha256": self.photo_sha256,
            "fingers": [finger.as_dict() for finger in self.fingers],
        }


def read_hand(instance: Instance, hand: HandCapture) -> HandReading | Refusal:
    """Decode the slap photo and cut out its four fingertips; a refusal when the landmarks are no hand's or
    show the other hand (see :mod:`tessera.finger.slap`)."""
    checkpoint("decoding the hand photo")
    limits = replace(decode_limits(instance.settings, Capture.face(hand.image)), what="hand photo")
    image = decode_image(hand.image, limits)
    checkpoint("cutting the fingers out of the hand photo")
    slap = crop_slap(image, hand.landmarks, hand.hand)
    if isinstance(slap, Refusal):
        return slap
    return HandReading(hand.hand, hand.sha256, _fingers(slap))


def _fingers(slap: Slap) -> tuple[HandFinger, ...]:
    fingers = []
    for finger in slap.fingers:
        if finger.crop is None:
            fingers.append(HandFinger(finger.name, finger.finger_position, None, None, finger.refusal))
            continue
        crop = finger.crop.image
        capture = Capture.finger(encode_png(crop), finger.finger_position, SENSOR)
        fingers.append(HandFinger(finger.name, finger.finger_position, capture, crop, None))
    return tuple(fingers)


def encode_png(image: np.ndarray) -> bytes:
    """A crop as a PNG (fast compression): the bytes a finger capture cut from a hand carries and is hashed by."""
    pixels = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise RuntimeError("OpenCV could not encode a finger crop as PNG")
    return encoded.tobytes()


def hand_captures(
    instance: Instance,
    actor: Actor | str,
    hand: HandCapture | None,
    action: str,
    gallery_id: str,
    subject_id: str | None = None,
    logged: Mapping[str, object] | None = None,
) -> tuple[list[Capture], HandReading | None]:
    """A verification's or search's finger captures from a hand (none without one), and the reading to report.

    A hand refused as a whole, or with no finger cut out, is audited under ``action`` (with ``logged`` in the
    details: the purpose, a search's case) and answered 422 naming its (each finger's) reason; see
    :func:`refuse_hand`.
    """
    if hand is None:
        return [], None
    reading = read_hand(instance, hand)
    if isinstance(reading, Refusal) or not reading.captures:
        raise refuse_hand(instance, actor, action, hand, reading, gallery_id, subject_id, logged)
    return reading.captures, reading


def refuse_hand(
    instance: Instance,
    actor: Actor | str,
    action: str,
    hand: HandCapture,
    refused: Refusal | HandReading,
    gallery_id: str,
    subject_id: str | None = None,
    logged: Mapping[str, object] | None = None,
) -> UnusableCapture:
    """Audit a hand photo refused as a whole (``refused``: its refusal) or with no usable finger (``refused``: the
    reading, each finger's reason), and return the 422 to raise. The entry holds the photo's SHA-256, which hand
    and the reasons (``refused:<reason>``, or ``refused:no_usable_finger``), never the photo or a template."""
    if isinstance(refused, Refusal):
        reason, details, error = refused.reason, {"hand": hand.hand, **refused.detail}, refuse_capture(refused)
    else:
        reason, details = "no_usable_finger", refused.as_dict()
        error = UnusableCapture(NO_USABLE_FINGER, code=reason, detail=refused.as_dict())
    instance.record_alone(
        actor,
        action,
        f"refused:{reason}",
        subject_id=subject_id,
        gallery_id=gallery_id,
        details={**(logged or {}), "hand_photo_sha256": hand.sha256, **details},
    )
    return error


@dataclass(frozen=True)
class HandEnrolment:
    """What a slap enrolment stored: a template per usable finger, and each other finger's reason."""

    hand: str
    fingers: tuple[dict[str, object], ...]
    held_case: str | None = None

    @property
    def answer(self) -> dict[str, object]:
        answer: dict[str, object] = {
            "hand": self.hand,
            "status": SubjectStatus.ACTIVE.value if self.held_case is None else SubjectStatus.PENDING_REVIEW.value,
            "fingers": list(self.fingers),
        }
        if self.held_case is not None:
            answer["review"] = {"case_number": self.held_case, "message": MESSAGE}
        return answer

    @property
    def status_code(self) -> int:
        return 201 if self.held_case is None else 202


def enrol_hand(
    instance: Instance,
    actor: Actor | str,
    subject_id: str,
    hand: HandCapture,
    idempotency: Idempotency | None = None,
) -> HandEnrolment:
    """Template each usable finger of a slap photo and store them together under the subject's consent.

    ::

        check subject -> consent (finger) -> read the hand -> read each finger -> dedup check -> store -> audit

    A finger that cannot be cut out or read is reported with its reason beside those stored; with none
    usable the photo is refused (audited 422 ``no_usable_finger``, or the hand's own reason).
    """
    action = f"{Modality.FINGER.value}.enrol"
    gallery_id = consented_enrolment(instance, actor, subject_id, Modality.FINGER)
    reading = read_hand(instance, hand)
    if isinstance(reading, Refusal):
        raise refuse_hand(instance, actor, action, hand, reading, gallery_id, subject_id)
    matchers = instance.matchers.of(Modality.FINGER.value, SENSOR)
    fingers = [_read_finger(instance, matchers, finger) for finger in reading.fingers]
    probes = [probe for _, read, _ in fingers for probe in read]
    if not probes:
        refused = HandReading(reading.hand, reading.photo_sha256, tuple(finger for finger, _, _ in fingers))
        raise refuse_hand(instance, actor, action, hand, refused, gallery_id, subject_id)
    unread = [item for _, _, not_read in fingers for item in not_read]
    check = check_first_capture(instance, actor, subject_id, gallery_id, probes[0])
    held = check if check is not None and check.candidates else None
    summary = [
        {"finger_position": f.finger_position, "read": bool(read), "reason": None if read else _reason(f)}
        for f, read, _ in fingers
    ]
    evidence: dict[str, object] = {"hand": {"photo_sha256": hand.sha256, "hand": reading.hand, "fingers": summary}}
    try:
        enrolment = store(instance, actor, action, subject_id, gallery_id, probes, unread, None, evidence, held)
    except (KeyMissing, TesseraError) as error:
        if held is not None:
            void_case(instance, held.search_id)
        if not isinstance(error, KeyMissing):
            raise
        raise NotFound(
            f"Subject {subject_id!r} was erased while this hand was being enrolled; nothing was stored.",
            code="subject_erased",
        ) from error
    stored: dict[int | None, str] = {}
    for probe, template_id in zip(probes, enrolment.templates):
        stored.setdefault(probe.capture.finger_position, template_id)
    answer_fingers = []
    for finger, read, _ in fingers:
        if read:
            entry = {"finger": finger.name, "finger_position": finger.finger_position, "status": "enrolled"}
            entry |= {"template_id": stored[finger.finger_position], "quality": read[0].quality}
            answer_fingers.append(entry)
        else:
            answer_fingers.append(finger.as_dict())
    result = HandEnrolment(reading.hand, tuple(answer_fingers), None if held is None else held.case_number)
    if idempotency is not None:
        with instance.transaction() as session:
            remember(instance, session, idempotency, result.status_code, result.answer, subject_id)
    drain(instance)
    return result


def _reason(finger: HandFinger) -> str | None:
    return None if finger.refusal is None else finger.refusal.reason


def _read_finger(
    instance: Instance, matchers: list[Matcher], finger: HandFinger
) -> tuple[HandFinger, list[Probe], list[tuple[Matcher, Refusal]]]:
    """A finger cut from the hand read by each matcher (none when the first, default one refuses it: the finger
    then carries that refusal).

    The crop is read as its capture decodes, within the limits of a contactless photo (shrunk to
    ``max_finger_pixels``), as a verification or search reads it: landmarks of a long distal phalanx on a large
    photo cut crops of over 12 MP, which the finger pipeline read whole."""
    if finger.capture is None or finger.image is None:
        return finger, [], []
    probes: list[Probe] = []
    unread: list[tuple[Matcher, Refusal]] = []
    for number, matcher in enumerate(matchers):
        result = read_probe(instance, matcher, finger.capture)  # decoded once, kept with the capture
        if isinstance(result, Refusal):
            if number == 0:
                return replace(finger, capture=None, image=None, refusal=result), [], []
            unread.append((matcher, result))
        else:
            probes.append(result)
    return finger, probes, unread
