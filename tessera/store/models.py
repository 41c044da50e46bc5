"""The store's tables (SQLAlchemy 2). Schema changes go through Alembic migrations.

Nothing here holds a biometric template in clear: ``Template.ciphertext`` is
sealed with the subject's data key, which lives outside the database
(:mod:`tessera.store.keystore`).
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store only timezone-aware datetimes")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):
        return None if value is None else value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict: JSON, list: JSON}


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Gallery(Base):
    __tablename__ = "galleries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    purpose: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))


class Subject(Base):
    __tablename__ = "subjects"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    gallery_id: Mapped[str] = mapped_column(ForeignKey("galleries.id"), index=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))

    consent: Mapped["Consent"] = relationship(back_populates="subject", cascade="all, delete-orphan", uselist=False)
    templates: Mapped[list["Template"]] = relationship(back_populates="subject", cascade="all, delete-orphan")


class Consent(Base):
    """The signed consent record a subject exists under: no consent row, no subject."""

    __tablename__ = "consents"

    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), primary_key=True)
    purposes: Mapped[list]
    modalities: Mapped[list]
    text_version: Mapped[str] = mapped_column(String(100))
    text_sha256: Mapped[str] = mapped_column(String(64))
    signed_by: Mapped[str] = mapped_column(String(200))
    signed_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    recorded_at: Mapped[datetime]

    subject: Mapped[Subject] = relationship(back_populates="consent")


class Template(Base):
    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("subject_id", "capture_sha256", name="uq_template_capture"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), index=True)
    modality: Mapped[str] = mapped_column(String(16))
    algorithm: Mapped[str] = mapped_column(String(100))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    image_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    quality: Mapped[dict]
    capture_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]

    subject: Mapped[Subject] = relationship(back_populates="templates")


class Tombstone(Base):
    """What is left of an erased subject: ids and hashes, no personal data."""

    __tablename__ = "tombstones"

    subject_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    gallery_id: Mapped[str] = mapped_column(String(36))
    consent_sha256: Mapped[str] = mapped_column(String(64), index=True)
    erased_at: Mapped[datetime]
    receipt_sha256: Mapped[str] = mapped_column(String(64))


class AuditEntry(Base):
    """One link of the hash chain; ``body`` is the canonical JSON that is hashed."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_subject", "subject_id"),)

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
    response: Mapped[dict]
    subject_id: Mapped[str | None] = mapped_column(String(36), index=True)
    created_at: Mapped[datetime]
