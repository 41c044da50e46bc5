"""Request dependencies: the open instance, the caller, and uploads read within limits."""

from __future__ import annotations

from typing import Annotated, Protocol, cast

from fastapi import Depends, Header, Request, UploadFile

from tessera.errors import Forbidden, PayloadTooLarge, Unauthorized
from tessera.governance.roles import Permission, allows
from tessera.governance.scope import RouteScope
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.keys import authenticate


def get_instance(request: Request) -> Instance:
    return request.app.state.instance


InstanceDep = Annotated[Instance, Depends(get_instance)]


def authenticated(instance: InstanceDep, authorization: Annotated[str | None, Header()] = None) -> Actor:
    """The caller behind a valid bearer key, whatever its role."""
    if not authorization:
        raise Unauthorized("Send an API key: Authorization: Bearer <key>.", code="missing_key")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Use the Bearer scheme: Authorization: Bearer <key>.", code="missing_key")
    return authenticate(instance, token.strip())


class PermissionCheck(Protocol):
    """A dependency made by :func:`require`: returns the caller, and names the permission it checks."""

    permission: Permission

    def __call__(self, actor: Actor) -> Actor: ...


def require(permission: Permission) -> PermissionCheck:
    """A dependency that authenticates the bearer key and checks the role table."""

    def check(actor: Annotated[Actor, Depends(authenticated)]) -> Actor:
        if not allows(actor.role, permission):
            raise Forbidden(f"The role {actor.role!r} may not {permission.value.replace('_', ' ')}.", code="forbidden")
        return actor

    permission_check = cast(PermissionCheck, check)
    permission_check.permission = permission  # lets the RBAC test map every route to its permission
    return permission_check


def gallery_scope(scope: RouteScope) -> dict[str, str]:
    """A route's ``openapi_extra``: what it does with a key limited to galleries (docs/roles.md, the RBAC test)."""
    return {"x-gallery-scope": scope.value}


GALLERY = gallery_scope(RouteScope.GALLERY)
FILTERED = gallery_scope(RouteScope.FILTERED)
INSTANCE = gallery_scope(RouteScope.INSTANCE)
GLOBAL = gallery_scope(RouteScope.GLOBAL)


def read_upload(instance: Instance, upload: UploadFile) -> bytes:
    """The upload's bytes, refusing more than the configured limit without reading it all."""
    limit = instance.settings.max_upload_bytes
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"The image is larger than the {limit:,}-byte limit.", code="too_large")
    return data


IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="Any unique string; a retry with the same key cannot enrol twice."),
]
