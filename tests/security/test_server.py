"""The served API against a real socket: half-sent requests time out, keys in URLs are refused and never logged.

Issue 14, item 8. A real uvicorn server runs in a thread with the
configuration ``tessera serve`` uses (:func:`tessera.api.server.server_config`),
with short deadlines.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest
import uvicorn

from tessera.api.app import create_app
from tessera.api.server import server_config
from tessera.workflows.keys import create_key

HEAD_TIMEOUT = 0.5
BODY_IDLE_TIMEOUT = 0.5


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def server(instance):
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    config = server_config(
        create_app(instance, background_jobs=False),
        host="127.0.0.1",
        port=listening.getsockname()[1],
        head_timeout=HEAD_TIMEOUT,
        body_idle_timeout=BODY_IDLE_TIMEOUT,
    )
    access = Lines()
    logging.getLogger("uvicorn.access").addHandler(access)
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield listening.getsockname(), access
    running.should_exit = True
    thread.join(10)
    logging.getLogger("uvicorn.access").removeHandler(access)
    listening.close()


def closed_by_server_within(address, sent: bytes, seconds: float) -> float:
    """Connect, send ``sent``, then wait; how long until the server closed the connection (fails after ``seconds``)."""
    with socket.create_connection(address) as connection:
        connection.settimeout(seconds)
        started = time.monotonic()
        if sent:
            connection.sendall(sent)
        try:
            while connection.recv(4096):
                pass
        except TimeoutError:
            pytest.fail(f"the server kept a connection that sent {sent!r} open for {seconds} s")
        return time.monotonic() - started


def test_a_connection_that_sends_nothing_is_closed(server):
    address, _ = server
    assert closed_by_server_within(address, b"", 5) < 5


def test_a_connection_that_sends_half_a_request_head_is_closed(server):
    address, _ = server
    closed_by_server_within(address, b"GET /healthz HTTP/1.1\r\nHost: tessera\r\n", 5)


def test_a_request_whose_body_stops_arriving_is_closed(server):
    address, _ = server
    head = (
        b"POST /v1/subjects HTTP/1.1\r\nHost: tessera\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    closed_by_server_within(address, head + b'{"gallery', 5)


def test_a_complete_request_is_answered(server):
    address, _ = server
    with socket.create_connection(address, timeout=5) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: tessera\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := connection.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("query", ["api_key={key}", "token={key}", "q={key}", "key=anything"])
def test_a_key_in_a_url_is_refused_and_never_reaches_the_access_log(server, instance, query):
    address, access = server
    key = create_key(instance, "test", "admin").secret
    secret = key.split("_", 2)[2]  # tsk_<id>_<secret>; the secret itself may hold "_"
    with socket.create_connection(address, timeout=5) as connection:
        target = f"/v1/me?{query.format(key=key)}"
        connection.sendall(f"GET {target} HTTP/1.1\r\nHost: tessera\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := connection.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b'"key_in_url"' in answer
    deadline = time.monotonic() + 5
    while not any("/v1/me" in line for line in access.lines):
        assert time.monotonic() < deadline, f"no access log line: {access.lines}"
        time.sleep(0.02)
    assert not any(secret in line for line in access.lines), access.lines
    assert any("[redacted]" in line for line in access.lines), access.lines
