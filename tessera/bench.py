"""``tessera bench``: how fast each face stage and each API call is, on this machine.

Stage timings come from the real pipeline, read off its trace checkpoints
(the time between two checkpoints is the step between them). API latencies
are measured over HTTP against a real server on 127.0.0.1 with a throw-away
data folder. For the 1:N figure at scale, the index is filled with synthetic
unit vectors (search cost does not depend on what the vectors hold); the
real enrolled people stay in the gallery and must still be found.
"""

from __future__ import annotations

import hashlib
import io
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from rich.console import Console
from rich.progress import track
from rich.table import Table

from tessera.capture.decode import decode_image
from tessera.face.pipeline import extract_face
from tessera.primitives import NO_TRACE
from tessera.processes import free_local_port

STAGES = (
    ("decode", None),
    ("detect", "face-detections"),
    ("align", "face-chip"),
    ("quality", "face-quality"),
    ("embed", "face-embedding"),
)


@dataclass
class TimingTrace:
    """A trace that records when each checkpoint was reached."""

    start: float = field(default_factory=time.perf_counter)
    marks: dict[str, float] = field(default_factory=dict)

    def log(self, key: str, value: object) -> None:
        self.marks[key] = time.perf_counter()


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def stage_timings(paths: list[Path], extract: Callable[..., object] = extract_face) -> dict[str, list[float]]:
    """Milliseconds per stage for every photo the pipeline accepts.

    ``extract(image, trace=...)`` is the pipeline timed: dlib's by default, or
    any other that logs the same trace checkpoints
    (:func:`tessera.face.sface.extract_face_sface`).
    """
    extract(decode_image(paths[0].read_bytes()))  # load the models outside the timings
    timings: dict[str, list[float]] = {name: [] for name, _ in STAGES}
    timings["total"] = []
    for path in track(paths, description="face stages"):
        data = path.read_bytes()
        began = time.perf_counter()
        image = decode_image(data)
        trace = TimingTrace()
        result = extract(image, trace=trace)
        if not result:
            continue
        previous = began
        for name, key in STAGES:
            mark = trace.start if key is None else trace.marks[key]
            timings[name].append((mark - previous) * 1000)
            previous = mark
        timings["total"].append((previous - began) * 1000)
    return timings


def phone_sized_photo(path: Path) -> bytes:
    """An LFW photo scaled up to 3000x4000 (12 megapixels), the size a phone camera makes, as a JPEG."""
    picture = PILImage.open(path).convert("RGB").resize((3000, 4000), PILImage.Resampling.BICUBIC)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def capture_to_template_ms(photos: list[bytes], extract: Callable[..., object]) -> list[float]:
    """Milliseconds from the uploaded bytes to a template (decode + the whole pipeline), one per photo.

    The models are loaded before the first timing; a refused photo is timed as well (the service answers it).
    """
    extract(decode_image(photos[0]))
    timings = []
    for data in photos:
        began = time.perf_counter()
        extract(decode_image(data))
        timings.append((time.perf_counter() - began) * 1000)
    return timings


@dataclass(frozen=True)
class FaceTimings:
    """One face algorithm's timings, milliseconds."""

    stages: dict[str, list[float]]
    """Per stage, for each accepted 250x250 photo (:func:`stage_timings`)."""
    photo_ms: list[float]
    """Capture -> template (decode + pipeline) of each 250x250 photo."""
    phone_ms: list[float]
    """The same for 12-megapixel photos (:func:`phone_sized_photo`)."""


def face_algorithm_timings(
    sample: list[Path], phone_photos: int = 5, algorithms: tuple[str, ...] | None = None
) -> dict[str, FaceTimings]:
    """Capture -> template times of each face algorithm an instance serves by default (``algorithms``: those
    ids instead), side by side in one process.

    The 12-megapixel photos are the first ``phone_photos`` of ``sample`` scaled up. Returns the timings by
    algorithm id.
    """
    from tessera.face.algorithms import face_algorithm
    from tessera.settings import Settings

    photos = [path.read_bytes() for path in sample]
    phones = [phone_sized_photo(path) for path in sample[:phone_photos]]
    results = {}
    for algorithm in map(face_algorithm, algorithms or Settings().face_algorithms):
        extract = algorithm.extract
        results[algorithm.id] = FaceTimings(
            stages=stage_timings(sample, lambda image, trace=NO_TRACE, run=extract: run(image, trace)),
            photo_ms=capture_to_template_ms(photos, lambda image, run=extract: run(image, NO_TRACE)),
            phone_ms=capture_to_template_ms(phones, lambda image, run=extract: run(image, NO_TRACE)),
        )
    return results


def print_face_timings(results: dict[str, FaceTimings], console: Console) -> None:
    """Per-stage tables, then one line per algorithm: capture -> template p50 for a 250-px and a 12-MP photo."""
    for algorithm, timings in results.items():
        stages = timings.stages
        table = Table(title=f"{algorithm}: face pipeline per stage, ms ({len(stages['total'])} LFW photos, 250x250)")
        for column in ("stage", "mean", "p50", "p95"):
            table.add_column(column, justify="right")
        for name, values in stages.items():
            table.add_row(
                name,
                f"{statistics.fmean(values):.1f}",
                f"{percentile(values, 50):.1f}",
                f"{percentile(values, 95):.1f}",
            )
        console.print(table)
    table = Table(title="Capture -> template (decode + pipeline), ms, one process, side by side")
    for column in ("algorithm", "250x250 p50", "250x250 p95", "12 MP phone photo p50", "12 MP max"):
        table.add_column(column, justify="right")
    for algorithm, timings in results.items():
        photo, phone = timings.photo_ms, timings.phone_ms
        table.add_row(
            algorithm,
            f"{percentile(photo, 50):.1f} ({len(photo)})",
            f"{percentile(photo, 95):.1f}",
            f"{percentile(phone, 50):.0f} ({len(phone)})",
            f"{max(phone):.0f}",
        )
    console.print(table)


@contextmanager
def served(instance) -> Iterator[str]:
    """Serve ``instance`` on 127.0.0.1 in a background thread for the block; yields its base URL."""
    import uvicorn

    from tessera.api.app import create_app

    port = free_local_port()
    server = uvicorn.Server(uvicorn.Config(create_app(instance), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def open_bench_gallery(http, name: str) -> str:
    """A gallery with the shared benchmark consent text and 1:N enabled, made through the API; its id."""
    gallery = http.post("/v1/galleries", json={"name": name, "purpose": name}).json()["id"]
    http.post(
        "/v1/consent-texts",
        json={
            "version": "bench",
            "text": BENCH_CONSENT_TEXT,
            "shared": True,
            "modalities": ["face", "finger"],
            "purposes": ["verify", "deduplicate"],
        },
    ).raise_for_status()
    http.post(f"/v1/galleries/{gallery}/identification", json={"dpia_reference": name}).raise_for_status()
    return gallery


BENCH_CONSENT_TEXT = "Benchmark run: synthetic consent for timing Tessera on public LFW photos."


def _consent() -> dict:
    now = datetime.now(UTC)
    return {
        "purposes": ["verify", "deduplicate"],
        "modalities": ["face"],
        "text_version": "bench",
        "text_sha256": hashlib.sha256(BENCH_CONSENT_TEXT.encode()).hexdigest(),
        "signed_by": "bench",
        "signed_at": now.isoformat(),
        "expires_at": (now + timedelta(days=1)).isoformat(),
    }


def api_latencies(people: list[tuple[Path, Path]], synthetic_gallery: int) -> dict[str, list[float]]:
    """Enrol each person's first photo, verify and identify with the second, over HTTP."""
    import httpx

    from tessera.settings import Settings
    from tessera.workflows.instance import Instance
    from tessera.workflows.keys import create_key

    latencies: dict[str, list[float]] = {
        "enrol": [],
        "verify": [],
        "identify": [],
        "identify_large": [],
        "probe_template": [],
    }
    with tempfile.TemporaryDirectory() as folder:
        instance = Instance.open(Settings(data_dir=Path(folder) / "var", catch_trial_rate=0.0))  # keys: var-keys
        key = create_key(instance, "bench", "admin").secret
        try:
            with (
                served(instance) as base_url,
                httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http,
            ):
                gallery = open_bench_gallery(http, "bench")
                subjects = []
                for reference, _ in track(people, description="enrol over HTTP"):
                    subject = http.post("/v1/subjects", json={"gallery_id": gallery, "consent": _consent()}).json()[
                        "id"
                    ]
                    began = time.perf_counter()
                    response = http.post(f"/v1/subjects/{subject}/faces", files={"image": reference.read_bytes()})
                    if response.status_code not in (201, 422):  # 422: a photo the quality gate refuses
                        response.raise_for_status()
                    latencies["enrol"].append((time.perf_counter() - began) * 1000)
                    subjects.append(subject if response.status_code == 201 else None)

                def probe_all(key: str) -> int:
                    found = 0
                    for subject, (_, probe) in zip(subjects, people):
                        if subject is None:
                            continue
                        data = probe.read_bytes()
                        began = time.perf_counter()
                        if key == "verify":
                            http.post("/v1/verify", data={"subject_id": subject}, files={"image": data})
                        else:
                            answer = http.post(
                                "/v1/identify",
                                data={"gallery_id": gallery, "purpose": "deduplicate", "case_reference": "bench"},
                                files={"image": data},
                            ).json()
                            found += any(c["subject_id"] == subject for c in answer.get("candidates", []))
                        latencies[key].append((time.perf_counter() - began) * 1000)
                    return found

                probe_all("verify")
                probe_all("identify")
                add_synthetic_gallery(instance, gallery, synthetic_gallery)
                latencies["found_in_large_gallery"] = [probe_all("identify_large")]
            for _, probe in people:
                began = time.perf_counter()
                instance.matchers.default_face.read(decode_image(probe.read_bytes()))
                latencies["probe_template"].append((time.perf_counter() - began) * 1000)
        finally:
            instance.close()
    return latencies


def add_synthetic_gallery(instance, gallery_id: str, count: int, seed: int = 0) -> None:
    """Add ``count`` synthetic people to a gallery: store rows (so the store counts them in N) and index entries.

    Their embeddings are random unit vectors of the default face algorithm's
    length; their template rows hold no real ciphertext (the bench never
    opens them) and the instance is thrown away after the bench.
    """
    from tessera.index.base import IndexEntry
    from tessera.store.models import Consent, Subject, Template

    matcher = instance.matchers.default_face
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    expires = now + timedelta(days=1)
    entries = []
    with instance.transaction() as session:
        for _ in track(range(count), description="synthetic gallery"):
            subject_id, template_id = str(uuid.uuid4()), str(uuid.uuid4())
            vector = rng.normal(size=matcher.spec.dim).astype(np.float32)
            session.add(
                Subject(
                    id=subject_id, gallery_id=gallery_id, created_at=now, created_by="bench", last_interaction_at=now
                )
            )
            session.add(
                Consent(
                    subject_id=subject_id,
                    purposes=["deduplicate"],
                    modalities=["face"],
                    text_version="bench",
                    text_sha256="0" * 64,
                    signed_by="bench",
                    signed_at=now,
                    expires_at=expires,
                    recorded_at=now,
                )
            )
            session.add(
                Template(
                    id=template_id,
                    subject_id=subject_id,
                    modality="face",
                    algorithm=matcher.algorithm,
                    ciphertext=b"synthetic",
                    quality={},
                    capture_sha256=template_id,
                    created_at=now,
                )
            )
            entries.append(
                IndexEntry(
                    template_id,
                    subject_id,
                    gallery_id,
                    matcher.key,
                    0,
                    vector / np.linalg.norm(vector),
                    frozenset({"deduplicate"}),
                    expires,
                )
            )
    matcher.index.upsert(entries)


def run_bench(
    lfw_dir: Path, images: int = 100, people: int = 40, synthetic_gallery: int = 10_000, console: Console | None = None
) -> dict:
    console = console or Console()
    folders = sorted(p for p in (lfw_dir / "images").iterdir() if p.is_dir())
    rng = np.random.default_rng(0)
    all_paths = sorted(lfw_dir.glob("images/*/*.jpg"))
    sample = [all_paths[i] for i in rng.choice(len(all_paths), size=min(images, len(all_paths)), replace=False)]
    photos_per_person = [sorted(folder.glob("*.jpg")) for folder in folders]
    pairs = [(photos[0], photos[1]) for photos in photos_per_person if len(photos) >= 2][:people]

    faces = face_algorithm_timings(sample)
    print_face_timings(faces, console)

    api = api_latencies(pairs, synthetic_gallery)
    found = api.pop("found_in_large_gallery")[0]
    table = Table(title=f"API over HTTP on 127.0.0.1, ms ({len(pairs)} people)")
    for column in ("call", "p50", "p95", "max"):
        table.add_column(column, justify="right")
    labels = {
        "enrol": "enrol face",
        "verify": "verify 1:1",
        "identify": f"identify 1:N ({len(pairs)} enrolled)",
        "identify_large": f"identify 1:N ({synthetic_gallery + len(pairs):,} templates)",
        "probe_template": "probe template alone",
    }
    for name, values in api.items():
        table.add_row(
            labels[name], f"{percentile(values, 50):.1f}", f"{percentile(values, 95):.1f}", f"{max(values):.1f}"
        )
    console.print(table)
    beyond = percentile(api["identify_large"], 50) - percentile(api["probe_template"], 50)
    console.print(
        f"1:N over {synthetic_gallery + len(pairs):,} templates: {beyond:.1f} ms beyond the probe template (p50); "
        f"{found} of {len(api['identify_large'])} mated probes still ranked their person"
    )
    return {"faces": faces, "api": api, "identify_beyond_template_ms": beyond}
