"""What one multi-finger decision costs, row by row (as before 2026-12-04) and as now (bisection), side by side.

Run from the repository: ``python -m tests.match.measure_multifinger [TARGET]`` (default 1e-3, the service's
``verify_target_fmr``). For each shipped finger calibration and 2 and 4 fingers, the CPU time of finding the first
row of the table whose rule meets the target both ways, and whether both found the same row and rate.
"""

from __future__ import annotations

import sys
import time

from tessera.match.calibration import DEFAULT_FACE_CALIBRATION_PATH, Calibration, load_calibration
from tessera.match.multifinger import binomial_upper_bound, decide_fingers, rule_bound
from tests.match.test_multifinger import SHIPPED_FINGER_CALIBRATIONS


def row_by_row(calibration: Calibration, fingers: int, target: float) -> tuple[float, float] | None:
    """The rule as it was computed before: every row's bound, from the top, until one meets the target."""
    for row in calibration.rows:
        per_finger = min(
            1.0, binomial_upper_bound(row.false_matches, calibration.n_impostor) * calibration.fmr_allowance
        )
        if rule_bound(per_finger, fingers) <= target:
            return row.threshold, rule_bound(per_finger, fingers)
    return None


def main(target: float = 1e-3) -> None:
    print(f"{'calibration':46} {'fingers':>7} {'row by row s':>12} {'now s':>8}  same")
    for name in SHIPPED_FINGER_CALIBRATIONS:
        calibration = load_calibration(DEFAULT_FACE_CALIBRATION_PATH.parent / name)
        for fingers in (2, 4):
            began = time.process_time()
            before = row_by_row(calibration, fingers, target)
            middle = time.process_time()
            decision = decide_fingers(calibration, {str(finger): 0.0 for finger in range(fingers)}, target)
            ended = time.process_time()
            now = None if decision.threshold is None else (decision.threshold, decision.fmr)
            print(f"{name:46} {fingers:>7} {middle - began:>12.3f} {ended - middle:>8.4f}  {now == before}", flush=True)


if __name__ == "__main__":
    main(*(float(argument) for argument in sys.argv[1:]))
