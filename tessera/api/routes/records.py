"""Subjects' records by short number or programme id, their printable card, and the duplicate check's switch.

No route here returns a template, a photo or a score.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from tessera.api.deps import FILTERED, GALLERY, GLOBAL, InstanceDep, SubjectId, require
from tessera.api.schemas import DedupSettingIn, SubjectRecordOut, SubjectRecordsOut
from tessera.governance.roles import Permission
from tessera.workflows.cards import subject_card
from tessera.workflows.dedup import open_cases, set_dedup_at_enrolment
from tessera.workflows.instance import Actor
from tessera.workflows.subject_records import list_subjects, lookup_number, show_subject

router = APIRouter(tags=["subjects"])

Verifier = Annotated[Actor, Depends(require(Permission.VERIFY))]
Accessor = Annotated[Actor, Depends(require(Permission.SUBJECT_ACCESS))]


@router.get(
    "/v1/subjects/lookup",
    response_model=SubjectRecordOut,
    summary="Check a subject number before the camera opens",
    openapi_extra=GALLERY,
    description="Any case, with or without hyphens and the TSR prefix; I and L read as 1, O as 0. A malformed "
    "number is 422 `invalid_number`, a mistyped one (wrong check character) 422 `number_check_failed`, one no "
    "subject holds 404 `subject_not_found`. The answer says the subject's status and the modalities consented "
    "to and enrolled, so that a capture it would refuse is not taken.",
)
def get_lookup(
    instance: InstanceDep,
    actor: Verifier,
    number: Annotated[str, Query(max_length=64, description="TSR-XXXX-XXXX-XXC")],
):
    return lookup_number(instance, actor, number)


@router.get(
    "/v1/subjects/by-external-id",
    response_model=SubjectRecordsOut,
    summary="Find the subject holding the programme's own id",
    openapi_extra=FILTERED,
    description="`external_id` is required: no route lists subjects in bulk. An id is unique in a gallery, so the "
    "answer holds at most one subject per gallery the key reaches (`gallery_id` narrows it to one). Audited "
    "(`subject.list`, with the subjects answered).",
)
def get_by_external_id(
    instance: InstanceDep,
    actor: Accessor,
    external_id: Annotated[str, Query(min_length=1, max_length=100)],
    gallery_id: Annotated[str | None, Query(max_length=64)] = None,
):
    return {"subjects": list_subjects(instance, actor, gallery_id=gallery_id, external_id=external_id)}


@router.get(
    "/v1/subjects/{subject_id}",
    response_model=SubjectRecordOut,
    summary="A subject's record (number, programme id, status, consent dates; no biometric data)",
    openapi_extra=GALLERY,
)
def get_subject(actor: Accessor, subject_id: SubjectId, instance: InstanceDep):
    return show_subject(instance, actor, subject_id)


@router.get(
    "/v1/subjects/{subject_id}/card",
    summary="A printable card: the subject number and a QR code of it, nothing else",
    openapi_extra=GALLERY,
    response_class=Response,
    responses={200: {"content": {"text/html": {}, "image/svg+xml": {}}}},
    description="`format=html` (default): a credit-card-sized page (85.6 x 54 mm, print CSS); `format=svg`: the "
    "card alone. The QR code holds only the number: no name, no programme id, no biometric data.",
)
def get_card(
    actor: Annotated[Actor, Depends(require(Permission.ENROL))],
    subject_id: SubjectId,
    instance: InstanceDep,
    format: Annotated[str, Query(pattern="^(html|svg)$")] = "html",
):
    card = subject_card(instance, actor, subject_id, format)
    return Response(content=card.content, media_type=card.media_type)


@router.put(
    "/v1/galleries/{gallery_id}/dedup",
    summary="Switch the duplicate check at enrolment on or off (on by default wherever 1:N is enabled)",
    openapi_extra=GLOBAL,
)
def put_dedup(
    gallery_id: str,
    body: DedupSettingIn,
    instance: InstanceDep,
    actor: Annotated[Actor, Depends(require(Permission.MANAGE_GALLERIES))],
):
    return set_dedup_at_enrolment(instance, actor, gallery_id, body.dedup_at_enrolment)


@router.get(
    "/v1/dedup-cases",
    summary="Open duplicate-check cases to review (adjudicators)",
    openapi_extra=FILTERED,
    description="Each case is a search opened by a first capture that resembled someone enrolled: review it with "
    "`GET /v1/searches/{search_id}/review` and decide each candidate; when the case closes the new subject is "
    "enrolled (no candidate confirmed) or erased with a receipt (one confirmed).",
)
def get_dedup_cases(instance: InstanceDep, actor: Annotated[Actor, Depends(require(Permission.ADJUDICATE))]):
    return {"cases": open_cases(instance, actor)}
