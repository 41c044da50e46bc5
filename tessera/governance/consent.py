"""Consent rules: every capture and comparison must be covered by the subject's consent."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from tessera.errors import Conflict
from tessera.governance.audit import canonical_json
from tessera.governance.vocabulary import Modality, Purpose
from tessera.store.models import Consent

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def iso_text(value: object) -> object:
    """Let only an ISO 8601 text (or a datetime) become a datetime: no number, no numeric text as a Unix time."""
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_DATE.match(value)):
        return value
    raise ValueError(f"must be an ISO 8601 date and time such as 2026-12-02T10:00:00+00:00, got {value!r}")


IsoAwareDatetime = Annotated[AwareDatetime, BeforeValidator(iso_text)]
"""A date and time with its UTC offset, given as ISO 8601 text (lax parsing made 0 or "1700000000" a date)."""


@dataclass(frozen=True)
class ConsentRefusal:
    code: str
    message: str

    def __bool__(self) -> bool:
        return False


def check_consent(consent: Consent, *, modality: str, purpose: str | None, now: datetime) -> ConsentRefusal | None:
    """Return why ``consent`` does not cover this use, or None when it does."""
    if consent.expires_at <= now:
        return ConsentRefusal(
            "consent_expired",
            f"The subject's consent expired on {consent.expires_at.date().isoformat()}; record a new consent first.",
        )
    if modality not in consent.modalities:
        return ConsentRefusal(
            "modality_not_consented",
            f"The subject did not consent to the {modality!r} modality (consented: {', '.join(consent.modalities)}).",
        )
    if purpose is not None and purpose not in consent.purposes:
        return ConsentRefusal(
            "purpose_not_consented",
            f"The subject did not consent to the purpose {purpose!r} (consented: {', '.join(consent.purposes)}).",
        )
    return None


def raise_refusal(refusal: ConsentRefusal) -> None:
    raise Conflict(refusal.message, code=refusal.code)


def consent_fingerprint(gallery_id: str, signed_by: str, signed_at: datetime, text_sha256: str) -> str:
    """A hash identifying one signed consent, kept in a tombstone to refuse its replay after erasure."""
    record = {
        "gallery_id": gallery_id,
        "signed_by": signed_by,
        "signed_at": signed_at.isoformat(),
        "text_sha256": text_sha256,
    }
    return hashlib.sha256(canonical_json(record).encode()).hexdigest()


class ConsentInput(BaseModel):
    """A signed consent, as recorded when a subject is created."""

    model_config = ConfigDict(extra="forbid")

    purposes: list[Purpose] = Field(
        min_length=1, description="What the person agreed their biometrics may be used for."
    )
    modalities: list[Modality] = Field(min_length=1, description="Which biometrics the person agreed to give.")
    text_version: str = Field(min_length=1, max_length=100, description="Version of the consent text that was shown.")
    text_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 (lowercase hex) of the exact text shown.")
    signed_by: str = Field(
        min_length=1,
        max_length=200,
        description="Who signed or attested the consent (the person, or a witness for them).",
    )
    signed_at: IsoAwareDatetime
    expires_at: IsoAwareDatetime

    @field_validator("purposes", "modalities")
    @classmethod
    def _no_repeats(cls, values: list) -> list:
        if len(set(values)) != len(values):
            raise ValueError(f"lists each value once; got {[str(v) for v in values]}")
        return values

    @model_validator(mode="after")
    def _dates_in_order(self) -> ConsentInput:
        if self.expires_at <= self.signed_at:
            raise ValueError(
                f"expires_at ({self.expires_at.isoformat()}) must be after signed_at ({self.signed_at.isoformat()})"
            )
        return self
