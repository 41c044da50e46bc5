"""Stopping a child process for good, whether it ends when asked or not, and a free local port to serve on."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

from tessera.processes import free_local_port, stop


def child(code: str) -> subprocess.Popen:
    """A Python child running ``code``, once it printed that it is ready (its signal handlers are in place)."""
    process = subprocess.Popen(
        [sys.executable, "-c", code + "\nprint('ready', flush=True)\nimport time\nwhile True: time.sleep(1)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    process.stdout.close()
    return process


def test_a_process_that_ends_when_asked_is_stopped_by_sigterm():
    process = child("")
    assert stop(process, grace_seconds=60) == -signal.SIGTERM
    assert process.poll() == -signal.SIGTERM


def test_a_process_that_ignores_sigterm_is_killed_once_its_grace_is_over():
    process = child("import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)")
    assert stop(process, grace_seconds=0.2) == -signal.SIGKILL


def test_a_process_that_ended_already_is_only_reaped():
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    process.wait()
    assert stop(process, grace_seconds=0) == 3


def test_the_free_local_port_can_be_listened_on():
    port = free_local_port()
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen()
        assert server.getsockname() == ("127.0.0.1", port)
