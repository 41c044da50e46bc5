"""Failed authentications: counted per client address and per key id, refused beyond a limit, in bounded memory.

A guessing client (wrong secrets, made-up keys) gets ``auth_failure_limit``
tries per ``auth_failure_window_seconds`` from one address, and a key id
gets as many from all addresses together; beyond that every request from
that address, or naming that key id, is refused with 429 and
``Retry-After`` before any key is looked up. At most ``max_tracked``
addresses and key ids are remembered (the least recently failed are
forgotten first), so a flood from many addresses costs bounded memory.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Window:
    started: float
    count: int


class AttemptCounter:
    """Fixed-window attempt counts by name, in bounded memory (the least recently counted name is forgotten first).

    Parameters
    ----------
    limit : int
        Attempts allowed per name and window; the next one is refused.
    window_seconds : float
        Length of a window, from a name's first attempt in it.
    max_tracked : int
        Most names remembered at once.
    clock : callable
        Monotonic seconds (tests pass their own).
    """

    def __init__(
        self, limit: int, window_seconds: float, max_tracked: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self.max_tracked = max_tracked
        self.clock = clock
        self._windows: OrderedDict[str, _Window] = OrderedDict()

    def wait(self, name: str, now: float) -> int | None:
        """Seconds until ``name`` may try again, or None when it is under its limit (the caller holds the lock)."""
        window = self._windows.get(name)
        if window is None or now - window.started >= self.window_seconds or window.count < self.limit:
            return None
        return max(1, math.ceil(window.started + self.window_seconds - now))

    def count(self, name: str, now: float) -> None:
        """Count one attempt of ``name`` (the caller holds the lock)."""
        window = self._windows.pop(name, None)
        if window is None or now - window.started >= self.window_seconds:
            window = _Window(started=now, count=0)
        window.count += 1
        self._windows[name] = window  # most recently counted last
        while len(self._windows) > self.max_tracked:
            self._windows.popitem(last=False)

    def tracked(self) -> int:
        """How many names are remembered."""
        return len(self._windows)


class FailureLimiter:
    """Failed authentications counted by name (``address:<host>``, ``key:<id>``) in one :class:`AttemptCounter`.

    Parameters
    ----------
    limit : int
        Failures allowed per name and window; the next request is refused.
    window_seconds : float
        Length of a window, from a name's first failure in it.
    max_tracked : int
        Most names remembered at once.
    clock : callable
        Monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        limit: int,
        window_seconds: float,
        max_tracked: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self.max_tracked = max_tracked
        self._counter = AttemptCounter(limit, window_seconds, max_tracked, clock)
        self._clock = clock
        self._lock = threading.Lock()

    def retry_after(self, names: list[str]) -> int | None:
        """Seconds until the first of ``names`` over its limit may try again, or None when none is."""
        now = self._clock()
        with self._lock:
            waits = [wait for name in names if (wait := self._counter.wait(name, now)) is not None]
        return max(waits) if waits else None

    def fail(self, names: list[str]) -> None:
        """Count one failure against each of ``names``."""
        now = self._clock()
        with self._lock:
            for name in names:
                self._counter.count(name, now)

    def tracked(self) -> int:
        """How many names are remembered."""
        return self._counter.tracked()
