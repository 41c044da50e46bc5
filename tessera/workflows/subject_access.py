"""Subject access (GDPR Art. 15) and consent proof: everything held about a person, no templates."""

from __future__ import annotations

import base64
import json

from sqlalchemy import or_, select

from tessera.governance.adjudication import disclosed_subjects
from tessera.store.crypto import SealedDataUnreadable
from tessera.store.models import AuditEntry, CaseCandidate, Consent, ConsentText, Search
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.notices import people_records
from tessera.workflows.reads import record_read, require_purpose
from tessera.workflows.scope import check_subject
from tessera.workflows.subjects import load_subject


def consent_proof(instance: Instance, actor: Actor | str, subject_id: str, purpose: str | None = None) -> dict:
    """The consent record, the exact text shown, and the audit link that recorded it.

    A key limited to other galleries than the subject's is answered 404 ``subject_not_found``; a key that did
    not enrol the subject must give ``purpose`` (422 ``purpose_required``). The read is audited
    (``subject.consent_proof``, with the purpose).
    """
    check_subject(instance, actor, subject_id, "subject.consent_proof")
    _check_reader(instance, actor, subject_id, "subject.consent_proof", purpose)
    proof = _consent_proof(instance, subject_id, with_evidence=True)
    # A read of someone's consent (and of their signature or mark) is itself recorded: auditors can list who looked.
    record_read(
        instance,
        actor,
        "subject.consent_proof",
        subject_id=subject_id,
        gallery_id=proof["gallery_id"],
        purpose=purpose,
        details={"evidence": proof["consent"]["evidence"]["kind"]},
    )
    return proof


def _check_reader(instance: Instance, actor: Actor | str, subject_id: str, action: str, purpose: str | None) -> None:
    with instance.sessions() as session:
        subject = load_subject(session, subject_id)
        owner, gallery_id = subject.created_by, subject.gallery_id
    require_purpose(instance, actor, action, subject_id, gallery_id, owner, purpose)


def _evidence(instance: Instance, consent: Consent, with_image: bool) -> dict:
    """How the person signified consent; the sealed image opened under the subject's key when asked for."""
    evidence: dict = {
        "kind": consent.evidence,
        "witness_key_id": consent.witness_key_id,
        "image_sha256": consent.evidence_sha256,
    }
    if with_image and consent.evidence_ciphertext is not None:
        try:
            image = instance.vault.open_consent_evidence(
                subject_id=consent.subject_id, sealed=consent.evidence_ciphertext
            )
            kind = "png" if image.startswith(b"\x89PNG") else "jpeg"
            evidence["image"] = f"data:image/{kind};base64,{base64.b64encode(image).decode()}"
        except SealedDataUnreadable:  # the key is gone: the person was erased, or the row restored after it
            evidence["image"] = None
    return evidence


def _consent_proof(instance: Instance, subject_id: str, with_evidence: bool = False) -> dict:
    with instance.sessions() as session:
        subject = load_subject(session, subject_id)
        consent = subject.consent
        text = session.get(ConsentText, consent.text_sha256)
        entry = session.scalar(
            select(AuditEntry).where(AuditEntry.subject_id == subject_id, AuditEntry.action == "subject.create")
        )
        return {
            "subject_id": subject_id,
            "gallery_id": subject.gallery_id,
            "consent": {
                "purposes": consent.purposes,
                "modalities": consent.modalities,
                "text_version": consent.text_version,
                "text_sha256": consent.text_sha256,
                "signed_by": consent.signed_by,
                "signed_at": consent.signed_at.isoformat(),
                "expires_at": consent.expires_at.isoformat(),
                "recorded_at": consent.recorded_at.isoformat(),
                "text_language": consent.text_language,
                "evidence": _evidence(instance, consent, with_evidence),
            },
            "text": {
                "version": text.version,
                "language": text.language,
                "text": text.text,
                "gallery_id": text.gallery_id,
                "modalities": text.modalities,
                "purposes": text.purposes,
            }
            if text
            else None,
            "audit": {"seq": entry.seq, "entry_hash": entry.entry_hash, "body": json.loads(entry.body)}
            if entry
            else None,
        }


def subject_export(instance: Instance, actor: Actor | str, subject_id: str, purpose: str | None = None) -> dict:
    """Everything Tessera holds about the subject: consent, captures (dates and quality), searches that listed them,
    audit entries (among them every earlier read of their data: who read it, when and why).

    A key limited to other galleries than the subject's is answered 404 ``subject_not_found``; a key that did
    not enrol the subject must give ``purpose`` (422 ``purpose_required``). The read is audited
    (``subject.export``, with the purpose) before the answer is built, so the export lists itself.
    """
    check_subject(instance, actor, subject_id, "subject.export")
    _check_reader(instance, actor, subject_id, "subject.export", purpose)
    proof = _consent_proof(instance, subject_id)
    record_read(
        instance, actor, "subject.export", subject_id=subject_id, gallery_id=proof["gallery_id"], purpose=purpose
    )
    with instance.sessions() as session:
        subject = load_subject(session, subject_id)
        captures = [
            {
                "template_id": t.id,
                "modality": t.modality,
                "algorithm": t.algorithm,
                "captured_at": t.created_at.isoformat(),
                "quality": t.quality,
                "image_kept": t.image_ciphertext is not None,
                **(
                    {"finger_position": t.finger_position, "capture": t.capture}
                    if t.finger_position is not None
                    else {}
                ),
            }
            for t in sorted(subject.templates, key=lambda t: t.created_at)
        ]
        listings = session.execute(
            select(
                Search.id,
                Search.purpose,
                Search.case_reference,
                Search.started_at,
                CaseCandidate.status,
                CaseCandidate.catch_trial,
            )
            .join(CaseCandidate, CaseCandidate.search_id == Search.id)
            .where(CaseCandidate.subject_id == subject_id)
        ).all()
        # Whoever reads this export (an enroller, an admin) may have run the search: a lead is named here only
        # once two reviewers confirmed it, as in every other answer about a search.
        listed = [row[:5] for row in listings if disclosed_subjects([(subject_id, row.catch_trial, row.status)])]
        withheld = {row.id for row in listings} - {row[0] for row in listed}
        entries = [
            entry
            for entry in session.scalars(
                select(AuditEntry)
                .where(or_(AuditEntry.subject_id == subject_id, AuditEntry.body.contains(subject_id)))
                .order_by(AuditEntry.seq)
            )
            if _search_of(entry) not in withheld
        ]
        return {
            "subject_id": subject_id,
            "number": subject.number,
            "external_id": subject.external_id,
            "status": subject.status,
            "created_at": subject.created_at.isoformat(),
            "last_interaction_at": subject.last_interaction_at.isoformat(),
            "consent": proof["consent"],
            "consent_text": proof["text"],
            "captures": captures,
            "searches_listing_them": [
                {"search_id": s, "purpose": p, "case_reference": c, "at": at.isoformat(), "review_status": status}
                for s, p, c, at, status in listed
            ],
            "audit_entries": [
                {
                    "seq": e.seq,
                    "at": e.at.isoformat(),
                    "action": e.action,
                    "outcome": e.outcome,
                    "entry_hash": e.entry_hash,
                }
                for e in entries
            ],
            **people_records(instance, session, subject_id),
            "notice": "Biometric templates and images are never exported. A search is listed only once two "
            "reviewers confirmed the person as its candidate.",
        }


def _search_of(entry: AuditEntry) -> str | None:
    """The search an audit entry is about (a search, a review read or decision), or None."""
    details = json.loads(entry.body).get("details") or {}
    return details.get("search_id") if isinstance(details, dict) else None
