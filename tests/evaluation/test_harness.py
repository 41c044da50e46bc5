"""``tessera eval`` end to end: the template cache, the report files, and the real pipeline on a few LFW images."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tessera.cli import app
from tessera.evaluation import figures, templating
from tessera.evaluation.cache import TemplateCache, algorithm_fingerprint, pipeline_fingerprint
from tessera.evaluation.datasets import load_lfw
from tessera.evaluation.harness import EvaluationOptions, evaluate
from tessera.evaluation.templating import TemplateOutcome, template_files
from tessera.face.algorithms import FACE_ALGORITHMS
from tessera.face.config import FaceConfig
from tessera.face.embed import DLIB_RESNET_V1_FLIP
from tessera.face.sface import SFACE_ALGORITHM
from tessera.primitives import unit_vector

runner = CliRunner()


def _fake_lfw(tmp_path: Path, people: int = 30) -> Path:
    """A small LFW-shaped folder: ``people`` people with 1-3 images, a 2-fold pairs.txt and a dev-train file."""
    root = tmp_path / "lfw"
    rng = np.random.default_rng(0)
    names = [f"Person_{number:02d}" for number in range(people)]
    counts = {}
    for name in names:
        counts[name] = int(rng.integers(1, 4))
        (root / "images" / name).mkdir(parents=True)
        for index in range(1, counts[name] + 1):
            (root / "images" / name / f"{name}_{index:04d}.jpg").write_bytes(f"{name}/{index}".encode())
    multi = [name for name in names if counts[name] >= 2]
    lines = ["2 3"]
    for fold in range(2):
        lines += [f"{name}\t1\t2" for name in multi[fold * 3 : fold * 3 + 3]]
        lines += [f"{names[i]}\t1\t{names[i + 10]}\t1" for i in range(fold * 3, fold * 3 + 3)]
    (root / "pairs.txt").write_text("\n".join(lines) + "\n")
    (root / "pairsDevTrain.txt").write_text(f"1\n{multi[-1]}\t1\t2\n{names[0]}\t1\t{names[1]}\t1\n")
    return root


def _fake_template_file(path: str, pipeline=(None, None)) -> TemplateOutcome:
    """One direction per person plus noise; every image number 3 is refused as blurred.

    ``pipeline`` is (config, algorithm) as the workers get it: asked for a registered algorithm, the
    templates say they are that algorithm's; otherwise they are ``fake/1``'s.
    """
    name = Path(path).parent.name
    if path.endswith("_0003.jpg"):
        return TemplateOutcome(None, None, "too_blurred", {"measure": "sharpness"}, 0.01)
    person = np.random.default_rng(zlib.crc32(name.encode())).normal(size=32)
    noise = np.random.default_rng(zlib.crc32(Path(path).name.encode())).normal(size=32)
    algorithm = pipeline[1] or "fake/1"
    return TemplateOutcome(unit_vector(person + 0.3 * noise), algorithm, None, {"detector": "hog"}, 0.01)


@pytest.fixture
def fake_pipeline(monkeypatch):
    """Replaces the face pipeline; lists the (path, algorithm asked for) of every file templated."""
    calls = []

    def template(path: str, pipeline=(None, None)) -> TemplateOutcome:
        calls.append((path, pipeline[1]))
        return _fake_template_file(path, pipeline)

    monkeypatch.setattr(templating, "_template_file", template)
    return calls


def test_the_cache_returns_what_was_stored_and_only_for_its_pipeline(tmp_path):
    outcome = TemplateOutcome(unit_vector(np.arange(1.0, 5.0)), "fake/1", None, {"detector": "cnn"}, 0.2)
    refused = TemplateOutcome(None, None, "no_face", {"value": 0}, 0.1)
    cache = TemplateCache(tmp_path, "pipeline-a")
    cache.put_many({"d1": outcome, "d2": refused})
    found = cache.get_many(["d1", "d2", "d3"])
    assert set(found) == {"d1", "d2"} and len(cache) == 2
    assert np.array_equal(found["d1"].embedding, outcome.embedding) and found["d1"].detail == {"detector": "cnn"}
    assert found["d2"].refusal == "no_face" and found["d2"].embedding is None
    assert TemplateCache(tmp_path, "pipeline-b").get_many(["d1"]) == {}


def test_the_pipeline_key_changes_with_the_configuration():
    first = pipeline_fingerprint(FaceConfig())
    assert first["key"] == pipeline_fingerprint(FaceConfig())["key"]
    assert first["key"] != pipeline_fingerprint(FaceConfig(min_sharpness=0.1))["key"]
    assert set(first["models"]) == {
        "shape_predictor_5_face_landmarks.dat",
        "dlib_face_recognition_resnet_model_v1.dat",
        "mmod_human_face_detector.dat",
    }


def test_template_files_reads_the_cache_by_file_content(tmp_path, fake_pipeline):
    paths = []
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        paths.append(tmp_path / name / f"{name}_0001.jpg")
        paths[-1].write_bytes(name.encode())
    cache = TemplateCache(tmp_path / "cache", "key")
    first = template_files(paths, workers=1, cache=cache)
    assert first.cache_hits == 0 and len(fake_pipeline) == 3
    (tmp_path / "a" / "a_0001.jpg").write_bytes(b"edited")
    second = template_files(paths, workers=1, cache=cache)
    assert second.cache_hits == 2 and len(fake_pipeline) == 4
    assert [o.algorithm for o in second.outcomes] == ["fake/1"] * 3
    with pytest.raises(ValueError, match=r"workers must be an integer >= 1; got 0"):
        template_files(paths, workers=0)


def test_evaluate_writes_every_part_of_the_report(tmp_path, fake_pipeline):
    dataset = load_lfw(_fake_lfw(tmp_path))
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "subject,site\n" + "".join(f"Person_{n:02d},{'north' if n % 2 else 'south'}\n" for n in range(30))
    )
    out = tmp_path / "report"
    options = EvaluationOptions(workers=1, cache_dir=tmp_path / "cache", labels=labels, replicates=50, progress=False)
    report = evaluate(dataset, out, options, algorithm=DLIB_RESNET_V1_FLIP)  # dlib's pipeline, faked
    written = json.loads((out / "report.json").read_text())
    assert written == json.loads(json.dumps(report))
    assert {"lfw_view2", "verification", "identification", "calibration_check", "refusals", "groups"} <= set(written)
    assert isinstance(written["lfw_view2"]["accuracy_mean"], float) and isinstance(
        written["lfw_view2"]["accuracy_std"], float
    )
    assert isinstance(written["verification"]["eer"], float) and "0.01" in written["verification"]["fnmr_at_fmr"]
    refusals = written["refusals"]
    assert refusals["refused"] == sum(1 for s in dataset.samples if s.key.endswith("_0003.jpg")) > 0
    assert refusals["by_reason"] == {"too_blurred": refusals["refused"]}
    # The fake algorithm has no calibration: said so, and the check fails rather than pretends.
    assert written["calibration_check"]["passed"] is False
    assert "no calibration for algorithm fake/1" in written["verification"]["operating_threshold"]["source"]
    assert set(written["groups"]["by_attribute"]["site"]) == {"north", "south"}
    # The report names only figures it saved, beside report.json, as docs/accuracy/*/ commits them.
    named = figures.named_figures(written)
    assert set(named) == set(written["figures"].values()) and "groups-site.png" in named
    for name in named:
        assert Path(name).parent == Path(".") and (out / name).stat().st_size > 5_000
    html = (out / "report.html").read_text()
    assert html.index("What these numbers mean") < html.index("LFW View 2")
    assert 'src="det.png"' in html and 'src="groups-site.png"' in html
    assert written["what_these_numbers_mean"][0].startswith("The quality gate refused")


def test_a_dataset_without_labels_says_so(tmp_path, fake_pipeline):
    report = evaluate(
        load_lfw(_fake_lfw(tmp_path)),
        tmp_path / "out",
        EvaluationOptions(workers=1, cache_dir=None, replicates=20, progress=False),
    )
    assert report["groups"]["labels"] is None
    assert "comes with no group labels" in report["groups"]["note"]
    assert "never infers groups" in report["groups"]["note"]


def test_evaluate_templates_with_the_algorithm_asked_for_and_records_it(tmp_path, fake_pipeline):
    dataset = load_lfw(_fake_lfw(tmp_path))
    options = EvaluationOptions(workers=1, cache_dir=tmp_path / "cache", replicates=20, progress=False)
    sface = evaluate(dataset, tmp_path / "sface", options, algorithm=SFACE_ALGORITHM)
    assert {algorithm for _, algorithm in fake_pipeline} == {SFACE_ALGORITHM}
    assert sface["tessera_eval"]["algorithm"] == SFACE_ALGORITHM
    assert sface["tessera_eval"]["pipeline"] == algorithm_fingerprint(SFACE_ALGORITHM)
    # named inside the package, not by a folder of the machine the evaluation ran on
    assert (
        sface["tessera_eval"]["settings"]["face_calibration"]
        == "tessera/match/calibrations/face-yunet-sface-2021dec.json"
    )
    assert (
        sface["calibration_check"]["calibration_algorithm"]
        == SFACE_ALGORITHM
        == sface["calibration_check"]["templates_algorithm"]
    )
    assert "calibration face-yunet-sface-2021dec.json" in sface["verification"]["operating_threshold"]["source"]
    html = (tmp_path / "sface" / "report.html").read_text()
    assert "<code>yunet-sface-2021dec/1</code>" in html and "onnxruntime" in html and "99.40 %" in html
    # dlib's templates are cached apart from SFace's; the default is the first served algorithm, SFace.
    fake_pipeline.clear()
    dlib = evaluate(dataset, tmp_path / "dlib", options, algorithm=DLIB_RESNET_V1_FLIP)
    assert dlib["tessera_eval"]["algorithm"] == DLIB_RESNET_V1_FLIP
    assert len(fake_pipeline) == len(dataset.samples) and {a for _, a in fake_pipeline} == {None}
    again = evaluate(dataset, tmp_path / "sface", options)
    assert again["tessera_eval"]["algorithm"] == SFACE_ALGORITHM
    assert again["tessera_eval"]["timing"]["cache_hits"] == len(dataset.samples)
    with pytest.raises(ValueError, match=r"config is for dlib's pipeline only"):
        evaluate(dataset, tmp_path / "x", options, config=FaceConfig(), algorithm=SFACE_ALGORITHM)


def test_one_det_figure_holds_the_curves_of_several_reports(tmp_path, fake_pipeline):
    dataset = load_lfw(_fake_lfw(tmp_path))
    options = EvaluationOptions(workers=1, cache_dir=None, replicates=20, progress=False)
    evaluate(dataset, tmp_path / "sface", options, algorithm=SFACE_ALGORITHM)
    evaluate(dataset, tmp_path / "dlib", options)
    reports = [tmp_path / "dlib" / "report.json", tmp_path / "sface" / "report.json"]
    picture = figures.det_comparison_figure(reports, tmp_path / "both.png")
    assert picture.is_file() and picture.stat().st_size > 5_000
    with pytest.raises(ValueError, match=r"report_paths must name at least one report.json; got none"):
        figures.det_comparison_figure([], tmp_path / "none.png")
    (tmp_path / "fingers.json").write_text(json.dumps({"tessera_eval": {"algorithm": "x"}}))
    with pytest.raises(ValueError, match=r"fingers.json holds no 'verification'"):
        figures.det_comparison_figure([tmp_path / "fingers.json"], tmp_path / "x.png")


@pytest.mark.parametrize("dataset", ["lfw", "folder"])
def test_eval_command_refuses_an_unknown_algorithm(tmp_path, dataset, monkeypatch):
    for fake in [algorithm for algorithm in FACE_ALGORITHMS if algorithm.startswith("fake-")]:
        monkeypatch.delitem(FACE_ALGORITHMS, fake)  # other tests of this process may have registered test fakes
    result = runner.invoke(
        app,
        ["eval", dataset, "--data", str(tmp_path), "--out", str(tmp_path / "out"), "--algorithm", "arcface/9"],
    )
    assert result.exit_code == 2
    output = " ".join(result.output.split())
    assert (
        f"unknown face algorithm --algorithm 'arcface/9': choose one of {DLIB_RESNET_V1_FLIP}, {SFACE_ALGORITHM}"
        in (output)
    )
    assert not (tmp_path / "out").exists()


def test_eval_command_refuses_an_unknown_dataset(tmp_path):
    result = runner.invoke(app, ["eval", "fvc9", "--data", str(tmp_path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "unknown dataset 'fvc9': choose one of folder, lfw" in result.output


def test_eval_command_names_a_missing_folder(tmp_path):
    result = runner.invoke(app, ["eval", "folder", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    output = " ".join(result.output.split())  # rich wraps long lines
    assert "cannot read folder dataset" in output and "nope does not exist or is not a folder" in output


# --- the real pipeline on a few LFW images -------------------------------------------------------


@pytest.fixture(scope="module")
def mini_lfw(tmp_path_factory, lfw_dir) -> Path:
    """Two folds of LFW View 2 (3 matched + 3 mismatched pairs each), their images linked, and a dev-train file."""
    root = tmp_path_factory.mktemp("mini") / "lfw"
    lines = (lfw_dir / "pairs.txt").read_text().splitlines()
    chosen = lines[1:4] + lines[301:304] + lines[601:604] + lines[901:904]
    (root / "images").mkdir(parents=True)
    (root / "pairs.txt").write_text("\n".join(["2 3", *chosen]) + "\n")
    (root / "pairsDevTrain.txt").write_text("1\n" + chosen[0] + "\n" + chosen[3] + "\n")
    for line in chosen:
        fields = line.split()
        images = (
            [(fields[0], fields[1]), (fields[0], fields[2])]
            if len(fields) == 3
            else [(fields[0], fields[1]), (fields[2], fields[3])]
        )
        for name, index in images:
            folder = root / "images" / name
            folder.mkdir(exist_ok=True)
            target = folder / f"{name}_{int(index):04d}.jpg"
            if not target.exists():
                target.symlink_to(lfw_dir / "images" / name / target.name)
    return root


@pytest.mark.lfw
def test_tessera_eval_lfw_runs_the_real_pipeline_then_reads_the_cache(mini_lfw, tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    command = [
        "eval",
        "lfw",
        "--data",
        str(mini_lfw),
        "--out",
        str(out),
        "--cache-dir",
        str(cache),
        "--bootstrap",
        "50",
    ]
    first = runner.invoke(app, command)
    assert first.exit_code == 0, first.output
    report = json.loads((out / "report.json").read_text())
    images = report["refusals"]["images"]
    assert report["tessera_eval"]["timing"]["cache_hits"] == 0
    assert report["tessera_eval"]["pipeline"]["algorithm"].startswith("yunet-sface-2021dec/")
    assert 0.5 <= report["lfw_view2"]["accuracy_mean"] <= 1.0
    assert "What these numbers mean" in (out / "report.html").read_text()
    second = runner.invoke(app, command)
    assert second.exit_code == 0, second.output
    assert json.loads((out / "report.json").read_text())["tessera_eval"]["timing"]["cache_hits"] == images


@pytest.mark.lfw
def test_tessera_eval_lfw_runs_sface_with_its_own_calibration(mini_lfw, tmp_path):
    out = tmp_path / "out"
    command = ["eval", "lfw", "--data", str(mini_lfw), "--out", str(out), "--no-cache", "--bootstrap", "20"]
    result = runner.invoke(app, [*command, "--algorithm", SFACE_ALGORITHM])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["tessera_eval"]["algorithm"] == report["tessera_eval"]["pipeline"]["algorithm"] == SFACE_ALGORITHM
    assert report["calibration_check"]["calibration_algorithm"] == SFACE_ALGORITHM
    assert "calibration face-yunet-sface-2021dec.json" in report["verification"]["operating_threshold"]["source"]
    assert report["lfw_view2"]["accuracy_mean"] >= 0.75  # 12 easy pairs; SFace gets nearly all right
