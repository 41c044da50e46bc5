"""The challenge measured on real live bursts (ORL) and synthetic photo-replay bursts (docs/liveness.md).

Live bursts are made of real photos only: for an ORL person and a drawn challenge, the burst is the person's
photo looking most straight at the camera, then, for each step in turn, the two photos among the person's ten that
moved furthest from it in the asked direction (each photo used once; a step must hold for two frames).
ORL's ten photos were taken in one or a few sessions with small head turns and almost no nodding, so a step the
person never made is missing from the data: such a burst fails ``no_motion`` and counts as a bona fide presentation
rejected. The BPCER reported is therefore a property of ORL (a person who did not follow the challenge) as much as
of the checks; the checks on frames that did move (same face, parallax) are reported apart.

Attack bursts are synthesised from single stills (:mod:`tessera.evaluation.pad_replay`): every one is an attack.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image as PILImage

from tessera.capture.decode import DecodeLimits
from tessera.evaluation.pad_replay import SPECIES, replay_burst
from tessera.liveness.burst import BurstOutcome, FrameReading, check_burst, pose_change
from tessera.liveness.config import DEFAULT_LIVENESS_CONFIG, LivenessConfig
from tessera.liveness.frames import decode_frame, frame_limits, read_frame
from tessera.liveness.geometry import pose
from tessera.liveness.steps import draw_steps
from tessera.workflows.budget import as_the_service_runs

EVERY_STEP_SEEN = LivenessConfig(yaw_step=-9.0, pitch_step=-9.0, closer_step=0.0, parallax_min=-9.0)
"""Limits at nothing for motion: every step is seen in the first two frames after the last, so the same-face check
embeds every evidence frame, as in a burst that passes (timing only: :func:`time_passing_bursts`)."""

ORL_UPSCALE = 4
"""ORL's 92x112 photos are enlarged 4x (bicubic) so that YuNet, trained on larger faces, finds them."""


def read_orl_photo(path: Path) -> np.ndarray:
    """An ORL photo (grey PNG) as (448, 368, 3) uint8 RGB, enlarged :data:`ORL_UPSCALE` times."""
    grey = np.asarray(PILImage.open(path).convert("RGB"))
    size = (grey.shape[1] * ORL_UPSCALE, grey.shape[0] * ORL_UPSCALE)
    return cv2.resize(grey, size, interpolation=cv2.INTER_CUBIC)


def orl_people(root: Path) -> dict[str, list[Path]]:
    """ORL's people (``s1``..``s40``) and their photos."""
    people = {folder.name: sorted(folder.glob("*.png")) for folder in sorted(root.glob("s*")) if folder.is_dir()}
    if not people:
        raise FileNotFoundError(f"no ORL person folders (s1 ... s40) in {root}")
    return people


def live_burst(
    readings: Sequence[FrameReading], steps: Sequence[str], hold: int = DEFAULT_LIVENESS_CONFIG.hold_frames
) -> list[FrameReading] | None:
    """A burst of one person's real photos for ``steps`` (module docstring), or None if none could be read.

    For each step in turn, the ``hold`` unused photos that moved furthest from the most frontal one in the asked
    direction, furthest last: a person's real frames holding the pose, as far as ORL has them.
    """
    if len(readings) < 2:
        return None
    poses = [pose(reading.landmarks) for reading in readings]
    start = min(range(len(readings)), key=lambda number: abs(poses[number].yaw))
    burst, used = [readings[start]], {start}
    for step in steps:
        choices = sorted(
            (number for number in range(len(readings)) if number not in used),
            key=lambda number: pose_change(step, poses[start], poses[number]),
        )[-hold:]
        burst.extend(readings[number] for number in choices)
        used.update(choices)
    return burst


@dataclass(frozen=True)
class BurstResult:
    kind: str
    """``live`` or the attack species (``print``, ``screen``)."""
    source: str
    steps: tuple[str, ...]
    outcome: BurstOutcome
    seconds: float
    """Wall time of the checks of an attack burst (frames read + checks); 0 for live (photos read once)."""
    cpu_seconds: float = 0.0
    """CPU time of the same, every thread of the process (the wall time also counts waiting for a shared CPU)."""


def evaluate_live(
    root: Path, challenges_per_person: int, seed: int, config: LivenessConfig = DEFAULT_LIVENESS_CONFIG
) -> list[BurstResult]:
    """``challenges_per_person`` random challenges per ORL person, each answered with that person's real photos."""
    rng = random.Random(seed)
    results = []
    for person, paths in orl_people(root).items():
        readings = [r for r in (read_frame(read_orl_photo(path)) for path in paths) if isinstance(r, FrameReading)]
        for _ in range(challenges_per_person):
            steps = draw_steps(config, rng)
            burst = live_burst(readings, steps)
            outcome = (
                check_burst(burst, steps, config)
                if burst
                else check_burst(["no_face"] * config.min_frames, steps, config)
            )
            results.append(BurstResult("live", person, tuple(steps), outcome, 0.0))
    return results


def evaluate_replays(
    stills: Sequence[tuple[str, Callable[[], np.ndarray]]],
    bursts_per_still: int,
    seed: int,
    frames: int,
    config: LivenessConfig = DEFAULT_LIVENESS_CONFIG,
) -> list[BurstResult]:
    """``bursts_per_still`` replay bursts per still (species alternating), each checked against a drawn challenge.

    The attacker does not know the steps in advance but sees them once issued, as the page shows them: the
    synthetic picture is swung about every axis (:func:`~tessera.evaluation.pad_replay.random_motions`), the
    strongest attempt a flat picture can make at any challenge.
    """
    rng, draw = np.random.default_rng(seed), random.Random(seed)
    results = []
    for number, (source, load) in enumerate(stills):
        still = load()
        for attempt in range(bursts_per_still):
            species = SPECIES[(number + attempt) % len(SPECIES)]
            steps = draw_steps(config, draw)
            images = replay_burst(still, frames, species, rng)
            with as_the_service_runs():
                started, cpu = time.perf_counter(), time.process_time()
                outcome = check_burst([read_frame(image) for image in images], steps, config)
                wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            results.append(BurstResult(species, source, tuple(steps), outcome, wall, cpu))
    return results


def summarise(results: Sequence[BurstResult]) -> dict[str, object]:
    """Accepted and rejected counts per kind, reasons, and the server time of the attack bursts."""
    summary: dict[str, object] = {}
    for kind in sorted({result.kind for result in results}):
        of_kind = [result for result in results if result.kind == kind]
        passed = sum(result.outcome.passed for result in of_kind)
        summary[kind] = {
            "bursts": len(of_kind),
            "accepted": passed,
            "rejected": len(of_kind) - passed,
            "reasons": dict(Counter(result.outcome.reason or "passed" for result in of_kind).most_common()),
        }
    for key, field in (("server_wall_ms_per_burst", "seconds"), ("server_cpu_ms_per_burst", "cpu_seconds")):
        timed = [getattr(result, field) for result in results if result.seconds > 0]
        if timed:
            summary[key] = {
                "median": round(1000 * float(np.median(timed)), 1),
                "p95": round(1000 * float(np.percentile(timed, 95)), 1),
            }
    return summary


def time_passing_bursts(
    people: dict[str, list[bytes]], seed: int, bursts_per_size: int = 2, sizes: Sequence[int] = (2, 3)
) -> dict[str, object]:
    """Server CPU of a burst that reaches every check, on real uploaded frames (JPEG bytes, one person each).

    For each person with enough usable photos and each number of steps in ``sizes``, ``1 + 2 x steps`` of their
    photos (drawn with ``seed``) go through what the service runs for a burst: every frame decoded once
    (:func:`~tessera.liveness.frames.decode_frame`), read (:func:`~tessera.liveness.frames.read_frame`) and
    checked (:func:`~tessera.liveness.burst.check_burst`) with :data:`EVERY_STEP_SEEN`, so that every evidence
    frame is embedded as in a burst that passes. CPU time of the process (every thread), as the service runs
    (:func:`~tessera.workflows.budget.as_the_service_runs`); the database and audit of the request are not counted.
    """
    rng = random.Random(seed)
    limits = frame_limits(
        DecodeLimits(), DEFAULT_LIVENESS_CONFIG.frame_max_pixels, DEFAULT_LIVENESS_CONFIG.frame_max_upload_pixels
    )
    usable = {
        person: [data for data in photos if isinstance(read_frame(decode_frame(data, limits)), FrameReading)]
        for person, photos in people.items()
    }
    answer: dict[str, object] = {}
    for steps in sizes:
        frames = 1 + 2 * steps
        cpu: list[float] = []
        outcomes: Counter[str] = Counter()
        for _, photos in sorted(usable.items()):
            if len(photos) < frames:
                continue
            for _ in range(bursts_per_size):
                burst = rng.sample(photos, frames)
                challenge = draw_steps(LivenessConfig(min_steps=steps, max_steps=steps), rng)
                with as_the_service_runs():
                    started = time.process_time()
                    readings = [read_frame(image) for image in [decode_frame(data, limits) for data in burst]]
                    outcome = check_burst(readings, challenge, EVERY_STEP_SEEN)
                    cpu.append(time.process_time() - started)
                outcomes[outcome.reason or "passed"] += 1
        if cpu:
            answer[f"{steps}_steps_{frames}_frames"] = {
                "bursts": len(cpu),
                "cpu_ms_median": round(1000 * float(np.median(cpu)), 1),
                "cpu_ms_p95": round(1000 * float(np.percentile(cpu, 95)), 1),
                "outcomes": dict(outcomes),
            }
    return answer
