"""The checks of a challenge burst, on frames already read (landmarks, quality; embeddings on demand): no I/O.

::

    quality -> motion as asked (in order) -> same face (the frames the decision rests on) -> parallax at each turn
    or look

Each frame was read by :func:`tessera.liveness.frames.read_frame`. The first frame is the reference: the person
looking at the camera. Each step of the challenge must then be seen, in order, in a later run of held frames (the
first run whose pose moved far enough from the reference in the asked direction, :mod:`tessera.liveness.geometry`).
The decision rests on the reference and those held frames (the *evidence frames*): each must show the reference's
face (SFace embeddings, computed for these frames only: the frames between steps carry no evidence, and embedding
is most of a frame's cost), and at each turn or look so found the nose must leave the planar homography of the eyes
and mouth corners in the asked direction, by at least ``parallax_min`` and ``parallax_share`` of the pose change (a
flat picture's nose does not: its apparent pose change is perspective and landmark noise, which the homography
removes or leaves unsigned). The first failed check names the outcome; the later ones are not reached (``None``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from tessera.liveness.config import DEFAULT_LIVENESS_CONFIG, ROTATIONS, LivenessConfig
from tessera.liveness.geometry import Pose, pose, signed_parallax

CHECKS = ("fresh", "bound", "quality", "motion_as_asked", "same_face", "parallax")
"""Every check a burst answer reports, in the order they run (fresh and bound are the workflow's)."""

MESSAGES = {
    "frame_unusable": "The face could not be used in every frame: {detail}. Face the camera in good light, "
    "alone, and try again.",
    "not_same_face": "The frames do not all show the same face. Keep your own face in view throughout and try again.",
    "no_motion": "The movement asked for was not seen ({detail}). Follow each instruction slowly and fully, "
    "then try again.",
    "flat_image": "The face moved like a flat picture, not a head. Hold the phone in front of your own face and "
    "try again.",
}
"""What the person is told for each failure."""


@dataclass(frozen=True)
class FrameReading:
    """One burst frame read by the face pipeline up to its quality gate; its embedding is computed when first asked
    for (only the evidence frames' are).

    Attributes
    ----------
    landmarks : numpy.ndarray, shape (5, 2)
        YuNet's (row, col) landmarks in the frame's pixels.
    embed : callable
        Returns the frame's SFace unit embedding, shape (128,); called at most once, by :attr:`embedding`.
    """

    landmarks: np.ndarray
    embed: Callable[[], np.ndarray] = field(repr=False, compare=False)

    @cached_property
    def embedding(self) -> np.ndarray:
        """SFace unit embedding, shape (128,): computed on first use, then kept."""
        return self.embed()

    @classmethod
    def embedded(cls, landmarks: np.ndarray, embedding: np.ndarray) -> FrameReading:
        """A reading whose embedding is already known."""
        return cls(landmarks, lambda: embedding)


@dataclass(frozen=True)
class StepSeen:
    step: str
    frame: int
    """Index of the first frame where it was seen (0 is the reference)."""
    change: float
    """The pose change in the asked direction (face units; move_closer: the scale factor)."""
    parallax: float | None
    """The nose's signed departure from the planar homography in the asked direction; None for move_closer."""
    held: tuple[int, ...] = ()
    """Every frame of the run that held the pose (``hold_frames`` of them, from ``frame`` on)."""


@dataclass(frozen=True)
class BurstOutcome:
    """What the checks found. ``passed`` only when every check held."""

    checks: dict[str, bool | None]
    reason: str | None
    detail: str = ""
    steps: tuple[StepSeen, ...] = ()
    min_similarity: float | None = None
    embedding: np.ndarray | None = field(default=None, repr=False)
    """The reference frame's embedding: what a liveness token is bound to."""

    @property
    def passed(self) -> bool:
        return self.reason is None

    @property
    def message(self) -> str | None:
        return None if self.reason is None else MESSAGES[self.reason].format(detail=self.detail)

    def measures(self) -> dict[str, object]:
        """The figures behind the outcome, for the answer and the audit trail (no image, no embedding)."""
        return {
            "min_similarity": None if self.min_similarity is None else round(self.min_similarity, 3),
            "steps": [
                {
                    "step": seen.step,
                    "frame": seen.frame,
                    "change": round(seen.change, 3),
                    "parallax": None if seen.parallax is None else round(seen.parallax, 3),
                    "held_frames": list(seen.held),
                }
                for seen in self.steps
            ],
        }


def check_burst(
    frames: Sequence[FrameReading | str], steps: Sequence[str], config: LivenessConfig = DEFAULT_LIVENESS_CONFIG
) -> BurstOutcome:
    """Run the quality, motion, same-face and parallax checks on a burst's frames, in capture order.

    Parameters
    ----------
    frames : sequence of FrameReading or str
        Each frame as read, or the reason the face pipeline refused it (``no_face``, ``too_blurred``...).
    steps : sequence of str
        The challenge's steps (:data:`~tessera.liveness.config.STEPS`), in order.

    Returns
    -------
    BurstOutcome
        ``min_similarity`` is the least cosine similarity to the reference among the evidence frames embedded
        (embedding stops at the first frame below ``same_face_min_similarity``).
    """
    checks: dict[str, bool | None] = {name: None for name in CHECKS if name not in ("fresh", "bound")}
    unusable = [f"frame {number + 1}: {frame}" for number, frame in enumerate(frames) if isinstance(frame, str)]
    checks["quality"] = not unusable
    if unusable:
        return BurstOutcome(checks, "frame_unusable", "; ".join(unusable[:3]))
    read = [frame for frame in frames if isinstance(frame, FrameReading)]
    seen = find_steps(read, steps, config)
    checks["motion_as_asked"] = len(seen) == len(steps)
    if not checks["motion_as_asked"]:
        missing = steps[len(seen)].replace("_", " ")
        return BurstOutcome(checks, "no_motion", f"{missing} not seen", tuple(seen))
    similarity = same_face(read, evidence_frames(seen), config)
    checks["same_face"] = similarity >= config.same_face_min_similarity
    if not checks["same_face"]:
        return BurstOutcome(checks, "not_same_face", "", tuple(seen), similarity)
    flat = [
        step for step in seen if step.parallax is not None and not _shows_parallax(step.change, step.parallax, config)
    ]
    checks["parallax"] = not flat
    if flat:
        return BurstOutcome(checks, "flat_image", "", tuple(seen), similarity)
    return BurstOutcome(checks, None, "", tuple(seen), similarity, read[0].embedding)


def evidence_frames(seen: Sequence[StepSeen]) -> list[int]:
    """The frames a passed burst's decision rests on: the reference (0) and every held frame of every step."""
    return sorted({0, *(number for step in seen for number in step.held)})


def same_face(frames: Sequence[FrameReading], evidence: Sequence[int], config: LivenessConfig) -> float:
    """The least cosine similarity of the ``evidence`` frames' embeddings to the reference's (frame 0).

    Embeds the reference and then each evidence frame in order, and stops at the first one below
    ``same_face_min_similarity`` (the check has failed; embedding the rest would buy nothing).
    """
    reference = frames[0].embedding
    least = 1.0
    for number in evidence:
        if number == 0:
            continue
        least = min(least, float(reference @ frames[number].embedding))
        if least < config.same_face_min_similarity:
            break
    return least


def _shows_parallax(change: float, parallax: float, config: LivenessConfig) -> bool:
    return parallax >= config.parallax_min and parallax >= config.parallax_share * change


def find_steps(frames: Sequence[FrameReading], steps: Sequence[str], config: LivenessConfig) -> list[StepSeen]:
    """Each step, in order, at the first run of ``hold_frames`` consecutive later frames that all moved far enough
    from frame 0 in its direction.

    A head holds a pose for a moment; a landmark outlier in one frame (blur, a picture's glare) does not, so one
    frame is not enough. The run's smallest change and, for a rotation, its least parallax are what is reported and
    checked. Stops at the first step not seen; the list holds the steps seen before it.
    """
    reference = frames[0].landmarks
    start = pose(reference)
    poses = [pose(frame.landmarks) for frame in frames]
    seen: list[StepSeen] = []
    after = 1
    limit = {step: config.closer_step if step == "move_closer" else _limit(step, config) for step in steps}
    for step in steps:
        run: list[int] = []
        for number in range(after, len(frames)):
            run = run + [number] if pose_change(step, start, poses[number]) >= limit[step] else []
            if len(run) == config.hold_frames:
                break
        if len(run) < config.hold_frames:
            return seen
        changes = [pose_change(step, start, poses[number]) for number in run]
        parallax = None
        if step in ROTATIONS:
            shown = [signed_parallax(reference, frames[number].landmarks, _direction(step)) for number in run]
            # The run's weakest evidence: the frame whose parallax is furthest below what its change asks.
            worst = min(range(len(run)), key=lambda k: shown[k] - config.parallax_share * changes[k])
            changes, parallax = [changes[worst]], shown[worst]
        seen.append(StepSeen(step, run[0], min(changes), parallax, tuple(run)))
        after = run[-1] + 1
    return seen


def _limit(step: str, config: LivenessConfig) -> float:
    return config.yaw_step if step.startswith("turn") else config.pitch_step


def _direction(step: str) -> tuple[str, float]:
    """The face axis a rotation step moves the nose along, and its sign (image x right, y down)."""
    return {
        "turn_left": ("along", 1.0),  # the person's left is the right of an unmirrored frame
        "turn_right": ("along", -1.0),
        "look_up": ("down", -1.0),
        "look_down": ("down", 1.0),
    }[step]


def pose_change(step: str, start: Pose, now: Pose) -> float:
    """How far ``now`` has moved from ``start`` in the direction ``step`` asks (negative: the other way).

    move_closer: the interocular distance's growth factor (1.0: no change).
    """
    if step == "move_closer":
        return now.scale / start.scale
    axis, sign = _direction(step)
    return sign * ((now.yaw - start.yaw) if axis == "along" else (now.pitch - start.pitch))
