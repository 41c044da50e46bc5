"""The LFW label-error list: parsed strictly, and its identity pairs left out of the impostors, counted."""

from __future__ import annotations

import numpy as np
import pytest

from tessera.evaluation.calibrate import pair_scores
from tessera.evaluation.datasets.label_errors import LFW_LABEL_ERRORS_FILE, read_label_errors

HEADER = "name_a,name_b,kind,evidence\n"


def unit_rows(count: int, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(count, 8)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_the_shipped_lfw_list_holds_the_15_documented_identity_pairs():
    errors = read_label_errors()
    pairs = {frozenset((error.name_a, error.name_b)) for error in errors.errors}
    assert len(pairs) == 15
    assert frozenset(("Joseph_Blatter", "Sepp_Blatter")) in pairs
    assert frozenset(("Emmy_Rossum", "Eva_Amurri")) in pairs
    assert frozenset(("John_Barnett", "John_Burnett")) in pairs  # checked by eye: one man, two photos
    assert all(error.kind and error.evidence for error in errors.errors)
    assert errors.source == LFW_LABEL_ERRORS_FILE.name and len(errors.sha256) == 64


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("a,b,kind\n", "header"),
        (HEADER + "Anna,,same photo,x\n", "row 2"),
        (HEADER + "Anna,Anna,same photo,x\n", "itself"),
        (HEADER + "Anna,Bob,k,e\nBob,Anna,k,e\n", "listed twice"),
    ],
)
def test_a_malformed_list_is_refused_naming_the_row(tmp_path, body, message):
    path = tmp_path / "errors.csv"
    path.write_text(body)
    with pytest.raises(ValueError, match=message):
        read_label_errors(path)


def test_listed_identity_pairs_are_left_out_of_the_impostors_and_counted(tmp_path):
    path = tmp_path / "errors.csv"
    path.write_text(HEADER + "Anna,Anne,one person,spelling\nZed,Nobody_Here,one person,absent from the data\n")
    errors = read_label_errors(path)
    labels = ["Anna", "Anna", "Anne", "Bob", "Bob", "Carl", "Zed"]
    embeddings = unit_rows(len(labels))
    present = errors.excluded_identity_pairs(labels)
    assert present == [("Anna", "Anne")]  # Nobody_Here is not in the data: nothing to leave out

    kept = pair_scores(embeddings, labels, block_rows=2, excluded_pairs=present)
    every = pair_scores(embeddings, labels, block_rows=2)

    # 21 pairs in all: 2 genuine (Anna-Anna, Bob-Bob); Anna x Anne gives 2 comparisons, left out.
    assert every.genuine.size == kept.genuine.size == 2
    assert every.impostor.size == 19 and every.n_excluded == 0
    assert kept.impostor.size == 17 and kept.n_excluded == 2
    similarity = embeddings @ embeddings.T
    left_out = np.sort(np.array([similarity[0, 2], similarity[1, 2]], dtype=np.float32))
    remaining = list(every.impostor)
    for value in left_out:
        remaining.remove(min(remaining, key=lambda score: abs(score - value)))
    np.testing.assert_allclose(kept.impostor, np.sort(np.array(remaining, dtype=np.float32)), atol=1e-6)
    report = errors.report(len(present), kept.n_excluded)
    assert report["impostor_comparisons_left_out"] == 2 and report["identity_pairs_present"] == 1
    assert report["identity_pairs_listed"] == 2 and "one person" in report["why"]
