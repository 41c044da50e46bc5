"""What one request may cost the service: bytes as they arrive (and later: how many run at once, for how long).

Pure ASGI middleware, so that each limit holds before routing, before
authentication and before anything is parsed.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


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
