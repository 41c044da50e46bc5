"""The duplicate check at enrolment: a new subject's first capture is searched before the subject is enrolled.

::

    first capture? -> check applies? -> search the gallery (1:N threshold) -> open case
        no candidate  -> enrol as usual
        candidates    -> store sealed, subject pending_review, out of every index -> two adjudicators decide
                             a candidate confirmed -> the new record is erased, with a receipt
                             none confirmed         -> the subject is enrolled (its templates reach the indexes)

When it runs: the gallery's ``dedup_at_enrolment`` is not switched off
(None, the default, means on), 1:N is enabled for the gallery, the capture
is the subject's first, and the person's consent covers ``deduplicate``
(the search is a 1:N search of their photo: without that consent it is not
run, and the audit says so). A gallery without 1:N enabled has no search to
run. Any rule a 1:N search must pass (:mod:`tessera.workflows.policy`: the
kill switch, the purpose allow-list, a closed gallery) or a matcher that
cannot set a 1:N threshold (no calibration) skips the check, audited
``enrolment.dedup`` ``skipped:<reason>``, and the capture is enrolled.

The check is an ordinary 1:N search for purpose ``deduplicate`` under case
reference ``DUP-<the subject's number>``: one ``Search`` row, its
candidates (and a catch trial) for the adjudication workflow, its audit
entry. It is recorded as requested by ``enrolment:<actor>``, so the person
who enrolled cannot read its candidates (:func:`~tessera.workflows.adjudication.reads_search`)
nor review them. The field worker is told only "possible duplicate - sent
for review" and the case number: never who, nor a score.

While the case is open the subject is ``pending_review``: its templates are
stored sealed but no index holds them (the outbox gets no row, and every
rebuild, snapshot and gallery count reads only active subjects), it is not
verified (409 ``pending_review``) and takes no further capture. When the
case closes (:func:`settle`, called by the adjudication workflow): a real
candidate (not a catch trial) confirmed by two adjudicators means the same
person is enrolled already, and the new record is erased
(:func:`~tessera.workflows.subjects.erase_subject`, reason
``duplicate_confirmed``, receipt hash kept on the case) and gets a notice
of its own under the case number the person was given
(:func:`~tessera.workflows.notices.notify_erased`: never whom it was found
to duplicate; contestable, :mod:`tessera.workflows.contests`); otherwise the
subject becomes active and its templates are queued for the indexes. A
withdrawal while pending erases the subject as any withdrawal does; the
case then settles as ``withdrawn``.

The case is opened (its own transaction) before the pending templates are
stored (another): a crash in between leaves a case that links to no
subject, reviewed for nothing, and a subject with no template, whose next
capture is checked again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tessera.errors import Conflict, NotFound
from tessera.governance.notices import NoticeKind
from tessera.governance.vocabulary import (
    SETTLED_REVIEWS,
    CaseStatus,
    DedupOutcome,
    Purpose,
    ReviewStatus,
    SubjectStatus,
)
from tessera.store.models import CaseCandidate, ConsentText, DedupCase, Gallery, Notice, Search, Subject, Template
from tessera.workflows.captures import Probe
from tessera.workflows.cases import Request, open_case
from tessera.workflows.indexing import drain, queue_template
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.notices import notify_erased
from tessera.workflows.policy import search_refusal
from tessera.workflows.reads import record_read
from tessera.workflows.scope import galleries_of
from tessera.workflows.search import search_each
from tessera.workflows.subjects import load_subject

ACTION = "enrolment.dedup"
"""The audit action of the check's search, of its skips and of how its case settled."""
REQUESTER_PREFIX = "enrolment:"
"""A check's search is recorded as requested by this prefix and the enrolling actor."""
SETTLER = "system:dedup"
"""The actor that enrols or erases a pending subject when its case closes."""
MESSAGE = (
    "Possible duplicate - sent for review. This person may already be enrolled; two trained reviewers will "
    "decide. Nothing more is needed now: quote the case number if asked."
)
"""What the field worker is told: never who, never a score."""


@dataclass(frozen=True)
class Check:
    """A check that ran: its search and case reference, and whether it found candidates."""

    search_id: str
    case_number: str
    candidates: int


def case_number(subject_number: str) -> str:
    """The case number a field worker can quote: ``DUP-`` and the subject's number without its prefix."""
    return "DUP-" + subject_number.removeprefix("TSR-")


def dedup_enabled(gallery: Gallery) -> bool:
    """Whether the gallery checks first captures for duplicates: on by default wherever 1:N is enabled."""
    return gallery.dedup_at_enrolment is not False and gallery.identification_enabled_at is not None


def check_first_capture(
    instance: Instance, actor: Actor | str, subject_id: str, gallery_id: str, probe: Probe
) -> Check | None:
    """Search the gallery with a subject's first capture; None when the check does not apply or was skipped.

    Parameters
    ----------
    probe : Probe
        The capture read by its modality's first (searching) matcher.

    Returns
    -------
    Check or None
        The search run and its case; ``candidates`` 0 means the capture may be enrolled at once.
    """
    with instance.sessions() as session:
        gallery = session.get_one(Gallery, gallery_id)
        subject = load_subject(session, subject_id)  # with its consent, or 404 subject_erased
        first = not session.scalar(select(func.count()).select_from(Template).where(Template.subject_id == subject_id))
        number, purposes = subject.number, list(subject.consent.purposes)
    if not first or not dedup_enabled(gallery):
        return None
    request = Request(
        str(uuid.uuid4()), gallery_id, Purpose.DEDUPLICATE.value, case_number(number), ACTION, instance.clock()
    )
    if Purpose.DEDUPLICATE.value not in purposes:
        _skip(instance, actor, request, subject_id, "not_consented")
        return None
    refusal = search_refusal(instance, gallery, request.purpose, request.case_reference)
    if refusal is not None:
        _skip(instance, actor, request, subject_id, refusal.code)
        return None
    if probe.matcher.calibration is None:  # no 1:N threshold can be set (fingers before their calibration)
        _skip(instance, actor, request, subject_id, "not_calibrated")
        return None
    drain(instance)  # people enrolled or erased by any process before this check count
    requester = f"{REQUESTER_PREFIX}{actor}"
    try:
        found = search_each(instance, requester, request, [probe], [])
    except Conflict as error:  # the gallery is beyond what the calibration vouches for: enrolled unchecked
        _skip(instance, actor, request, subject_id, error.code)
        return None
    open_case(instance, requester, request, [probe], found)
    return Check(request.search_id, request.case_reference, len(found.candidates))


def _skip(instance: Instance, actor: Actor | str, request: Request, subject_id: str, reason: str) -> None:
    """Audit a check that could not run; the capture is then enrolled as usual."""
    instance.record_alone(
        actor,
        ACTION,
        f"skipped:{reason}",
        subject_id=subject_id,
        gallery_id=request.gallery_id,
        details={"case_reference": request.case_reference},
    )


def hold(instance: Instance, session: Session, subject: Subject, check: Check) -> None:
    """In the enrolment's transaction: the subject waits for its case, linked to it; its templates are not queued
    for the indexes (:func:`tessera.workflows.enrolment.store`)."""
    subject.status = SubjectStatus.PENDING_REVIEW
    session.add(DedupCase(search_id=check.search_id, subject_id=subject.id, opened_at=instance.clock()))


def void_case(instance: Instance, search_id: str) -> None:
    """Close a check's case whose capture could not be stored: nothing is left to review."""
    with instance.transaction() as session:
        session.execute(
            update(CaseCandidate)
            .where(CaseCandidate.search_id == search_id, CaseCandidate.status == ReviewStatus.PENDING)
            .values(status=ReviewStatus.VOID)
        )
        search = session.get(Search, search_id)
        if search is not None:
            search.status = CaseStatus.CLOSED
            search.probe_ciphertext = None


def settle(instance: Instance, search_id: str) -> str | None:
    """Enrol or erase the pending subject of a closed check case; None when ``search_id`` is no open check.

    Returns
    -------
    str or None
        The :class:`~tessera.governance.vocabulary.DedupOutcome` reached.
    """
    from tessera.workflows.subjects import erase_subject  # subjects builds on the workflows this one uses

    with instance.sessions() as session:
        case = session.get(DedupCase, search_id)
        search = session.get(Search, search_id)
        if case is None or search is None or case.outcome != DedupOutcome.OPEN:
            return None
        if not all(c.status in SETTLED_REVIEWS for c in search.candidates):
            return None
        confirmed = sorted(
            (c for c in search.candidates if c.status == ReviewStatus.CONFIRMED and not c.catch_trial),
            key=lambda c: (-c.score, c.id),
        )
        subject_id, gallery_id = case.subject_id, search.gallery_id
        subject = session.get(Subject, subject_id)
        # What the erased registration's notice needs, read before the erasure leaves only ids: never a name.
        told = _told(session, subject, confirmed[0].id) if subject is not None and confirmed else None
    if subject is None and not _told_already(instance, search_id):
        return _close(instance, search_id, subject_id, gallery_id, DedupOutcome.WITHDRAWN, None)
    if subject is None or told is not None:
        # The notice first, in a transaction of its own, then the erasure, then the case closed: a crash between
        # any two leaves an open case that :func:`settle_stalled` finishes (the erasure's retry answers its first
        # receipt), never an erased registration without its notice, nor a notice twice.
        if told is not None and not _told_already(instance, search_id):
            _notify(instance, search_id, subject_id, gallery_id, told)
        receipt = erase_subject(instance, SETTLER, subject_id, reason="duplicate_confirmed")
        return _close(instance, search_id, subject_id, gallery_id, DedupOutcome.ERASED, receipt.receipt_sha256)
    with instance.transaction() as session:
        subject = session.get_one(Subject, subject_id, with_for_update=True)
        subject.status = SubjectStatus.ACTIVE
        session.get_one(Gallery, gallery_id).version += 1
        for template in session.scalars(select(Template).where(Template.subject_id == subject_id)):
            queue_template(instance, session, template)
        _record_close(instance, session, search_id, subject_id, gallery_id, DedupOutcome.ENROLLED, None)
    drain(instance)
    return DedupOutcome.ENROLLED


@dataclass(frozen=True)
class Told:
    """What the notice of a registration erased as a duplicate is made of (:func:`notify_erased`)."""

    reference: str
    """The case number the person was given at enrolment."""
    language: str | None
    """Of the consent text the person was shown."""
    candidate_id: str
    """The confirmed candidate (the best scored when several were), kept on the notice; a contest of it re-reviews
    every confirmed finding of the case (:func:`~tessera.workflows.contest_findings.contested_findings`)."""


def _told(session: Session, subject: Subject, candidate_id: str) -> Told:
    shown = session.get(ConsentText, subject.consent.text_sha256)
    return Told(case_number(subject.number), None if shown is None else shown.language, candidate_id)


def settle_stalled(instance: Instance) -> list[str]:
    """Settle every open check case whose candidates are all decided: a settlement a crash interrupted (between
    the notice, the erasure and the case's close), or a process that stopped after the last decision. Run by
    the retention schedule. Returns the outcomes reached."""
    with instance.sessions() as session:
        open_cases = list(session.scalars(select(DedupCase.search_id).where(DedupCase.outcome == DedupOutcome.OPEN)))
    return [outcome for search_id in open_cases if (outcome := settle(instance, search_id)) is not None]


def _told_already(instance: Instance, search_id: str) -> bool:
    """Whether the registration of this check case was given its notice of erasure (its settlement began)."""
    with instance.sessions() as session:
        notice = select(Notice.id).where(
            Notice.search_id == search_id, Notice.kind == NoticeKind.DUPLICATE_ERASED.value
        )
        return session.scalar(notice.limit(1)) is not None


def _notify(instance: Instance, search_id: str, subject_id: str, gallery_id: str, told: Told) -> None:
    with instance.transaction() as session:
        notify_erased(
            instance,
            session,
            erased_subject_id=subject_id,
            reference=told.reference,
            language=told.language,
            gallery_id=gallery_id,
            search_id=search_id,
            candidate_id=told.candidate_id,
        )


def _close(
    instance: Instance,
    search_id: str,
    subject_id: str,
    gallery_id: str,
    outcome: DedupOutcome,
    receipt: str | None,
) -> str:
    """Record how the case closed."""
    with instance.transaction() as session:
        _record_close(instance, session, search_id, subject_id, gallery_id, outcome, receipt)
    return outcome


def _record_close(
    instance: Instance,
    session: Session,
    search_id: str,
    subject_id: str,
    gallery_id: str,
    outcome: DedupOutcome,
    receipt: str | None,
) -> None:
    case = session.get_one(DedupCase, search_id)
    case.outcome, case.settled_at, case.receipt_sha256 = outcome, instance.clock(), receipt
    instance.record(
        session,
        SETTLER,
        ACTION,
        f"settled:{outcome}",
        subject_id=subject_id,
        gallery_id=gallery_id,
        details={"search_id": search_id, "receipt_sha256": receipt},
    )


def refuse_if_pending(subject: Subject) -> None:
    """A subject whose first capture is under review is neither verified nor given another capture (409)."""
    if subject.status == SubjectStatus.PENDING_REVIEW:
        raise Conflict(
            "This person's first photo resembled someone already enrolled and is being reviewed; nothing else can "
            "be done with this number until the review ends.",
            code="pending_review",
        )


def set_dedup_at_enrolment(
    instance: Instance, actor: Actor | str, gallery_id: str, enabled: bool | None
) -> dict[str, object]:
    """Switch a gallery's duplicate check on (True), off (False) or back to the default (None); audited."""
    with instance.transaction() as session:
        gallery = session.get(Gallery, gallery_id)
        if gallery is None:
            raise NotFound(f"No gallery with id {gallery_id!r}.", code="gallery_not_found")
        gallery.dedup_at_enrolment = enabled
        instance.record(
            session, actor, "gallery.dedup_at_enrolment", "ok", gallery_id=gallery_id, details={"setting": enabled}
        )
        return {"gallery_id": gallery_id, "dedup_at_enrolment": enabled, "checking": dedup_enabled(gallery)}


def open_cases(instance: Instance, actor: Actor | str, limit: int = 100) -> list[dict[str, object]]:
    """The open duplicate-check cases of the galleries the caller reaches, oldest first, for adjudicators to take
    up: the search to review and the case number only (who resembles whom is in the review, blind)."""
    query = (
        select(DedupCase.search_id, DedupCase.opened_at, Search.gallery_id, Search.case_reference)
        .join(Search, Search.id == DedupCase.search_id)
        .where(DedupCase.outcome == DedupOutcome.OPEN)
        .order_by(DedupCase.opened_at, DedupCase.search_id)
        .limit(max(1, min(limit, 500)))
    )
    scope = galleries_of(actor)
    if scope is not None:
        query = query.where(Search.gallery_id.in_(sorted(scope)))
    with instance.sessions() as session:
        rows = session.execute(query).all()
    # A case number names the new person (DUP-<their number>): the list is a read of their data, audited.
    record_read(instance, actor, "dedup.cases", details={"searches": [row[0] for row in rows]})
    return [
        {"search_id": search_id, "case_number": number, "gallery_id": gallery_id, "opened_at": opened.isoformat()}
        for search_id, opened, gallery_id, number in rows
    ]
