"""The ridge field read from half of each block's spectrum is the one the whole spectrum gives.

:func:`tessera.finger.ridges.measure_ridges` sums over the half spectrum of a
real FFT, counting each mirrored bin twice, in two matrix products: a 1224 x
1224 scan has 10,404 blocks. These tests compute the same measurements the
plain way (every bin of the full FFT, block by block, as Chikkerur et al.
define them) on a real print and compare.
"""

from __future__ import annotations

import numpy as np
import pytest

from tessera.finger.config import DEFAULT_FINGER_CONFIG
from tessera.finger.ridges import measure_ridges, tapered_patches

STEP, WINDOW, PERIODS = DEFAULT_FINGER_CONFIG.block_step, DEFAULT_FINGER_CONFIG.block_window, (5.0, 16.0)


def full_spectrum_field(gray: np.ndarray) -> dict[str, np.ndarray]:
    """Orientation, period, coherence and clarity from every bin of each block's full spectrum, and the blocks
    with any power in the ridge band (``textured``; elsewhere the figures are undefined)."""
    power = np.abs(np.fft.fft2(tapered_patches(gray, STEP, WINDOW).astype(np.float64), axes=(2, 3))) ** 2
    frequencies = np.fft.fftfreq(WINDOW) * WINDOW
    row_frequency, col_frequency = np.meshgrid(frequencies, frequencies, indexing="ij")
    radius, angle = np.hypot(row_frequency, col_frequency), np.arctan2(-row_frequency, col_frequency)
    band = (radius >= WINDOW / PERIODS[1]) & (radius <= WINDOW / PERIODS[0])
    in_band = power * band
    band_power = in_band.sum(axis=(2, 3))
    textured = band_power > 1e-9 * band_power.max()
    band_power = np.where(textured, band_power, 1.0)
    vector = (in_band * np.exp(2j * angle)).sum(axis=(2, 3)) / band_power
    squared = np.square(in_band)
    return {
        "textured": textured,
        "orientation": np.mod(0.5 * np.angle(vector) + np.pi / 2.0, np.pi),
        "period": WINDOW * squared.sum(axis=(2, 3)) / np.maximum((squared * radius).sum(axis=(2, 3)), 1e-300),
        "coherence": np.abs(vector),
        "clarity": np.abs(vector) * band_power / np.maximum((power * (radius >= 1.0)).sum(axis=(2, 3)), 1e-300),
    }


@pytest.mark.parametrize(("db", "finger", "impression"), [("DB1_B", 101, 1), ("DB2_B", 103, 4), ("DB3_B", 105, 2)])
def test_the_half_spectrum_gives_the_full_spectrum_s_ridge_field(fvc_print, db, finger, impression):
    gray = fvc_print(db, finger, impression)
    field = measure_ridges(gray, STEP, WINDOW, PERIODS)
    expected = full_spectrum_field(gray)
    assert field.shape == expected["period"].shape == (-(-gray.shape[0] // STEP), -(-gray.shape[1] // STEP))
    textured = expected["textured"]
    assert textured.sum() > 300  # the print's blocks; a scanner's blank background has no power at all
    for name in ("period", "coherence", "clarity"):
        np.testing.assert_allclose(
            getattr(field, name)[textured], expected[name][textured], rtol=1e-3, atol=1e-4, err_msg=name
        )
    # The orientation means something only where the flow has a direction.
    directed = textured & (expected["coherence"] > 0.05)
    assert directed.sum() > 300
    turn = np.mod(field.orientation - expected["orientation"] + np.pi / 2.0, np.pi) - np.pi / 2.0
    assert np.abs(turn[directed]).max() < 1e-3


def test_stripes_give_their_direction_and_period():
    rows, cols = np.mgrid[0:240, 0:240]
    # Ridges every 9 px running at 30 degrees counter-clockwise on screen from +col.
    direction = np.radians(30.0)
    across = -np.sin(direction) * cols - np.cos(direction) * rows
    gray = (128 + 100 * np.cos(2 * np.pi * across / 9.0)).astype(np.uint8)
    field = measure_ridges(gray, STEP, WINDOW, PERIODS)
    inner = (slice(3, -3), slice(3, -3))
    assert np.allclose(field.orientation[inner], direction, atol=np.radians(2.0))
    assert np.allclose(field.period[inner], 9.0, atol=0.5)
    assert field.clarity[inner].min() > 0.5
