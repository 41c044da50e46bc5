"""``tessera bench-startup``: how long a restart takes before the service answers, at N face templates.

A throw-away data folder is seeded in bulk (rows inserted a chunk at a
time, keys made together, templates sealed by the real vault; not through
the HTTP API) with N subjects, each with one consent and one face template of
the default face algorithm, a synthetic unit vector, and the index outbox row
its enrolment would have queued. Each start is then timed
in a fresh Python process, as a restart would be: the imports, opening the
instance (:meth:`tessera.workflows.instance.Instance.open`: migrations, the
audit chain, the keys of erased subjects, filling the indexes) and the first
1:N search. The first start finds no index snapshot and rebuilds every index
from the store (and writes the snapshot); the second loads the snapshot
(:mod:`tessera.workflows.snapshot`). Each start reports its wall and CPU
time, its memory per template, and the machine's load average.

Run ``python -m tessera.bench_startup --n 100000`` or ``tessera bench-startup``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import insert

from tessera.processes import free_local_port, stop

SEED_CHUNK = 10_000
"""Subjects created per transaction while seeding."""
GALLERY_NAME = "bench-startup"


@dataclass(frozen=True)
class StartupTiming:
    """One timed start of an instance, in a fresh process.

    Attributes
    ----------
    label : str
        What kind of start (``rebuild``: no snapshot; ``snapshot``).
    templates_indexed : int
        Entries in the indexes once open.
    import_seconds, open_seconds, first_search_seconds : float
        Importing Tessera, :meth:`Instance.open`, and the first 1:N search, in seconds (wall).
    total_seconds : float
        From launching the process to the first answer (wall).
    cpu_seconds : float
        CPU time (user and system) of the process to the first answer, imports included.
    peak_rss_mb : float
        The process's peak resident memory, MiB.
    rss_before_open_mb, rss_answering_mb : float
        Resident memory once Tessera is imported (before the instance opens), and at the first answer, MiB.
    load_average : float
        The machine's one-minute load average at the first answer (the machine is shared: read the times with it).
    """

    label: str
    templates_indexed: int
    import_seconds: float
    open_seconds: float
    first_search_seconds: float
    total_seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    rss_before_open_mb: float
    rss_answering_mb: float
    load_average: float

    @property
    def resident_bytes_per_template(self) -> float:
        """Resident memory the open instance added, per template indexed: (answering - before open) / templates."""
        return (self.rss_answering_mb - self.rss_before_open_mb) * MIB / max(self.templates_indexed, 1)

    @property
    def peak_bytes_per_template(self) -> float:
        """Peak resident memory above the imported process, per template indexed."""
        return (self.peak_rss_mb - self.rss_before_open_mb) * MIB / max(self.templates_indexed, 1)


MIB = 1024 * 1024


def resident_mb() -> float:
    """This process's resident memory now, MiB (Linux ``/proc/self/statm``)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / MIB


def seed_store(data_dir: Path, n: int, *, seed: int = 0) -> str:
    """Fill a new instance at ``data_dir`` with ``n`` subjects of one face template each; returns the gallery id.

    Parameters
    ----------
    data_dir : pathlib.Path
        An empty folder (the instance's ``data_dir``).
    n : int
        Subjects (and templates), >= 1.
    seed : int
        Seeds the subject ids and the synthetic vectors.
    """
    from tessera.face.algorithms import face_algorithm
    from tessera.face.codec import embedding_to_bytes
    from tessera.settings import Settings
    from tessera.store.models import Consent, Gallery, IndexOutboxEntry, Subject, Template
    from tessera.workflows.instance import Instance

    if n < 1:
        raise ValueError(f"n must be at least 1 subject; got {n}")
    instance = Instance.open(Settings(data_dir=data_dir), build_index=False)
    algorithm = instance.matchers.default_face.algorithm
    dim = face_algorithm(algorithm).dim
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    gallery_id = str(uuid.uuid4())
    try:
        with instance.transaction() as session:
            session.execute(
                insert(Gallery),
                [
                    {
                        "id": gallery_id,
                        "name": GALLERY_NAME,
                        "purpose": "start-up benchmark",
                        "created_at": now,
                        "created_by": "bench",
                        "search_purposes": ["deduplicate"],
                        "identification_enabled_at": now,
                        "dpia_reference": "bench",
                    }
                ],
            )
        for start in range(0, n, SEED_CHUNK):
            count = min(SEED_CHUNK, n - start)
            subject_ids = [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(count)]
            template_ids = [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(count)]
            vectors = rng.standard_normal((count, dim)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            instance.vault.create_subjects(subject_ids)
            sealed = [
                instance.vault.seal_template(
                    template_id=template_id, subject_id=subject_id, algorithm=algorithm, payload=embedding_to_bytes(v)
                )
                for template_id, subject_id, v in zip(template_ids, subject_ids, vectors)
            ]
            with instance.transaction() as session:
                session.execute(
                    insert(Subject),
                    [
                        {
                            "id": s,
                            "gallery_id": gallery_id,
                            "created_at": now,
                            "created_by": "bench",
                            "last_interaction_at": now,
                        }
                        for s in subject_ids
                    ],
                )
                session.execute(
                    insert(Consent),
                    [
                        {
                            "subject_id": s,
                            "purposes": ["verify", "deduplicate"],
                            "modalities": ["face"],
                            "text_version": "bench",
                            "text_sha256": "0" * 64,
                            "signed_by": "bench",
                            "signed_at": now,
                            "expires_at": now + timedelta(days=365),
                            "recorded_at": now,
                        }
                        for s in subject_ids
                    ],
                )
                session.execute(
                    insert(Template),
                    [
                        {
                            "id": t,
                            "subject_id": s,
                            "modality": "face",
                            "algorithm": algorithm,
                            "ciphertext": c,
                            "quality": {},
                            "capture_sha256": t.replace("-", "") + "0" * 32,
                            "created_at": now,
                        }
                        for t, s, c in zip(template_ids, subject_ids, sealed)
                    ],
                )
                session.execute(  # what an enrolment queues for the indexes (tessera.workflows.indexing)
                    insert(IndexOutboxEntry),
                    [
                        {"operation": "upsert", "subject_id": s, "template_id": t, "created_at": now}
                        for t, s in zip(template_ids, subject_ids)
                    ],
                )
    finally:
        instance.close()
    return gallery_id


def time_start(data_dir: Path, label: str, launched: float) -> StartupTiming:
    """Open the instance at ``data_dir`` and run one 1:N search (in this process, which must be a fresh one)."""
    began = time.perf_counter()
    from tessera.settings import Settings
    from tessera.workflows.instance import Instance

    imported = time.perf_counter()
    before_open = resident_mb()
    instance = Instance.open(Settings(data_dir=data_dir))
    opened = time.perf_counter()
    matcher = instance.matchers.default_face
    from tessera.store.models import Gallery

    with instance.sessions() as session:
        gallery_id = session.query(Gallery.id).filter(Gallery.name == GALLERY_NAME).scalar()
    probe = np.random.default_rng(1).standard_normal(face_dim(matcher.algorithm)).astype(np.float32)
    probe /= np.linalg.norm(probe)
    searched_from = time.perf_counter()
    matcher.index.search(probe, gallery_id=gallery_id, part=0, purpose="deduplicate", now=datetime.now(UTC), limit=10)
    answered = time.perf_counter()
    answered_at = time.time()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    answering = resident_mb()
    load = os.getloadavg()[0]
    indexed = instance.matchers.indexed()
    instance.close()
    return StartupTiming(
        label=label,
        templates_indexed=indexed,
        import_seconds=imported - began,
        open_seconds=opened - imported,
        first_search_seconds=answered - searched_from,
        total_seconds=answered_at - launched,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,
        rss_before_open_mb=before_open,
        rss_answering_mb=answering,
        load_average=load,
    )


def face_dim(algorithm: str) -> int:
    from tessera.face.algorithms import face_algorithm

    return face_algorithm(algorithm).dim


def timed_start_in_new_process(data_dir: Path, label: str) -> StartupTiming:
    """:func:`time_start` in a fresh Python process (as a restart), the way ``python -m`` runs it."""
    launched = time.time()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tessera.bench_startup",
            "--time",
            str(data_dir),
            "--label",
            label,
            "--launched",
            repr(launched),
        ],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "ORT_DISABLE_TELEMETRY": "1"},
    )
    return StartupTiming(**json.loads(done.stdout.strip().splitlines()[-1]))


@dataclass(frozen=True)
class ServeTiming:
    """One start of the service (``tessera serve``) from launch to its first ``/healthz`` answer.

    Attributes
    ----------
    templates_indexed : int
        What ``/healthz`` says the indexes hold.
    ready_seconds : float
        From launching the process to the ``200`` of ``/healthz`` (wall; the service listens once its indexes are
        filled).
    cpu_seconds : float
        The service process's CPU time (user and system) at that answer.
    rss_mb : float
        Its resident memory then, MiB.
    load_average : float
        The machine's one-minute load average then.
    """

    templates_indexed: int
    ready_seconds: float
    cpu_seconds: float
    rss_mb: float
    load_average: float


HEALTHZ_POLL_SECONDS = 0.05
"""How often the benchmark asks a starting service for ``/healthz``."""
SERVE_TIMEOUT_SECONDS = 3600.0


def timed_serve(data_dir: Path) -> ServeTiming:
    """Launch ``tessera serve`` on ``data_dir`` (a free local port), wait for ``/healthz`` to answer, stop it."""
    import urllib.error
    import urllib.request

    port = free_local_port()
    launched = time.perf_counter()
    service = subprocess.Popen(
        [sys.executable, "-m", "tessera.cli", "serve", "--data-dir", str(data_dir), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "ORT_DISABLE_TELEMETRY": "1"},
    )
    try:
        while True:
            if service.poll() is not None:
                raise RuntimeError(f"tessera serve exited with {service.returncode} before /healthz answered")
            if time.perf_counter() - launched > SERVE_TIMEOUT_SECONDS:
                raise RuntimeError(f"/healthz did not answer within {SERVE_TIMEOUT_SECONDS:.0f} s")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
                    health = json.loads(answer.read())
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(HEALTHZ_POLL_SECONDS)
        ready = time.perf_counter() - launched
        fields = Path(f"/proc/{service.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime and stime (fields 14 and 15 of proc(5))
        pages = int(Path(f"/proc/{service.pid}/statm").read_text().split()[1])
        return ServeTiming(
            templates_indexed=int(health["templates_indexed"]),
            ready_seconds=ready,
            cpu_seconds=cpu,
            rss_mb=pages * os.sysconf("SC_PAGE_SIZE") / MIB,
            load_average=os.getloadavg()[0],
        )
    finally:
        stop(service, grace_seconds=120)


def run_startup_bench(n: int, data_dir: Path | None = None) -> tuple[float | None, list[StartupTiming], ServeTiming]:
    """Time a start that rebuilds the indexes from the store, then one that loads the snapshot the first wrote, then
    the service's start from the snapshot to its first ``/healthz`` answer.

    ``data_dir`` None: ``n`` templates are seeded into a temporary folder,
    removed afterwards. A folder already seeded (by an earlier run) is timed
    as it is, its snapshot removed first; an empty or missing one is seeded
    and kept. Returns the seeding time (None when nothing was seeded), both
    timings and the service's.
    """
    with tempfile.TemporaryDirectory(prefix="tessera-bench-startup-") as scratch:
        folder = Path(scratch) / "var" if data_dir is None else data_dir
        seeded = None
        if not (folder / "tessera.db").exists():
            began = time.perf_counter()
            seed_store(folder, n)
            seeded = time.perf_counter() - began
        shutil.rmtree(folder / "index-snapshot", ignore_errors=True)
        timings = [timed_start_in_new_process(folder, label) for label in ("rebuild", "snapshot")]
        return seeded, timings, timed_serve(folder)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=100_000, help="templates seeded (one subject each)")
    parser.add_argument(
        "--data-dir", type=Path, help="seed here (kept) instead of a temporary folder; a folder seeded before is reused"
    )
    parser.add_argument(
        "--serve",
        type=Path,
        help="time only `tessera serve` on this seeded folder, from launch to its /healthz answer (one JSON line)",
    )
    parser.add_argument("--time", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--label", default="start", help=argparse.SUPPRESS)
    parser.add_argument("--launched", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.time is not None:
        print(json.dumps(asdict(time_start(args.time, args.label, args.launched or time.time()))))
        return
    if args.serve is not None:
        print(json.dumps(asdict(timed_serve(args.serve))))
        return
    seeded, timings, served = run_startup_bench(args.n, args.data_dir)
    if seeded is not None:
        print(f"seeded {args.n:,} subjects with one face template each in {seeded:.1f} s")
    print(report(timings))
    print(serve_report(served))


def report(timings: list[StartupTiming]) -> str:
    """A plain table of the timed starts (times in seconds, memory in MiB and bytes per template)."""
    lines = [
        f"{'start':10} {'templates':>10} {'import':>7} {'open':>7} {'search':>7} {'total':>7} {'CPU':>7} "
        f"{'peak MiB':>9} {'peak B/t':>9} {'resident B/t':>13} {'load':>6}"
    ]
    for t in timings:
        lines.append(
            f"{t.label:10} {t.templates_indexed:>10,} {t.import_seconds:>7.2f} {t.open_seconds:>7.2f} "
            f"{t.first_search_seconds:>7.2f} {t.total_seconds:>7.2f} {t.cpu_seconds:>7.2f} {t.peak_rss_mb:>9.0f} "
            f"{t.peak_bytes_per_template:>9.0f} {t.resident_bytes_per_template:>13.0f} {t.load_average:>6.1f}"
        )
    lines.append(
        "total: launch to the first 1:N search's answer (wall); CPU: the process's, to that answer; B/t: bytes per "
        "template indexed above the imported process (peak, and resident when answering); load: 1-min average"
    )
    return "\n".join(lines)


def serve_report(served: ServeTiming) -> str:
    """One line on the service's start (:func:`timed_serve`)."""
    return (
        f"tessera serve from the snapshot: /healthz answered {served.ready_seconds:.2f} s after launch (wall), "
        f"{served.cpu_seconds:.2f} CPU s, {served.templates_indexed:,} templates indexed, "
        f"{served.rss_mb:.0f} MiB resident, load {served.load_average:.1f}"
    )


if __name__ == "__main__":
    main()
