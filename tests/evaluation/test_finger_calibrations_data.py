"""The shipped contactless and contactless-to-contact calibrations describe today's pipeline: fitted again from the
shared data (templates cached), each gives the very table the packaged file holds.

A change to the finger pipeline that moves contactless templates (a window, a network, a filter) makes the shipped
rates describe another extractor; these tests fail until the calibrations are fitted again with
``tessera calibrate --modality contactless`` and ``--modality contactless-contact``. (The contact calibration has the
same check in ``test_finger_lodo_data.py``.)"""

from __future__ import annotations

import pytest

from tessera.evaluation.contactless import CONTACTLESS_CALIBRATION_PATH, calibrate_contactless
from tessera.evaluation.cross_sensor import CROSS_SENSOR_CALIBRATION_PATH, calibrate_cross_sensor
from tessera.evaluation.fvc import default_cache_dir
from tessera.match.calibration import Calibration, load_calibration


def _what_decides(calibration: Calibration) -> dict:
    """What a decision reads from a calibration file and the counts behind it (not when or where it was fitted)."""
    return {
        "n_genuine": calibration.n_genuine,
        "n_impostor": calibration.n_impostor,
        "highest_impostor_score": calibration.highest_impostor_score,
        "rows": calibration.rows,
        "tail": calibration.tail,
        "fmr_allowance": calibration.fmr_allowance,
    }


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
    assert _what_decides(load_calibration(tmp_path / "fitted.json")) == _what_decides(load_calibration(shipped)), (
        f"refit it: tessera calibrate --modality {modality} ({fitted.n_impostor} impostor pairs)"
    )
