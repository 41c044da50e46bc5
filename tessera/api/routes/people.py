"""What people are told and how they answer back: receipts, notices, contests and complaints (issue 17, item 3)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from tessera.api.deps import FILTERED, GALLERY, GLOBAL, InstanceDep, require
from tessera.governance.roles import Permission
from tessera.workflows import complaints, contests, notices, receipts
from tessera.workflows.instance import Actor

router = APIRouter(prefix="/v1", tags=["people"])

# A field worker answers the person (subject_access); reviewers re-review (adjudicate); admins handle complaints.
Worker = Annotated[Actor, Depends(require(Permission.SUBJECT_ACCESS))]
Reviewer = Annotated[Actor, Depends(require(Permission.ADJUDICATE))]
ComplaintHandler = Annotated[Actor, Depends(require(Permission.HANDLE_COMPLAINTS))]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContestIn(Strict):
    notice_id: str = Field(min_length=1, max_length=36, description="The notice the person was handed.")
    grounds: str = Field(max_length=4000, description="Why the person thinks the finding is wrong (10+ characters).")


class ContestDecisionIn(Strict):
    decision: Literal["confirm", "reject"]
    rationale: str = Field(max_length=2000, description="Why, in the reviewer's words (10 to 2,000 characters).")


class ComplaintIn(Strict):
    gallery_id: str = Field(min_length=1, max_length=36)
    summary: str = Field(max_length=4000, description="What the person complains of (10+ characters).")
    subject_id: str | None = Field(None, max_length=36, description="The person's number, if they wish to give it.")


class ComplaintStatusIn(Strict):
    status: Literal["acknowledged", "resolved", "rejected"]
    note: str = Field("", max_length=4000, description="How it was resolved or why rejected (needed to close).")


@router.get(
    "/subjects/{subject_id}/receipt",
    response_class=HTMLResponse,
    summary="The enrolment receipt the person keeps (printable HTML)",
    openapi_extra=GALLERY,
)
def get_receipt(
    subject_id: str,
    instance: InstanceDep,
    actor: Worker,
    lang: Annotated[str | None, Query(max_length=16, description="A language the consent text exists in.")] = None,
):
    return HTMLResponse(receipts.receipt_html(instance, actor, subject_id, lang))


@router.get("/notices", summary="Notices to hand to the people they are for, newest first", openapi_extra=FILTERED)
def get_notices(
    instance: InstanceDep,
    actor: Worker,
    gallery_id: Annotated[str | None, Query(max_length=36)] = None,
    pending: Annotated[
        bool | None,
        Query(description="Only those not yet handed over (the default, unless a reference or subject is asked)."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    reference: Annotated[
        str | None,
        Query(max_length=32, description="The case number the person was given (DUP-...): an erased registration's."),
    ] = None,
    subject_id: Annotated[
        str | None, Query(max_length=36, description="The person's number, also of a registration that was erased.")
    ] = None,
):
    return notices.list_notices(instance, actor, gallery_id, pending, limit, reference=reference, subject_id=subject_id)


@router.post(
    "/notices/{notice_id}/handed-over", summary="Record that a notice was handed to the person", openapi_extra=GALLERY
)
def post_handed_over(notice_id: str, instance: InstanceDep, actor: Worker):
    return notices.hand_over(instance, actor, notice_id)


@router.post(
    "/contests",
    status_code=201,
    summary="The person contests a finding: reviewers who did not take it re-review it",
    openapi_extra=GALLERY,
)
def post_contest(body: ContestIn, instance: InstanceDep, actor: Worker):
    return contests.open_contest(instance, actor, body.notice_id, body.grounds)


@router.get("/contests", summary="Open contests the caller may re-review", openapi_extra=FILTERED)
def get_contests(instance: InstanceDep, actor: Reviewer):
    return contests.contests_to_review(instance, actor)


@router.post("/contests/{contest_id}/decision", summary="Re-review a contested finding", openapi_extra=GALLERY)
def post_contest_decision(contest_id: str, body: ContestDecisionIn, instance: InstanceDep, actor: Reviewer):
    return contests.decide_contest(instance, actor, contest_id, body.decision, body.rationale)


@router.post("/complaints", status_code=201, summary="Record a person's complaint", openapi_extra=GALLERY)
def post_complaint(body: ComplaintIn, instance: InstanceDep, actor: Worker):
    return complaints.open_complaint(instance, actor, body.gallery_id, body.summary, body.subject_id)


@router.get("/complaints", summary="The complaint queue, overdue ones flagged", openapi_extra=GLOBAL)
def get_complaints(
    instance: InstanceDep,
    actor: ComplaintHandler,
    status: Annotated[
        Literal["open", "acknowledged", "resolved", "rejected"] | None, Query(description="None: not yet closed.")
    ] = None,
):
    return complaints.list_complaints(instance, actor, status)


@router.post(
    "/complaints/{complaint_id}/status",
    summary="Acknowledge, resolve or reject a complaint",
    openapi_extra=GLOBAL,
)
def post_complaint_status(complaint_id: str, body: ComplaintStatusIn, instance: InstanceDep, actor: ComplaintHandler):
    return complaints.set_complaint_status(instance, actor, complaint_id, body.status, body.note)
