"""API keys: created by an admin, stored as hashes, checked on every request.

A key reads ``tsk_<id>_<secret>``; the id is public (it names the actor in
the audit trail), the secret is 32 random bytes kept only as its SHA-256.
A key may be limited to one or more galleries (``galleries``); admin keys
are always global (:mod:`tessera.governance.scope`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from tessera.errors import InvalidRequest, NotFound, Unauthorized
from tessera.governance.roles import Role
from tessera.governance.scope import MAX_GALLERIES_PER_KEY
from tessera.store.models import ApiKey, ApiKeyGallery, Gallery
from tessera.workflows.instance import Actor, Instance

PREFIX = "tsk_"
_KEY_ID = re.compile(r"^[0-9a-f]{1,32}$")


@dataclass(frozen=True)
class NewKey:
    id: str
    role: str
    secret: str
    """The whole key, shown once: only its hash is stored."""
    galleries: tuple[str, ...] | None = None
    """The galleries the key is limited to, sorted; None: a global key."""


@dataclass(frozen=True)
class KeyListing:
    """What a key listing shows of a key: never its secret or its hash."""

    id: str
    role: str
    label: str
    galleries: list[str] | None
    """The galleries the key is limited to, sorted; None: a global key."""
    created_at: str
    revoked_at: str | None
    created_by: str
    """Who created the key: an admin key's actor id (``key:<id>``) or a local operator (``cli:<user>``); '' for a
    key created before store revision 0010."""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    instance: Instance,
    actor: Actor | str,
    role: Role | str,
    label: str = "",
    galleries: Sequence[str] | None = None,
) -> NewKey:
    """Create a key of ``role``, limited to ``galleries`` when some are named (else global).

    Raises
    ------
    InvalidRequest
        ``admin_key_is_global`` for an admin key limited to galleries; ``too_many_galleries`` beyond
        :data:`~tessera.governance.scope.MAX_GALLERIES_PER_KEY`; ``gallery_not_found`` for a gallery that does
        not exist.
    """
    role = Role(role)
    limited = sorted(set(galleries or ()))
    if limited and role is Role.ADMIN:
        raise InvalidRequest(
            f"An admin key cannot be limited to galleries (got galleries {limited}): admin keys run the whole "
            "instance. Create an enroller, verifier, auditor or adjudicator key for one gallery.",
            code="admin_key_is_global",
        )
    if len(limited) > MAX_GALLERIES_PER_KEY:
        raise InvalidRequest(
            f"galleries names {len(limited)} galleries; a key may be limited to at most {MAX_GALLERIES_PER_KEY} "
            "(a key for more should be global).",
            code="too_many_galleries",
        )
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    with instance.transaction() as session:
        missing = sorted(set(limited) - set(session.scalars(select(Gallery.id).where(Gallery.id.in_(limited)))))
        if missing:
            raise InvalidRequest(f"galleries names galleries that do not exist: {missing}.", code="gallery_not_found")
        session.add(
            ApiKey(
                id=key_id,
                secret_sha256=_digest(secret),
                role=role.value,
                label=label,
                created_at=instance.clock(),
                created_by=str(actor),
                galleries=[ApiKeyGallery(gallery_id=gallery_id) for gallery_id in limited],
            )
        )
        details: dict[str, object] = {"key_id": key_id, "role": role.value, "label": label}
        if limited:
            details["galleries"] = limited
        instance.record(session, actor, "key.create", "ok", details=details)
    return NewKey(
        id=key_id, role=role.value, secret=f"{PREFIX}{key_id}_{secret}", galleries=tuple(limited) if limited else None
    )


def list_keys(instance: Instance) -> list[KeyListing]:
    """Every key, oldest first, with its role, label, galleries, dates and creator (never its secret)."""
    with instance.sessions() as session:
        keys = session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)).all()
        return [
            KeyListing(
                id=key.id,
                role=key.role,
                label=key.label,
                galleries=sorted(g.gallery_id for g in key.galleries) or None,
                created_at=key.created_at.isoformat(),
                revoked_at=None if key.revoked_at is None else key.revoked_at.isoformat(),
                created_by=key.created_by,
            )
            for key in keys
        ]


def revoke_key(instance: Instance, actor: Actor | str, key_id: str) -> None:
    with instance.transaction() as session:
        key = session.get(ApiKey, key_id)
        if key is None:
            raise NotFound(f"No API key with id {key_id!r}.", code="key_not_found")
        key.revoked_at = instance.clock()
        instance.record(session, actor, "key.revoke", "ok", details={"key_id": key_id})


def public_key_id(token: str) -> str | None:
    """The public id a token names (``tsk_<id>_...``), or None when it names none: what may be logged of it."""
    key_id = token[len(PREFIX) :].partition("_")[0] if token.startswith(PREFIX) else ""
    return key_id if _KEY_ID.match(key_id) else None


def authenticate(instance: Instance, token: str) -> Actor:
    """The actor a bearer token stands for, or :class:`Unauthorized`."""
    if not token.startswith(PREFIX) or token.count("_") < 2:
        raise Unauthorized("The API key is malformed; it should look like tsk_<id>_<secret>.", code="invalid_key")
    key_id, _, secret = token[len(PREFIX) :].partition("_")
    with instance.sessions() as session:
        key = session.get(ApiKey, key_id)
    if key is None or not hmac.compare_digest(key.secret_sha256, _digest(secret)):
        raise Unauthorized("The API key is not valid.", code="invalid_key")
    if key.revoked_at is not None:
        raise Unauthorized("The API key was revoked.", code="key_revoked")
    galleries = frozenset(g.gallery_id for g in key.galleries) or None
    return Actor(id=f"key:{key.id}", role=key.role, galleries=galleries)


def has_admin_key(instance: Instance) -> bool:
    with instance.sessions() as session:
        return (
            session.scalar(select(ApiKey.id).where(ApiKey.role == Role.ADMIN.value, ApiKey.revoked_at.is_(None)))
            is not None
        )
