"""What one request may still spend: a wall-clock deadline, a CPU budget, and whether its client is still there.

The service opens a :class:`RequestBudget` for every request
(:mod:`tessera.api.limits`) and makes it current for the request's code; the
workflows call :func:`checkpoint` between their costly stages (before each
image is decoded and before each is read by a matcher), so that a request
whose client has gone, whose time is up or whose CPU budget is spent stops
there, before the next stage starts. Outside the service (the CLI, an
evaluation) no budget is current and :func:`checkpoint` does nothing.

The CPU budget reads the CPU time of the request's own thread, so the service
keeps a request's work on it (:func:`work_on_calling_threads`): the libraries
that would hand it to pools of their own threads (OpenBLAS under numpy, OpenCV,
ONNX Runtime) run on the thread that calls them, whose CPU time is then all a
request costs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from tessera.errors import RequestCancelled, RequestTooCostly, ServiceUnavailable


@dataclass
class RequestBudget:
    """The limits of one request.

    Attributes
    ----------
    deadline : float
        ``time.monotonic()`` after which the request is abandoned (503 ``timeout``).
    cpu_seconds : float
        CPU time (of the thread doing the request's work, measured from its first checkpoint; every library runs
        on that thread in the service, see :func:`work_on_calling_threads`) after which the request is abandoned
        (422 ``too_costly``).
    retry_after : int
        Seconds a client is told to wait before retrying a request that timed out.
    """

    deadline: float
    cpu_seconds: float
    retry_after: int = 1
    _gone: threading.Event = field(default_factory=threading.Event)
    _cpu_start: dict[int, float] = field(default_factory=dict)

    @classmethod
    def starting_now(cls, timeout_seconds: float, cpu_seconds: float, retry_after: int = 1) -> RequestBudget:
        return cls(time.monotonic() + timeout_seconds, cpu_seconds, retry_after)

    def client_gone(self) -> None:
        """Called when the client disconnects."""
        self._gone.set()

    @property
    def is_client_gone(self) -> bool:
        return self._gone.is_set()

    def check(self, stage: str) -> None:
        """Raise if the request must stop before ``stage``."""
        if self._gone.is_set():
            raise RequestCancelled(f"The client went away before {stage}; the request was abandoned.")
        if time.monotonic() > self.deadline:
            error = ServiceUnavailable(
                f"The request ran out of time before {stage}; the service is busy. Retry later.", code="timeout"
            )
            error.retry_after = self.retry_after
            raise error
        thread = threading.get_ident()
        spent = time.thread_time() - self._cpu_start.setdefault(thread, time.thread_time())
        if spent > self.cpu_seconds:
            raise RequestTooCostly(
                f"The request spent more than its {self.cpu_seconds:g} s of CPU before {stage}; send fewer or "
                "smaller images."
            )


def work_on_calling_threads() -> None:
    """Make numpy's BLAS and OpenCV run on the thread that calls them, for the whole process.

    Their default pools (a thread per core) did part of a request's work on threads whose CPU time no request's
    budget saw: 0.2 s of the 1.9 s an all-ridges contact scan cost went to OpenBLAS's second thread (the ridge
    analysis's matrix products). The models run single-threaded on the caller already (the minutiae network:
    :data:`~tessera.finger.minutiae.EXTRACTOR_THREADS`; SFace: :data:`~tessera.face.sface_models.SFACE_THREADS`;
    YuNet through OpenCV; dlib has no pool). Concurrent requests use the other cores.
    """
    import cv2
    from threadpoolctl import ThreadpoolController

    cv2.setNumThreads(1)
    # Every BLAS loaded so far (numpy's and OpenCV's own OpenBLAS); the limit stays until the process ends.
    ThreadpoolController().limit(limits=1, user_api="blas")


@contextmanager
def as_the_service_runs() -> Iterator[None]:
    """Inside, numpy's BLAS and OpenCV run on the calling thread, as in the service; their pools are back after.

    For a measurement of what a request costs, made in a process that is not the service (an evaluation, a
    benchmark): with the pools, a second core's thread spins on and the process's CPU time is not what the service
    spends (a phone slap: 2.8-3.2 s of process time with the pools, 2.2-2.5 s without, the same templates).
    """
    import cv2
    from threadpoolctl import ThreadpoolController

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with ThreadpoolController().limit(limits=1, user_api="blas"):
            yield
    finally:
        cv2.setNumThreads(threads)


_CURRENT: ContextVar[RequestBudget | None] = ContextVar("tessera_request_budget", default=None)


@contextmanager
def spending(budget: RequestBudget) -> Iterator[RequestBudget]:
    """Make ``budget`` the current request's for the code run inside (and the threads it hands work to)."""
    token = _CURRENT.set(budget)
    try:
        yield budget
    finally:
        _CURRENT.reset(token)


def checkpoint(stage: str) -> None:
    """Stop the current request here (raise) if its client has gone, its time is up or its CPU is spent.

    Parameters
    ----------
    stage : str
        What would start next, in words (``decoding the contact finger image``), for the message.
    """
    budget = _CURRENT.get()
    if budget is not None:
        budget.check(stage)
