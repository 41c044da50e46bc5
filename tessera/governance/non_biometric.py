"""Serving a person without biometrics: refusing biometrics never means refusing aid (issue 17, item 4).

The reason is one of a fixed list, chosen by the person or the worker at registration. It is never inferred
from anything (no failed capture, quality score or other data sets it), and nothing else is recorded about why.
"""

from __future__ import annotations

from enum import StrEnum


class NonBiometricReason(StrEnum):
    DECLINED = "declined"
    """The person chose not to give biometrics."""
    CANNOT_BE_CAPTURED = "cannot_be_captured"
    """The person's face or fingers cannot be captured (as the person or worker says)."""
    OTHER = "other"
    """Any other reason; no detail is recorded."""
