"""How much of a score leaves the service: a decision and a coarse FMR band, or (evaluation galleries) the score.

An exact score answered to anyone who may verify is an oracle: change a
probe image a little, see the score rise or fall, keep the change that
helped, and climb toward a match (the hill-climbing attack of Soutar et al.,
"Biometric system performance and security", 1998; ISO/IEC 30107-1 and
ISO/IEC 24745 call for quantised or withheld scores). Outside the review
screen an answer therefore says only the decision and the band of the
false-match rate its score stands for, each band two orders of magnitude
wide. A decision other than ``match`` gets no band at all: a no-match answer
is the same whatever the score, so an attacker below the threshold learns
one bit per query, and a per-key and per-subject rate limit bounds the queries.

A gallery run for evaluation may answer exact scores (``exact``); the choice
is the gallery's, and every change of it is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ScoreDisclosure(StrEnum):
    """What a gallery's verification and search answers say about a score."""

    BANDED = "banded"
    """The decision and a coarse FMR band (the default)."""
    EXACT = "exact"
    """The score, its threshold and its FMR as computed: for galleries that serve an evaluation."""


DEFAULT_DISCLOSURE = ScoreDisclosure.BANDED


@dataclass(frozen=True)
class FmrBand:
    """A false-match rate rounded up to a band edge.

    Attributes
    ----------
    at_most : float
        The band's upper edge: the score's false-match rate is at most this.
    label : str
        The band in words, e.g. ``"≤ 1 in 1,000"``.
    """

    at_most: float
    label: str

    def as_dict(self) -> dict:
        return {"at_most": self.at_most, "label": self.label}


def band_label(edge: float) -> str:
    """``"≤ 1 in 1,000"`` for an edge of 1e-3 (edges are reciprocals of whole numbers)."""
    return f"≤ 1 in {round(1 / edge):,}"


def check_band_edges(edges: tuple[float, ...]) -> tuple[float, ...]:
    """Refuse edges that are not strictly decreasing rates in (0, 1) (the settings' validator)."""
    if not edges:
        raise ValueError("fmr_band_edges is empty: give at least one rate, e.g. [0.001, 1e-05, 1e-07]")
    if any(not 0 < edge < 1 for edge in edges):
        raise ValueError(f"fmr_band_edges must be rates between 0 and 1; got {list(edges)}")
    if any(later >= earlier for earlier, later in zip(edges, edges[1:])):
        raise ValueError(f"fmr_band_edges must be strictly decreasing; got {list(edges)}")
    return edges


def fmr_band(fmr: float | None, edges: tuple[float, ...]) -> FmrBand | None:
    """The narrowest band whose edge is at least ``fmr``; None when ``fmr`` is unknown.

    Parameters
    ----------
    fmr : float or None
        The false-match rate a score stands for (None: no calibration speaks for it).
    edges : tuple of float
        Band edges, strictly decreasing (``fmr_band_edges``).

    Returns
    -------
    FmrBand or None
        Every ``fmr`` between two edges gets the same band, so changes of the
        score inside a band are not observable. A rate above the widest edge
        gets the band ``"> 1 in 1,000"`` (``at_most`` 1).
    """
    if fmr is None:
        return None
    inside = [edge for edge in edges if fmr <= edge]
    if not inside:
        return FmrBand(at_most=1.0, label=f"> 1 in {round(1 / edges[0]):,}")
    return FmrBand(at_most=inside[-1], label=band_label(inside[-1]))


def shown_score(score: float, fmr: float, disclosure: ScoreDisclosure, edges: tuple[float, ...]) -> dict:
    """A stored candidate's ``score``, ``fmr`` and ``fmr_band`` as ``disclosure`` allows (banded: score and fmr
    null)."""
    band = fmr_band(fmr, edges)
    shown = {"score": score, "fmr": fmr} if disclosure is ScoreDisclosure.EXACT else {"score": None, "fmr": None}
    return {**shown, "fmr_band": None if band is None else band.as_dict()}
