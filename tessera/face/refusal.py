"""Why a face capture cannot be used, in words a field worker can act on.

A refusal is an expected outcome, not an error: it is returned as a falsy
:class:`FaceRefusal` and becomes an HTTP 422 with its ``reason`` as the code
only at the API's edge.
"""
from __future__ import annotations

from dataclasses import dataclass, field

REFUSAL_REASONS = ("no_face", "multiple_faces", "face_too_small", "too_blurred", "bad_exposure", "face_turned")
"""Every ``FaceRefusal.reason``, stable: clients and the API key on them."""

MESSAGES = {
    "no_face": "No face found. Make sure the whole face is in the frame and well lit.",
    "multiple_faces": (
        "More than one face is in the photo. Take it again with only the person being enrolled in the frame."
    ),
    "face_too_small": "The face is too small in the photo. Move closer so the face fills more of the frame.",
    "too_blurred": (
        "The photo is blurred. Hold the camera still, let it focus on the face, and take the photo again."
    ),
    "too_dark": "The face is too dark. Move to a brighter place or turn the person towards the light.",
    "too_bright": (
        "The face is too bright (overexposed). Avoid direct sunlight or flash on the face, and take the photo again."
    ),
    "face_turned": "The face is turned away from the camera. Ask the person to look straight at the camera.",
}
"""The message for each reason; ``bad_exposure`` has one for each direction."""


@dataclass(frozen=True)
class FaceRefusal:
    """A capture that cannot be used; falsy, so ``if not result:`` catches it.

    Attributes
    ----------
    reason : str
        One of :data:`REFUSAL_REASONS`.
    message : str
        What went wrong and what to do, for the person holding the camera.
    detail : dict
        JSON-serialisable figures: ``measure`` (what was measured), ``value``
        (the measurement) and ``minimum`` or ``maximum`` (the limit it broke).
    """

    reason: str
    message: str
    detail: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.reason not in REFUSAL_REASONS:
            raise ValueError(f"reason must be one of {REFUSAL_REASONS}; got {self.reason!r}")

    def __bool__(self) -> bool:
        return False


def refuse(reason: str, message_key: str | None = None, **detail: object) -> FaceRefusal:
    """Build a refusal for ``reason`` with its standard message and ``detail`` figures."""
    return FaceRefusal(reason=reason, message=MESSAGES[message_key or reason], detail=detail)
