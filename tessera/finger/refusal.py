"""Why a finger capture cannot be used, in words the person holding the camera can act on.

A refusal is an expected outcome, not an error: it is returned as a falsy
:class:`FingerRefusal` and becomes an HTTP 422 with its ``reason`` as the
code only at the API's edge.
"""
from __future__ import annotations

from dataclasses import dataclass, field

REFUSAL_REASONS = (
    "image_too_small",
    "image_too_large",
    "not_a_finger",
    "move_closer",
    "too_dark",
    "too_bright",
    "finger_out_of_focus",
    "too_few_minutiae",
)
"""Every ``FingerRefusal.reason``, stable: clients and the API key on them."""

MESSAGES = {
    "image_too_small": "The image is too small to show fingerprint ridges. Send the camera's full-resolution photo.",
    "image_too_large": "The image is larger than any camera photo Tessera accepts. Send the photo as the camera took it.",
    "not_a_finger": (
        "No fingertip was found. Hold one fingertip, palm side towards the camera, so that it fills most of the frame."
    ),
    "not_a_finger_face": (
        "This looks like a photo of a face, not of a finger. Photograph the fingertip, palm side towards the camera."
    ),
    "not_a_print": "No fingerprint ridges were found. Scan the finger again, pressing it flat on the scanner.",
    "move_closer": "The finger is too small in the photo. Move the camera closer so the fingertip fills most of the frame.",
    "too_dark": "The finger is too dark. Move to a brighter place or turn on the camera light.",
    "too_bright": "The finger is too bright (overexposed). Avoid direct sunlight or flash on the finger.",
    "finger_out_of_focus": (
        "The fingerprint ridges are not sharp. Hold the camera still, tap the fingertip on the screen to focus, and take the photo again."
    ),
    "too_few_minutiae": (
        "Too little of the fingerprint could be read. Show the whole fingertip, flat towards the camera (or pressed fully on the scanner)."
    ),
}
"""The message for each reason; ``not_a_finger`` has variants for a face and for a contact scan."""


@dataclass(frozen=True)
class FingerRefusal:
    """A capture that cannot be used; falsy, so ``if not result:`` catches it.

    Attributes
    ----------
    reason : str
        One of :data:`REFUSAL_REASONS`.
    message : str
        What went wrong and what to do, for the person holding the camera or the finger.
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


def refuse(reason: str, message_key: str | None = None, **detail: object) -> FingerRefusal:
    """Build a refusal for ``reason`` with its standard message and ``detail`` figures."""
    return FingerRefusal(reason=reason, message=MESSAGES[message_key or reason], detail=detail)
