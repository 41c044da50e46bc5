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
    upper_bound: bool = Field(
        description="True when too few impostor comparisons were measured: the rate is at most value."
    )
    basis: str = Field(
        description="measured | upper_bound | extrapolated (a calibration), estimated | upper_bound (a fusion): "
        "what the value rests on."
    )


class FmrBandOut(BaseModel):
    at_most: float = Field(
        description="The band's edge: the score's false-match rate is at most this (1: above every edge)."
    )
    label: str = Field(description="The band in words, e.g. '≤ 1 in 100,000'.")


class ComparisonOut(BaseModel):
    modality: str = Field(description="face | finger")
    decision: str = Field(
        description="match | no_match | inconclusive (unusable probe, no reference, or no calibration: see reason)."
    )
    score: float | None = Field(
        description="Face: cosine similarity; finger: MCC similarity, 0-1. None when nothing was compared."
    )
    threshold: float | None = Field(
        description="The 1:1 threshold at the configured false-match rate; None without a calibration."
    )
    fmr: float | None = Field(
        description="The false-match rate the threshold stands for; None (unknown) without a calibration."
    )
    fmr_detail: FmrDetail | None
    calibrated: bool = Field(
        description="False when no calibration speaks for this score: its false-match rate is unknown."
    )
    algorithm: str = Field(description="Template algorithm (and, for fingers, matcher) behind the score.")
    finger_position: int | None = Field(None, description="Fingers: ISO/IEC 19794-2 finger position, 1-10.")
    capture: str | None = Field(None, description="Fingers: contact | contactless.")
    reason: str | None = None
    message: str | None = None
    quality: dict | None = None
    fmr_band: FmrBandOut | None = Field(
        None, description="A match: the band of the false-match rate its score stands for; otherwise null."
    )


class FusionOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    fused: bool = Field(description="Whether the scores were fused; false: why not is under not_fused (and reason).")
    llr: float | None = Field(None, description="Fused log-likelihood ratio (nats): the sum of each modality's LLR.")
    threshold_llr: float | None = Field(None, description="The fused threshold at the target FMR for these modalities.")
    target_fmr: float | None = None
    fmr: float | None = Field(None, description="Fused false-match rate of the fused LLR, safety factor included.")
    fmr_safety_factor: float | None = Field(None, description="What every fused FMR was multiplied by (settings).")
    modalities: list[str] = Field(
        [], description="What was fused: face, finger:<finger name> (e.g. finger:right-index)."
    )
    scores: dict[str, float] | None = Field(
        None, description="Each fused modality's score (fingers: best over the references)."
    )
    per_modality_llr: dict[str, float] | None = None
    missing: list[dict] = Field(
        [], description="Modalities sent but not compared (no reference, unusable probe), with reason."
    )
    not_fused: list[dict] = Field(
        [], description="Scores that could not be fused (e.g. contactless fingers), with reason."
    )
    assumption: str | None = Field(None, description="The independence assumption the fused FMR rests on.")


class VerificationOut(BaseModel):
    decision: str = Field(
        description="match | no_match | inconclusive. With one comparison it is that comparison's decision; "
        "with several "
        "it is the fused decision (fused: true), or inconclusive with reason not_fused when fewer than two "
        "scores can be fused."
    )
    score: float | None = Field(description="The single comparison's score; fused: the fused LLR (nats).")
    threshold: float | None = Field(
        description="The single comparison's threshold; fused: the fused threshold LLR at verify_target_fmr "
        "(None when none)."
    )
    fmr: float | None = Field(
        description="One comparison: the false-match rate the threshold stands for; fused: the fused FMR of the "
        "fused LLR "
        "(safety factor included); None when unknown."
    )
    fmr_detail: FmrDetail | None
    reason: str | None = None
    message: str | None = None
    quality: dict | None = None
    modalities_compared: list[str] = Field(
        [], description="The modalities whose probes were compared with a reference."
    )
    comparisons: list[ComparisonOut] = Field([], description="Each modality's (each finger's) result, on its own.")
    fused: bool = Field(False, description="Whether the decision combines several comparisons (score-level fusion).")
    fusion: FusionOut | None = Field(
        None, description="With several scores: how they were fused, or why they were not."
    )
    score_disclosure: str = Field(
        "banded",
        description="banded (the gallery's default): score, threshold, fmr, fmr_detail, quality and fusion are "
        "null here and in each comparison, and a match says its fmr_band; exact (an evaluation gallery): every "
        "figure as computed.",
    )
    fmr_band: FmrBandOut | None = Field(
        None,
        description="A match: the band of the false-match rate its score (fused: its fused LLR) stands for, e.g. "
        "'≤ 1 in 100,000'; null for any other decision, whatever the score.",
    )


class CandidateOut(BaseModel):
    subject_id: str
    score: float | None = Field(description="The candidate's score; null when the gallery's scores are banded.")
    fmr: float | None = Field(
        description="The false-match rate at this candidate's score; null when the gallery's scores are banded."
    )
    fmr_detail: FmrDetail | None
    fmr_band: FmrBandOut | None = Field(None, description="The band of the false-match rate at this candidate's score.")
    rank: int
    reference_captured_at: str | None = None
    reference_quality: dict | None = Field(
        None, description="Quality figures of the reference capture that scored highest."
    )
    modality: str = Field(
        "face", description="The probe that found this candidate: face | finger, or fused (several probes)."
    )
    finger_position: int | None = Field(None, description="Fingers: the finger (1-10) searched and matched.")
    fusion: dict | None = Field(
        None,
        description="Fused: the fused LLR (score), each modality's score and LLR, and the modalities the "
        "subject has no reference of.",
    )


class ProbeSearchOut(BaseModel):
    modality: str
    finger_position: int | None = None
    capture: str | None = None
    probe_sha256: str
    gallery_size: int = Field(description="How many consenting subjects this probe was compared with (N).")
    threshold: float | None = Field(
        description="This probe's own threshold; None when fused (the fused threshold applies)."
    )
    threshold_fmr: float | None
    expected_false_candidates: float | None = Field(description="N x FMR at this probe's threshold; None when fused.")
    algorithm: str
    candidates: int = Field(description="How many candidates this probe found.")
    quality: dict | None = None


class IdentificationOut(BaseModel):
    search_id: str
    case_reference: str
    gallery_version: int = Field(
        description="The gallery's version (changes with every enrolment and erasure) that was searched."
    )
    gallery_size: int = Field(description="How many consenting subjects were searched (N).")
    threshold: float | None = Field(
        description="The threshold, when one probe was searched; fused: the fused threshold LLR with every "
        "probe's modality "
        "(several probes not fused: None, see probes)."
    )
    threshold_fmr: float | None
    expected_false_candidates: float = Field(
        description="N x FMR at the threshold: wrong candidates expected per search (several probes: the sum "
        "over probes)."
    )
    candidates: list[CandidateOut] = Field(
        description="Candidates for human review, never identifications; fused: one list ranked by fused LLR "
        "(modality fused); "
        "several probes not fused: ranked per probe (modality, finger_position)."
    )
    notice: str = "Candidates are leads for a trained person to review, not identifications."
    quality: dict | None = None
    modalities_compared: list[str] = []
    probes: list[ProbeSearchOut] = Field(
        [], description="Each probe's own search: N, threshold, FMR and candidates found."
    )
    fused: bool = Field(False, description="Whether the candidates come from the fused score of several probes.")
    fusion: dict | None = Field(
        None,
        description="Several probes: target FMR per comparison, fused thresholds, safety factor, what was not "
        "fused and "
        "why; or, when they could not be fused, why.",
    )
    score_disclosure: str = Field(
        "banded",
        description="banded (the gallery's default): each candidate's score, fmr, fmr_detail and fusion are null "
        "and its fmr_band given; exact: as computed.",
    )


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
    acknowledged_gaps: list[str] = Field(
        default_factory=list,
        description="Entries lost to a database restore that an operator acknowledged (not problems: each names "
        "the acknowledging entry).",
    )
