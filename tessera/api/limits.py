"""What requests may cost the service: bytes as they arrive, how many run at once, for how long, how much CPU.

Pure ASGI middleware, so that each limit holds before routing, before
authentication and before anything is parsed:

- :class:`BodyLimit` counts a body's bytes as they arrive;
- :class:`RequestGate` answers 503 ``busy`` with ``Retry-After`` to a request
  beyond the concurrency limits (overall and per key) before reading it, and
  opens each admitted request's :class:`~tessera.workflows.budget.RequestBudget`
  (deadline, CPU), which it marks when the client disconnects, so that the
  workflows stop at their next stage.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tessera.api.errors import error_response
from tessera.settings import Settings
from tessera.workflows.budget import RequestBudget, spending


class BodyTooLarge(HTTPException):
    """A body passed its limit while it arrived: answered 413 ``too_large`` by the app's error handler."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request is larger than the {limit:,}-byte limit.")


class BodyLimit:
    """Refuse a request body larger than ``limit`` bytes as its bytes arrive, chunked or not.

    A declared ``Content-Length`` over the limit is refused by the app before
    anything is read; a body sent without one (chunked) is counted here, and
    the read that passes the limit raises :class:`BodyTooLarge` inside whatever
    was reading it (the form parser, the JSON body), so that no more than
    ``limit`` bytes are ever read, spooled or parsed.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, counted, send)


class RequestGate:
    """Admit at most ``max_concurrent_requests`` requests to ``/v1/`` at once, ``max_concurrent_requests_per_key``
    per API key, each within its :class:`~tessera.workflows.budget.RequestBudget`.

    A request beyond a limit is answered 503 ``busy`` with ``Retry-After`` before any of its body is read: the
    service degrades by refusing, never by queueing bodies in memory. The key is the ``Authorization`` header as
    sent (hashed; checked later by the route), so a flood of made-up keys shares the overall limit only.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.in_flight: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        settings = self.settings
        key = _caller(scope)
        if self.in_flight.total() >= settings.max_concurrent_requests:
            await self._busy(scope, receive, send, f"{settings.max_concurrent_requests} requests are running")
            return
        if self.in_flight[key] >= settings.max_concurrent_requests_per_key:
            running = settings.max_concurrent_requests_per_key
            await self._busy(scope, receive, send, f"{running} requests of this key are running")
            return
        self.in_flight[key] += 1
        budget = RequestBudget.starting_now(
            settings.request_timeout_seconds, settings.request_cpu_seconds, settings.retry_after_seconds
        )
        watcher = DisconnectWatcher(receive, budget)
        try:
            with spending(budget):
                await self.app(scope, watcher.receive, send)
        finally:
            watcher.stop()
            self.in_flight[key] -= 1
            if self.in_flight[key] <= 0:
                del self.in_flight[key]

    async def _busy(self, scope: Scope, receive: Receive, send: Send, why: str) -> None:
        response = error_response(
            503, "busy", f"The service is busy ({why}); retry later.", retry_after=self.settings.retry_after_seconds
        )
        await response(scope, receive, send)


class DisconnectWatcher:
    """Hands the app its request's messages; once the body is in, listens for the client going away.

    ASGI servers report a closed connection as an ``http.disconnect`` message
    from ``receive``, which the app only calls while it reads the body; after
    that, this watcher calls it and marks the budget when the client has gone.
    A later call by the app gets the same message.
    """

    def __init__(self, receive: Receive, budget: RequestBudget) -> None:
        self._receive = receive
        self._budget = budget
        self._listening: asyncio.Task[Message] | None = None

    async def receive(self) -> Message:
        if self._listening is not None:
            return await asyncio.shield(self._listening)
        message = await self._receive()
        if message["type"] == "http.disconnect":
            self._budget.client_gone()
        elif not message.get("more_body", False):
            self._listening = asyncio.ensure_future(self._listen())
        return message

    async def _listen(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.disconnect":
            self._budget.client_gone()
        return message

    def stop(self) -> None:
        if self._listening is not None:
            self._listening.cancel()


def _caller(scope: Scope) -> str:
    """Who a request counts against: a hash of its Authorization header, or ``anonymous``."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return hashlib.sha256(value).hexdigest()
    return "anonymous"
