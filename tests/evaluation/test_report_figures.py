"""A report names only figure files that exist: the generator's rule, and every committed report."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from tessera.evaluation.figures import named_figures, report_path, save_figure

REPO = Path(__file__).resolve().parents[2]
COMMITTED = sorted(path for folder in ("docs/accuracy", "docs/liveness") for path in (REPO / folder).rglob("*.json"))


def test_every_committed_report_exists() -> None:
    assert len(COMMITTED) >= 8


@pytest.mark.parametrize("path", COMMITTED, ids=lambda path: str(path.relative_to(REPO)))
def test_a_committed_report_names_only_figures_beside_it(path: Path) -> None:
    for name in named_figures(json.loads(path.read_text())):
        assert (path.parent / name).is_file(), f"{path.relative_to(REPO)} names {name}, which is not there"


def test_a_report_path_is_relative_to_the_report_and_refuses_a_figure_never_saved(tmp_path: Path) -> None:
    figure, axis = plt.subplots()
    axis.plot([0, 1], [1, 0])
    saved = save_figure(figure, tmp_path / "det.png")
    assert report_path(saved, tmp_path) == "det.png"
    with pytest.raises(FileNotFoundError, match=r"no figure saved at .*missing\.png"):
        report_path(tmp_path / "missing.png", tmp_path)


def test_named_figures_finds_every_png_path_in_a_report() -> None:
    report = {"figure": "a.png", "figures": {"det": "det.png"}, "rows": [{"plot": "b.png"}, 0.5], "note": "x.json"}
    assert sorted(named_figures(report)) == ["a.png", "b.png", "det.png"]
