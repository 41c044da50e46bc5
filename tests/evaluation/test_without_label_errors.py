"""Every-pair FNMR without a data set's listed label errors, on synthetic templates whose answer is known."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tessera.evaluation.comparisons import Templates, all_pairs
from tessera.evaluation.datasets.label_errors import LabelError, LabelErrors
from tessera.evaluation.metrics import fnmr_at_fmr
from tessera.evaluation.protocols import FMR_TARGETS, fmr_key, without_label_errors


def _templates(seed: int = 3) -> tuple[Templates, list[str]]:
    """60 people of 3 photos; "Twin_A" and "Twin_B" (people 0 and 1) are one person filed under two names."""
    rng = np.random.default_rng(seed)
    people = 60
    centres = rng.normal(size=(people, 32))
    centres[1] = centres[0]
    rows, subject = [], []
    for person in range(people):
        for _ in range(3):
            row = centres[person] + 0.45 * rng.normal(size=32)
            rows.append(row / np.linalg.norm(row))
            subject.append(person)
    embeddings = np.asarray(rows, dtype=np.float32)
    templated = np.ones(len(rows), dtype=bool)
    templated[-1] = False  # a refused photo: its comparisons stay in every denominator
    embeddings[-1] = 0.0
    names = ["Twin_A", "Twin_B"] + [f"Person_{n:02d}" for n in range(2, people)]
    return Templates(embeddings, templated, np.asarray(subject, dtype=np.int64), people), names


LISTED = LabelErrors("test.csv", "0" * 64, (LabelError("Twin_A", "Twin_B", "one person, two names", "by design"),))


def test_the_listed_pairs_leave_the_impostors_and_the_rates_are_those_of_the_rest():
    templates, names = _templates()
    scores = all_pairs(templates, min_tail_fraction=1.0)
    result = without_label_errors(scores, names, LISTED)

    assert result["impostor_exclusions"]["impostor_comparisons_left_out"] == 9  # 3 photos x 3 photos
    assert result["n_impostor"] == scores.n_impostor - 9
    # The same rates computed the plain way: every impostor comparison but the twins', scored one by one.
    subject = templates.subject
    a, b = np.triu_indices(subject.size, 1)
    twins = np.isin(subject[a], [0, 1]) & np.isin(subject[b], [0, 1])
    impostor = (subject[a] != subject[b]) & ~twins
    plain = templates.pair_scores(a[impostor], b[impostor])
    assert plain.size == result["n_impostor"]
    for rate in FMR_TARGETS[:2]:
        expected = fnmr_at_fmr(scores.genuine, plain, rate)
        assert result["fnmr_at_fmr"][fmr_key(rate)] == pytest.approx(expected)


def test_leaving_the_twins_out_lowers_the_strict_threshold():
    templates, names = _templates()
    scores = all_pairs(templates, min_tail_fraction=1.0)
    kept = without_label_errors(scores, names, LISTED)
    nothing = without_label_errors(scores, names, LabelErrors("empty.csv", "0" * 64, ()))
    strict = fmr_key(FMR_TARGETS[1])
    # The twins are the highest "impostor" scores: with them out the threshold falls, and no more mates are missed.
    assert kept["threshold_at_fmr"][strict] < nothing["threshold_at_fmr"][strict]
    assert kept["fnmr_at_fmr"][strict] <= nothing["fnmr_at_fmr"][strict]
    assert nothing["n_impostor"] == scores.n_impostor


def test_a_list_scoreset_is_refused():
    templates, names = _templates()
    scores = all_pairs(templates, min_tail_fraction=1.0)
    with pytest.raises(ValueError, match="needs an all-pairs ScoreSet"):
        without_label_errors(replace(scores, subject_images=None), names, LISTED)
