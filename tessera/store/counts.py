"""How many people a 1:N search compares a probe with: the gallery size N, counted by the store.

N sets the 1:N threshold (about ``identify_expected_false_candidates / N``
false matches per comparison), so it is counted where the truth is, in the
store, and never by the search index (whose top-k answers cannot count a
gallery; see :mod:`tessera.index.base`).

A subject is searchable by a probe when it is in the gallery, its consent
covers the search's purpose and has not expired at the search's ``now``
(the rule the index filters with), and it holds at least one template the
probe is compared with: same modality and algorithm, and for fingers the same
finger position and capture kind.

Consent purposes are a JSON list column, which SQLite and PostgreSQL query
differently; so each function makes one query for the gallery's candidate
subjects (one row each, with their purposes) and tests the purpose in Python,
the same on every backend.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.orm import Session

from tessera.governance.vocabulary import SubjectStatus
from tessera.store.models import Consent, Subject, Template


@dataclass(frozen=True)
class TemplateKind:
    """Which templates a probe is compared with.

    Attributes
    ----------
    modality : str
        ``face`` or ``finger``.
    algorithm : str or None
        The templates' algorithm (``Template.algorithm``); None: any. Finger
        templates store their extractor's id, while every one of them is
        compared by the same MCC matcher, so finger searches give None.
    finger_position : int or None
        Fingers: the ISO/IEC 19794-2 position (1-10); None for a face.
    capture : str or None
        Fingers: ``contact`` or ``contactless``; None for a face.
    """

    modality: str
    algorithm: str | None = None
    finger_position: int | None = None
    capture: str | None = None

    def held_by_subject(self) -> ColumnElement[bool]:
        """True for a subject row holding at least one template of this kind (a correlated EXISTS)."""
        conditions = [Template.subject_id == Subject.id, Template.modality == self.modality]
        if self.algorithm is not None:
            conditions.append(Template.algorithm == self.algorithm)
        if self.finger_position is not None:
            conditions.append(Template.finger_position == self.finger_position)
        if self.capture is not None:
            conditions.append(Template.capture == self.capture)
        return exists().where(and_(*conditions))


def count_searchable(
    session: Session,
    *,
    gallery_id: str,
    algorithm: str | None,
    modality: str,
    purpose: str,
    now: datetime,
    finger_position: int | None = None,
    capture: str | None = None,
) -> int:
    """How many subjects of ``gallery_id`` a probe of this kind is compared with (the gallery size N).

    Parameters
    ----------
    session : Session
    gallery_id : str
    algorithm : str or None
        Template algorithm compared (None: any; see :class:`TemplateKind`).
    modality : str
        ``face`` or ``finger``.
    purpose : str
        The search's purpose: only subjects who consented to it count.
    now : datetime
        Timezone-aware; subjects whose consent expired at or before it do not count.
    finger_position, capture
        Fingers: only subjects holding a template of this finger and capture kind count.

    Returns
    -------
    int
        Distinct subjects, whatever the number of their templates.
    """
    kind = TemplateKind(modality, algorithm, finger_position, capture)
    by_kinds = count_searchable_by_kinds(session, gallery_id=gallery_id, kinds=[kind], purpose=purpose, now=now)
    return sum(by_kinds.values())


def count_searchable_by_kinds(
    session: Session, *, gallery_id: str, kinds: Sequence[TemplateKind], purpose: str, now: datetime
) -> dict[frozenset[int], int]:
    """How many searchable subjects of ``gallery_id`` hold exactly each combination of ``kinds``.

    For a search with several probes (a face and fingers, fused): which of
    the probes' template kinds each subject can be compared on decides its
    fused threshold, and the number of subjects with each combination the
    expected false candidates.

    Parameters
    ----------
    kinds : sequence of TemplateKind
        The kinds of the search's probes, one per probe (repeats allowed).
    gallery_id, purpose, now
        As :func:`count_searchable`.

    Returns
    -------
    dict of frozenset of int to int
        For each combination of positions into ``kinds`` that some subject
        holds, how many subjects hold exactly that combination. Subjects
        holding none of the kinds are not counted; the values sum to the
        subjects compared with at least one probe.
    """
    if not kinds:
        return {}
    held = [kind.held_by_subject() for kind in kinds]
    rows = session.execute(
        select(Consent.purposes, *(condition.label(f"kind_{i}") for i, condition in enumerate(held)))
        .select_from(Subject)
        .join(Consent, Consent.subject_id == Subject.id)
        .where(
            Subject.gallery_id == gallery_id,
            Subject.status == SubjectStatus.ACTIVE,  # one held for a duplicate review is not searched
            Consent.expires_at > now,
            or_(*held),
        )
    )
    combinations: Counter[frozenset[int]] = Counter()
    for purposes, *flags in rows:
        if purpose in purposes:
            combinations[frozenset(i for i, flag in enumerate(flags) if flag)] += 1
    return dict(combinations)
