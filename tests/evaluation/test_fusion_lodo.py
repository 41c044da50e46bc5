"""The finger fusion model left out one database at a time: what it measures, on scores whose truth is known.

Score sets are drawn as in ``test_finger_lodo.py``: gamma impostor tails, a larger scale for a sensor whose
impostors score higher.
"""

from __future__ import annotations

import numpy as np

from tessera.evaluation.finger_lodo import ANY_FINGER, ContactSet
from tessera.evaluation.fusion_lodo import FITTED_DATABASES, fit_finger_model, held_out_fmr, leave_one_database_out
from tessera.match.fusion import FusionConfig, fused_threshold


def contact_set(name: str, seed: int, n_impostor: int, scale: float) -> ContactSet:
    rng = np.random.default_rng(seed)
    genuine = np.clip(rng.normal(0.4, 0.12, 2000), 0, 1)
    impostor = np.clip(rng.gamma(2.0, scale, n_impostor), 0, 1)
    return ContactSet(name, genuine, impostor, ANY_FINGER, impostor)


def sets(db4_scale: float = 0.006) -> list[ContactSet]:
    """The five fitted databases from one sensor's distribution (CrossMatch the largest), DB4 from another."""
    sizes = {"DB1_B": 20_000, "DB2_B": 20_000, "DB3_B": 20_000, "FVC2002_DB1_B": 20_000, "CrossMatch": 80_000}
    drawn = [contact_set(name, seed, size, 0.006) for seed, (name, size) in enumerate(sizes.items())]
    return [*drawn, contact_set("DB4_B", 99, 20_000, db4_scale)]


def test_two_fingers_measured_on_held_out_scores_are_every_pair_of_them_counted():
    """The convolution stands for every pair of two held-out impostor comparisons: counted pair by pair on a small
    set, the rate lies between the convolution's at the threshold and one grid step above it (LLRs are rounded up
    to the grid, never down)."""
    fitted = sets()[:5]
    model = fit_finger_model(fitted)
    held = contact_set("held", 7, 1500, 0.009).impostor
    llrs = np.asarray(model.llr(held))
    pairs = (llrs[:, None] + llrs[None, :]).ravel()
    step = FusionConfig().llr_step
    for threshold in (2.0, 6.0, 10.0):
        counted = float(np.mean(pairs >= threshold))
        measured = held_out_fmr(model, held, 2, threshold, step)["measured_fmr"]
        assert measured >= counted
        assert measured <= float(np.mean(pairs >= threshold - 2 * step)) + 1e-12
    one = held_out_fmr(model, held, 1, 6.0, step)
    assert one["false_matches"] == int(np.count_nonzero(llrs >= 6.0))


def test_a_sensor_like_the_others_holds_and_one_with_higher_impostors_is_caught():
    """Left out, a database drawn like the others is within 2x of the stated fused FMR for one finger at 1e-3;
    DB4, drawn with impostors scoring higher, is measured well above it. No fit holds the database it is
    measured on, and DB4 is never fitted."""
    result = leave_one_database_out(sets(db4_scale=0.009), safety_factor=1.0)
    rows = [row for row in result["rows"] if row["fingers"] == 1 and row["target_fmr"] == 1e-3]
    assert {row["held_out"] for row in rows} == set(FITTED_DATABASES) | {"DB4_B"}
    for row in result["rows"]:
        assert row["held_out"] not in row["fitted_on"]
        assert "DB4_B" not in row["fitted_on"]
    like = [row for row in rows if row["held_out"] != "DB4_B"]
    assert all(row["resolvable"] and row["ratio"] <= 2.0 for row in like), like
    db4 = next(row for row in rows if row["held_out"] == "DB4_B")
    assert db4["ratio"] > 5.0, db4


def test_the_safety_factor_divides_the_ratio_and_four_fingers_reach_rates_one_cannot():
    """At the service's factor the threshold is set for a tenth of the rate, and the stated rate includes the
    factor: the same held-out scores give a ratio no larger. Four fingers get a threshold at 1e-6 where one finger
    of 180,000 comparisons gets none."""
    result = leave_one_database_out(sets(), safety_factor=10.0)

    def row(fingers: int, target: float, factor: float) -> dict:
        return next(
            r
            for r in result["rows"]
            if (r["held_out"], r["fingers"], r["target_fmr"], r["safety_factor"]) == ("DB1_B", fingers, target, factor)
        )

    assert row(1, 1e-3, 10.0)["ratio"] <= row(1, 1e-3, 1.0)["ratio"]
    assert row(1, 1e-6, 1.0)["threshold_llr"] is None
    assert row(4, 1e-6, 10.0)["threshold_llr"] is not None
    model = fit_finger_model(sets()[1:5])  # the fit that leaves DB1_B out
    threshold = fused_threshold([model] * 4, 1e-6, FusionConfig(fmr_safety_factor=10.0))
    assert threshold is not None and abs(threshold - row(4, 1e-6, 10.0)["threshold_llr"]) < 1e-4
