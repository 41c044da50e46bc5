"""Templates become ISO/IEC 19794-2:2005 records and come back unchanged, as far as the record can hold them."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from tessera.finger.quality import FingerQuality
from tessera.finger.template import FingerTemplate, decode_template
from tessera.match.mcc import mcc_score, mcc_template
from tessera.match.minutiae import Minutiae

QUALITY = FingerQuality(
    finger_width_px=700.0,
    source_ppi=1010.0,
    brightness=140.0,
    clipped_fraction=0.0,
    ridge_area_mm2=250.0,
    ridge_clarity=0.4,
    finger_clarity=0.3,
    finger_coherence=0.6,
    ridge_period_px=9.0,
    period_spread=0.2,
    close_up=False,
    minutiae_count=3,
    score=61,
)


def synthetic(capture: str = "contactless") -> FingerTemplate:
    minutiae = Minutiae(
        points=[[10, 20], [300.4, 150.6], [0, 0]],
        angles=[0.0, math.pi / 2, 2 * math.pi - 0.001],
        kinds=[1, 2, 0],
        qualities=[0.55, 1.0, 0.0],
    )
    return FingerTemplate(minutiae, capture, "tessera-finger-1+test", QUALITY, image_size=(480, 352), finger_position=2)


def test_a_record_has_the_iso_layout():
    data = synthetic().to_bytes()
    identifier, version, length, _, width, height, x_resolution, y_resolution, views, _ = struct.unpack_from(
        ">4s4sIHHHHHBB", data
    )
    assert (identifier, version, length) == (b"FMR\x00", b" 20\x00", len(data))
    assert (width, height, x_resolution, y_resolution, views) == (352, 480, 197, 197, 1)
    position, impression, quality, count = struct.unpack_from(">BBBB", data, 24)
    assert (position, impression & 0x0F, quality, count) == (2, 15, 61, 3)
    type_and_x, y, angle, minutia_quality = struct.unpack_from(">HHBB", data, 28)
    assert (type_and_x >> 14, type_and_x & 0x3FFF, y, angle, minutia_quality) == (1, 20, 10, 0, 55)
    assert struct.unpack_from(">HHBB", data, 34)[2] == 64  # 90 degrees in 360/256 units


def test_a_template_survives_the_round_trip():
    original = synthetic()
    copy = FingerTemplate.from_bytes(original.to_bytes())
    assert copy.capture == "contactless" and copy.algorithm == original.algorithm
    assert copy.quality == original.quality and copy.image_size == original.image_size and copy.finger_position == 2
    assert np.array_equal(copy.minutiae.kinds, original.minutiae.kinds)
    assert np.abs(copy.minutiae.points - original.minutiae.points).max() <= 0.5
    turn = np.abs((copy.minutiae.angles - original.minutiae.angles + math.pi) % (2 * math.pi) - math.pi)
    assert turn.max() <= math.pi / 256 + 1e-6
    assert copy.minutiae.qualities == pytest.approx([0.55, 1.0, 0.01], abs=1e-6)  # ISO qualities are 1-100
    assert copy.to_bytes() == FingerTemplate.from_bytes(copy.to_bytes()).to_bytes()


def test_contact_and_contactless_records_differ_in_their_impression_type():
    assert synthetic("contact").to_bytes()[25] & 0x0F == 0
    assert synthetic("contactless").to_bytes()[25] & 0x0F == 15


def test_a_real_template_scores_the_same_after_the_round_trip(fvc_template):
    template = fvc_template("DB2_B", 103, 1)
    mate = fvc_template("DB2_B", 103, 2)
    copy = FingerTemplate.from_bytes(template.to_bytes())
    assert len(copy.minutiae) == len(template.minutiae)
    before = mcc_score(mcc_template(template.minutiae), mcc_template(mate.minutiae))
    after = mcc_score(mcc_template(copy.minutiae), mcc_template(mate.minutiae))
    assert after == pytest.approx(before, abs=0.02)
    assert mcc_score(mcc_template(copy.minutiae), mcc_template(template.minutiae)) > 0.9


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[:20], "at least"),
        (lambda data: b"XYZ\x00" + data[4:], "not an ISO/IEC 19794-2:2005 record"),
        (lambda data: data + b"\x00", "says it is"),
        (lambda data: data[:22] + b"\x02" + data[23:], "exactly one finger view"),
    ],
)
def test_damaged_bytes_are_refused_with_the_reason(damage, message):
    with pytest.raises(ValueError, match=message):
        decode_template(damage(synthetic().to_bytes()))


def test_a_record_without_the_tessera_block_is_refused():
    data = bytearray(synthetic().to_bytes())
    end = 28 + 3 * 6
    stripped = bytes(data[:end]) + b"\x00\x00"
    stripped = stripped[:8] + struct.pack(">I", len(stripped)) + stripped[12:]
    with pytest.raises(ValueError, match="no Tessera extended data block"):
        decode_template(stripped)
