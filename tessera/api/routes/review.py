"""The reviewers' routes: the case queue of an adjudicator, and each reviewer's measured false-confirm rate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from tessera.api.deps import FILTERED, InstanceDep, require
from tessera.governance.roles import Permission
from tessera.workflows import adjudication
from tessera.workflows.instance import Actor

router = APIRouter(prefix="/v1", tags=["governance"])

Adjudicator = Annotated[Actor, Depends(require(Permission.ADJUDICATE))]
TransparencyReader = Annotated[Actor, Depends(require(Permission.READ_TRANSPARENCY))]


@router.get(
    "/review/queue",
    summary="Open cases the caller may review, oldest first (never their own searches; no one named)",
    openapi_extra=FILTERED,
)
def get_review_queue(
    instance: InstanceDep,
    actor: Adjudicator,
    limit: Annotated[int, Query(ge=1, le=200, description="How many cases, oldest first.")] = 50,
):
    return adjudication.review_queue(instance, actor, limit)


@router.get(
    "/reviewers/accuracy",
    summary="Each reviewer's catch trials and false confirmations (known non-mates confirmed)",
    openapi_extra=FILTERED,
)
def get_reviewer_accuracy(instance: InstanceDep, actor: TransparencyReader):
    accuracy = adjudication.reviewer_accuracy(instance, actor.galleries)
    return {
        "galleries": None if actor.galleries is None else sorted(actor.galleries),
        "reviewers": [{"adjudicator": name, **figures} for name, figures in sorted(accuracy.items())],
        "notice": "A catch trial is a known non-mate shown among real candidates; confirming it is a false "
        "confirmation. Reviewers are named by their key.",
    }
