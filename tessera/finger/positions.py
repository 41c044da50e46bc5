"""Which finger a print is of: the ISO/IEC 19794-2 finger positions, and the one check of a position.

The codes are the finger positions of ISO/IEC 19794-2:2005 (the finger
view header), the same as the friction ridge position codes of
ANSI/NIST-ITL 1-2011 (table 8) for the ten fingers: 1 right thumb ... 5 right little, 6 left thumb ... 10
left little. Code 0, "unknown finger", may be written in a template whose
finger was not given; the service always asks which finger it is.
"""

from __future__ import annotations

from enum import IntEnum
from numbers import Integral


class FingerPosition(IntEnum):
    """An ISO/IEC 19794-2 finger position code; compares equal to its number."""

    RIGHT_THUMB = 1
    RIGHT_INDEX = 2
    RIGHT_MIDDLE = 3
    RIGHT_RING = 4
    RIGHT_LITTLE = 5
    LEFT_THUMB = 6
    LEFT_INDEX = 7
    LEFT_MIDDLE = 8
    LEFT_RING = 9
    LEFT_LITTLE = 10

    @property
    def label(self) -> str:
        """``right-index``: the finger's name as it appears in fused modality names (``finger:right-index``)."""
        return self.name.lower().replace("_", "-")


UNKNOWN_FINGER_POSITION = 0
"""ISO/IEC 19794-2 code for a finger that was not identified."""


def check_finger_position(value: object, arg_name: str = "finger_position", *, allow_unknown: bool = False) -> int:
    """Return ``value`` as a finger position, or say what is wrong with it.

    Parameters
    ----------
    value : object
        What the caller was given.
    arg_name : str
        The argument's name, for the message.
    allow_unknown : bool
        Also accept :data:`UNKNOWN_FINGER_POSITION` (0), as a template may hold.

    Returns
    -------
    int
        The :class:`FingerPosition`, or 0 when ``allow_unknown`` and ``value`` is 0.

    Raises
    ------
    ValueError
        ``value`` is not an integer (a bool is not one here) or not a position
        code; the message names ``arg_name``, ``value`` and the codes allowed.
    """
    if isinstance(value, Integral) and not isinstance(value, bool):
        if allow_unknown and value == UNKNOWN_FINGER_POSITION:
            return UNKNOWN_FINGER_POSITION
        code = int(value)
        if FingerPosition.RIGHT_THUMB <= code <= FingerPosition.LEFT_LITTLE:
            return FingerPosition(code)
    allowed = (
        "an ISO/IEC 19794-2 finger position from 1 (right thumb) to 10 (left little)"
        if not allow_unknown
        else "0 (unknown finger) or an ISO/IEC 19794-2 finger position from 1 (right thumb) to 10 (left little)"
    )
    raise ValueError(f"{arg_name} must be {allowed}; got {value!r}")
