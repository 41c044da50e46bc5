"""Request and response bodies of the REST API (they make the OpenAPI document)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tessera.governance.consent import ConsentInput


class ErrorBody(BaseModel):
    code: str = Field(description="Stable reason code, e.g. no_face, consent_expired, subject_not_found.")
    message: str = Field(description="What went wrong, in words a field worker can act on.")
    detail: dict | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class GalleryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    purpose: str = Field(min_length=1, max_length=2000, description="The programme purpose this gallery serves.")


class Created(BaseModel):
    id: str


class SubjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gallery_id: str
    consent: ConsentInput


class EnrolmentOut(BaseModel):
    template_id: str
    quality: dict = Field(description="The capture's quality figures, recorded with the template.")


class FmrDetail(BaseModel):
    value: float = Field(description="False-match rate: the chance that a different person scores this high.")
    upper_bound: bool = Field(description="True when too few impostor comparisons were measured: the rate is at most value.")
    basis: str = Field(description="measured | upper_bound | extrapolated: what the value rests on.")


class VerificationOut(BaseModel):
    decision: str = Field(description="match | no_match | inconclusive (the probe was unusable; see reason).")
    score: float | None
    threshold: float
    fmr: float = Field(description="The false-match rate the threshold stands for.")
    fmr_detail: FmrDetail
    reason: str | None = None
    message: str | None = None
    quality: dict | None = None


class CandidateOut(BaseModel):
    subject_id: str
    score: float
    fmr: float = Field(description="The false-match rate at this candidate's score.")
    fmr_detail: FmrDetail
    rank: int
    reference_captured_at: str | None = None
    reference_quality: dict | None = Field(None, description="Quality figures of the reference capture that scored highest.")


class IdentificationOut(BaseModel):
    search_id: str
    case_reference: str
    gallery_version: int = Field(description="The gallery's version (changes with every enrolment and erasure) that was searched.")
    gallery_size: int = Field(description="How many consenting subjects were searched (N).")
    threshold: float
    threshold_fmr: float
    expected_false_candidates: float = Field(description="N x FMR at the threshold: wrong candidates expected per search.")
    candidates: list[CandidateOut] = Field(description="Candidates for human review, never identifications.")
    notice: str = "Candidates are leads for a trained person to review, not identifications."
    quality: dict | None = None


class ErasureReceiptOut(BaseModel):
    subject_id: str
    reason: str
    gallery_id: str
    erased_at: str
    templates_erased: int
    index_entries_removed: int
    data_key_destroyed: bool
    audit_seq: int
    receipt_sha256: str


class AuditCheckOut(BaseModel):
    ok: bool
    entries: int
    problems: list[str]
    head_hash: str
