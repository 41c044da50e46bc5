"""``tessera load``: verify and identify under 4, 8 and 16 concurrent clients, over HTTP on 127.0.0.1.

A real server (uvicorn, a throw-away data folder) is started in this
process; LFW people are enrolled with their first photo, and kept when the
service reads their second (sent once to identify: a probe the quality gate
refuses is answered at once and would time nothing); then each client
(a thread with its own API key and connection, as a field device has) sends
verify and identify requests with the people's second photos. A ``503`` is
the service degrading as it should (busy, timeout): the client waits
``Retry-After`` and sends the request again, and the retry is counted; any
other failure is an error. Reported per level: requests, throughput,
p50/p95/p99 latency of the answered requests (retries included in their
time), the 503s and the errors, and the server's peak resident memory.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from tessera.bench import _consent, open_bench_gallery, served

LEVELS = (4, 8, 16)
"""Concurrent clients of each level."""


@dataclass
class Level:
    """What one level of concurrency measured for one route."""

    route: str
    clients: int
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    busy: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        """Answered requests per second."""
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")


def peak_rss_mb() -> float:
    """This process's peak resident memory (the server runs in it), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _send(http: httpx.Client, route: str, fields: dict[str, str], photo: bytes, level: Level, lock) -> None:
    began = time.perf_counter()
    for _attempt in range(20):
        try:
            response = http.post(f"/v1/{route}", data=fields, files={"image": ("probe.jpg", photo, "image/jpeg")})
        except httpx.HTTPError as error:
            with lock:
                level.errors.append(f"{type(error).__name__}: {error}")
            return
        if response.status_code == 503:
            with lock:
                level.busy += 1
            time.sleep(float(response.headers.get("Retry-After", "1")))
            continue
        with lock:
            if response.status_code == 200:
                level.latencies_ms.append((time.perf_counter() - began) * 1000)
            else:
                level.errors.append(f"{response.status_code} {response.text[:200]}")
        return
    with lock:
        level.errors.append("still busy after 20 attempts")


def run_level(
    base_url: str, keys: Sequence[str], route: str, work: Sequence[tuple[dict[str, str], bytes]], clients: int
) -> Level:
    """``clients`` threads share ``work`` (one request each item), each with its own key and connection."""
    level = Level(route, clients)
    lock = threading.Lock()
    queue = list(work)

    def client(key: str) -> None:
        with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as http:
            while True:
                with lock:
                    if not queue:
                        return
                    fields, photo = queue.pop()
                _send(http, route, fields, photo, level, lock)

    threads = [threading.Thread(target=client, args=(keys[number],)) for number in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    level.seconds = time.perf_counter() - began
    return level


def run_load(lfw_dir: Path, people: int = 24, requests_per_client: int = 3) -> list[Level]:
    """Serve a throw-away instance on 127.0.0.1 and load it at each of :data:`LEVELS`."""
    from tessera.settings import Settings
    from tessera.workflows.instance import Instance
    from tessera.workflows.keys import create_key

    folders = sorted(p for p in (lfw_dir / "images").iterdir() if p.is_dir())
    pairs = [photos[:2] for folder in folders if len(photos := sorted(folder.glob("*.jpg"))) >= 2][:people]
    levels: list[Level] = []
    with tempfile.TemporaryDirectory() as folder:
        # Throughput is measured, not the verification rate limits: every subject is verified many times.
        settings = Settings(
            data_dir=Path(folder), catch_trial_rate=0.0, verify_limit_per_key=10**9, verify_limit_per_subject=10**9
        )
        instance = Instance.open(settings)
        keys = [create_key(instance, "load", "admin").secret for _ in range(max(LEVELS))]
        try:
            with served(instance) as base_url:
                with httpx.Client(
                    base_url=base_url, headers={"Authorization": f"Bearer {keys[0]}"}, timeout=120
                ) as http:
                    gallery = open_bench_gallery(http, "load")
                    search = {"gallery_id": gallery, "purpose": "deduplicate", "case_reference": "load"}
                    probes: list[tuple[str, bytes]] = []
                    for reference, probe in pairs:
                        consent = {"gallery_id": gallery, "consent": _consent()}
                        subject = http.post("/v1/subjects", json=consent).json()["id"]
                        photo = {"image": reference.read_bytes()}
                        if http.post(f"/v1/subjects/{subject}/faces", files=photo).status_code != 201:
                            continue
                        # A probe the quality gate refuses (a face turned too far, say) answers 422 at once: a
                        # right answer, but not the full path to be timed. Only probes the service reads are sent.
                        probe_photo = {"image": probe.read_bytes()}
                        if http.post("/v1/identify", data=search, files=probe_photo).status_code == 200:
                            probes.append((subject, probe_photo["image"]))
                for clients in LEVELS:
                    count = clients * requests_per_client
                    chosen = [probes[number % len(probes)] for number in range(count)]
                    verify = [({"subject_id": subject}, photo) for subject, photo in chosen]
                    identify = [(search, photo) for _, photo in chosen]
                    levels.append(run_level(base_url, keys, "verify", verify, clients))
                    levels.append(run_level(base_url, keys, "identify", identify, clients))
        finally:
            instance.close()
    return levels
