"""Captures sent to enrol, verify or search, and reading them into probes: the same for every modality.

A :class:`Capture` is what a request carries: the image bytes and what
they show (a face; a finger, with its position and sensor kind). Reading it
(:func:`read_probe`) decodes the image once, at the edge (:func:`decode`
keeps the pixels with the capture, so the passive liveness score and the
comparison of one request read the same decoded photo), and hands it to
the :class:`~tessera.match.matchers.Matcher` that will compare it; what
comes back is a :class:`Probe` (features ready to compare, the payload to
store) or the matcher's refusal, which says why the capture cannot be used
in words the person holding the camera can act on.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tessera.capture.decode import DecodeLimits, decode_image
from tessera.capture.refusal import Refusal
from tessera.errors import InvalidRequest, UnusableCapture
from tessera.finger.config import CAPTURES
from tessera.finger.positions import FingerPosition, check_finger_position
from tessera.governance.vocabulary import Modality
from tessera.match.matchers import Matcher, Reading
from tessera.settings import Settings
from tessera.workflows.budget import checkpoint
from tessera.workflows.instance import Instance

NO_PROBE = "Send a face image, or one or more finger_image with their finger_position and capture."


@dataclass(frozen=True)
class CaptureKind:
    """What a capture of one modality must say about itself, and how many one request may carry."""

    sensors: tuple[str | None, ...]
    """The sensor kinds it may come from (None: the modality has one kind, an ordinary camera)."""
    has_parts: bool
    """Whether it must say which part of the body it shows (a finger position, 1-10)."""
    most_per_request: int
    """At most this many in one request."""


CAPTURE_KINDS = {
    Modality.FACE: CaptureKind(sensors=(None,), has_parts=False, most_per_request=1),
    Modality.FINGER: CaptureKind(sensors=CAPTURES, has_parts=True, most_per_request=10),
}


@dataclass(frozen=True)
class Capture:
    """One photo or scan in a request, and what it shows.

    Attributes
    ----------
    image : bytes
        The encoded image as uploaded (JPEG, PNG or WebP).
    modality : Modality
    finger_position : int or None
        Fingers: ISO/IEC 19794-2 position, 1 (right thumb) to 10 (left little).
    sensor : str or None
        Fingers: ``contact`` (scanner, ink) or ``contactless`` (phone photo).
    """

    image: bytes
    modality: Modality
    finger_position: int | None = None
    sensor: str | None = None
    decoded: dict[DecodeLimits, np.ndarray] = field(default_factory=dict, init=False, repr=False, compare=False)
    """The image as :func:`decode` decoded it (read-only), by the limits it was decoded under: a capture lives
    only as long as its request, and is decoded once however many steps read it."""
    readings: dict[str, tuple[np.ndarray, Reading | Refusal]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    """What a matcher already made of the decoded image, by matcher key, with the image it read. A face photo's
    liveness step reads it with YuNet + SFace (its passive score and its token need the face's box and embedding:
    :func:`tessera.workflows.liveness.photo_liveness`); when the instance compares faces with that same algorithm,
    the step leaves its reading here and :func:`read_probe` takes it instead of detecting and embedding the same
    pixels again."""

    @classmethod
    def face(cls, image: bytes) -> Capture:
        return cls(image, Modality.FACE)

    @classmethod
    def finger(cls, image: bytes, finger_position: int, sensor: str) -> Capture:
        return cls(image, Modality.FINGER, finger_position, sensor)

    @property
    def part(self) -> int:
        """The index part its references live in: the finger position, or 0 for a face."""
        return self.finger_position or 0

    @property
    def name(self) -> str:
        """Its modality's name in a fusion: ``face`` or ``finger:<finger name>`` (``finger:right-index``)."""
        if not self.part:
            return self.modality.value
        return f"{self.modality.value}:{FingerPosition(self.part).label}"

    @property
    def where(self) -> dict[str, object]:
        """The finger position and sensor kind, for audit entries and answers (empty for a face)."""
        if not CAPTURE_KINDS[self.modality].has_parts:
            return {}
        return {"finger_position": self.finger_position, "capture": self.sensor}

    @property
    def description(self) -> str:
        """In words: ``face``, ``contact finger``."""
        return self.modality.value if self.sensor is None else f"{self.sensor} {self.modality.value}"


def FingerProbe(image: bytes, finger_position: int, capture: str) -> Capture:
    """A finger :class:`Capture` (the name the finger workflows and their callers use)."""
    return Capture.finger(image, finger_position, capture)


def check_captures(captures: Sequence[Capture]) -> None:
    """Refuse (422) a request with no capture, a finger position outside 1-10 or an unknown sensor kind."""
    if not captures:
        raise InvalidRequest(NO_PROBE, code="no_probe")
    for modality, count in Counter(capture.modality for capture in captures).items():
        most = CAPTURE_KINDS[modality].most_per_request
        if count > most:
            raise InvalidRequest(
                f"Send at most {most} {modality.value} image{'s' if most > 1 else ''} in one request; got {count}.",
                code="too_many_images",
            )
    for capture in captures:
        kind = CAPTURE_KINDS[capture.modality]
        if kind.has_parts:
            try:
                check_finger_position(capture.finger_position)
            except ValueError as error:
                raise InvalidRequest(f"{error}.", code="invalid_finger_position") from None
        if capture.sensor not in kind.sensors:
            allowed = ", ".join(str(sensor) for sensor in kind.sensors)
            raise InvalidRequest(f"capture must be one of {allowed}; got {capture.sensor!r}.", code="invalid_capture")


@dataclass(frozen=True)
class Probe:
    """A capture read by the matcher that compares it."""

    capture: Capture
    matcher: Matcher
    sha256: str
    """SHA-256 of the uploaded bytes: what the audit trail keeps of a probe."""
    image: np.ndarray
    """The decoded image (RGB, upright), kept only as long as the request (or sealed for review)."""
    reading: Reading

    @property
    def features(self) -> object:
        return self.reading.features

    @property
    def quality(self) -> dict[str, object]:
        return self.reading.quality


def decode_limits(settings: Settings, capture: Capture) -> DecodeLimits:
    """What decoding ``capture`` may cost: bytes, pixels and JPEG scans, and the size it is shrunk to.

    A contact finger scan is read at 500 ppi, so its pixels cannot be shrunk
    without changing its scale: one larger than ``max_contact_finger_pixels``
    (a 500 ppi scan of one finger is under 1 MP) is refused. A contactless
    finger photo is shrunk to ``max_finger_pixels`` (the pipeline cuts the
    fingertip out at a fixed resolution; the whole photo is only needed to find
    the finger), so that the finger pipeline's memory, about 330 bytes per
    pixel, stays bounded. A face photo is read at most ``max_image_pixels``.
    """
    common = {
        "max_bytes": settings.max_upload_bytes,
        "max_jpeg_scans": settings.max_jpeg_scans,
        "max_webp_pixels": settings.max_webp_pixels,
        "max_side": settings.max_image_side,
        "max_raw_bytes": settings.max_raw_image_bytes,
        "max_jpeg_scan_pixels": settings.max_jpeg_scan_pixels,
    }
    if capture.modality is Modality.FINGER and capture.sensor == "contact":
        most = min(settings.max_image_pixels, settings.max_contact_finger_pixels)
        return DecodeLimits(**common, max_pixels=most, what="contact finger scan")
    if capture.modality is Modality.FINGER:
        return DecodeLimits(
            **common,
            max_pixels=settings.max_image_pixels,
            shrink_to_pixels=settings.max_finger_pixels,
            what=f"{capture.description} image",
        )
    return DecodeLimits(**common, max_pixels=settings.max_image_pixels, what=f"{capture.description} image")


def decode(instance: Instance, capture: Capture) -> np.ndarray:
    """Decode a capture's image within its modality's limits (:func:`decode_limits`; 413/415/422 on bad input).

    The first call decodes and keeps the pixels with the capture (read-only); later calls return them.
    """
    limits = decode_limits(instance.settings, capture)
    if limits not in capture.decoded:
        checkpoint(f"decoding the {capture.description} image")
        image = decode_image(capture.image, limits)
        image.setflags(write=False)
        capture.decoded[limits] = image
    return capture.decoded[limits]


def capture_sha256(capture: Capture) -> str:
    return hashlib.sha256(capture.image).hexdigest()


def read_probe(
    instance: Instance, matcher: Matcher, capture: Capture, image: np.ndarray | None = None
) -> Probe | Refusal:
    """Decode ``capture`` (unless ``image`` is the decoded one) and read it with ``matcher``, or take the reading
    that matcher already made of the same image (:attr:`Capture.readings`)."""
    image = decode(instance, capture) if image is None else image
    checkpoint(f"reading the {capture.description} image")
    known = capture.readings.get(matcher.key)
    reading = known[1] if known is not None and known[0] is image else matcher.read(image, capture.part)
    if isinstance(reading, Refusal):
        return reading
    return Probe(capture, matcher, capture_sha256(capture), image, reading)


def refuse_capture(refusal: Refusal) -> UnusableCapture:
    """The 422 an unusable capture is answered with: its reason as the code, its message for the person."""
    return UnusableCapture(refusal.message, code=refusal.reason, detail=refusal.detail)
