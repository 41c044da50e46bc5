"""Child processes that a benchmark or a test starts: a free local port to serve on, and stopping one for good."""

from __future__ import annotations

import socket
import subprocess


def free_local_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now, chosen by the operating system (free until taken)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop(process: subprocess.Popen, grace_seconds: float) -> int:
    """Stop ``process`` and reap it; returns its exit status (negative: the signal that ended it).

    It is asked to end first (SIGTERM: a service closes its instance and exits) and given ``grace_seconds`` to do
    so, then killed (SIGKILL). A process that has ended already is only reaped.
    """
    if process.poll() is None:
        process.terminate()
    try:
        return process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()
