"""Checks before the camera opens: the console asks these before it starts a camera (workflows/preflight.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from tessera.api.deps import GALLERY, InstanceDep, SubjectId, require
from tessera.governance.roles import Permission
from tessera.governance.vocabulary import Modality
from tessera.workflows.instance import Actor
from tessera.workflows.preflight import preflight_enrol, preflight_identify, preflight_verify

router = APIRouter(prefix="/v1/preflight", tags=["preflight"])

ModalityParam = Annotated[Modality, Query(description="face | finger: what the camera is about to capture.")]
LivenessCheck = Annotated[
    bool | None,
    Query(
        description="Whether a liveness check (and so a liveness_token) will come with the photo. Given, the answer "
        "also applies the gallery's liveness policy (422 liveness_required or liveness_unavailable_for_fingers, "
        "docs/liveness.md); omitted, the policy is not checked here."
    ),
]
ANSWERS = '200 `{"ready": true, ...}`, or the error (and reason code) the real request would answer first.'


@router.get(
    "/enrol", summary="May this person be enrolled with this modality now?", description=ANSWERS, openapi_extra=GALLERY
)
def get_enrol(
    instance: InstanceDep,
    actor: Annotated[Actor, Depends(require(Permission.ENROL))],
    subject_id: SubjectId,
    modality: ModalityParam = Modality.FACE,
    liveness_check: LivenessCheck = None,
):
    return preflight_enrol(instance, actor, subject_id, modality, liveness_check)


@router.get(
    "/verify", summary="May this person be verified with this modality now?", description=ANSWERS, openapi_extra=GALLERY
)
def get_verify(
    instance: InstanceDep,
    actor: Annotated[Actor, Depends(require(Permission.VERIFY))],
    subject_id: SubjectId,
    modality: ModalityParam = Modality.FACE,
    liveness_check: LivenessCheck = None,
):
    return preflight_verify(instance, actor, subject_id, modality, liveness_check)


@router.get(
    "/identify",
    summary="May this gallery be searched (1:N) for this purpose now?",
    description=ANSWERS,
    openapi_extra=GALLERY,
)
def get_identify(
    instance: InstanceDep,
    actor: Annotated[Actor, Depends(require(Permission.IDENTIFY))],
    gallery_id: Annotated[str, Query(min_length=1, max_length=36)],
    purpose: Annotated[str, Query(min_length=1, max_length=64)] = "deduplicate",
    modality: Annotated[
        list[Modality] | None,
        Query(description="face, finger, or both (repeated): what the search will send. Default: face."),
    ] = None,
    liveness_check: LivenessCheck = None,
):
    return preflight_identify(instance, actor, gallery_id, purpose, set(modality or ()) or None, liveness_check)
