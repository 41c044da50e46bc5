"""Governance routes: consent texts, 1:N policy, retention, review of candidates, transparency, subject access."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from tessera.api.deps import FILTERED, GALLERY, GLOBAL, INSTANCE, InstanceDep, SubjectId, require
from tessera.governance.consent import IsoAwareDatetime
from tessera.governance.roles import Permission
from tessera.governance.vocabulary import Modality, Purpose
from tessera.workflows import adjudication, policy, retention, subject_access, transparency
from tessera.workflows.consent_texts import describe, list_consent_texts, register_consent_text
from tessera.workflows.instance import Actor

router = APIRouter(prefix="/v1", tags=["governance"])


# The caller, authenticated and allowed the named permission (the RBAC test reads it off each route).
ConsentTextManager = Annotated[Actor, Depends(require(Permission.MANAGE_CONSENT_TEXTS))]
ConsentTextReader = Annotated[Actor, Depends(require(Permission.READ_CONSENT_TEXTS))]
GalleryManager = Annotated[Actor, Depends(require(Permission.MANAGE_GALLERIES))]
IdentificationSuspender = Annotated[Actor, Depends(require(Permission.SUSPEND_IDENTIFICATION))]
RetentionRunner = Annotated[Actor, Depends(require(Permission.RUN_RETENTION))]
Identifier = Annotated[Actor, Depends(require(Permission.IDENTIFY))]
Adjudicator = Annotated[Actor, Depends(require(Permission.ADJUDICATE))]
KeyManager = Annotated[Actor, Depends(require(Permission.MANAGE_KEYS))]
TransparencyReader = Annotated[Actor, Depends(require(Permission.READ_TRANSPARENCY))]
SubjectAccessor = Annotated[Actor, Depends(require(Permission.SUBJECT_ACCESS))]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConsentTextIn(Strict):
    version: str = Field(
        min_length=1, max_length=100, description="The text's content id: its language versions share it."
    )
    text: str = Field(min_length=20, max_length=20_000, description="The exact text shown to people, in full.")
    language: str = Field("en", min_length=2, max_length=16, description="BCP 47 language tag.")
    keeps_reference_photo: StrictBool = Field(
        False,
        description="true: the text tells people that, where 1:N search is enabled, a photo of their face is kept "
        "sealed for two-person review and erased with them. Only then is one kept.",
    )
    gallery_id: str | None = Field(None, max_length=36, description="The one gallery the text is for.")
    shared: StrictBool = Field(False, description="true: the text is offered in every gallery (then no gallery_id).")
    modalities: list[Modality] = Field(
        min_length=1, max_length=len(Modality), description="The biometrics the text asks consent for."
    )
    purposes: list[Purpose] = Field(
        min_length=1, max_length=len(Purpose), description="The purposes the text asks consent for."
    )

    @model_validator(mode="after")
    def _bound_or_shared(self) -> ConsentTextIn:
        if (self.gallery_id is None) != self.shared:
            raise ValueError("give either gallery_id (the text's one gallery) or shared: true, not both or neither")
        return self


class IdentificationIn(Strict):
    dpia_reference: str = Field(
        min_length=1, max_length=200, description="The impact assessment that justifies 1:N search."
    )
    purposes: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=lambda: ["deduplicate"], max_length=16
    )


class RetentionIn(Strict):
    retention_days: StrictInt = Field(description="Days kept after the last interaction; 1 to 1095.")


class SuspensionIn(Strict):
    engaged: StrictBool = Field(description="true stops every 1:N search; false resumes them (0 and 1 are refused).")
    reason: str = Field(min_length=1, max_length=500)


class DecisionIn(Strict):
    decision: Literal["confirm", "reject", "cannot_tell"] = Field(
        description="confirm: the same person; reject: different people; cannot_tell: the images do not allow a "
        "decision (another reviewer decides)."
    )
    rationale: str = Field(max_length=2000, description="Why, in the reviewer's words (10 to 2,000 characters).")


class TrainingIn(Strict):
    course: str = Field(min_length=1, max_length=200)
    completed_at: IsoAwareDatetime
    expires_at: IsoAwareDatetime


@router.post(
    "/consent-texts",
    status_code=201,
    summary="Register a consent text exactly as shown to people",
    openapi_extra=GLOBAL,
)
def post_consent_text(body: ConsentTextIn, instance: InstanceDep, actor: ConsentTextManager):
    record = register_consent_text(
        instance,
        actor,
        body.version,
        body.text,
        body.language,
        gallery_id=body.gallery_id,
        modalities=body.modalities,
        purposes=body.purposes,
        keeps_reference_photo=body.keeps_reference_photo,
    )
    return describe(record, with_text=False)


@router.get(
    "/consent-texts",
    summary="The consent texts a key may offer: a gallery's own and the shared ones",
    openapi_extra=FILTERED,
)
def get_consent_texts(
    instance: InstanceDep,
    actor: ConsentTextReader,
    gallery_id: Annotated[
        str | None, Query(max_length=36, description="Only the texts offered in this gallery (its own and shared).")
    ] = None,
    language: Annotated[str | None, Query(min_length=2, max_length=16, description="Only this language.")] = None,
):
    return [describe(t) for t in list_consent_texts(instance, actor, gallery_id, language)]


@router.post(
    "/galleries/{gallery_id}/identification",
    summary="Enable 1:N search of a gallery, citing its DPIA",
    openapi_extra=GLOBAL,
)
def post_identification(gallery_id: str, body: IdentificationIn, instance: InstanceDep, actor: GalleryManager):
    gallery = policy.enable_identification(instance, actor, gallery_id, body.dpia_reference, body.purposes)
    enabled_at = gallery.identification_enabled_at
    assert enabled_at is not None  # enable_identification sets it
    return {
        "gallery_id": gallery.id,
        "dpia_reference": gallery.dpia_reference,
        "search_purposes": gallery.search_purposes,
        "enabled_at": enabled_at.isoformat(),
    }


@router.delete(
    "/galleries/{gallery_id}/identification", summary="Disable 1:N search of a gallery", openapi_extra=GLOBAL
)
def delete_identification(gallery_id: str, instance: InstanceDep, actor: GalleryManager):
    policy.disable_identification(instance, actor, gallery_id)
    return {"gallery_id": gallery_id, "enabled": False}


@router.put("/galleries/{gallery_id}/retention", summary="Shorten a gallery's retention period", openapi_extra=GLOBAL)
def put_retention(gallery_id: str, body: RetentionIn, instance: InstanceDep, actor: GalleryManager):
    gallery = policy.set_retention(instance, actor, gallery_id, body.retention_days)
    return {"gallery_id": gallery.id, "retention_days": gallery.retention_days}


@router.post(
    "/galleries/{gallery_id}/close",
    summary="The purpose is met: close the gallery and erase everyone in it",
    openapi_extra=GLOBAL,
)
def post_close(gallery_id: str, instance: InstanceDep, actor: GalleryManager):
    receipts = retention.close_gallery(instance, actor, gallery_id)
    return {"gallery_id": gallery_id, "erased": [r.as_dict() for r in receipts]}


@router.post(
    "/identification/suspension", summary="Kill switch: stop (or resume) every 1:N search at once", openapi_extra=GLOBAL
)
def post_suspension(body: SuspensionIn, instance: InstanceDep, actor: IdentificationSuspender):
    return policy.set_suspension(instance, actor, body.engaged, body.reason)


@router.get("/policy/retention", summary="What is kept and for how long (public)", openapi_extra=INSTANCE)
def get_retention_policy(instance: InstanceDep):
    return retention.retention_policy(instance)


@router.post("/retention/run", summary="Run the retention schedule now", openapi_extra=GLOBAL)
def post_retention_run(instance: InstanceDep, actor: RetentionRunner):
    return {"erased": [r.as_dict() for r in retention.run_retention(instance)]}


@router.get(
    "/searches",
    summary="The searches the caller may read, newest first (its own; an admin: every one)",
    openapi_extra=FILTERED,
)
def get_searches(
    instance: InstanceDep,
    actor: Identifier,
    gallery_id: Annotated[str | None, Query(max_length=36, description="Only this gallery's searches.")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="How many, newest first.")] = 50,
):
    return adjudication.list_searches(instance, actor, gallery_id, limit)


@router.get(
    "/searches/{search_id}",
    summary="A search's candidates and their review status (no catch trials)",
    openapi_extra=GALLERY,
)
def get_search(search_id: str, instance: InstanceDep, actor: Identifier):
    return adjudication.search_outcome(instance, actor, search_id)


@router.get(
    "/searches/{search_id}/review", summary="Candidates to review, blind to other reviewers", openapi_extra=GALLERY
)
def get_review(search_id: str, instance: InstanceDep, actor: Adjudicator):
    return adjudication.review_case(instance, actor, search_id)


@router.post(
    "/searches/{search_id}/candidates/{candidate_id}/decision",
    summary="Confirm or reject one candidate",
    openapi_extra=GALLERY,
)
def post_decision(search_id: str, candidate_id: str, body: DecisionIn, instance: InstanceDep, actor: Adjudicator):
    return adjudication.decide(instance, actor, search_id, candidate_id, body.decision, body.rationale)


@router.post(
    "/adjudicators/{key_id}/training", status_code=201, summary="Record an adjudicator's training", openapi_extra=GLOBAL
)
def post_training(key_id: str, body: TrainingIn, instance: InstanceDep, actor: KeyManager):
    attestation = adjudication.record_training(instance, actor, key_id, body.course, body.completed_at, body.expires_at)
    return {"id": attestation}


@router.get(
    "/transparency",
    summary="Aggregate counts per period (no personal data)",
    description='Every count is a number, `{"fewer_than": k}` below the minimum count k (0 included) or '
    '`{"at_least": k}` when withheld so that no small count can be worked out by subtraction '
    "(setting `transparency_min_count`, default 5).",
    openapi_extra=FILTERED,
)
def get_transparency(
    instance: InstanceDep,
    actor: TransparencyReader,
    period: Annotated[Literal["day", "month", "year"], Query()] = "month",
    since: Annotated[
        IsoAwareDatetime | None,
        Query(
            description="ISO 8601 date and time with its offset, e.g. 2026-01-01T00:00Z: the report lists the "
            "periods from the one holding it, each counted whole."
        ),
    ] = None,
):
    return transparency.transparency_report(instance, period, since, actor.galleries)


ReadPurpose = Annotated[
    str | None,
    Query(
        max_length=500,
        description="Why you read this person's data (recorded in the audit log); required when your key did not "
        "enrol them.",
    ),
]


@router.get(
    "/subjects/{subject_id}/consent", summary="The subject's consent proof (the read is audited)", openapi_extra=GALLERY
)
def get_consent(subject_id: SubjectId, instance: InstanceDep, actor: SubjectAccessor, purpose: ReadPurpose = None):
    return subject_access.consent_proof(instance, actor, subject_id, purpose)


@router.get(
    "/subjects/{subject_id}/export",
    summary="Subject access: everything held about the subject (no templates; the read is audited)",
    openapi_extra=GALLERY,
)
def get_export(subject_id: SubjectId, instance: InstanceDep, actor: SubjectAccessor, purpose: ReadPurpose = None):
    return subject_access.subject_export(instance, actor, subject_id, purpose)
