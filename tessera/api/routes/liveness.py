"""Liveness challenges and their bursts (docs/liveness.md): thin routes over tessera.workflows.liveness."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, UploadFile

from tessera.api.deps import GALLERY, InstanceDep, read_upload, require
from tessera.api.schemas import LivenessBurstOut, LivenessChallengeIn, LivenessChallengeOut
from tessera.governance.roles import Permission
from tessera.workflows.instance import Actor
from tessera.workflows.liveness import answer_challenge, issue_challenge

router = APIRouter(prefix="/v1/liveness", tags=["liveness"])

# Every role that may enrol, verify or identify holds verify; the purpose's own permission is checked in the workflow.
Caller = Annotated[Actor, Depends(require(Permission.VERIFY))]

LivenessToken = Annotated[
    str | None,
    Form(
        max_length=200,
        description="The token of a passed liveness burst (POST /v1/liveness/challenges/{id}/burst): single use, "
        "same gallery, purpose and key, and the photo must show the burst's face. Required for enrol and verify in "
        "a gallery whose liveness policy is unsupervised.",
    ),
]


@router.post(
    "/challenges",
    status_code=201,
    response_model=LivenessChallengeOut,
    summary="Issue a liveness challenge: random head movements to make within 60 s",
    openapi_extra=GALLERY,
)
def post_challenge(body: LivenessChallengeIn, instance: InstanceDep, actor: Caller):
    return issue_challenge(instance, actor, body.gallery_id, body.purpose)


@router.post(
    "/challenges/{challenge_id}/burst",
    response_model=LivenessBurstOut,
    summary="Send the frames of a challenge; the answer says passed or failed, with a single-use token when passed",
    openapi_extra=GALLERY,
    description="Frames in capture order, unmirrored: first looking straight at the camera, then through each step. "
    "The first burst consumes the challenge. Refusals: 404 challenge_not_found, 403 challenge_not_yours, 409 "
    "challenge_used or challenge_expired, 422 challenge_mismatch, too_few_frames, too_many_images.",
)
def post_burst(
    challenge_id: str,
    instance: InstanceDep,
    actor: Caller,
    nonce: Annotated[str, Form(min_length=1, max_length=128, description="The nonce the challenge came with.")],
    frame: Annotated[list[UploadFile], File(description="JPEG, PNG or WebP frames, in capture order.")],
):
    frames = [read_upload(instance, upload) for upload in frame]
    return answer_challenge(instance, actor, challenge_id, nonce, frames)
