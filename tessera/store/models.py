"""The store's tables (SQLAlchemy 2). Schema changes go through Alembic migrations.

Nothing here holds a biometric template in clear: ``Template.ciphertext`` is
sealed with the subject's data key, which lives outside the database
(:mod:`tessera.store.vault`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from tessera.governance.numbers import new_number
from tessera.governance.vocabulary import (
    CaseStatus,
    ConsentEvidence,
    DedupOutcome,
    Modality,
    Purpose,
    ReviewStatus,
    SubjectStatus,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store only timezone-aware datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(64), default="", server_default="")
    """Who created the key (an admin key's actor id, or a local operator); '' before revision 0010."""

    galleries: Mapped[list[ApiKeyGallery]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    """The galleries the key is limited to; none: the key is global (every admin key is)."""


class ApiKeyGallery(Base):
    """One gallery an API key is limited to (revision 0006)."""

    __tablename__ = "api_key_galleries"

    api_key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True)
    gallery_id: Mapped[str] = mapped_column(ForeignKey("galleries.id"), primary_key=True)


class Gallery(Base):
    __tablename__ = "galleries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    purpose: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    search_purposes: Mapped[list[str]] = mapped_column(default=lambda: ["deduplicate"])
    """The purposes a 1:N search of this gallery may name (its allow-list)."""
    identification_enabled_at: Mapped[datetime | None]
    dpia_reference: Mapped[str | None] = mapped_column(String(200))
    """The data-protection impact assessment an admin cited to enable 1:N; None: 1:N is off."""
    retention_days: Mapped[int] = mapped_column(default=1095)
    consent_evidence: Mapped[list[str]] = mapped_column(default=lambda: [e.value for e in ConsentEvidence])
    """How a consent may be signified in this gallery (:class:`~tessera.governance.vocabulary.ConsentEvidence`);
    every kind until an admin narrows it (revision 0009)."""
    dedup_at_enrolment: Mapped[bool | None]
    """Whether a subject's first capture is searched for a duplicate before it is enrolled (revision 0007); None:
    the default, on whenever 1:N is enabled (:mod:`tessera.workflows.dedup`)."""
    version: Mapped[int] = mapped_column(default=0)
    """Bumped by every enrolment and erasure, so a search records which state of the gallery it saw."""
    closed_at: Mapped[datetime | None]
    allow_non_biometric: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    """Whether new people may be registered here without biometrics (revision 0010); the people already registered
    are served whatever it says (docs/governance.md R4)."""
    liveness: Mapped[str] = mapped_column(String(16), default="supervised", server_default="supervised")
    """Liveness policy (revision 0012): ``supervised`` (a trained worker sees the person; the passive score is
    advisory) or ``unsupervised`` (enrolment and verification need a liveness token, docs/liveness.md)."""
    score_disclosure: Mapped[str] = mapped_column(String(16), default="banded", server_default="banded")
    """What verification and search answers say about a score: ``banded`` (a decision and an FMR band) or
    ``exact`` (evaluation galleries); see :mod:`tessera.governance.disclosure` (revision 0011)."""


class ConsentText(Base):
    """A consent text exactly as shown to people; subjects' consents point at it by hash.

    ``version`` is the content id: the language versions of one text share it, one row per language.
    """

    __tablename__ = "consent_texts"
    __table_args__ = (UniqueConstraint("version", "language", name="uq_consent_text_version"),)

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    gallery_id: Mapped[str | None] = mapped_column(String(36), index=True)
    """The one gallery the text is for; None: shared by every gallery (every text registered before 0009)."""
    modalities: Mapped[list[str]] = mapped_column(default=lambda: [m.value for m in Modality])
    """The biometrics the text asks consent for: a consent under it covers no other."""
    purposes: Mapped[list[str]] = mapped_column(default=lambda: [p.value for p in Purpose])
    """The purposes the text asks consent for: a consent under it covers no other."""
    keeps_reference_photo: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    """The text tells people a normalised photo of their face is kept, sealed, for reviewers in a gallery with 1:N
    search, and erased with them (revision 0008; :mod:`tessera.governance.reference_photos`)."""


class SystemFlag(Base):
    """Instance-wide switches (e.g. the 1:N kill switch), each change audited."""

    __tablename__ = "system_flags"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(64))


class Subject(Base):
    __tablename__ = "subjects"
    __table_args__ = (UniqueConstraint("gallery_id", "external_id", name="uq_subject_external_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    gallery_id: Mapped[str] = mapped_column(ForeignKey("galleries.id"), index=True)
    number: Mapped[str] = mapped_column(String(20), unique=True, default=new_number)
    """The short number people read and type (``TSR-XXXX-XXXX-XXC``, :mod:`tessera.governance.numbers`); revision
    0007 gave every older subject one."""
    external_id: Mapped[str | None] = mapped_column(String(100))
    """The programme's own id of the person, unique in the gallery; never sent to a search index."""
    status: Mapped[str] = mapped_column(String(16), default=SubjectStatus.ACTIVE.value)
    """:class:`~tessera.governance.vocabulary.SubjectStatus`."""
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    last_interaction_at: Mapped[datetime]
    """Last enrolment or verification of the person: retention counts from here."""

    consent: Mapped[Consent] = relationship(back_populates="subject", cascade="all, delete-orphan", uselist=False)
    templates: Mapped[list[Template]] = relationship(back_populates="subject", cascade="all, delete-orphan")


class Consent(Base):
    """The signed consent record a subject exists under: no consent row, no subject."""

    __tablename__ = "consents"

    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), primary_key=True)
    purposes: Mapped[list[str]]
    modalities: Mapped[list[str]]
    text_version: Mapped[str] = mapped_column(String(100))
    text_sha256: Mapped[str] = mapped_column(String(64))
    signed_by: Mapped[str] = mapped_column(String(200))
    signed_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    text_language: Mapped[str | None] = mapped_column(String(16))
    """The language of the text the person read (its BCP 47 tag); NULL before revision 0009."""
    evidence: Mapped[str] = mapped_column(String(32), default=ConsentEvidence.TYPED_NAME.value)
    """How the person signified it (:class:`~tessera.governance.vocabulary.ConsentEvidence`)."""
    witness_key_id: Mapped[str | None] = mapped_column(String(32))
    """Spoken consent: the id of the second worker's key that witnessed it."""
    evidence_sha256: Mapped[str | None] = mapped_column(String(64))
    """A signature or thumbprint mark: SHA-256 of the image bytes sealed in ``evidence_ciphertext``."""
    evidence_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    """The image, sealed under the subject's data key: destroyed with the subject at erasure."""

    subject: Mapped[Subject] = relationship(back_populates="consent")


class Template(Base):
    """One enrolled capture's template, sealed: a face embedding, or a finger's ISO/IEC 19794-2 minutiae record."""

    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("subject_id", "capture_sha256", "algorithm", name="uq_template_capture"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), index=True)
    modality: Mapped[str] = mapped_column(String(16))
    algorithm: Mapped[str] = mapped_column(String(100))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    image_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    quality: Mapped[dict[str, Any]]
    capture_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    finger_position: Mapped[int | None]
    """Fingers only: ISO/IEC 19794-2 finger position, 1 (right thumb) to 10 (left little); None for a face."""
    capture: Mapped[str | None] = mapped_column(String(16))
    """Fingers only: ``contact`` (scanner, ink) or ``contactless`` (phone photo); the two are never compared."""

    subject: Mapped[Subject] = relationship(back_populates="templates")


class Tombstone(Base):
    """What is left of an erased subject: ids and hashes, no personal data."""

    __tablename__ = "tombstones"

    subject_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    gallery_id: Mapped[str] = mapped_column(String(36))
    consent_sha256: Mapped[str] = mapped_column(String(64), index=True)
    erased_at: Mapped[datetime]
    receipt_sha256: Mapped[str] = mapped_column(String(64))
    # The canonical JSON of the erasure receipt, answered again to a retried erasure (NULL before revision 0005).
    receipt: Mapped[str | None] = mapped_column(Text, nullable=True)


class AuditEntry(Base):
    """One link of the hash chain; ``body`` is the canonical JSON that is hashed."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_subject", "subject_id"),
        # GET /v1/audit filters on these (revision 0011)
        Index("ix_audit_actor", "actor"),
        Index("ix_audit_gallery", "gallery_id"),
        Index("ix_audit_at", "at"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str | None] = mapped_column(String(36))
    gallery_id: Mapped[str | None] = mapped_column(String(36))
    body: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)


class IdempotencyRecord(Base):
    """The answer to a request sent with an ``Idempotency-Key``, replayed on a retry."""

    __tablename__ = "idempotency"

    api_key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int]
    response: Mapped[dict[str, Any]]
    subject_id: Mapped[str | None] = mapped_column(String(36), index=True)
    created_at: Mapped[datetime]


class Search(Base):
    """A 1:N search and the review case it opens."""

    __tablename__ = "searches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    gallery_id: Mapped[str] = mapped_column(ForeignKey("galleries.id"), index=True)
    gallery_version: Mapped[int]
    purpose: Mapped[str] = mapped_column(String(32))
    case_reference: Mapped[str] = mapped_column(String(200))
    requested_by: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime]
    probe_sha256: Mapped[str] = mapped_column(String(64))
    threshold: Mapped[float] = mapped_column(Float)
    score_kind: Mapped[str | None] = mapped_column(String(16))
    """What ``threshold`` and the candidates' scores are: ``cosine``, ``mcc`` or ``llr`` (fused); NULL before
    revision 0004."""
    algorithm: Mapped[str | None] = mapped_column(String(200))
    """The algorithm behind the scores (fused: every probe's, joined by ``+``)."""
    gallery_size: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.OPEN.value)
    """:class:`~tessera.governance.vocabulary.CaseStatus`."""
    probe_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    """The probe photo for reviewers, sealed with a per-search key that is destroyed when the case closes."""

    candidates: Mapped[list[CaseCandidate]] = relationship(back_populates="search", cascade="all, delete-orphan")


class DedupCase(Base):
    """The review case a subject's first capture opened because it resembled someone enrolled (revision 0007).

    Links the search (and its candidates, reviewed by two adjudicators as any search's) to the pending subject;
    the subject id stays after an erasure, which leaves only ids and hashes (as a tombstone)."""

    __tablename__ = "dedup_cases"

    search_id: Mapped[str] = mapped_column(ForeignKey("searches.id", ondelete="CASCADE"), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(36), index=True)
    opened_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16), default=DedupOutcome.OPEN.value)
    """:class:`~tessera.governance.vocabulary.DedupOutcome`."""
    settled_at: Mapped[datetime | None]
    receipt_sha256: Mapped[str | None] = mapped_column(String(64))
    """Erased: the erasure receipt's hash."""


class CaseCandidate(Base):
    """One candidate of a search, to be confirmed or rejected by two adjudicators.

    A catch trial is a known non-mate slipped in among the candidates to
    measure reviewers; it is never reported to the requester.
    """

    __tablename__ = "case_candidates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    search_id: Mapped[str] = mapped_column(ForeignKey("searches.id", ondelete="CASCADE"), index=True)
    subject_id: Mapped[str] = mapped_column(String(36), index=True)
    template_id: Mapped[str] = mapped_column(String(36))
    rank: Mapped[int | None]
    score: Mapped[float] = mapped_column(Float)
    score_kind: Mapped[str | None] = mapped_column(String(16))
    """``cosine``, ``mcc`` or ``llr`` (fused); NULL before revision 0004."""
    algorithm: Mapped[str | None] = mapped_column(String(200))
    fmr: Mapped[float] = mapped_column(Float)
    catch_trial: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=ReviewStatus.PENDING.value)
    """:class:`~tessera.governance.vocabulary.ReviewStatus`."""

    search: Mapped[Search] = relationship(back_populates="candidates")
    decisions: Mapped[list[Decision]] = relationship(back_populates="candidate", cascade="all, delete-orphan")


class Decision(Base):
    __tablename__ = "decisions"
    __table_args__ = (UniqueConstraint("candidate_id", "adjudicator", name="uq_one_decision_per_adjudicator"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    candidate_id: Mapped[str] = mapped_column(ForeignKey("case_candidates.id", ondelete="CASCADE"), index=True)
    adjudicator: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))
    rationale: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[datetime]

    candidate: Mapped[CaseCandidate] = relationship(back_populates="decisions")


class TrainingAttestation(Base):
    """That the holder of an adjudicator key was trained to review candidates, until when."""

    __tablename__ = "training_attestations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    api_key_id: Mapped[str] = mapped_column(String(32), index=True)
    course: Mapped[str] = mapped_column(String(200))
    completed_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime]
    single_admin_exception: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    """Recorded by the admin who created the key, under the ``single_admin_exception`` setting (revision 0010)."""


class IndexOutboxEntry(Base):
    """A change the search indexes must see, written in the transaction that makes it (see
    :mod:`tessera.workflows.indexing`): ``upsert`` a template, ``remove`` a subject, or ``remove_template`` one
    template of a subject whose others stay."""

    __tablename__ = "index_outbox"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    operation: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str] = mapped_column(String(36))
    template_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime]


class Notice(Base):
    """An adverse step that affects a person, for the field worker to hand over (revision 0010).

    It names the person it is for and what happened to them, never another person: not the probe's
    requester, not the other candidates, not who the person was matched with.

    A notice for a registration erased as a duplicate (revision 0014) has no subject left to name: ``subject_id``
    is NULL and ``erased_subject_id``, ``reference`` (the case number the person was given) and ``language`` (of
    the consent text they were shown) say whom it is for; as a tombstone, ids and codes only.
    """

    __tablename__ = "notices"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject_id: Mapped[str | None] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), index=True)
    gallery_id: Mapped[str] = mapped_column(ForeignKey("galleries.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    """:class:`~tessera.governance.notices.NoticeKind`."""
    erased_subject_id: Mapped[str | None] = mapped_column(String(36), index=True)
    reference: Mapped[str | None] = mapped_column(String(32), index=True)
    language: Mapped[str | None] = mapped_column(String(16))
    search_id: Mapped[str | None] = mapped_column(String(36))
    candidate_id: Mapped[str | None] = mapped_column(String(36))
    contest_id: Mapped[str | None] = mapped_column(String(36))
    purpose: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    handed_over_at: Mapped[datetime | None]
    handed_over_by: Mapped[str | None] = mapped_column(String(64))


class Contest(Base):
    """A person contests the finding a notice told them of; re-reviewed by other reviewers (revision 0010).

    One row per finding contested: a notice of a registration erased as a duplicate of several records has one
    contest per confirmed finding of its case, each re-reviewed on its own (revision 0016).
    """

    __tablename__ = "contests"
    __table_args__ = (UniqueConstraint("notice_id", "candidate_id", name="uq_one_contest_per_notice_finding"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    notice_id: Mapped[str] = mapped_column(String(36))
    subject_id: Mapped[str | None] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), index=True)
    """NULL for a contest of an erased registration's notice (the notice says whose it is)."""
    gallery_id: Mapped[str] = mapped_column(ForeignKey("galleries.id"), index=True)
    search_id: Mapped[str] = mapped_column(String(36))
    candidate_id: Mapped[str] = mapped_column(String(36))
    first_reviewers: Mapped[list[str]]
    """Who took the first decision: none of them may re-review."""
    grounds: Mapped[str] = mapped_column(Text)
    opened_by: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    """:class:`~tessera.governance.contests.ContestStatus`."""
    outcome: Mapped[str | None] = mapped_column(String(16))
    """:class:`~tessera.governance.contests.ContestOutcome` once decided."""
    decided_at: Mapped[datetime | None]

    decisions: Mapped[list[ContestDecision]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class ContestDecision(Base):
    __tablename__ = "contest_decisions"
    __table_args__ = (UniqueConstraint("contest_id", "adjudicator", name="uq_one_contest_decision_per_adjudicator"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    contest_id: Mapped[str] = mapped_column(ForeignKey("contests.id", ondelete="CASCADE"), index=True)
    adjudicator: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))
    rationale: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[datetime]


class Complaint(Base):
    """A complaint, tracked open → acknowledged → resolved or rejected within set times (revision 0010)."""

    __tablename__ = "complaints"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    gallery_id: Mapped[str] = mapped_column(ForeignKey("galleries.id"), index=True)
    subject_id: Mapped[str | None] = mapped_column(ForeignKey("subjects.id", ondelete="SET NULL"))
    summary: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    """:class:`~tessera.governance.complaints.ComplaintStatus`."""
    opened_by: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    handled_by: Mapped[str | None] = mapped_column(String(64))
    resolution: Mapped[str | None] = mapped_column(Text)


class NonBiometricRecord(Base):
    """A person registered without biometrics (revision 0010): no template, never in an index, never a subject.

    Kept apart from ``subjects`` so that nothing that counts, searches or scores biometric records can reach it.
    """

    __tablename__ = "non_biometric_records"
    __table_args__ = (UniqueConstraint("gallery_id", "programme_id", name="uq_non_biometric_programme_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    gallery_id: Mapped[str] = mapped_column(ForeignKey("galleries.id"), index=True)
    programme_id: Mapped[str] = mapped_column(String(100))
    """The programme's own id or card number for the person."""
    reason: Mapped[str] = mapped_column(String(32))
    """:class:`~tessera.governance.vocabulary.NonBiometricReason`, as chosen by the person or worker."""
    registered_at: Mapped[datetime]
    registered_by: Mapped[str] = mapped_column(String(64))
    last_served_at: Mapped[datetime | None]
    times_served: Mapped[int] = mapped_column(default=0, server_default="0")


class NonBiometricErasure(Base):
    """What is left of an erased non-biometric record, withdrawn (revision 0015) or, since 2026-12-05, erased by the
    gallery's retention: ids and a receipt, no programme id, reason or visit; as a :class:`Tombstone` is for a
    subject. A retried withdrawal answers its receipt."""

    __tablename__ = "non_biometric_erasures"

    record_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    gallery_id: Mapped[str] = mapped_column(String(36))
    erased_at: Mapped[datetime]
    receipt_sha256: Mapped[str] = mapped_column(String(64))
    receipt: Mapped[str] = mapped_column(Text)
    """The canonical JSON of the withdrawal receipt."""


class LivenessChallenge(Base):
    """A liveness challenge issued (revision 0012): its steps and hashed nonce, never a frame of its burst."""

    __tablename__ = "liveness_challenges"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    gallery_id: Mapped[str] = mapped_column(ForeignKey("galleries.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    issued_to: Mapped[str] = mapped_column(String(64))
    """The actor (key) it was issued to; only that key may send its burst."""
    nonce_sha256: Mapped[str] = mapped_column(String(64))
    steps: Mapped[list[str]]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    """When its burst arrived: a challenge is answered once."""
    outcome: Mapped[str | None] = mapped_column(String(32))


class LivenessToken(Base):
    """A passed burst's single-use token (revision 0012), stored by hash; deleted when used or expired.

    ``sealed_embedding`` is the burst's face embedding sealed (AES-256-GCM) under a key derived from the token
    itself, which only the client holds: the store alone cannot open it.
    """

    __tablename__ = "liveness_tokens"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    challenge_id: Mapped[str] = mapped_column(String(36))
    gallery_id: Mapped[str] = mapped_column(String(36), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    issued_to: Mapped[str] = mapped_column(String(64))
    algorithm: Mapped[str] = mapped_column(String(100))
    sealed_embedding: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime]


class AttemptWindow(Base):
    """One name's count in its current window of a rate limit (revision 0013), shared by every server process on
    this store (:class:`tessera.api.throttle.AttemptCounter`).

    ``kind`` is the limit (``verify-key``, ``verify-subject``, ``auth-failure``); ``name`` the key id, subject id
    or client address counted, prefixed by the kind. Rows of ended windows are deleted as others are counted, and
    at most ``max_tracked`` rows of a kind are kept (the least recently counted go first). Times are seconds of the
    counter's clock (the epoch), so that processes agree on them.
    """

    __tablename__ = "attempt_windows"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    started: Mapped[float] = mapped_column(Float)
    count: Mapped[int] = mapped_column(Integer)
    counted_at: Mapped[float] = mapped_column(Float, index=True)
