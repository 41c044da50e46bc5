"""The closed vocabularies of consent: what a person can agree to.

Purposes and modalities are closed sets on purpose. Anything outside them
(tracking, risk scoring, inferring race, sex or emotion, searching the web)
is out of Tessera's scope by design, so there is no value to ask for it with.
"""

from __future__ import annotations

from enum import StrEnum


class Purpose(StrEnum):
    VERIFY = "verify"
    """1:1: confirm that a person is the one enrolled under a given id."""
    DEDUPLICATE = "deduplicate"
    """1:N: check whether a person is already enrolled in the same gallery."""


class Modality(StrEnum):
    FACE = "face"
    FINGER = "finger"


SEARCH_PURPOSES = frozenset({Purpose.DEDUPLICATE})
"""Purposes for which a 1:N search may be run."""

ENABLED_MODALITIES = frozenset({Modality.FACE})
"""Modalities this version can capture (fingers arrive with the contactless pipeline)."""


class Decision(StrEnum):
    """The answer of a 1:1 comparison (or of a fused one)."""

    MATCH = "match"
    NO_MATCH = "no_match"
    INCONCLUSIVE = "inconclusive"
    """Nothing could be compared, or no calibration speaks for the score: no rate is invented."""
