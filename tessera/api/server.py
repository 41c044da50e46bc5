"""Serving the API: uvicorn with deadlines on half-sent requests and an access log that never holds a key.

uvicorn closes an idle kept-alive connection (``timeout_keep_alive``) but
arms no timer on a new connection: one that sends nothing, or half a
request head, or a body one byte a minute, holds a socket and a slot for
ever (slowloris). :class:`DeadlineH11Protocol` closes a connection whose
request head is not complete ``head_timeout`` seconds after its first byte
was awaited, or whose body stops arriving for ``body_idle_timeout`` seconds.

The access log line holds the path with its query string; a key sent there
(``?api_key=tsk_...``) is refused by the app (:func:`tessera.api.app.create_app`)
but uvicorn logs the line anyway, so :class:`RedactKeys` rewrites it first.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from tessera.api.redaction import redact_keys


class RedactKeys(logging.Filter):
    """A log filter that redacts keys from a record's message arguments (uvicorn's access log line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_keys(arg) if isinstance(arg, str) else arg for arg in record.args)
        record.msg = redact_keys(str(record.msg))
        return True


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose request head or body does not arrive in time.

    Subclassed per server by :func:`server_config` with the two deadlines (seconds) set.
    """

    head_timeout: float = 10.0
    body_idle_timeout: float = 30.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.head_timeout)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        state = self.conn.their_state
        if state is h11.IDLE:  # a request head not complete yet: its deadline runs from the first wait
            if self._deadline is None:
                self._arm(self.head_timeout)
        elif state is h11.SEND_BODY:  # the body is arriving: it must keep arriving
            self._arm(self.body_idle_timeout)
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.logger.info("closing a connection whose request did not arrive in time")
            self.transport.close()


def server_config(app: Any, *, host: str, port: int, head_timeout: float, body_idle_timeout: float) -> uvicorn.Config:
    """The uvicorn configuration ``tessera serve`` runs: one worker, the deadlines above, keys kept out of logs."""
    protocol = type(
        "TesseraH11Protocol",
        (DeadlineH11Protocol,),
        {"head_timeout": head_timeout, "body_idle_timeout": body_idle_timeout},
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        workers=1,
        log_level="info",
        http=protocol,
        timeout_keep_alive=5,
        # The client's address is decided once, by Tessera, from the trusted_proxies setting
        # (tessera/api/client_address.py); uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1.
        proxy_headers=False,
        h11_max_incomplete_event_size=16 * 1024,  # a request line and headers larger than this are refused
    )
    install_log_redaction()  # uvicorn.Config has configured logging by now
    return config


def install_log_redaction() -> None:
    """Redact keys from uvicorn's access and error logs (after uvicorn configured its logging)."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactKeys) for existing in logger.filters):
            logger.addFilter(RedactKeys())
