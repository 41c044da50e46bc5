"""Subjects: created only together with their consent, erased for good on withdrawal."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, joinedload

from tessera.errors import Conflict, NotFound
from tessera.governance.audit import canonical_json
from tessera.governance.consent import ConsentInput, check_text_covers, consent_fingerprint
from tessera.governance.numbers import new_number
from tessera.governance.vocabulary import SETTLED_REVIEWS, UNSETTLED_REVIEWS, CaseStatus, ReviewStatus
from tessera.store.db import checkpoint
from tessera.store.models import (
    CaseCandidate,
    Consent,
    Gallery,
    IdempotencyRecord,
    Search,
    Subject,
    Template,
    Tombstone,
)
from tessera.workflows.consent_evidence import check_evidence
from tessera.workflows.consent_texts import get_consent_text
from tessera.workflows.idempotency import Idempotency, remember
from tessera.workflows.indexing import drain, queue_removal
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.scope import check_gallery, check_subject


def create_subject(
    instance: Instance,
    actor: Actor | str,
    gallery_id: str,
    consent: ConsentInput,
    idempotency: Idempotency | None = None,
    external_id: str | None = None,
) -> Created:
    """Create a subject under its signed consent; returns its id and short number.

    ``external_id``, the programme's own id of the person, must be unique in the gallery (409
    ``external_id_taken``); it is kept with the subject only, never sent to a search index.

    The consent must not be expired, and must not be one that was withdrawn
    before (an erased subject's tombstone refuses its replay). A key limited
    to other galleries is answered as if the gallery did not exist.
    """
    check_gallery(instance, actor, gallery_id, "subject.create")
    now = instance.clock()
    if consent.expires_at <= now:
        raise Conflict(
            f"The consent expired on {consent.expires_at.isoformat()}; it cannot enrol anyone.", code="consent_expired"
        )
    from tessera.workflows.subject_records import checked_external_id, refuse_taken_external_id

    external_id = checked_external_id(external_id)
    fingerprint = consent_fingerprint(gallery_id, consent.signed_by, consent.signed_at, consent.text_sha256)
    modalities, purposes = [str(m) for m in consent.modalities], [str(p) for p in consent.purposes]
    with instance.sessions() as session:
        gallery = session.get(Gallery, gallery_id)
        if gallery is None:
            raise NotFound(f"No gallery with id {gallery_id!r}.", code="gallery_not_found")
        if gallery.closed_at is not None:
            raise Conflict("This gallery was closed when its purpose was met; it enrols no one.", code="gallery_closed")
        text = get_consent_text(session, consent.text_version, consent.text_sha256)
        refuse_taken_external_id(session, gallery_id, external_id)
        if session.scalar(select(Tombstone.subject_id).where(Tombstone.consent_sha256 == fingerprint)) is not None:
            instance.record_alone(actor, "subject.create", "refused:consent_withdrawn", gallery_id=gallery_id)
            raise Conflict(
                "This consent was withdrawn and the person's data erased; enrolling them again needs a newly "
                "signed consent.",
                code="consent_withdrawn",
            )
        accepted = list(gallery.consent_evidence)
    refusal = check_text_covers(text, gallery_id=gallery_id, modalities=modalities, purposes=purposes)
    if refusal is not None:
        instance.record_alone(actor, "subject.create", f"refused:{refusal.code}", gallery_id=gallery_id)
        raise Conflict(refusal.message, code=refusal.code)
    evidence = check_evidence(instance, actor, gallery_id, accepted, consent.evidence)
    subject_id, number = str(uuid.uuid4()), new_number()
    # The key is made first and durably: a crash before the commit below
    # leaves only an orphan key, which the next start destroys.
    instance.vault.create_subject(subject_id)
    try:
        sealed_evidence = (
            instance.vault.seal_consent_evidence(subject_id=subject_id, image=evidence.image)
            if evidence.image is not None
            else None
        )
        with instance.transaction() as session:
            session.add(
                Subject(
                    id=subject_id,
                    gallery_id=gallery_id,
                    number=number,
                    external_id=external_id,
                    created_at=now,
                    created_by=str(actor),
                    last_interaction_at=now,
                )
            )
            session.add(
                Consent(
                    subject_id=subject_id,
                    purposes=purposes,
                    modalities=modalities,
                    text_version=consent.text_version,
                    text_sha256=consent.text_sha256,
                    signed_by=consent.signed_by,
                    signed_at=consent.signed_at,
                    expires_at=consent.expires_at,
                    recorded_at=now,
                    text_language=text.language,
                    evidence=evidence.kind.value,
                    witness_key_id=evidence.witness_key_id,
                    evidence_sha256=evidence.image_sha256,
                    evidence_ciphertext=sealed_evidence,
                )
            )
            instance.record(
                session,
                actor,
                "subject.create",
                "ok",
                subject_id=subject_id,
                gallery_id=gallery_id,
                details={
                    "purposes": purposes,
                    "modalities": modalities,
                    "text_version": consent.text_version,
                    "text_sha256": consent.text_sha256,
                    "text_language": text.language,
                    "expires_at": consent.expires_at.isoformat(),
                    **evidence.audit_details(),
                    "number": number,
                    "external_id": external_id is not None,
                },
            )
            created = Created(subject_id, number, external_id)
            remember(instance, session, idempotency, 201, created.as_dict(), subject_id)
    except BaseException:
        instance.vault.discard_new_subject(subject_id)
        raise
    return created


@dataclass(frozen=True)
class Created:
    """A new subject: its internal id, the short number people use, the programme's id if given."""

    id: str
    number: str
    external_id: str | None

    def as_dict(self) -> dict[str, str | None]:
        return {"id": self.id, "number": self.number, "external_id": self.external_id}


def load_subject(session, subject_id: str, *, lock: bool = False) -> Subject:
    """The subject with its consent, read in one statement, or a 404 that says whether it never existed or was erased.

    Subject and consent come from one query (an inner join): on PostgreSQL each statement of a transaction sees the
    commits made before it, so a consent read lazily after its subject could be gone, deleted by an erasure that
    committed in between, and every caller reads the consent. One statement sees both rows or neither (an erasure
    deletes them in one transaction); neither answers ``subject_erased`` when the erasure's tombstone is there.

    ``lock`` takes the subject row's lock for the rest of the transaction (PostgreSQL ``SELECT ... FOR UPDATE``;
    SQLite's transactions hold the whole database's write lock already): an enrolment and an erasure of the same
    subject then run one after the other instead of deadlocking or updating a deleted row.
    """
    subject = read_subject(session, subject_id, lock=lock)
    tombstone = tombstone_of(session, subject) if subject is not None else session.get(Tombstone, subject_id)
    if subject is not None and tombstone is None:
        return subject
    if tombstone is not None:
        raise erased(subject_id, tombstone)
    raise NotFound(f"No subject with id {subject_id!r}.", code="subject_not_found")


ERASED_BECAUSE: dict[str, str] = {
    "consent_withdrawn": "when consent was withdrawn",
    "consent_expired": "when the consent expired",
    "retention_period_ended": "at the end of the retention period",
    "purpose_met": "when the programme closed the gallery",
    "duplicate_confirmed": "as a duplicate: two reviewers confirmed that this person was enrolled already",
    "restored_after_erasure": "again: the record was a restored copy of one erased before",
}
"""Why a subject was erased (its erasure receipt's ``reason``), in the words of the ``subject_erased`` answer."""


def erased(subject_id: str, tombstone: Tombstone) -> NotFound:
    """The 404 ``subject_erased`` of ``subject_id``, saying why from its tombstone's receipt (``detail.reason``).

    A tombstone written before store revision 0005 kept no receipt, and so no reason: its answer says none.
    """
    reason = None if tombstone.receipt is None else json.loads(tombstone.receipt)["reason"]
    because = ERASED_BECAUSE.get(reason, f"({reason})") if reason else ""
    message = f"Subject {subject_id!r} was erased{' ' + because if because else ''}."
    return NotFound(message, code="subject_erased", detail={"reason": reason} if reason else None)


def read_subject(session: Session, subject_id: str, *, lock: bool = False) -> Subject | None:
    """The subject with its consent, read in one statement (an inner join), or None; ``lock`` as in
    :func:`load_subject`.

    A subject exists under its consent (no consent row, no subject), and an erasure deletes both in one
    transaction: one statement sees both rows or neither, where the consent read lazily after its subject could be
    gone (on PostgreSQL each statement of a transaction sees the commits made before it).
    """
    query = select(Subject).options(joinedload(Subject.consent, innerjoin=True)).where(Subject.id == subject_id)
    return session.scalars(query.with_for_update(of=Subject) if lock else query).first()


def tombstone_of(session: Session, subject: Subject) -> Tombstone | None:
    """The tombstone that says ``subject`` was erased, though its row is here: a row restored from a backup, or
    brought back by a replayed write. Matched by the subject's id or by its consent's fingerprint (the same signed
    consent recorded again under a new id)."""
    tombstone = session.get(Tombstone, subject.id)
    if tombstone is not None or subject.consent is None:
        return tombstone
    consent = subject.consent
    fingerprint = consent_fingerprint(subject.gallery_id, consent.signed_by, consent.signed_at, consent.text_sha256)
    return session.scalars(select(Tombstone).where(Tombstone.consent_sha256 == fingerprint).limit(1)).first()


def restored_subjects(instance: Instance) -> list[str]:
    """Subjects whose rows are here though a tombstone says they were erased (restored or replayed rows)."""
    with instance.sessions() as session:
        erased_ids = set(session.scalars(select(Tombstone.subject_id)))
        erased_consents = set(session.scalars(select(Tombstone.consent_sha256)))
        if not erased_ids:
            return []
        rows = session.execute(
            select(Subject.id, Subject.gallery_id, Consent.signed_by, Consent.signed_at, Consent.text_sha256).join(
                Consent, Consent.subject_id == Subject.id
            )
        ).all()
    return sorted(
        subject_id
        for subject_id, gallery_id, signed_by, signed_at, text_sha256 in rows
        if subject_id in erased_ids
        or consent_fingerprint(gallery_id, signed_by, signed_at, text_sha256) in erased_consents
    )


@dataclass(frozen=True)
class ErasureReceipt:
    """What an erasure hands back, and answers again to a retried erasure (kept on the tombstone)."""

    subject_id: str
    reason: str
    gallery_id: str
    erased_at: str
    templates_erased: int
    index_entries_removed: int
    data_key_destroyed: bool
    audit_seq: int
    receipt_sha256: str

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def erase_subject(
    instance: Instance, actor: Actor | str, subject_id: str, reason: str = "consent_withdrawn"
) -> ErasureReceipt:
    """Withdraw consent: destroy the subject's data key, then remove its records and index entries.

    The key goes first, durably (:meth:`~tessera.store.keystore.FileKeyStore.destroy`): a crash before the
    commit leaves a subject whose templates no one can open, and the next erasure attempt finishes the job.
    Erasing an erased subject is not an error: it destroys any key file still there (a restored copy, or a
    crash of an older build between its commit and the key's destruction) and answers the first receipt.
    The subject and its consent are read as :func:`load_subject` reads them (:func:`read_subject`), so two erasures
    of one subject racing each other both answer that receipt.

    Raises
    ------
    NotFound
        ``subject_not_found`` when there never was such a subject; ``subject_erased`` when it was erased by a
        build that did not keep receipts (before store revision 0005), after destroying any key file left;
        ``subject_not_found`` too for a subject, present or erased, outside the galleries of a key limited to some.
    """
    check_subject(instance, actor, subject_id, "subject.erase")
    with instance.sessions() as session:
        subject = read_subject(session, subject_id)
        if subject is None:
            return _erased_receipt(instance, session, subject_id)
        tombstone = tombstone_of(session, subject)
    if tombstone is not None:
        return _erase_restored(instance, actor, subject_id, tombstone)
    # The key is destroyed before the commit, never after: a crash in between leaves no readable template.
    instance.vault.erase_subject(subject_id)
    # The indexes forget the person now too: with the key gone their templates are no one's to match.
    removed = sum(matcher.index.remove_subject(subject_id) for matcher in instance.matchers)
    now = instance.clock()
    with instance.transaction() as session:
        subject = read_subject(session, subject_id, lock=True)  # an enrolment in flight finishes first
        if subject is None:  # another request erased it meanwhile
            return _erased_receipt(instance, session, subject_id)
        consent = subject.consent
        gallery_id = subject.gallery_id
        templates = (
            session.scalar(select(func.count()).select_from(Template).where(Template.subject_id == subject_id)) or 0
        )
        core = {
            "subject_id": subject_id,
            "gallery_id": gallery_id,
            "erased_at": now.isoformat(),
            "templates_erased": templates,
        }
        receipt_sha256 = hashlib.sha256(canonical_json(core).encode()).hexdigest()
        session.get_one(Gallery, gallery_id).version += 1
        session.execute(delete(Template).where(Template.subject_id == subject_id))
        session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.subject_id == subject_id))
        # Open reviews of this person end: there is no one left to confirm.
        session.execute(
            update(CaseCandidate)
            .where(CaseCandidate.subject_id == subject_id, CaseCandidate.status.in_(sorted(UNSETTLED_REVIEWS)))
            .values(status=ReviewStatus.VOID)
        )
        closed = close_settled_cases(session, subject_id)
        session.delete(subject)
        entry = instance.record(
            session,
            actor,
            "subject.erase",
            "ok",
            subject_id=subject_id,
            gallery_id=gallery_id,
            details={"reason": reason, "templates_erased": templates, "receipt_sha256": receipt_sha256},
        )
        receipt = ErasureReceipt(
            subject_id=subject_id,
            reason=reason,
            gallery_id=gallery_id,
            erased_at=now.isoformat(),
            templates_erased=templates,
            index_entries_removed=removed,
            # True whether this call or an earlier, interrupted attempt destroyed it: no data key remains.
            data_key_destroyed=True,
            audit_seq=entry.seq,
            receipt_sha256=receipt_sha256,
        )
        session.add(
            Tombstone(
                subject_id=subject_id,
                gallery_id=gallery_id,
                consent_sha256=consent_fingerprint(
                    gallery_id, consent.signed_by, consent.signed_at, consent.text_sha256
                ),
                erased_at=now,
                receipt_sha256=receipt_sha256,
                receipt=canonical_json(receipt.as_dict()),
            )
        )
        queue_removal(instance, session, subject_id)
    for search_id in closed:  # their probe photos are unreadable everywhere once the cases are closed
        instance.vault.close_case(search_id)
    checkpoint(instance.engine)  # the erased rows leave the write-ahead log too, not only the database file
    drain(instance)
    return receipt


def _erase_restored(instance: Instance, actor: Actor | str, subject_id: str, tombstone: Tombstone) -> ErasureReceipt:
    """Erase again the rows of a subject a tombstone says was erased (restored from a backup, or replayed): its key,
    its rows and its index entries go, the tombstone stays as it was, and the first erasure's receipt is answered
    (a receipt of the consent's own erasure when the rows came back under a new id)."""
    instance.vault.erase_subject(subject_id)
    for matcher in instance.matchers:
        matcher.index.remove_subject(subject_id)
    with instance.transaction() as session:
        subject = session.get(Subject, subject_id, with_for_update=True)
        if subject is not None:
            gallery_id = subject.gallery_id
            session.get_one(Gallery, gallery_id).version += 1
            session.execute(delete(Template).where(Template.subject_id == subject_id))
            session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.subject_id == subject_id))
            session.delete(subject)
            instance.record(
                session,
                actor,
                "subject.erase",
                "ok:restored_row",
                subject_id=subject_id,
                gallery_id=gallery_id,
                details={"tombstone_of": tombstone.subject_id, "receipt_sha256": tombstone.receipt_sha256},
            )
            queue_removal(instance, session, subject_id)
    checkpoint(instance.engine)
    drain(instance)
    if tombstone.receipt is None:
        raise erased(subject_id, tombstone)
    return ErasureReceipt(**json.loads(tombstone.receipt))


def close_settled_cases(session: Session, subject_id: str) -> list[str]:
    """Close the open cases listing ``subject_id`` whose every candidate is now settled (the voided review was the
    last one open); returns their search ids, whose probe photos' keys the caller destroys after the commit."""
    session.flush()
    searches = session.scalars(
        select(Search)
        .join(CaseCandidate, CaseCandidate.search_id == Search.id)
        .where(CaseCandidate.subject_id == subject_id, Search.status == CaseStatus.OPEN)
    ).unique()
    closed = []
    for search in searches:
        open_reviews = session.scalar(
            select(func.count())
            .select_from(CaseCandidate)
            .where(CaseCandidate.search_id == search.id, CaseCandidate.status.not_in(sorted(SETTLED_REVIEWS)))
        )
        if not open_reviews:
            search.status = CaseStatus.CLOSED
            search.probe_ciphertext = None
            closed.append(search.id)
    return closed


def _erased_receipt(instance: Instance, session: Session, subject_id: str) -> ErasureReceipt:
    """The receipt of an erased subject, answered again after destroying any key file still there."""
    tombstone = session.get(Tombstone, subject_id)
    if tombstone is None:
        raise NotFound(f"No subject with id {subject_id!r}.", code="subject_not_found")
    instance.vault.erase_subject(subject_id)
    if tombstone.receipt is None:
        raise erased(subject_id, tombstone)
    return ErasureReceipt(**json.loads(tombstone.receipt))
