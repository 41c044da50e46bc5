"""Scores shown to reviewers in bands, never as numbers.

An exact score lets a reviewer decide on the number instead of the faces, and
tells a catch trial (a known non-mate, whose score is lower) from a real
candidate. Reviewers see one of three bands of the false-match rate at the
candidate's score; a catch trial is shown a band drawn from the real
candidates' bands of the same case (:func:`catch_trial_band`), so the screen
cannot tell them apart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

BANDS: tuple[tuple[str, float], ...] = (
    ("very strong", 1e-6),
    ("strong", 1e-4),
    ("moderate", 1.0),
)
"""(band, the largest false-match rate at the score it covers), strongest first."""


def score_band(fmr: float) -> str:
    """The band of a candidate whose score stands for false-match rate ``fmr``."""
    return next(name for name, most in BANDS if fmr <= most)


def catch_trial_band(candidate_id: str, real_bands: Sequence[str]) -> str:
    """The band a catch trial is shown: one of the real candidates' bands, chosen by its id (the same on every
    read of the case, and distributed as the real candidates' bands are)."""
    if not real_bands:
        return BANDS[-1][0]
    pick = int(hashlib.sha256(candidate_id.encode()).hexdigest()[:8], 16) % len(real_bands)
    return sorted(real_bands)[pick]
