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
from tessera.governance.vocabulary import IMAGE_EVIDENCE, ConsentEvidence, Modality, Purpose
from tessera.store.models import Consent, ConsentText

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


def check_text_covers(
    text: ConsentText, *, gallery_id: str, modalities: list[str], purposes: list[str]
) -> ConsentRefusal | None:
    """Return why a consent under ``text`` cannot be for this gallery, these modalities or purposes, else None.

    A text belongs to one gallery or is shared by all (``gallery_id`` None), and asks consent for a closed list
    of modalities and purposes: a person who read a face-only text did not agree to give fingers, whatever box
    a worker ticked.
    """
    if text.gallery_id is not None and text.gallery_id != gallery_id:
        return ConsentRefusal(
            "consent_text_other_gallery",
            f"Consent text {text.version!r} ({text.language}) belongs to another gallery; use one of this gallery's "
            "texts.",
        )
    uncovered = [m for m in modalities if m not in text.modalities]
    if uncovered:
        return ConsentRefusal(
            "modality_not_in_consent_text",
            f"Consent text {text.version!r} asks consent only for {', '.join(text.modalities)}, not for "
            f"{', '.join(uncovered)}; use a text that names every biometric taken.",
        )
    unasked = [p for p in purposes if p not in text.purposes]
    if unasked:
        return ConsentRefusal(
            "purpose_not_in_consent_text",
            f"Consent text {text.version!r} asks consent only for {', '.join(text.purposes)}, not for "
            f"{', '.join(unasked)}; use a text that names every purpose.",
        )
    return None


def check_evidence_accepted(kind: ConsentEvidence, accepted: list[str]) -> ConsentRefusal | None:
    """Return why a gallery that accepts ``accepted`` refuses consent evidence of ``kind``, or None."""
    if kind.value in accepted:
        return None
    return ConsentRefusal(
        "consent_evidence_not_accepted",
        f"This gallery does not accept consent evidence of kind {kind.value!r}; it accepts: {', '.join(accepted)}.",
    )


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


MAX_EVIDENCE_TEXT_CHARS = 2_000_000
"""The longest base64 image a request may carry (a hard cap before the setting's byte limit is checked)."""


class EvidenceInput(BaseModel):
    """How the person signified their consent (the gallery says which kinds it accepts)."""

    model_config = ConfigDict(extra="forbid")

    kind: ConsentEvidence = Field(description="signature | thumbprint_mark | spoken_witnessed | typed_name")
    image: str | None = Field(
        None,
        max_length=MAX_EVIDENCE_TEXT_CHARS,
        description="signature and thumbprint_mark: the PNG or JPEG image, base64 (a data: URL prefix is allowed).",
    )
    witness_key: str | None = Field(
        None,
        max_length=200,
        description="spoken_witnessed: the API key of the second worker who heard the person agree (checked, then "
        "only its id is kept).",
    )

    @model_validator(mode="after")
    def _what_each_kind_needs(self) -> EvidenceInput:
        wants_image, wants_witness = self.kind in IMAGE_EVIDENCE, self.kind is ConsentEvidence.SPOKEN_WITNESSED
        if wants_image != (self.image is not None):
            raise ValueError(f"image is {'required' if wants_image else 'not allowed'} for evidence {self.kind.value}")
        if wants_witness != (self.witness_key is not None):
            raise ValueError(
                f"witness_key is {'required' if wants_witness else 'not allowed'} for evidence {self.kind.value}"
            )
        return self


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
    evidence: EvidenceInput | None = Field(
        None, description="How the person signified consent; absent: typed_name (only the name in signed_by)."
    )

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
