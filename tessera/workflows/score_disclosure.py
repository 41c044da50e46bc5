"""What a verification's or a search's requester is told about scores: the gallery's ``score_disclosure``.

``banded`` (the default): the decision and, for a match, the band of the
false-match rate its score stands for (:func:`tessera.governance.disclosure.fmr_band`);
every score, threshold, FMR and quality figure that moves with the probe is
withheld, so small changes of a probe image leave the answer unchanged
unless the decision or the band changes. ``exact``: the answer as computed,
with the band beside it. The audit log always keeps the exact figures, and
the review screen shows what reviewers need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from sqlalchemy import select

from tessera.errors import InvalidRequest, NotFound
from tessera.governance.disclosure import DEFAULT_DISCLOSURE, FmrBand, ScoreDisclosure, fmr_band
from tessera.governance.vocabulary import Decision
from tessera.store.models import Gallery, Subject
from tessera.workflows.captures import Capture
from tessera.workflows.comparisons import Comparison, MultimodalVerification
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.verify import verify

WITHHELD_COMPARISON = ("score", "threshold", "fmr", "fmr_detail", "quality")
"""Fields of a comparison that move with the probe's score or image: null in a banded answer."""


def set_score_disclosure(
    instance: Instance, actor: Actor | str, gallery_id: str, disclosure: str, reason: str
) -> ScoreDisclosure:
    """Choose what a gallery's answers say about scores; audited ``gallery.set_score_disclosure`` with the reason.

    Raises
    ------
    InvalidRequest
        ``invalid_score_disclosure`` for another value than ``banded`` or ``exact``; ``reason_required`` for an
        empty reason.
    NotFound
        ``gallery_not_found``.
    """
    try:
        chosen = ScoreDisclosure(disclosure)
    except ValueError:
        allowed = ", ".join(d.value for d in ScoreDisclosure)
        raise InvalidRequest(
            f"score_disclosure must be one of {allowed}; got {disclosure!r}.", code="invalid_score_disclosure"
        ) from None
    if not reason.strip():
        raise InvalidRequest("reason must say why the gallery's score disclosure changes.", code="reason_required")
    with instance.transaction() as session:
        gallery = session.get(Gallery, gallery_id)
        if gallery is None:
            raise NotFound(f"No gallery with id {gallery_id!r}.", code="gallery_not_found")
        previous = gallery.score_disclosure
        gallery.score_disclosure = chosen.value
        instance.record(
            session,
            actor,
            "gallery.set_score_disclosure",
            "ok",
            gallery_id=gallery_id,
            details={"from": previous, "to": chosen.value, "reason": reason.strip()},
        )
    return chosen


def gallery_disclosure(instance: Instance, gallery_id: str) -> ScoreDisclosure:
    """A gallery's score disclosure; banded for a gallery that is gone."""
    with instance.sessions() as session:
        value = session.scalar(select(Gallery.score_disclosure).where(Gallery.id == gallery_id))
    return ScoreDisclosure(value) if value else DEFAULT_DISCLOSURE


def subject_disclosure(instance: Instance, subject_id: str) -> ScoreDisclosure:
    """The score disclosure of a subject's gallery; banded when the subject is gone (erased meanwhile)."""
    with instance.sessions() as session:
        value = session.scalar(
            select(Gallery.score_disclosure)
            .join(Subject, Subject.gallery_id == Gallery.id)
            .where(Subject.id == subject_id)
        )
    return ScoreDisclosure(value) if value else DEFAULT_DISCLOSURE


def verify_for_requester(instance: Instance, actor: Actor | str, subject_id: str, captures: Sequence[Capture]) -> dict:
    """:func:`~tessera.workflows.verify.verify`, answered as the subject's gallery discloses scores."""
    answer = verify(instance, actor, subject_id, captures)
    return disclose_verification(instance, answer, subject_disclosure(instance, subject_id))


def disclose_verification(instance: Instance, answer: MultimodalVerification, disclosure: ScoreDisclosure) -> dict:
    """A verification's answer as ``disclosure`` allows, with ``score_disclosure`` and ``fmr_band`` added."""
    edges = instance.settings.fmr_band_edges
    band = _answer_band(instance, answer, edges)
    shown = asdict(answer)
    if disclosure is ScoreDisclosure.BANDED:
        withheld = dict.fromkeys(("score", "threshold", "fmr", "fmr_detail", "fusion"))
        shown.update(withheld, quality=advice_only(answer.quality))
        shown["comparisons"] = [{**item, **dict.fromkeys(WITHHELD_COMPARISON)} for item in shown["comparisons"]]
    for item, comparison in zip(shown["comparisons"], answer.comparisons):
        item["fmr_band"] = _as_dict(_comparison_band(instance, comparison, edges))
    shown["score_disclosure"] = disclosure.value
    shown["fmr_band"] = _as_dict(band)
    return shown


def advice_only(quality: dict | None) -> dict | None:
    """What a banded answer shows of a capture's quality: the retake advice's reason and message, no figure.

    The advice says what a refusal would say (its reason and message are the refusal's), so it discloses no
    more than a refused capture does; the measured figures and limits stay withheld with the scores.
    """
    advised = (quality or {}).get("retake_advised")
    if not advised:
        return None
    return {"retake_advised": {"reason": advised["reason"], "message": advised["message"]}}


def _answer_band(instance: Instance, answer: MultimodalVerification, edges: tuple[float, ...]) -> FmrBand | None:
    """A match's band: of the fused FMR when fused, else of the one compared score's FMR."""
    if answer.decision != Decision.MATCH:
        return None
    if answer.fused:
        return fmr_band(answer.fmr, edges)
    compared = [c for c in answer.comparisons if c.score is not None]
    return _comparison_band(instance, compared[0], edges) if len(compared) == 1 else None


def _comparison_band(instance: Instance, comparison: Comparison, edges: tuple[float, ...]) -> FmrBand | None:
    """A matching comparison's band: of the FMR its score stands for (its matcher's calibration)."""
    if comparison.decision != Decision.MATCH or comparison.score is None:
        return None
    matcher = instance.matchers.by_key.get(comparison.matcher or "")
    if matcher is None or matcher.calibration is None:
        return None
    return fmr_band(matcher.calibration.fmr_at(comparison.score).value, edges)


def _as_dict(band: FmrBand | None) -> dict | None:
    return None if band is None else band.as_dict()
