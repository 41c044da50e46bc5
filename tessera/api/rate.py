"""Verification rate limits: per API key and per subject, refused beyond a limit with 429 and Retry-After (audited).

Banded answers (:mod:`tessera.governance.disclosure`) tell an attacker one
bit per query below the threshold; these limits bound how many queries a key
can make, and how many all keys together can make against one person, in
each window. Counts are kept in the store (:class:`~tessera.api.throttle.AttemptCounter`),
shared by every server process on it, so that several processes or servers
allow the limit and not a multiple of it; at most ``max_tracked`` keys and
subjects each are remembered (the least recently counted are forgotten
first), so a flood of made-up subject ids costs bounded storage.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import Request

from tessera.api.throttle import AttemptCounter
from tessera.errors import TooManyRequests
from tessera.settings import Settings
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.scope import check_subject

RATE_LIMITED = "verify_rate_limited"
"""The reason code (and audit outcome ``refused:verify_rate_limited``) of a verification refused by a limit."""
_SUBJECT_ID_CHARS = 36
"""Subject ids are 36 characters; a longer requested id is logged in the details only."""


class VerifyLimits:
    """The per-key and per-subject verification limits (settings ``verify_limit_*``), counted in ``instance``'s
    store for every server process on it."""

    def __init__(self, instance: Instance, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        window = settings.verify_limit_window_seconds
        self.instance = instance
        self.per_key = AttemptCounter("verify-key", settings.verify_limit_per_key, window, clock=clock)
        self.per_subject = AttemptCounter("verify-subject", settings.verify_limit_per_subject, window, clock=clock)
        self._clock = clock

    def admit(self, key_id: str, subject_id: str) -> tuple[str, int] | None:
        """Count a verification of ``subject_id`` by ``key_id``; or, when either is at its limit, count nothing and
        answer which limit (``key`` or ``subject``) and the seconds to wait. One transaction: two processes cannot
        both take the last verification of a window."""
        now = self._clock()
        checks = (("key", self.per_key, key_id), ("subject", self.per_subject, subject_id))
        try:
            with self.instance.transaction() as session:
                for which, counter, name in checks:
                    if (wait := counter.claim(session, name, now)) is not None:
                        raise _Refused(which, wait)
                for _, counter, name in checks:
                    counter.count(session, name, now)
        except _Refused as refused:  # rolled back: nothing counted
            return refused.which, refused.wait
        return None


class _Refused(Exception):
    def __init__(self, which: str, wait: int) -> None:
        self.which, self.wait = which, wait


def admit_verification(request: Request, instance: Instance, actor: Actor, subject_id: str) -> None:
    """Refuse a verification beyond the key's or the subject's limit: audited, 429 ``verify_rate_limited``.

    The key's gallery scope is checked first, so that a key cannot use up (or learn about) the limit of a
    subject outside its galleries.
    """
    check_subject(instance, actor, subject_id, "verify")
    limits: VerifyLimits = request.app.state.verify_limits
    refused = limits.admit(str(actor), subject_id)
    if refused is None:
        return
    which, wait = refused
    instance.record_alone(
        actor,
        "verify",
        f"refused:{RATE_LIMITED}",
        subject_id=subject_id if len(subject_id) <= _SUBJECT_ID_CHARS else None,
        details={"limit": which, "requested": subject_id[:64], "retry_after_seconds": wait},
    )
    per = "this key" if which == "key" else "this person"
    raise TooManyRequests(
        f"Too many verifications for {per} in the last "
        f"{instance.settings.verify_limit_window_seconds:g} s; try again in {wait} s.",
        retry_after=wait,
        code=RATE_LIMITED,
    )
