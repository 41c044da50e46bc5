"""Separation of duties: who may not do what, whatever their role allows (issue 17, item 2).

Each rule is one pure function, called by every workflow it concerns (a review, a
re-review of a contest, a training attestation), so that a review screen or a new
route cannot apply a weaker copy. A rule that is broken raises :class:`Forbidden`
with its reason code.

- A reviewer cannot review a search they ran (:func:`check_not_own_search`).
- A contest is re-reviewed only by reviewers who took no part in the first decision
  (:func:`check_not_first_reviewer`).
- A training attestation is recorded by an admin other than the reviewer, for an
  adjudicator key that exists and is not revoked, and by an admin other than the one
  who created the key (two admins), unless the deployment has one admin and turned on
  the audited ``single_admin_exception`` (:func:`check_attestation`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from tessera.errors import Forbidden, InvalidRequest, NotFound
from tessera.governance.roles import Role

SINGLE_ADMIN_EXCEPTION = "separation.single_admin_exception"
"""The audit action of every attestation recorded under the single-admin exception."""


def check_not_own_search(reviewer: str, requested_by: str) -> None:
    """Refuse a review of a search by the key that ran it.

    Raises
    ------
    Forbidden
        ``requester_cannot_adjudicate``.
    """
    if reviewer == requested_by:
        raise Forbidden(
            "The person who asked for a search cannot review its candidates.", code="requester_cannot_adjudicate"
        )


def check_not_first_reviewer(reviewer: str, first_reviewers: Collection[str]) -> None:
    """Refuse a re-review of a contested finding by someone who took the first decision.

    Raises
    ------
    Forbidden
        ``first_reviewer_cannot_rereview``.
    """
    if reviewer in first_reviewers:
        raise Forbidden(
            "You took part in the decision being contested: a reviewer who did not must re-review it.",
            code="first_reviewer_cannot_rereview",
        )


@dataclass(frozen=True)
class KeyFacts:
    """What the attestation rule needs to know of the key being attested."""

    key_id: str
    role: str
    created_by: str
    revoked: bool


def check_attestation(recorder: str, key: KeyFacts | None, single_admin_exception: bool) -> bool:
    """Whether ``recorder`` may record training for ``key``; returns True when only the single-admin exception
    allows it (the caller audits that use).

    Parameters
    ----------
    recorder
        The actor recording the attestation (``key:<id>`` or a local operator).
    key
        The key being attested, or None when no key has that id.
    single_admin_exception
        The setting of that name: lets the key's creator attest it alone.

    Raises
    ------
    NotFound
        ``key_not_found`` for no such key.
    InvalidRequest
        ``not_an_adjudicator`` for a key of another role; ``key_revoked`` for a revoked key.
    Forbidden
        ``self_attestation`` when the recorder is the key itself; ``second_admin_required`` when the recorder
        created the key and the exception is off.
    """
    if key is None:
        raise NotFound("Training is recorded for an existing key; no key has that id.", code="key_not_found")
    if key.role != Role.ADJUDICATOR:
        raise InvalidRequest(
            f"Training is recorded for adjudicator keys; key {key.key_id} is a {key.role} key.",
            code="not_an_adjudicator",
        )
    if key.revoked:
        raise InvalidRequest(f"Key {key.key_id} is revoked: its training cannot be recorded.", code="key_revoked")
    if recorder == f"key:{key.key_id}":
        raise Forbidden("A reviewer cannot record their own training.", code="self_attestation")
    if recorder != key.created_by:
        return False
    if not single_admin_exception:
        raise Forbidden(
            "You created this reviewer key, so a second admin must record its training (two-admin rule). A "
            "deployment with one admin only may turn on the audited single_admin_exception setting.",
            code="second_admin_required",
        )
    return True
