"""Drawing a challenge's steps: a random sequence the person must follow, unknown until the challenge is issued."""

from __future__ import annotations

import random

from tessera.liveness.config import DEFAULT_LIVENESS_CONFIG, ROTATIONS, STEPS, LivenessConfig

_SYSTEM_RANDOM = random.SystemRandom()


def draw_steps(config: LivenessConfig = DEFAULT_LIVENESS_CONFIG, rng: random.Random = _SYSTEM_RANDOM) -> list[str]:
    """``min_steps`` to ``max_steps`` distinct steps in random order, at least one of them a turn or look.

    Drawn with the operating system's random source by default, so a recorded answer to one challenge does not
    tell the next one. A rotation is always asked because only a rotation shows the parallax of a 3D head
    (moving closer does not tell a head from a picture); two opposite turns never follow each other, which a
    picture swung back and forth would mimic most easily.
    """
    count = rng.randint(config.min_steps, config.max_steps)
    while True:
        steps = rng.sample(STEPS, count)
        if any(step in ROTATIONS for step in steps) and not _back_and_forth(steps):
            return steps


_OPPOSITE = {"turn_left": "turn_right", "turn_right": "turn_left", "look_up": "look_down", "look_down": "look_up"}


def _back_and_forth(steps: list[str]) -> bool:
    return any(_OPPOSITE.get(first) == second for first, second in zip(steps, steps[1:]))
