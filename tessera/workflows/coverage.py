"""Which face algorithm each enrolled person has a template of, and who still lacks the default one.

When a stronger face algorithm becomes the default, people enrolled before
it only hold templates of the older one: 1:1 still verifies them (with the
strongest algorithm they have), but 1:N searches with the default one and
does not find them until they give a new capture. :func:`algorithm_coverage`
counts them, so a programme knows how many people to invite back (``tessera
algorithms``); and the people whose every reference of the default algorithm
was kept with a retake advised (a turned, dim or soft photo), who are worth a
better photo at their next visit.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import distinct, func, select

from tessera.face.algorithms import FACE_ALGORITHMS
from tessera.governance.vocabulary import Modality
from tessera.store.models import Template
from tessera.workflows.instance import Instance


@dataclass(frozen=True)
class AlgorithmCoverage:
    """One face algorithm: whether this instance serves it, and how many templates and people it holds."""

    algorithm: str
    registered: bool
    served: bool
    default: bool
    templates: int
    subjects: int


@dataclass(frozen=True)
class Coverage:
    algorithms: list[AlgorithmCoverage]
    subjects_with_a_face: int
    """People with at least one face template, of any algorithm."""
    lacking_default: int
    """People with a face template but none of the default algorithm: 1:N does not find them."""
    default_retake_advised: int = 0
    """People whose every face template of the default algorithm carries ``quality.retake_advised``: found by 1:N,
    but less surely than with a photo that met the retake limits (docs/accuracy.md)."""


def algorithm_coverage(instance: Instance) -> Coverage:
    """Count templates and people per face algorithm, and the people without a template of the default one."""
    default = instance.matchers.default_face.algorithm
    served = {matcher.algorithm for matcher in instance.matchers.faces}
    face = Template.modality == Modality.FACE.value
    with instance.sessions() as session:
        rows = session.execute(
            select(Template.algorithm, func.count(), func.count(distinct(Template.subject_id)))
            .where(face)
            .group_by(Template.algorithm)
        ).all()
        with_a_face = session.scalar(select(func.count(distinct(Template.subject_id))).where(face)) or 0
        with_default = (
            session.scalar(select(func.count(distinct(Template.subject_id))).where(face, Template.algorithm == default))
            or 0
        )
        advised = _retake_advised_only(session, face, default)
    held = {algorithm: (templates, subjects) for algorithm, templates, subjects in rows}
    names = sorted(set(held) | set(FACE_ALGORITHMS), key=lambda a: (a != default, a not in served, a))
    return Coverage(
        algorithms=[
            AlgorithmCoverage(
                algorithm=name,
                registered=name in FACE_ALGORITHMS,
                served=name in served,
                default=name == default,
                templates=held.get(name, (0, 0))[0],
                subjects=held.get(name, (0, 0))[1],
            )
            for name in names
        ],
        subjects_with_a_face=with_a_face,
        lacking_default=with_a_face - with_default,
        default_retake_advised=advised,
    )


def _retake_advised_only(session, face, default: str) -> int:
    """People whose every default-algorithm face template was kept with a retake advised (read from the quality
    record each template keeps; a template without the key, of an algorithm without the tier, counts as good)."""
    good: set[str] = set()
    advised: set[str] = set()
    rows = session.execute(select(Template.subject_id, Template.quality).where(face, Template.algorithm == default))
    for subject_id, quality in rows:
        (advised if (quality or {}).get("retake_advised") else good).add(subject_id)
    return len(advised - good)
