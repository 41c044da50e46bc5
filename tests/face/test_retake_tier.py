"""The default face algorithm's two-tier gate as a pure function of a capture's measured quality (no photo, no data).

What a field worker is told depends only on the figures measured on the capture and the config's two sets of limits:
refused (the capture cannot be used) or kept with a retake advised, in the same words either way.
"""

from __future__ import annotations

from dataclasses import fields, replace

import pytest

from tessera.face.quality import FaceQuality, assess, retake_advice
from tessera.face.refusal import MESSAGES
from tessera.face.sface_config import DEFAULT_SFACE_CONFIG, SFACE_RETAKE_LIMITS

GOOD = FaceQuality(
    detection_score=0.93,
    face_width_px=102.0,
    inter_eye_px=46.0,
    sharpness=0.44,
    brightness=110.0,
    clipped_fraction=0.0,
    yaw=7.0,
    faces_found=1,
    detector="yunet",
)
"""A frontal, sharp, well-lit face (the figures of an LFW photo)."""


@pytest.mark.parametrize(
    ("change", "reason", "message_key"),
    [
        ({"yaw": -34.0}, "face_turned", "face_turned"),
        ({"sharpness": 0.25}, "too_blurred", "too_blurred"),
        ({"brightness": 205.0}, "bad_exposure", "too_bright"),
        ({"clipped_fraction": 0.12, "brightness": 180.0}, "bad_exposure", "too_bright"),
    ],
    ids=["turned", "soft", "bright", "clipped"],
)
def test_a_usable_capture_below_the_retake_limits_is_kept_with_the_refusals_words(change, reason, message_key):
    quality = replace(GOOD, **change)
    assert assess(quality, DEFAULT_SFACE_CONFIG) is None  # kept: a template is made
    advice = retake_advice(quality, DEFAULT_SFACE_CONFIG)
    assert advice is not None and advice.reason == reason and advice.message == MESSAGES[message_key]
    # ... and the retake limits, used as the gate, would refuse it with that very reason and message.
    strict = replace(
        DEFAULT_SFACE_CONFIG, **{f.name: getattr(SFACE_RETAKE_LIMITS, f.name) for f in fields(SFACE_RETAKE_LIMITS)}
    )
    refused = assess(quality, strict)
    assert (refused.reason, refused.message) == (advice.reason, advice.message)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"inter_eye_px": 10.0}, "face_too_small"),
        ({"sharpness": 0.15}, "too_blurred"),
        ({"brightness": 12.0}, "bad_exposure"),
        ({"brightness": 230.0}, "bad_exposure"),
    ],
    ids=["tiny", "blurred", "dark", "blown-out"],
)
def test_a_capture_that_cannot_be_used_is_refused_with_a_reason_a_worker_can_act_on(change, reason):
    refusal = assess(replace(GOOD, **change), DEFAULT_SFACE_CONFIG)
    assert refusal is not None and refusal.reason == reason and refusal.message in MESSAGES.values()


def test_a_good_capture_gets_neither():
    assert assess(GOOD, DEFAULT_SFACE_CONFIG) is None and retake_advice(GOOD, DEFAULT_SFACE_CONFIG) is None
