"""ISO/IEC 30107-3 rates of the PAD report on hand-counted scores; and the passive score on NUAA when present."""

from __future__ import annotations

import pytest

from tessera.evaluation.pad_passive import ScoredImage
from tessera.evaluation.pad_report import det, rates


def scored(label: str, *scores: float | None) -> list[ScoredImage]:
    return [ScoredImage(f"{label}{n}", label, "s", score) for n, score in enumerate(scores)]


def test_rates_count_attacks_accepted_bona_fide_rejected_and_non_responses_apart():
    items = scored("live", 0.1, 0.2, 0.9, None) + scored("spoof_print_photo", 0.3, 0.8, 0.95, 0.99, None)
    answer = rates(items, threshold=0.5)
    # Bona fide: 0.9 is rejected of the 3 measured; 1 of 4 had no face (BPNRR).
    assert answer["bpcer"] == pytest.approx(1 / 3, abs=1e-4) and answer["bpnrr"] == 0.25
    species = answer["species"]["printed photo"]
    # Attacks: 0.3 is accepted of the 4 measured; 1 of 5 had no face (APNRR).
    assert species["apcer"] == 0.25 and species["apnrr"] == 0.2 and species["attacks"] == 5


def test_det_reads_apcer_at_bpcer_five_percent_and_the_eer():
    live = scored("live", *[n / 100 for n in range(100)])  # 0.00 .. 0.99
    attacks = scored("spoof_print_photo", *[0.5 + n / 200 for n in range(100)])  # 0.50 .. 0.995
    curve = det(live + attacks)
    # BPCER <= 5 % needs a threshold above 0.94: attacks below it (0.50 .. 0.94) are accepted: 89 of 100.
    assert curve["apcer_at_bpcer_5pct"] == pytest.approx(0.89, abs=0.011)
    assert curve["eer"] == pytest.approx(1 / 3, abs=0.01)  # 1 - t = 2t - 1 at t = 2/3
    assert curve["auc_attack_above_live"] > 0.7
