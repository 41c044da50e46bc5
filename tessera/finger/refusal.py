"""Why a finger capture cannot be used, in words the person holding the camera can act on.

A refusal is an expected outcome, not an error: it is returned as a falsy
:class:`FingerRefusal` and becomes an HTTP 422 with its ``reason`` as the
code only at the API's edge.
"""

from __future__ import annotations

from tessera.capture.refusal import Refusal

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
    "image_too_large": "The image is larger than any camera photo Tessera accepts. Send the photo as the camera "
    "took it.",
    "not_a_finger": (
        "No fingertip was found. Hold one fingertip, palm side towards the camera, so that it fills most of the frame."
    ),
    "not_a_finger_face": (
        "This looks like a photo of a face, not of a finger. Photograph the fingertip, palm side towards the camera."
    ),
    "not_a_print": "No fingerprint ridges were found. Scan the finger again, pressing it flat on the scanner.",
    "move_closer": "The finger is too small in the photo. Move the camera closer so the fingertip fills most of "
    "the frame.",
    "too_dark": "The finger is too dark. Move to a brighter place or turn on the camera light.",
    "too_bright": "The finger is too bright (overexposed). Avoid direct sunlight or flash on the finger.",
    "finger_out_of_focus": (
        "The fingerprint ridges are not sharp. Show the palm side of the fingertip, hold the camera still, tap "
        "the fingertip on the screen to focus, and take the photo again."
    ),
    "too_few_minutiae": (
        "Too little of the fingerprint could be read. Show the whole fingertip, flat towards the camera (or "
        "pressed fully on the scanner)."
    ),
}
"""The message for each reason; ``not_a_finger`` has variants for a face and for a contact scan."""


class FingerRefusal(Refusal):
    """A finger capture that cannot be used; falsy. ``reason`` is one of :data:`REFUSAL_REASONS`."""

    REASONS = REFUSAL_REASONS
    MESSAGES = MESSAGES


def refuse(reason: str, message_key: str | None = None, **detail: object) -> FingerRefusal:
    """Build a refusal for ``reason`` with its standard message and ``detail`` figures."""
    return FingerRefusal.of(reason, message_key, **detail)
