"""Request and response bodies of the REST API (they make the OpenAPI document)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tessera.governance.consent import ConsentInput

FACE_QUALITY = (
    "The capture's quality figures, kept with its template. A face of the default algorithm carries "
    "`retake_advised`: null, or {reason, message, measure, value, minimum|maximum} when the photo was kept but breaks "
    "a retake limit (head turned more than 25 degrees, soft, over-exposed...): the reason and message a refusal "
    "would give, so the worker can take a better photo while the person is there. A banded verification answer "
    "withholds the figures and keeps only the advice's reason and message (null without advice)."
)


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
    liveness: Literal["supervised", "unsupervised"] = Field(
        "supervised",
        description="Liveness policy: supervised (a trained worker sees the person; the passive score is advisory) "
        "or unsupervised (enrolment and verification need a liveness token, docs/liveness.md).",
    )


class Created(BaseModel):
    id: str


class SubjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gallery_id: str
    consent: ConsentInput
    external_id: str | None = Field(
        default=None,
        max_length=100,
        description="The programme's own id of the person (optional), unique in the gallery: 409 external_id_taken.",
    )


class SubjectCreated(BaseModel):
    id: str
    number: str = Field(description="The short number to write on the person's card: TSR-XXXX-XXXX-XXC.")
    external_id: str | None = None


class ReviewOut(BaseModel):
    case_number: str = Field(description="The review case to quote: DUP-XXXX-XXXX-XXC.")
    message: str


class PassiveOut(BaseModel):
    measured: bool = Field(description="False when no face was found to measure (reason says why).")
    score: float | None = Field(description="Presentation-attack score: higher looks more like a print or screen.")
    threshold: float | None
    attack_suspected: bool | None = Field(description="score >= threshold; advisory, never a refusal by itself.")
    bpcer_at_threshold: float | None = Field(description="Share of bona fide stills scoring above the threshold.")
    calibration: str
    reason: str | None = None


class LivenessOut(BaseModel):
    policy: str = Field(description="The gallery's liveness policy: supervised | unsupervised.")
    challenge: str = Field(description="passed (a liveness token of the same face was used) | not_done.")
    challenge_id: str | None = None
    similarity: float | None = Field(None, description="SFace cosine of the photo to the burst's face.")
    passive: PassiveOut | None = Field(None, description="The passive score of the face photo, when one was sent.")


class EnrolmentOut(BaseModel):
    template_id: str
    quality: dict = Field(description=FACE_QUALITY)
    status: str = Field(
        default="active",
        description="active: enrolled (201). pending_review (202): the first photo resembled someone already "
        "enrolled; two reviewers decide, and the answer never says who.",
    )
    review: ReviewOut | None = None
    liveness: LivenessOut | None = None
    replaced: list[str] | None = Field(
        None,
        description="Faces enrolled with `replaces` only: the templates of the earlier capture that were erased "
        "(one per algorithm that read it).",
    )


class HandFingerOut(BaseModel):
    finger: str = Field(description="index | middle | ring | little")
    finger_position: int = Field(description="ISO/IEC 19794-2 position from the hand: right 2-5, left 7-10.")
    status: str = Field(
        description="enrolled (enrolment) or cropped (verify, search): the finger was cut out and used; refused: "
        "see reason and message."
    )
    template_id: str | None = None
    quality: dict | None = None
    reason: str | None = Field(
        None,
        description="Why the finger was not used: finger_outside_image, finger_not_flat, fingers_together (the "
        "photo), or the finger pipeline's reason (not_a_finger, move_closer, finger_out_of_focus, ...).",
    )
    message: str | None = Field(None, description="The reason in words the person holding the camera can act on.")
    detail: dict | None = None


class HandOut(BaseModel):
    hand: str = Field(description="left | right: the person's own hand, as sent.")
    photo_sha256: str | None = Field(None, description="SHA-256 of the uploaded photo.")
    fingers: list[HandFingerOut] = Field(description="Index, middle, ring and little: each used or refused.")


class HandEnrolmentOut(BaseModel):
    hand: str = Field(description="left | right: the person's own hand, as sent.")
    status: str = Field(
        description="active: enrolled (201). pending_review (202): the first photo resembled someone already "
        "enrolled; two reviewers decide, and the answer never says who."
    )
    fingers: list[HandFingerOut] = Field(description="Index, middle, ring and little: each enrolled or refused.")
    review: ReviewOut | None = None


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
    pair_kind: str | None = Field(
        None,
        description="Fingers: contactless-contact when a contactless probe was compared with a contact reference, "
        "decided by that pair kind's own calibration (reason cross_sensor_not_calibrated when none is installed).",
    )
    reason: str | None = None
    message: str | None = None
    quality: dict | None = None
    fmr_band: FmrBandOut | None = Field(
        None, description="A match: the band of the false-match rate its score stands for; otherwise null."
    )


class FusionOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    fused: bool = Field(description="Whether the scores were fused; false: why not is under not_fused (and reason).")
    rule: str | None = Field(
        None,
        description="Absent: likelihood-ratio fusion (llr). product_of_rates: a face with fingers that have no fusion "
        "model (contactless), decided on the product of the FMR each states (p_values; Fisher's combination).",
    )
    p_values: dict[str, float] | None = Field(
        None, description="product_of_rates: the FMR the face and the fingers each state at their own scores."
    )
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
    quality: dict | None = Field(None, description=FACE_QUALITY)
    modalities_compared: list[str] = Field(
        [], description="The modalities whose probes were compared with a reference."
    )
    comparisons: list[ComparisonOut] = Field([], description="Each modality's (each finger's) result, on its own.")
    fused: bool = Field(False, description="Whether the decision combines several comparisons (score-level fusion).")
    fusion: FusionOut | None = Field(
        None, description="With several scores: how they were fused, or why they were not."
    )
    liveness: LivenessOut | None = None
    hand: HandOut | None = Field(
        None, description="A hand photo was sent: which fingers were cut out of it and compared, and why any was not."
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

    multi_finger: dict | None = Field(
        None,
        description="Several contactless fingers decided together: the per-finger threshold every finger (all but "
        "one, from four) must reach, the stated FMR (an upper bound, basis upper_bound), the fingers and independent "
        "groups counted, and the assumption the rate rests on (docs/fingerprints.md).",
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
    search_method: Literal["exact", "prefilter", "approximate"] = Field(
        "exact",
        description="How this probe was compared with the gallery: 'exact' (every consenting template), "
        "'prefilter' (fingers in a large gallery: a compact code shortlisted 5 % of the templates, which were "
        "scored exactly; the finger_search setting, docs/fingerprints.md) or 'approximate' (an approximate "
        "nearest-neighbour index).",
    )


class ConfirmedOut(BaseModel):
    subject_id: str


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
    status: Literal["no_likely_match", "sent_for_review", "confirmed"] = Field(
        description="no_likely_match: no candidate met the threshold; sent_for_review: candidates wait for two "
        "trained reviewers and none is named here (follow the case with GET /v1/searches/{search_id})."
    )
    confirmed: list[ConfirmedOut] = Field(
        [], description="The subjects two reviewers confirmed: always empty in this answer (no one has reviewed yet)."
    )
    notice: str
    quality: dict | None = Field(None, description=FACE_QUALITY)
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
    liveness: LivenessOut | None = None
    hand: HandOut | None = Field(
        None, description="A hand photo was sent: which fingers were cut out of it and searched, and why any was not."
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


class SubjectRecordOut(BaseModel):
    """A subject's record: never a template, a photo or a score."""

    id: str
    number: str = Field(description="The short number people read and type: TSR-XXXX-XXXX-XXC.")
    external_id: str | None = Field(description="The programme's own id of the person, if given.")
    gallery_id: str
    status: str = Field(description="active, or pending_review while a possible duplicate is reviewed.")
    modalities_consented: list[str]
    modalities_enrolled: list[str]
    purposes: list[str]
    consent_signed_at: str
    consent_expires_at: str
    created_at: str


class SubjectRecordsOut(BaseModel):
    subjects: list[SubjectRecordOut]


class DedupSettingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dedup_at_enrolment: bool | None = Field(
        description="true: check first captures; false: never; null: the default (on wherever 1:N is enabled)."
    )


class LivenessChallengeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gallery_id: str = Field(max_length=64)
    purpose: Literal["enrol", "verify", "identify"] = Field(description="What the liveness token will be used for.")


class LivenessChallengeOut(BaseModel):
    challenge_id: str
    nonce: str = Field(description="Send it back with the burst; shown once, stored hashed.")
    steps: list[str] = Field(description="The movements to make, in order (the person's own directions).")
    instructions: dict[str, str] = Field(description="Plain words for each step.")
    expires_at: str
    min_frames: int
    max_frames: int


class LivenessBurstOut(BaseModel):
    challenge_id: str
    liveness: Literal["passed", "failed"]
    reason: str | None
    message: str | None
    checks: dict[str, bool | None] = Field(
        description="fresh, bound, quality, same_face, motion_as_asked, parallax: true, false, or null (not reached)."
    )
    measures: dict
    liveness_token: str | None = Field(description="Single use; only when passed.")
    token_expires_at: str | None
    server_ms: float
