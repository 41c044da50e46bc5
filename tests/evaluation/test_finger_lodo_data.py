"""The shipped contact calibration and finger fusion model against every shared contact database, each left out in
turn (templates cached; slow: every database is scored once for the module, about 2 minutes of CPU, and each fit
made again per database left out)."""

from __future__ import annotations

import pytest

from tessera.evaluation import finger_lodo
from tessera.evaluation.finger_lodo import leave_one_database_out

ALGORITHM = "synthetic-for-tests"


@pytest.fixture(scope="module")
def contact_score_sets(finger_data):
    """Every shared contact database's scores, once for the module (``make test`` keeps a file on one worker)."""
    from tessera.evaluation.fvc import default_cache_dir

    return finger_lodo.contact_sets(finger_data, default_cache_dir(), 2, progress=False)


@pytest.mark.slow
def test_the_shipped_contact_calibration_holds_within_2x_on_every_database_left_out(contact_score_sets):
    """The real procedure on every shared contact database (templates cached): at 1e-3, where the database left
    out can measure it, the FMR measured is at most twice the stated one, and the shipped file says so."""
    from tessera.evaluation.calibrate import DEFAULT_FINGER_CALIBRATION_PATH
    from tessera.match.calibration import load_calibration

    result = leave_one_database_out(contact_score_sets, algorithm=ALGORITHM)
    for row in result["rows"]:
        if row["procedure"] == "allowance" and row["resolvable"] and row["stated_fmr"] == 1e-3:
            assert row["ratio"] <= 2.0, row
    shipped = load_calibration(DEFAULT_FINGER_CALIBRATION_PATH)
    assert shipped.fmr_allowance > 1.0
    assert shipped.data["leave_one_database_out"]["worst"] == result["worst"]  # the file records this run


@pytest.mark.slow
def test_the_shipped_fusion_model_at_the_services_safety_factor_holds_on_every_real_database_left_out(
    contact_score_sets,
):
    """The finger fusion model, fitted as the shipped file was (the same fit on every real database reproduces its
    counts and LLR knots), left out one database at a time: at the service's ``fusion_fmr_safety_factor``, for one,
    two and four fingers at 1e-3, 1e-4 and 1e-6, the fused FMR measured on every *real* database left out is at most
    twice the stated one wherever that database can measure it (two and four fingers; no database left out can
    measure one finger's rates as served). The synthetic DB4, whose impostors score higher,
    is the exception docs/fingerprints.md states: there the four-finger statement is far too low."""
    from tessera.evaluation.fusion_lodo import leave_one_database_out as fusion_lodo
    from tessera.evaluation.fusion_lodo import shipped_fit_check
    from tessera.settings import Settings

    assert shipped_fit_check(contact_score_sets)["same_knots"]
    factor = Settings().fusion_fmr_safety_factor
    result = fusion_lodo(contact_score_sets, factor)
    checked = [
        row
        for row in result["rows"]
        if row["safety_factor"] == factor and row["held_out"] != "DB4_B" and row["resolvable"] and "ratio" in row
    ]
    assert {row["fingers"] for row in checked} >= {2, 4}  # one finger: no database left out can measure 1e-3
    assert all(row["ratio"] <= 2.0 for row in checked), [row for row in checked if row["ratio"] > 2.0]
    db4 = [row for row in result["rows"] if row["held_out"] == "DB4_B" and row["safety_factor"] == factor]
    assert max(row.get("ratio") or 0.0 for row in db4 if row["fingers"] == 4) > 2.0
