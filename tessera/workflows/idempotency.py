"""Retries that cannot enrol someone twice.

A client sends ``Idempotency-Key: <any unique string>`` with a POST. The
first answer is stored in the same transaction as the change it reports; a
retry with the same key and the same request gets that answer again, and the
same key with a different request is refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tessera.errors import BadRequest, Conflict
from tessera.store.models import IdempotencyRecord
from tessera.workflows.instance import Instance


@dataclass(frozen=True)
class Idempotency:
    api_key_id: str
    key: str
    request_sha256: str

    @classmethod
    def for_request(cls, api_key_id: str, key: str | None, *parts: bytes) -> Idempotency | None:
        if key is None:
            return None
        if not 1 <= len(key) <= 200:
            raise BadRequest(
                f"Idempotency-Key must be 1 to 200 characters, got {len(key)}.", code="bad_idempotency_key"
            )
        digest = hashlib.sha256()
        for part in parts:
            digest.update(hashlib.sha256(part).digest())
        return cls(api_key_id=api_key_id, key=key, request_sha256=digest.hexdigest())


def replay(instance: Instance, idempotency: Idempotency | None) -> tuple[int, dict] | None:
    """The stored answer for a retried request, or None for a new one."""
    if idempotency is None:
        return None
    with instance.sessions() as session:
        record = session.get(IdempotencyRecord, (idempotency.api_key_id, idempotency.key))
    if record is None:
        return None
    if record.request_sha256 != idempotency.request_sha256:
        raise Conflict(
            "This Idempotency-Key was already used for a different request; use a new key for a new request.",
            code="idempotency_key_reused",
        )
    return record.status_code, record.response


def remember(
    instance: Instance,
    session: Session,
    idempotency: Idempotency | None,
    status: int,
    response: dict,
    subject_id: str | None,
) -> None:
    """Store the answer in ``session``'s transaction; a request with the same key answered meanwhile is a 409.

    Two requests with one key can both find no stored answer (:func:`replay`) and both do the work; the
    second to write its answer is refused with ``idempotency_key_in_flight`` and its transaction rolled
    back, so the work is done once. Its retry then gets the first answer.
    """
    if idempotency is None:
        return
    if session.get(IdempotencyRecord, (idempotency.api_key_id, idempotency.key)) is not None:
        raise _in_flight()
    session.add(
        IdempotencyRecord(
            api_key_id=idempotency.api_key_id,
            key=idempotency.key,
            request_sha256=idempotency.request_sha256,
            status_code=status,
            response=response,
            subject_id=subject_id,
            created_at=instance.clock(),
        )
    )
    try:
        session.flush()  # PostgreSQL: a concurrent transaction's insert of the same key shows up here
    except IntegrityError as error:
        raise _in_flight() from error


def _in_flight() -> Conflict:
    return Conflict(
        "Another request with this Idempotency-Key was answered while this one ran; nothing was changed by this one. "
        "Retry with the same key to get that answer.",
        code="idempotency_key_in_flight",
    )
