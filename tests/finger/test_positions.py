"""Finger positions: the ISO/IEC 19794-2 codes, their names, and the one check every entry point uses."""

from __future__ import annotations

import numpy as np
import pytest

from tessera.finger.positions import UNKNOWN_FINGER_POSITION, FingerPosition, check_finger_position


def test_the_ten_codes_run_from_the_right_thumb_to_the_left_little_finger():
    assert [int(position) for position in FingerPosition] == list(range(1, 11))
    assert FingerPosition(1) is FingerPosition.RIGHT_THUMB and FingerPosition(5) is FingerPosition.RIGHT_LITTLE
    assert FingerPosition(6) is FingerPosition.LEFT_THUMB and FingerPosition(10) is FingerPosition.LEFT_LITTLE
    assert FingerPosition.RIGHT_INDEX == 2  # an int: stored and sent as the number


def test_each_position_has_a_hyphenated_name():
    assert FingerPosition.RIGHT_INDEX.label == "right-index"
    assert [position.label for position in FingerPosition][5:] == [
        "left-thumb",
        "left-index",
        "left-middle",
        "left-ring",
        "left-little",
    ]


@pytest.mark.parametrize("value", [1, 7, 10, np.int64(3)])
def test_a_position_passes_as_its_enum_member(value):
    checked = check_finger_position(value)
    assert checked == value and isinstance(checked, FingerPosition)


@pytest.mark.parametrize("value", [0, 11, -1, 2.0, "2", True, None])
def test_anything_else_is_refused_naming_the_argument_the_value_and_what_is_allowed(value):
    with pytest.raises(ValueError) as refused:
        check_finger_position(value)
    assert str(refused.value) == (
        f"finger_position must be an ISO/IEC 19794-2 finger position from 1 (right thumb) to 10 (left little); "
        f"got {value!r}"
    )


def test_the_message_uses_the_callers_argument_name():
    with pytest.raises(ValueError, match=r"^--finger-position must be .*; got 12$"):
        check_finger_position(12, "--finger-position")


def test_a_template_may_hold_the_unknown_finger():
    assert check_finger_position(UNKNOWN_FINGER_POSITION, allow_unknown=True) == 0
    with pytest.raises(ValueError, match=r"^finger_position must be 0 \(unknown finger\) or an ISO/IEC .*; got 11$"):
        check_finger_position(11, allow_unknown=True)
