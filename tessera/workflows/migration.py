"""Moving people to the default face algorithm as they come back: a template from a verified, fresh capture.

When a stronger face algorithm becomes the default, people enrolled before
it hold templates of an older one only: 1:1 still verifies them with it,
but 1:N searches with the default algorithm and cannot find them
(:mod:`tessera.workflows.coverage` counts them). Rather than asking
everyone to re-enrol, the service adds a template of the default algorithm
at a person's next successful verification, from the photo just taken::

    face matched by an older algorithm -> whole answer a match -> fresh photo -> consent
        -> read by the default algorithm -> store, audit (``face.migrate``), queue for the index

The older algorithm's match is the evidence that the photo shows the
enrolled person; the new template is never compared with the old one (two
algorithms' templates are never compared). Nothing is added when the
verification was not a match, when the photo is one already enrolled (a
replayed enrolment photo is not a fresh capture), when consent no longer
covers enrolling a face, or when the default algorithm cannot read the
photo (audited with its reason, so a programme sees who keeps failing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from tessera.capture.refusal import Refusal
from tessera.errors import Conflict
from tessera.governance.consent import check_consent
from tessera.governance.vocabulary import Decision, Modality
from tessera.store.models import Template
from tessera.workflows.captures import Capture, capture_sha256, read_probe
from tessera.workflows.comparisons import Comparison, MultimodalVerification
from tessera.workflows.enrolment import store
from tessera.workflows.indexing import drain
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.subjects import load_subject

ACTION = "face.migrate"
"""Audit action of a template added to an enrolled person by a verification (outcome ``ok``, or ``not_read``)."""


@dataclass(frozen=True)
class Migration:
    """What a verification added: the new template of the default algorithm, or why the photo could not give one."""

    algorithm: str
    template_id: str | None
    reason: str | None = None


def migrate_after_verification(
    instance: Instance,
    actor: Actor | str,
    subject_id: str,
    gallery_id: str,
    captures: Sequence[Capture],
    images: Sequence[np.ndarray],
    comparisons: Sequence[Comparison],
    answer: MultimodalVerification,
) -> Migration | None:
    """Add a template of the default face algorithm from a verified face capture; None when nothing is due.

    Parameters
    ----------
    captures, images, comparisons : sequences of one length
        The verification's captures, their decoded images and their comparisons, in the same order.
    answer : MultimodalVerification
        The verification's overall answer: nothing is added unless it is a match.
    """
    default = instance.matchers.default_face
    face = next(
        (
            (capture, image, comparison)
            for capture, image, comparison in zip(captures, images, comparisons)
            if capture.modality is Modality.FACE
        ),
        None,
    )
    if face is None or answer.decision != Decision.MATCH:
        return None
    capture, image, comparison = face
    if comparison.decision != Decision.MATCH or comparison.matcher == default.key:
        return None  # verified by the default algorithm already: the subject has its template
    if not _fresh(instance, subject_id, capture, default.algorithm):
        return None
    with instance.sessions() as session:
        consent = load_subject(session, subject_id).consent
    if check_consent(consent, modality=Modality.FACE.value, purpose=None, now=instance.clock()) is not None:
        return None
    probe = read_probe(instance, default, capture, image)
    if isinstance(probe, Refusal):
        instance.record_alone(
            actor,
            ACTION,
            "not_read",
            subject_id=subject_id,
            gallery_id=gallery_id,
            details={
                "algorithm": default.algorithm,
                "capture_sha256": capture_sha256(capture),
                "reason": probe.reason,
                "verified_by": comparison.algorithm,
            },
        )
        return Migration(default.algorithm, None, probe.reason)
    evidence: dict[str, object] = {
        "verified_by": comparison.algorithm,
        "score": comparison.score,
        "threshold": comparison.threshold,
    }
    try:
        stored = store(instance, actor, ACTION, subject_id, gallery_id, [probe], [], None, evidence)
    except Conflict:  # the same photo enrolled meanwhile by another request: nothing to add
        return None
    drain(instance)
    return Migration(default.algorithm, stored.template_id)


def _fresh(instance: Instance, subject_id: str, capture: Capture, algorithm: str) -> bool:
    """Whether the subject holds no template of ``algorithm`` and no template made from this very photo."""
    sha256 = capture_sha256(capture)
    with instance.sessions() as session:
        held = session.execute(
            select(Template.algorithm, Template.capture_sha256).where(Template.subject_id == subject_id)
        ).all()
    return all(stored != algorithm and digest != sha256 for stored, digest in held)
