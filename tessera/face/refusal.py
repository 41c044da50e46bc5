"""Why a face capture cannot be used, in words a field worker can act on.

A refusal is an expected outcome, not an error: it is returned as a falsy
:class:`FaceRefusal` and becomes an HTTP 422 with its ``reason`` as the code
only at the API's edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tessera.capture.refusal import Refusal

REFUSAL_REASONS = ("no_face", "multiple_faces", "face_too_small", "too_blurred", "bad_exposure", "face_turned")
"""Every ``FaceRefusal.reason``, stable: clients and the API key on them."""

MESSAGES = {
    "no_face": "No face found. Make sure the whole face is in the frame and well lit.",
    "multiple_faces": (
        "More than one face is in the photo. Take it again with only the person being enrolled in the frame."
    ),
    "face_too_small": "The face is too small in the photo. Move closer so the face fills more of the frame.",
    "too_blurred": ("The photo is blurred. Hold the camera still, let it focus on the face, and take the photo again."),
    "too_dark": "The face is too dark. Move to a brighter place or turn the person towards the light.",
    "too_bright": (
        "The face is too bright (overexposed). Avoid direct sunlight or flash on the face, and take the photo again."
    ),
    "face_turned": "The face is turned away from the camera. Ask the person to look straight at the camera.",
}
"""The message for each reason; ``bad_exposure`` has one for each direction."""


class FaceRefusal(Refusal):
    """A face capture that cannot be used; falsy. ``reason`` is one of :data:`REFUSAL_REASONS`."""

    REASONS = REFUSAL_REASONS
    MESSAGES = MESSAGES


def refuse(reason: str, message_key: str | None = None, **detail: object) -> FaceRefusal:
    """Build a refusal for ``reason`` with its standard message and ``detail`` figures."""
    return FaceRefusal.of(reason, message_key, **detail)


@dataclass(frozen=True)
class RetakeAdvice:
    """Why a retake would help a capture that was kept: a refusal's reason, message and figures, but truthy.

    Made from the :class:`FaceRefusal` a pipeline's retake limits give
    (:func:`tessera.face.quality.retake_advice`), so the words are the ones a
    refusal would use.
    """

    reason: str
    message: str
    detail: dict = field(default_factory=dict)

    @classmethod
    def of(cls, refusal: FaceRefusal) -> RetakeAdvice:
        return cls(refusal.reason, refusal.message, dict(refusal.detail))

    def as_dict(self) -> dict:
        """``reason``, ``message`` and the figures (``measure``, ``value``, ``minimum`` or ``maximum``), for JSON."""
        return {"reason": self.reason, "message": self.message, **self.detail}
