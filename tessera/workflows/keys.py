"""API keys: created by an admin, stored as hashes, checked on every request.

A key reads ``tsk_<id>_<secret>``; the id is public (it names the actor in
the audit trail), the secret is 32 random bytes kept only as its SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from tessera.errors import NotFound, Unauthorized
from tessera.governance.roles import Role
from tessera.store.models import ApiKey
from tessera.workflows.instance import Actor, Instance

PREFIX = "tsk_"
_KEY_ID = re.compile(r"^[0-9a-f]{1,32}$")


@dataclass(frozen=True)
class NewKey:
    id: str
    role: str
    secret: str
    """The whole key, shown once: only its hash is stored."""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(instance: Instance, actor: Actor | str, role: Role | str, label: str = "") -> NewKey:
    role = Role(role)
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    with instance.transaction() as session:
        session.add(
            ApiKey(id=key_id, secret_sha256=_digest(secret), role=role.value, label=label, created_at=instance.clock())
        )
        instance.record(
            session, actor, "key.create", "ok", details={"key_id": key_id, "role": role.value, "label": label}
        )
    return NewKey(id=key_id, role=role.value, secret=f"{PREFIX}{key_id}_{secret}")


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
    return Actor(id=f"key:{key.id}", role=key.role)


def has_admin_key(instance: Instance) -> bool:
    with instance.sessions() as session:
        return (
            session.scalar(select(ApiKey.id).where(ApiKey.role == Role.ADMIN.value, ApiKey.revoked_at.is_(None)))
            is not None
        )
