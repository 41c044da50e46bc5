"""The contact calibration's allowance and its leave-one-database-out check.

Unit tests use score sets whose true rates are known (gamma impostor tails of different weights, one database far
larger than the rest, as CrossMatch is); the data test runs the real procedure on every shared contact database.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tessera.evaluation import finger_lodo
from tessera.evaluation.finger_lodo import (
    ANY_FINGER,
    SAME_POSITION,
    ContactSet,
    database_allowance,
    finger_position,
    fit_contact_calibration,
    leave_one_database_out,
    position_allowance,
    same_position_mask,
)

ALGORITHM = "synthetic-for-tests"


def contact_set(name: str, seed: int, n_impostor: int, scale: float, same_position_scale: float | None = None):
    """Impostor scores Gamma(2, scale): a larger scale is a sensor whose impostors score higher."""
    rng = np.random.default_rng(seed)
    genuine = np.clip(rng.normal(0.4, 0.12, 400), 0, 1)
    any_finger = np.clip(rng.gamma(2.0, scale, n_impostor), 0, 1)
    if same_position_scale is None:
        return ContactSet(name, genuine, any_finger, ANY_FINGER, any_finger)
    same = np.clip(rng.gamma(2.0, same_position_scale, n_impostor // 6), 0, 1)
    return ContactSet(name, genuine, same, SAME_POSITION, any_finger)


@pytest.fixture(scope="module")
def sets():
    """Four small databases and one large one (as CrossMatch); one small one's impostors score higher."""
    return [
        contact_set("A", 0, 3_000, 0.006),
        contact_set("B", 1, 3_000, 0.006),
        contact_set("HEAVY", 2, 3_000, 0.009),
        contact_set("C", 3, 3_000, 0.006),
        contact_set("LARGE", 4, 80_000, 0.006, same_position_scale=0.0066),
    ]


def test_positions_are_read_where_the_database_gives_them():
    assert finger_position("CrossMatch:012_3") == 3 and finger_position("DS1:2_10") == 10
    assert finger_position("DB1_B:101") is None and finger_position("FVC2002_DB1_B:7") is None
    mask = same_position_mask(["CrossMatch:1_3", "CrossMatch:1_3", "CrossMatch:1_4", "CrossMatch:2_3"])
    # cross-finger pairs in order: (0,2) 3-4, (0,3) 3-3, (1,2) 3-4, (1,3) 3-3, (2,3) 4-3
    assert mask.tolist() == [False, True, False, True, False]
    assert same_position_mask(["DB1_B:101", "DB1_B:102"]) is None


def test_the_position_allowance_is_the_same_position_excess(sets):
    measured = position_allowance(sets)
    assert [row["database"] for row in measured["rows"]] == ["LARGE", "LARGE"]
    assert measured["factor"] > 1.0  # same-position impostors of LARGE score higher than its any-finger ones
    assert measured["factor"] == max(row["ratio"] for row in measured["rows"])


def test_every_database_counts_once_and_the_worst_sets_the_allowance(sets):
    table = fit_contact_calibration(sets, algorithm=ALGORITHM, allowance=False)
    allowance = database_allowance(table, sets, position_factor=1.0)
    worst = max(allowance["rows"], key=lambda row: row["ratio"])
    assert worst["database"] == "HEAVY" and allowance["factor"] == worst["ratio"] > 2
    # 1e-4 is measured only where a database expects 3 false matches there: LARGE alone.
    assert {row["database"] for row in allowance["rows"] if row["table_fmr"] == 1e-4} <= {"LARGE"}
    widened = fit_contact_calibration(sets, algorithm=ALGORITHM)
    assert widened.fmr_allowance >= allowance["factor"]
    assert widened.data["fmr_allowance"]["factor"] == widened.fmr_allowance
    # At the widened threshold for 1e-3, no database's own FMR is above the stated rate.
    threshold = widened.threshold_for_fmr(1e-3)
    for entry in sets:
        assert np.mean(entry.impostor >= threshold) <= 1e-3 * 1.05


def test_leaving_the_heavy_database_out_shows_what_a_new_sensor_would_see(sets):
    result = leave_one_database_out(sets, algorithm=ALGORITHM)
    row = next(
        r for r in result["rows"] if r["held_out"] == "HEAVY" and r["procedure"] == "pooled" and r["stated_fmr"] == 1e-3
    )
    assert row["resolvable"] and row["ratio"] > 2  # the pooled table understates an unseen heavier sensor
    assert result["worst"]["pooled@0.001"]["worst_database"] == "HEAVY"
    kept = next(r for r in result["rows"] if r["held_out"] == "A" and r["procedure"] == "allowance")
    assert kept["allowance"] > 2  # fitted without A, HEAVY still sets the allowance
    assert result["worst"]["allowance@0.001"]["every_database"] < result["worst"]["pooled@0.001"]["every_database"]


def test_the_check_catches_an_allowance_switched_off(sets, monkeypatch):
    """Mutation check: with the database allowance forced to 1, the stated 1e-3 no longer holds on the databases
    fitted: the heavy one measures more than twice the stated rate."""
    monkeypatch.setattr(finger_lodo, "database_allowance", lambda table, sets, factor: {"factor": 1.0, "rows": []})
    broken = fit_contact_calibration(sets, algorithm=ALGORITHM)
    threshold = broken.threshold_for_fmr(1e-3)
    heavy = next(entry for entry in sets if entry.name == "HEAVY")
    assert np.mean(heavy.impostor >= threshold) > 2e-3


def test_the_fit_without_the_synthetic_database_is_set_beside_the_fit_with_it(sets):
    # "DB4_B" stands for the synthetic database: here the heavy one, whose impostors score higher than the rest.
    renamed = [dataclasses.replace(entry, name="DB4_B") if entry.name == "HEAVY" else entry for entry in sets]
    result = finger_lodo.without_synthetic(renamed, algorithm=ALGORITHM)
    rows = result["rows"]
    allowance = {row["fit"]: row["allowance"] for row in rows}
    assert allowance["real_only"] < allowance["every_database"]
    at = {(row["fit"], row["database"]): row for row in rows if row["stated_fmr"] == 1e-3}
    # leaving it out lowers the threshold (fewer false non-matches on the others) and it is then understated
    assert at[("real_only", "A")]["threshold"] < at[("every_database", "A")]["threshold"]
    assert at[("real_only", "A")]["fnmr"] <= at[("every_database", "A")]["fnmr"]
    assert not at[("real_only", "DB4_B")]["fitted"] and at[("real_only", "DB4_B")]["ratio"] > 1.0
    assert {row["held_out"] for row in result["real_only_leave_one_out"]} == {"A", "B", "C", "LARGE"}
