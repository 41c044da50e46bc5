"""Registering a person without biometrics, in a gallery that allows it, and serving them.

Kept apart from every biometric record: a :class:`~tessera.store.models.NonBiometricRecord` is no subject, has
no template, reaches no index and is counted by no biometric figure (gallery size N, failures to enrol). The
person is found again by the programme's own id or card (``programme_id``) and the record's number. The reason
is the one the person or worker chose from :class:`~tessera.governance.non_biometric.NonBiometricReason`.

The gallery's ``allow_non_biometric`` setting governs new registrations only. A person registered while it was on
is served after an admin turns it off, until the gallery's retention erases the record: refusing them service
then would push a person who declined biometrics to give them after all, and consent is not freely given when
service depends on it (GDPR Art. 7(4), Recital 43; docs/governance.md R4).

The person can withdraw at any time (:func:`withdraw`): their record is erased before the call returns, with a
receipt, as a subject's withdrawal erases a subject (GDPR Art. 7(3), 17; R7, R8). The gallery's retention
(:func:`expire_records`) erases the same way and keeps the same receipt, with its own reason, so that the record's
number says why it is gone whichever erased it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tessera.errors import Conflict, InvalidRequest, NotFound
from tessera.governance.audit import canonical_json
from tessera.governance.non_biometric import NonBiometricReason
from tessera.governance.retention import MAX_RETENTION_DAYS, erasure_due
from tessera.store.db import checkpoint
from tessera.store.models import Gallery, NonBiometricErasure, NonBiometricRecord
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.scope import check_found, check_gallery

WITHDRAWN = "withdrawn"
"""A withdrawal's reason, in its receipt and as its audit entry's outcome (``non_biometric.erase``): the person
asked for their record to be erased. The retention's erasures say theirs (``retention_period_ended``,
``purpose_met``)."""

FIELDS_ERASED = ("programme_id", "reason", "registered_at", "registered_by", "last_served_at", "times_served")
"""What an erasure erases with the record, as its receipt names it: every field but the record's number and
gallery, which the receipt keeps."""

ERASED_BECAUSE = {
    WITHDRAWN: "when the person withdrew; they can be registered again if they ask",
    "retention_period_ended": "when the gallery's retention period ended; they can be registered again if they ask",
    "purpose_met": "when its gallery closed, its purpose met",
    "consent_expired": "when the longest retention Tessera allows ended; they can be registered again if they ask",
}
"""How a record's erasure is told, by its receipt's reason (a reason not listed is told by its code)."""


def set_allowed(instance: Instance, actor: Actor | str, gallery_id: str, allowed: bool) -> dict:
    """Turn the gallery's ``allow_non_biometric`` setting on or off (audited).

    Off stops new registrations only: the people already registered without biometrics are still served, and
    their records are erased on the gallery's retention as before (:func:`expire_records`).
    """
    with instance.transaction() as session:
        gallery = session.get(Gallery, gallery_id)
        if gallery is None:
            raise NotFound(f"No gallery with id {gallery_id!r}.", code="gallery_not_found")
        gallery.allow_non_biometric = allowed
        instance.record(
            session, actor, "gallery.non_biometric", "on" if allowed else "off", gallery_id=gallery_id, details={}
        )
        return {"gallery_id": gallery_id, "allow_non_biometric": allowed}


def _view(record: NonBiometricRecord) -> dict:
    return {
        "record_id": record.id,
        "gallery_id": record.gallery_id,
        "programme_id": record.programme_id,
        "reason": record.reason,
        "registered_at": record.registered_at.isoformat(),
        "last_served_at": None if record.last_served_at is None else record.last_served_at.isoformat(),
        "times_served": record.times_served,
        "biometric": False,
    }


def register(instance: Instance, actor: Actor | str, gallery_id: str, programme_id: str, reason: str) -> dict:
    """Register a person without biometrics under ``programme_id``, for the ``reason`` chosen.

    Raises
    ------
    NotFound
        ``gallery_not_found`` (also outside the key's galleries).
    InvalidRequest
        ``invalid_reason`` for a reason outside the fixed list.
    Conflict
        ``non_biometric_not_allowed`` when the gallery does not allow it; ``gallery_closed``;
        ``programme_id_taken`` when the programme id is already registered without biometrics in the gallery.
    """
    check_gallery(instance, actor, gallery_id, "non_biometric.register")
    try:
        chosen = NonBiometricReason(reason)
    except ValueError:
        allowed = ", ".join(r.value for r in NonBiometricReason)
        raise InvalidRequest(f"reason must be one of {allowed}; got {reason!r}.", code="invalid_reason") from None
    try:
        with instance.transaction() as session:
            gallery = _gallery_allowing(session, gallery_id)
            record = NonBiometricRecord(
                id=str(uuid.uuid4()),
                gallery_id=gallery.id,
                programme_id=programme_id,
                reason=chosen.value,
                registered_at=instance.clock(),
                registered_by=str(actor),
                times_served=0,
            )
            session.add(record)
            session.flush()
            instance.record(
                session,
                actor,
                "non_biometric.register",
                chosen.value,
                gallery_id=gallery_id,
                details={"record_id": record.id},
            )
            return _view(record)
    except IntegrityError:
        raise Conflict(
            f"Programme id {programme_id!r} is already registered without biometrics in this gallery: serve that "
            "record.",
            code="programme_id_taken",
        ) from None


def _open_gallery(session, gallery_id: str) -> Gallery:
    gallery = session.get(Gallery, gallery_id)
    if gallery is None:
        raise NotFound(f"No gallery with id {gallery_id!r}.", code="gallery_not_found")
    if gallery.closed_at is not None:
        raise Conflict("The gallery is closed.", code="gallery_closed")
    return gallery


def _gallery_allowing(session, gallery_id: str) -> Gallery:
    """The open gallery, if it registers people without biometrics now."""
    gallery = _open_gallery(session, gallery_id)
    if not gallery.allow_non_biometric:
        raise Conflict(
            "This gallery does not register new people without biometrics; an admin can allow it "
            "(PUT /v1/galleries/{id}/non-biometric). The people already registered without biometrics are still "
            "served.",
            code="non_biometric_not_allowed",
        )
    return gallery


def serve(
    instance: Instance, actor: Actor | str, gallery_id: str, programme_id: str, record_id: str | None = None
) -> dict:
    """Find the person registered without biometrics under ``programme_id`` (and ``record_id``, when the worker
    has the number) and record that they were served, whether or not the gallery still registers new people
    without biometrics.

    Raises
    ------
    NotFound
        ``gallery_not_found`` (also outside the key's galleries); ``record_not_found`` when no record has that
        programme id (and number); ``record_erased`` when the number given is of a record erased in this gallery,
        withdrawn or by its retention (the programme id alone is no longer known once its record is erased:
        ``record_not_found``).
    Conflict
        ``gallery_closed`` (its records were erased when it closed).
    """
    check_gallery(instance, actor, gallery_id, "non_biometric.serve")
    with instance.transaction() as session:
        gallery = _open_gallery(session, gallery_id)  # not _gallery_allowing: the setting governs new registrations
        record = session.scalar(
            select(NonBiometricRecord).where(
                NonBiometricRecord.gallery_id == gallery.id, NonBiometricRecord.programme_id == programme_id
            )
        )
        if record is None or (record_id is not None and record.id != record_id):
            erasure = None if record_id is None else session.get(NonBiometricErasure, record_id)
            if erasure is not None and erasure.gallery_id == gallery.id:  # the number of a record erased here
                details = {"record_id": erasure.record_id}
                instance.record(session, actor, "non_biometric.serve", "erased", gallery_id=gallery_id, details=details)
                missing = erased(erasure.record_id, _receipt(erasure).reason)
            else:
                instance.record(session, actor, "non_biometric.serve", "not_found", gallery_id=gallery_id, details={})
                missing = NotFound(
                    "No one is registered without biometrics under that programme id (and number) in this gallery.",
                    code="record_not_found",
                )
        else:
            record.last_served_at = instance.clock()
            record.times_served += 1
            instance.record(
                session, actor, "non_biometric.serve", "ok", gallery_id=gallery_id, details={"record_id": record.id}
            )
            return _view(record)
    raise missing


def expire_records(instance: Instance, actor: Actor | str) -> int:
    """Delete the records the gallery may no longer keep, as for biometric records
    (:func:`tessera.governance.retention.erasure_due`): the gallery is closed, or ``retention_days`` passed since
    the person was last served (or registered). Each is erased as a withdrawal erases (:func:`_erase`): audited
    with its reason, and a receipt kept under its number; returns how many."""
    now = instance.clock()
    with instance.transaction() as session:
        rows = session.execute(
            select(NonBiometricRecord, Gallery.retention_days, Gallery.closed_at).join(
                Gallery, Gallery.id == NonBiometricRecord.gallery_id
            )
        ).all()
        expired = 0
        for record, retention_days, closed_at in rows:
            last = record.last_served_at or record.registered_at
            reason = erasure_due(
                last_interaction_at=last,
                consent_expires_at=last + timedelta(days=MAX_RETENTION_DAYS),
                retention_days=retention_days,
                gallery_closed_at=closed_at,
                now=now,
            )
            if reason is None:
                continue
            _erase(instance, session, actor, record, reason, now)
            expired += 1
    if expired:
        checkpoint(instance.engine)  # the erased rows leave the write-ahead log too, as a withdrawal's do
    return expired


@dataclass(frozen=True)
class RecordErasureReceipt:
    """What a withdrawal hands back, and answers again to a retried one; the retention keeps the same for the
    records it erases (in ``non_biometric_erasures``)."""

    record_id: str
    reason: str
    gallery_id: str
    erased_at: str
    fields_erased: list[str]
    """The record's fields erased (:data:`FIELDS_ERASED`), by name: their values are gone."""
    audit_seq: int
    receipt_sha256: str

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def erased(record_id: str, reason: str) -> NotFound:
    """The 404 ``record_erased`` of an erased record, saying why (``detail.reason``, as ``subject_erased`` says)."""
    return NotFound(
        f"Record {record_id!r} was erased {ERASED_BECAUSE.get(reason, f'({reason})')}.",
        code="record_erased",
        detail={"reason": reason},
    )


def withdraw(instance: Instance, actor: Actor | str, record_id: str) -> RecordErasureReceipt:
    """The person withdraws: erase their record before returning, audited, with a receipt (GDPR Art. 7(3), 17).

    As :func:`tessera.workflows.subjects.erase_subject` erases a subject, where it applies (a record has no data
    key, template or index entry): the row is deleted, with ``secure_delete`` overwriting its bytes, and the
    database is checkpointed so that no copy stays in the write-ahead log; the audit entry
    (``non_biometric.erase``, outcome ``withdrawn``) names the record's number only, never its programme id; what
    is kept (``non_biometric_erasures``) is the number, the gallery and the receipt. Withdrawing an erased record
    is not an error: it answers the receipt of its erasure (the first withdrawal's, also to two withdrawals racing
    each other, or the retention's, whose reason says why).

    Raises
    ------
    NotFound
        ``record_not_found`` when there is no such record (never one; or erased by the retention before
        2026-12-05, which kept no receipt), and for a record, present or erased, outside the galleries of a key
        limited to some.
    """
    missing = NotFound(f"No record without biometrics has number {record_id!r}.", code="record_not_found")
    with instance.sessions() as session:
        record = session.get(NonBiometricRecord, record_id)
        erasure = session.get(NonBiometricErasure, record_id) if record is None else None
        gallery_id = record.gallery_id if record is not None else None if erasure is None else erasure.gallery_id
        check_found(instance, actor, gallery_id, record_id, "non_biometric.erase", missing)
    if erasure is not None:
        checkpoint(instance.engine)  # a retry finishes what a crash after the commit left in the log
        return _receipt(erasure)
    now = instance.clock()
    with instance.transaction() as session:
        record = session.get(NonBiometricRecord, record_id, with_for_update=True)
        if record is None:  # another withdrawal (or the retention) erased it meanwhile
            erasure = session.get(NonBiometricErasure, record_id)
            if erasure is None:
                raise missing
            return _receipt(erasure)
        receipt = _erase(instance, session, actor, record, WITHDRAWN, now)
    checkpoint(instance.engine)  # the erased row leaves the write-ahead log too, not only the database file
    return receipt


def _erase(
    instance: Instance, session, actor: Actor | str, record: NonBiometricRecord, reason: str, now
) -> RecordErasureReceipt:
    """Delete ``record`` in ``session`` (``secure_delete`` overwrites its bytes), audit ``non_biometric.erase`` with
    ``reason`` by the record's number only, and keep the receipt under that number; the caller checkpoints the
    database after its commit, so that no copy stays in the write-ahead log."""
    record_id, gallery_id = record.id, record.gallery_id
    core = {"record_id": record_id, "gallery_id": gallery_id, "erased_at": now.isoformat(), "reason": reason}
    receipt_sha256 = hashlib.sha256(canonical_json(core).encode()).hexdigest()
    session.delete(record)
    entry = instance.record(
        session,
        actor,
        "non_biometric.erase",
        reason,
        gallery_id=gallery_id,
        details={"record_id": record_id, "receipt_sha256": receipt_sha256},
    )
    receipt = RecordErasureReceipt(
        record_id=record_id,
        reason=reason,
        gallery_id=gallery_id,
        erased_at=now.isoformat(),
        fields_erased=list(FIELDS_ERASED),
        audit_seq=entry.seq,
        receipt_sha256=receipt_sha256,
    )
    session.add(
        NonBiometricErasure(
            record_id=record_id,
            gallery_id=gallery_id,
            erased_at=now,
            receipt_sha256=receipt_sha256,
            receipt=canonical_json(receipt.as_dict()),
        )
    )
    return receipt


def _receipt(erasure: NonBiometricErasure) -> RecordErasureReceipt:
    return RecordErasureReceipt(**json.loads(erasure.receipt))
