from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from tessera.api.deps import GALLERY, GLOBAL, InstanceDep, require
from tessera.api.schemas import Created, GalleryIn
from tessera.governance.roles import Permission
from tessera.governance.vocabulary import ConsentEvidence
from tessera.workflows.galleries import create_gallery, gallery_settings, set_consent_evidence
from tessera.workflows.instance import Actor

router = APIRouter(prefix="/v1/galleries", tags=["galleries"])


@router.post("", status_code=201, response_model=Created, summary="Create a gallery", openapi_extra=GLOBAL)
def post_gallery(
    body: GalleryIn, instance: InstanceDep, actor: Annotated[Actor, Depends(require(Permission.MANAGE_GALLERIES))]
):
    return {"id": create_gallery(instance, actor, body.name, body.purpose, body.liveness).id}


class ConsentEvidenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accepted: list[ConsentEvidence] = Field(
        min_length=1,
        max_length=len(ConsentEvidence),
        description="How a consent may be signified here: signature, thumbprint_mark, spoken_witnessed, typed_name.",
    )


@router.get(
    "/{gallery_id}/settings",
    summary="A gallery's settings: 1:N on or off, retention, consent texts",
    openapi_extra=GALLERY,
)
def get_gallery(
    gallery_id: str, instance: InstanceDep, actor: Annotated[Actor, Depends(require(Permission.READ_GALLERIES))]
):
    return gallery_settings(instance, actor, gallery_id)


@router.put(
    "/{gallery_id}/consent-evidence",
    summary="Choose how a consent may be signified in a gallery",
    openapi_extra=GLOBAL,
)
def put_consent_evidence(
    gallery_id: str,
    body: ConsentEvidenceIn,
    instance: InstanceDep,
    actor: Annotated[Actor, Depends(require(Permission.MANAGE_GALLERIES))],
):
    gallery = set_consent_evidence(instance, actor, gallery_id, [str(kind) for kind in body.accepted])
    return {"gallery_id": gallery.id, "consent_evidence": gallery.consent_evidence}
