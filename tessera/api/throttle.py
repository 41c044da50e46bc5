"""Rate limits counted in the store, so that every server process on it shares them: failed authentications per
client address and per key id, refused beyond a limit, in bounded storage.

A guessing client (wrong secrets, made-up keys) gets ``auth_failure_limit``
tries per ``auth_failure_window_seconds`` from one address, and a key id
gets as many from all addresses together; beyond that every request from
that address, or naming that key id, is refused with 429 and
``Retry-After`` before any key is looked up. The counts live in the store
(:class:`AttemptCounter`, table ``attempt_windows``), not in a process's
memory: N server processes on one database allow the limit, not N times it.
At most ``max_tracked`` addresses and key ids are remembered (the least
recently failed are forgotten first), so a flood from many addresses costs
bounded storage.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tessera.store.models import AttemptWindow
from tessera.workflows.instance import Instance

_MAX_NAME = 200
"""The longest name stored as it is (``attempt_windows.name``); a longer one is stored by its SHA-256."""


class AttemptCounter:
    """Fixed-window attempt counts by name, in the store's ``attempt_windows`` (bounded: the least recently counted
    name of the kind is forgotten first).

    Every method takes the caller's session: :meth:`claim` and :meth:`count` inside one write transaction are
    atomic across processes (SQLite's ``BEGIN IMMEDIATE``; PostgreSQL's row lock, ``SELECT ... FOR UPDATE``).

    Parameters
    ----------
    kind : str
        The limit's name (at most 32 characters); names are counted apart per kind.
    limit : int
        Attempts allowed per name and window; the next one is refused.
    window_seconds : float
        Length of a window, from a name's first attempt in it.
    max_tracked : int
        Most names of this kind remembered at once.
    clock : callable
        Seconds since the epoch (every process on the store must agree on it; tests pass their own).
    """

    def __init__(
        self,
        kind: str,
        limit: int,
        window_seconds: float,
        max_tracked: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.kind = kind
        self.limit = limit
        self.window_seconds = window_seconds
        self.max_tracked = max_tracked
        self.clock = clock

    def wait(self, session: Session, name: str, now: float) -> int | None:
        """Seconds until ``name`` may try again, or None when it is under its limit (reads only)."""
        return self._wait(session.get(AttemptWindow, self._key(name)), now)

    def claim(self, session: Session, name: str, now: float) -> int | None:
        """:meth:`wait`, with ``name``'s row created and locked until the transaction ends, so that no other process
        counts it between this answer and :meth:`count`."""
        key = self._key(name)
        insert = (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert
        row = {"name": key, "kind": self.kind, "started": now, "count": 0, "counted_at": now}
        session.execute(insert(AttemptWindow).values(**row).on_conflict_do_nothing(index_elements=["name"]))
        window = session.get(AttemptWindow, key, with_for_update=True, populate_existing=True)
        return self._wait(window, now)

    def count(self, session: Session, name: str, now: float) -> None:
        """Count one attempt of ``name`` (in a write transaction), and forget ended windows and the least recently
        counted names beyond ``max_tracked``."""
        self.claim(session, name, now)
        window = session.get(AttemptWindow, self._key(name))
        assert window is not None  # claimed above
        if now - window.started >= self.window_seconds:
            window.started, window.count = now, 0
        window.count += 1
        window.counted_at = now
        session.flush()
        ended = now - self.window_seconds
        session.execute(delete(AttemptWindow).where(AttemptWindow.kind == self.kind, AttemptWindow.started <= ended))
        if self.tracked(session) > self.max_tracked:
            newest = select(AttemptWindow.name).where(AttemptWindow.kind == self.kind)
            kept = newest.order_by(AttemptWindow.counted_at.desc()).limit(self.max_tracked)
            doomed = select(AttemptWindow.name).where(AttemptWindow.kind == self.kind, AttemptWindow.name.not_in(kept))
            session.execute(delete(AttemptWindow).where(AttemptWindow.name.in_(doomed)))

    def tracked(self, session: Session) -> int:
        """How many names of this kind are remembered."""
        return session.scalar(select(func.count()).where(AttemptWindow.kind == self.kind)) or 0

    def _wait(self, window: AttemptWindow | None, now: float) -> int | None:
        if window is None or now - window.started >= self.window_seconds or window.count < self.limit:
            return None
        return max(1, math.ceil(window.started + self.window_seconds - now))

    def _key(self, name: str) -> str:
        key = f"{self.kind}:{name}"
        return key if len(key) <= _MAX_NAME else f"{self.kind}:sha256:{hashlib.sha256(name.encode()).hexdigest()}"


class FailureLimiter:
    """Failed authentications counted by name (``address:<host>``, ``key:<id>``) in one store-backed
    :class:`AttemptCounter` of kind ``auth-failure``.

    Parameters
    ----------
    instance : Instance
        Whose store keeps the counts.
    limit : int
        Failures allowed per name and window; the next request is refused.
    window_seconds : float
        Length of a window, from a name's first failure in it.
    max_tracked : int
        Most names remembered at once.
    clock : callable
        Seconds since the epoch (tests pass their own).
    """

    def __init__(
        self,
        instance: Instance,
        limit: int,
        window_seconds: float,
        max_tracked: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.instance = instance
        self.limit = limit
        self.window_seconds = window_seconds
        self.max_tracked = max_tracked
        self._counter = AttemptCounter("auth-failure", limit, window_seconds, max_tracked, clock)
        self._clock = clock

    def retry_after(self, names: list[str]) -> int | None:
        """Seconds until the first of ``names`` over its limit may try again, or None when none is."""
        now = self._clock()
        with self.instance.sessions() as session:
            waits = [wait for name in names if (wait := self._counter.wait(session, name, now)) is not None]
        return max(waits) if waits else None

    def fail(self, names: list[str]) -> None:
        """Count one failure against each of ``names``."""
        now = self._clock()
        with self.instance.transaction() as session:
            for name in names:
                self._counter.count(session, name, now)

    def tracked(self) -> int:
        """How many names are remembered."""
        with self.instance.sessions() as session:
            return self._counter.tracked(session)
