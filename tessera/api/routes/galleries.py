from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from tessera.api.deps import GLOBAL, InstanceDep, require
from tessera.api.schemas import Created, GalleryIn
from tessera.governance.roles import Permission
from tessera.workflows.galleries import create_gallery
from tessera.workflows.instance import Actor

router = APIRouter(prefix="/v1/galleries", tags=["galleries"])


@router.post("", status_code=201, response_model=Created, summary="Create a gallery", openapi_extra=GLOBAL)
def post_gallery(
    body: GalleryIn, instance: InstanceDep, actor: Annotated[Actor, Depends(require(Permission.MANAGE_GALLERIES))]
):
    return {"id": create_gallery(instance, actor, body.name, body.purpose, body.liveness).id}
