"""API keys over HTTP: an admin creates (optionally limited to galleries), lists and revokes keys."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from tessera.api.deps import GLOBAL, InstanceDep, require
from tessera.governance.roles import Permission, Role
from tessera.governance.scope import MAX_GALLERIES_PER_KEY
from tessera.workflows.instance import Actor
from tessera.workflows.keys import create_key, list_keys, revoke_key

router = APIRouter(prefix="/v1/keys", tags=["keys"])

KeyManager = Annotated[Actor, Depends(require(Permission.MANAGE_KEYS))]


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    label: str = Field("", max_length=200, description="Who or what the key is for.")
    galleries: list[str] = Field(
        default_factory=list,
        max_length=MAX_GALLERIES_PER_KEY,
        description="Limit the key to these galleries (not for admin keys); empty: a global key.",
    )


@router.post(
    "",
    status_code=201,
    summary="Create an API key (shown once), optionally limited to galleries",
    openapi_extra=GLOBAL,
)
def post_key(body: KeyIn, instance: InstanceDep, actor: KeyManager):
    key = create_key(instance, actor, body.role, body.label, body.galleries)
    return {"id": key.id, "role": key.role, "galleries": key.galleries, "created_by": str(actor), "key": key.secret}


@router.get(
    "", summary="Every API key: role, label, galleries, dates, who created it (never a secret)", openapi_extra=GLOBAL
)
def get_keys(instance: InstanceDep, actor: KeyManager):
    return [asdict(key) for key in list_keys(instance)]


@router.delete("/{key_id}", summary="Revoke an API key", openapi_extra=GLOBAL)
def delete_key(key_id: str, instance: InstanceDep, actor: KeyManager):
    revoke_key(instance, actor, key_id)
    return {"id": key_id, "revoked": True}
