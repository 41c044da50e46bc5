"""1:N search: candidates for a person to review, bound to a purpose and a case.

One straight line for every modality::

    check -> read probes -> plan fusion -> threshold and search -> open case -> audit

Every search must pass the purpose rules (:mod:`tessera.workflows.policy`),
opens a review case (:mod:`tessera.workflows.cases`), and is recorded with
its start and end time, the gallery and its version, the probes' hashes
and the candidates (EU AI Act Art. 12(3)). Candidates are leads, never
identifications: two adjudicators decide (:mod:`tessera.workflows.adjudication`).

Before the indexes are searched, the index outbox is applied
(:func:`tessera.workflows.indexing.drain`): a person whose erasure was
committed by any process before the search began is never a candidate, and
one enrolled by another process is found.

The gallery size N is counted by the store (:mod:`tessera.store.counts`):
the subjects who consented to the purpose and hold a template the probe is
compared with. One probe is searched on its own (:func:`search_each`): its
threshold comes from its matcher's calibration and N, so that about
``identify_expected_false_candidates`` wrong candidates are expected; a
probe whose matcher has no calibration is refused (409 ``not_calibrated``).
Several probes whose matchers have fusion models are fused
(:func:`search_fused`): each probe's best ``identify_fusion_pool`` subjects
are taken from its index, every one of them is given every score it can have
(:meth:`~tessera.index.base.SearchIndex.scores_for`), and
:func:`tessera.match.fusion.rank_fused` ranks them by fused LLR, each
against the threshold of the modalities it has. A mate that no probe ranks
among its best ``identify_fusion_pool`` is not considered. A face with
contactless fingers (no fusion model) is ranked on the product of the rates
each states (:func:`~tessera.workflows.search_rates.search_with_rates`). Otherwise,
when fewer than two probes can be fused, each is searched on its own and
``fusion`` says why.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from tessera.capture.refusal import Refusal
from tessera.workflows.captures import Capture, Probe, check_captures, read_probe, refuse_capture
from tessera.workflows.cases import Candidate, ProbeSearch, Request, open_case
from tessera.workflows.comparisons import ORDER
from tessera.workflows.indexing import drain
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.policy import check_search_allowed
from tessera.workflows.scope import check_gallery
from tessera.workflows.search import search_each, search_fused
from tessera.workflows.search_rates import rated_pair, search_with_rates


@dataclass(frozen=True)
class Identification:
    search_id: str
    case_reference: str
    gallery_size: int
    gallery_version: int
    threshold: float | None
    threshold_fmr: float | None
    expected_false_candidates: float
    candidates: list[Candidate] = field(default_factory=list)
    quality: dict | None = None
    modalities_compared: list[str] = field(default_factory=list)
    probes: list[ProbeSearch] = field(default_factory=list)
    fused: bool = False
    fusion: dict | None = None
    """Several probes: how they were fused (target FMR per comparison, thresholds, what was not fused and why),
    or why they could not be and each was searched on its own."""


def identify(
    instance: Instance,
    actor: Actor | str,
    gallery_id: str,
    purpose: str,
    case_reference: str,
    captures: Sequence[Capture],
) -> Identification:
    """Search the gallery's consenting subjects with a face photo, finger captures, or both."""
    started_at = instance.clock()
    admit_search(instance, actor, gallery_id, purpose, case_reference, captures)
    request = Request(str(uuid.uuid4()), gallery_id, purpose, case_reference, search_action(captures), started_at)
    drain(instance)  # changes committed by any process before this search reach the indexes first (erasures above all)
    probes = [read_or_refuse(instance, actor, request, capture) for capture in captures]
    fusable, not_fused = plan_fusion(probes)
    if len({p.capture.name for p in fusable}) >= 2:
        found = search_fused(instance, actor, request, fusable, not_fused)
    elif (pair := rated_pair(probes)) is not None:
        found = search_with_rates(instance, actor, request, *pair)
    else:
        found = search_each(instance, actor, request, probes, not_fused)
    version = open_case(instance, actor, request, probes, found)
    return Identification(
        search_id=request.search_id,
        case_reference=case_reference,
        gallery_size=found.gallery_size,
        gallery_version=version,
        threshold=found.threshold if found.fused or len(probes) == 1 else None,
        threshold_fmr=found.threshold_fmr,
        expected_false_candidates=found.expected_false_candidates,
        candidates=found.candidates,
        quality=probes[0].quality if len(probes) == 1 else None,
        modalities_compared=sorted({p.capture.modality.value for p in probes}, key=ORDER.index),
        probes=found.probes,
        fused=found.fused,
        fusion=found.fusion,
    )


def admit_search(
    instance: Instance,
    actor: Actor | str,
    gallery_id: str,
    purpose: str,
    case_reference: str,
    captures: Sequence[Capture],
) -> None:
    """Every refusal a search gets before any of its images is read: captures well formed, the key reaches the
    gallery, and the purpose rules (:func:`~tessera.workflows.policy.check_search_allowed`) allow the search (a
    route calls this before the liveness check and before a hand photo is cut into fingers); audited as
    :func:`identify` audits them."""
    check_captures(captures)
    action = search_action(captures)
    check_gallery(instance, actor, gallery_id, action)
    check_search_allowed(instance, actor, gallery_id, purpose, case_reference, action)


def search_action(captures: Sequence[Capture]) -> str:
    """The audit action of a search: ``face.identify``, ``finger.identify`` or ``multimodal.identify``."""
    modalities = {capture.modality for capture in captures}
    return f"{modalities.pop().value}.identify" if len(modalities) == 1 else "multimodal.identify"


def read_or_refuse(instance: Instance, actor: Actor | str, request: Request, capture: Capture) -> Probe:
    """Read a capture with its modality's searching matcher; an unusable one is audited and answered 422."""
    matcher = instance.matchers.of(capture.modality.value, capture.sensor)[0]
    probe = read_probe(instance, matcher, capture)
    if isinstance(probe, Refusal):
        details = {**request.logged, "probe_sha256": hashlib.sha256(capture.image).hexdigest(), **capture.where}
        instance.record_alone(
            actor, request.action, f"refused:{probe.reason}", gallery_id=request.gallery_id, details=details
        )
        raise refuse_capture(probe)
    return probe


def plan_fusion(probes: Sequence[Probe]) -> tuple[list[Probe], list[dict]]:
    """The probes whose scores can be fused (their matcher has a fusion model), and the others with the reason."""
    fusable, not_fused = [], []
    for probe in probes:
        if probe.matcher.fusion_model is not None:
            fusable.append(probe)
            continue
        message = f"no fusion model of {probe.matcher.key} scores is installed"
        if probe.capture.sensor == "contactless":
            message = "no fusion model of contactless finger scores exists (the finger model is of contact scans)"
        not_fused.append(
            {
                "modality": probe.capture.name,
                "capture": probe.capture.sensor,
                "reason": "no_fusion_model",
                "message": message,
            }
        )
    return fusable, not_fused
