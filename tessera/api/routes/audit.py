from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from tessera.api.deps import INSTANCE, InstanceDep, require
from tessera.api.schemas import AuditCheckOut
from tessera.governance.roles import Permission
from tessera.workflows.instance import Actor

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("/verify", response_model=AuditCheckOut, summary="Recompute the audit hash chain", openapi_extra=INSTANCE)
def get_audit_verify(instance: InstanceDep, actor: Annotated[Actor, Depends(require(Permission.READ_AUDIT))]):
    return instance.verify_audit().as_dict()
