"""The shipped contactless and contactless-to-contact calibrations describe today's pipeline: fitted again from the
shared data (templates cached), each gives the very table the packaged file holds.

A change to the finger pipeline that moves contactless templates (a window, a network, a filter) makes the shipped
rates describe another extractor; these tests fail until the calibrations are fitted again with
``tessera calibrate --modality contactless`` and ``--modality contactless-contact``. (The contact calibration has the
same check in ``test_finger_lodo_data.py``.)"""

from __future__ import annotations

import math

import pytest

from tessera.evaluation.contactless import CONTACTLESS_CALIBRATION_PATH, calibrate_contactless
from tessera.evaluation.cross_sensor import CROSS_SENSOR_CALIBRATION_PATH, calibrate_cross_sensor
from tessera.evaluation.fvc import default_cache_dir
from tessera.match.calibration import Calibration, load_calibration


def differences(fitted: Calibration, shipped: Calibration) -> list[str]:
    """What a decision reads from the two calibrations that differs by more than a CPU's rounding.

    Scores cached on another CPU differ in their last bits (the minutiae network's arithmetic), which can move an
    impostor score sitting exactly on a table threshold across it: one count more or fewer at that row, nothing
    else. Anything larger is another pipeline, and the shipped file must be fitted again.
    """
    found = []
    if (fitted.n_genuine, fitted.n_impostor) != (shipped.n_genuine, shipped.n_impostor):
        found.append(f"counts {fitted.n_genuine}/{fitted.n_impostor} != {shipped.n_genuine}/{shipped.n_impostor}")
    for name in ("highest_impostor_score", "fmr_allowance"):
        if not math.isclose(getattr(fitted, name), getattr(shipped, name), rel_tol=1e-6):
            found.append(f"{name} {getattr(fitted, name)} != {getattr(shipped, name)}")
    if fitted.tail != shipped.tail:
        found.append(f"tail {fitted.tail} != {shipped.tail}")
    if len(fitted.rows) != len(shipped.rows):
        found.append(f"{len(fitted.rows)} rows != {len(shipped.rows)}")
    for mine, theirs in zip(fitted.rows, shipped.rows):
        same = (
            mine.threshold == theirs.threshold
            and mine.fmr_basis == theirs.fmr_basis
            and abs(mine.false_matches - theirs.false_matches) <= 1
            and abs(mine.false_non_matches - theirs.false_non_matches) <= 1
            and abs(mine.fmr - theirs.fmr) <= 1.0 / shipped.n_impostor + 1e-9
            and abs(mine.fnmr - theirs.fnmr) <= 1.0 / shipped.n_genuine + 1e-9
        )
        if not same:
            found.append(f"{mine} != {theirs}")
    return found


@pytest.mark.slow
@pytest.mark.parametrize(
    ("calibrate", "shipped", "modality"),
    [
        pytest.param(calibrate_contactless, CONTACTLESS_CALIBRATION_PATH, "contactless", id="contactless"),
        pytest.param(calibrate_cross_sensor, CROSS_SENSOR_CALIBRATION_PATH, "contactless-contact", id="cross-sensor"),
    ],
)
def test_the_shipped_calibration_is_what_calibrate_fits_today(finger_data, tmp_path, calibrate, shipped, modality):
    fitted = calibrate(finger_data, tmp_path / "fitted.json", default_cache_dir(), workers=2)
    found = differences(load_calibration(tmp_path / "fitted.json"), load_calibration(shipped))
    assert not found, f"refit it: tessera calibrate --modality {modality} ({fitted.n_impostor} impostor pairs): {found}"


def test_a_rounding_passes_and_another_table_does_not():
    from dataclasses import replace
    from types import SimpleNamespace

    shipped = load_calibration(CONTACTLESS_CALIBRATION_PATH)
    fields = ("n_genuine", "n_impostor", "highest_impostor_score", "fmr_allowance", "tail", "rows")

    def copy(**changes):  # what differences() reads, without the table checks a real Calibration makes
        return SimpleNamespace(**{name: getattr(shipped, name) for name in fields} | changes)

    rows = list(shipped.rows)
    tie = next(number for number, row in enumerate(rows) if 1 < row.false_matches < shipped.n_impostor)

    def with_row(extra: int):
        count = rows[tie].false_matches + extra
        row = replace(rows[tie], false_matches=count, fmr=count / shipped.n_impostor)
        return copy(rows=(*rows[:tie], row, *rows[tie + 1 :]))

    assert differences(copy(), shipped) == []
    assert differences(copy(highest_impostor_score=shipped.highest_impostor_score * (1 + 1e-8)), shipped) == []
    assert differences(with_row(1), shipped) == []  # an impostor score on the threshold, rounded across it
    assert differences(with_row(5), shipped)
    assert differences(copy(n_impostor=shipped.n_impostor + 1), shipped)
    assert differences(copy(highest_impostor_score=shipped.highest_impostor_score * 1.01), shipped)
