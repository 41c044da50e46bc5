"""Request dependencies: the open instance, the caller, and uploads read within limits."""

from __future__ import annotations

from typing import Annotated, Protocol, cast

from fastapi import Depends, Form, Header, Request, UploadFile

from tessera.api.client_address import FORWARDED_FOR, client_address, parse_networks
from tessera.api.throttle import FailureLimiter
from tessera.errors import Forbidden, PayloadTooLarge, TooManyRequests, Unauthorized
from tessera.governance.roles import Permission, allows
from tessera.governance.scope import RouteScope
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.keys import authenticate, public_key_id
from tessera.workflows.subject_records import resolve_subject_id


def get_instance(request: Request) -> Instance:
    return request.app.state.instance


InstanceDep = Annotated[Instance, Depends(get_instance)]


def authenticated(
    request: Request, instance: InstanceDep, authorization: Annotated[str | None, Header()] = None
) -> Actor:
    """The caller behind a valid bearer key, whatever its role.

    The client's address is the peer's, or behind a trusted proxy the one it forwarded
    (:func:`~tessera.api.client_address.client_address`). A wrong or revoked key is audited (``auth.fail``: the
    client address and the key id it named, never its
    secret) and counted against the address and the key id; beyond ``auth_failure_limit`` in a window, requests
    from that address are refused (429 ``too_many_failures``) before any key is looked up, and wrong secrets for
    that key id are refused the same way (its right secret still passes: a guesser cannot lock its holder out).
    """
    if not authorization:
        raise Unauthorized("Send an API key: Authorization: Bearer <key>.", code="missing_key")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Use the Bearer scheme: Authorization: Bearer <key>.", code="missing_key")
    client = client_address(
        request.client.host if request.client else None,
        request.headers.getlist(FORWARDED_FOR),
        parse_networks(instance.settings.trusted_proxies),
    )
    key_id = public_key_id(token.strip())
    address, key = f"address:{client}", f"key:{key_id}" if key_id else None
    limiter: FailureLimiter = request.app.state.auth_failures
    if (wait := limiter.retry_after([address])) is not None:
        raise _too_many(wait)
    # A key id over its limit (guessed at from many addresses) still lets its right secret in, so that a guesser
    # cannot lock its holder out; a wrong one is refused as too many, and no longer audited.
    key_wait = limiter.retry_after([key]) if key else None
    try:
        return authenticate(instance, token.strip())
    except Unauthorized as error:
        if key_wait is not None:
            limiter.fail([address])
            raise _too_many(key_wait) from None
        limiter.fail([address, key] if key else [address])
        instance.record_alone(
            f"client:{client}"[:64],
            "auth.fail",
            f"refused:{error.code}",
            details={"client": client, "key_id": key_id},
        )
        raise


def _too_many(wait: int) -> TooManyRequests:
    return TooManyRequests(
        f"Too many failed authentications from this address or for this key; try again in {wait} s.",
        retry_after=wait,
        code="too_many_failures",
    )


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


def _subject_in_path(subject_id: str, instance: InstanceDep, actor: Annotated[Actor, Depends(authenticated)]) -> str:
    return resolve_subject_id(instance, actor, subject_id, "subject.resolve")


def _subject_in_form(
    instance: InstanceDep,
    actor: Annotated[Actor, Depends(authenticated)],
    subject_id: Annotated[str, Form(max_length=64, description="The subject's id or short number.")],
) -> str:
    return resolve_subject_id(instance, actor, subject_id, "subject.resolve")


SubjectId = Annotated[str, Depends(_subject_in_path)]
"""A ``{subject_id}`` path parameter: the subject's id or its short number (any accepted spelling), as its id."""
SubjectIdForm = Annotated[str, Depends(_subject_in_form)]
"""A ``subject_id`` form field: the subject's id or its short number, as its id."""
