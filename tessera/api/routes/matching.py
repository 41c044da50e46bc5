from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, UploadFile

from tessera.api.deps import InstanceDep, read_upload, require
from tessera.api.schemas import IdentificationOut, VerificationOut
from tessera.governance.roles import Permission
from tessera.workflows.faces import verify_face
from tessera.workflows.identify import identify_face
from tessera.workflows.instance import Actor

router = APIRouter(prefix="/v1", tags=["matching"])


@router.post("/verify", response_model=VerificationOut, summary="1:1 - is this the person enrolled under subject_id?")
def post_verify(
    instance: InstanceDep,
    actor: Annotated[Actor, Depends(require(Permission.VERIFY))],
    subject_id: Annotated[str, Form()],
    image: Annotated[UploadFile, File(description="JPEG, PNG or WebP photo of the face")],
):
    return asdict(verify_face(instance, actor, subject_id, read_upload(instance, image)))


@router.post(
    "/identify", response_model=IdentificationOut, summary="1:N - candidates for review among those who consented to the purpose"
)
def post_identify(
    instance: InstanceDep,
    actor: Annotated[Actor, Depends(require(Permission.IDENTIFY))],
    gallery_id: Annotated[str, Form()],
    purpose: Annotated[str, Form(description="Why the search is run; must be on the gallery's allow-list.")],
    case_reference: Annotated[str, Form(description="The case this search is for (a case or file number).")],
    image: Annotated[UploadFile, File(description="JPEG, PNG or WebP photo of the face")],
):
    return asdict(identify_face(instance, actor, gallery_id, purpose, read_upload(instance, image), case_reference))
