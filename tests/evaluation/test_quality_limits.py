"""The quality gate's trade-off: settings applied to a gate-off run give what the protocols and the pipeline give."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tessera.cli import app
from tessera.evaluation import templating
from tessera.evaluation.comparisons import Templates, all_pairs, image_pairs
from tessera.evaluation.datasets.dataset import PairList
from tessera.evaluation.metrics import fnmr_at_fmr
from tessera.evaluation.protocols import view2_accuracy
from tessera.evaluation.quality_limits import (
    LimitSetting,
    accepted_photos,
    gate_off_config,
    measure_setting,
    standard_settings,
)
from tessera.evaluation.templating import TemplateOutcome, template_files
from tessera.face.config import DEFAULT_FACE_CONFIG
from tessera.face.quality import FaceQuality
from tessera.face.sface import SFACE_ALGORITHM
from tessera.face.sface_config import DEFAULT_SFACE_CONFIG
from tessera.primitives import unit_vector

runner = CliRunner()


def _quality(yaw: float = 0.0, sharpness: float = 0.45, brightness: float = 110.0) -> dict:
    return FaceQuality(
        detection_score=0.9,
        face_width_px=100.0,
        inter_eye_px=40.0,
        sharpness=sharpness,
        brightness=brightness,
        clipped_fraction=0.0,
        yaw=yaw,
        faces_found=1,
        detector="yunet",
    ).as_dict()


def _synthetic_run(people: int = 40, photos: int = 4, seed: int = 0):
    """Gate-off outcomes of ``people`` x ``photos`` photos: turned photos have noisier embeddings; one photo has no
    face found. Returns (outcomes, templates)."""
    rng = np.random.default_rng(seed)
    outcomes, subject = [], []
    for person in range(people):
        centre = rng.normal(size=16)
        for _photo in range(photos):
            yaw = float(rng.choice([0.0, 10.0, 28.0, 40.0], p=[0.55, 0.25, 0.1, 0.1]))
            noise = 0.4 + yaw / 25.0
            embedding = unit_vector(centre + noise * rng.normal(size=16)).astype(np.float32)
            outcomes.append(TemplateOutcome(embedding, "fake/1", None, _quality(yaw=yaw), 0.01))
            subject.append(person)
    outcomes[5] = TemplateOutcome(None, None, "no_face", {}, 0.01)
    templated = np.array([outcome.templated for outcome in outcomes])
    embeddings = np.stack([o.embedding if o.templated else np.zeros(16, np.float32) for o in outcomes])
    return outcomes, Templates(embeddings, templated, np.array(subject, dtype=np.int64), people)


def _view2(templates: Templates, seed: int = 1) -> PairList:
    rng = np.random.default_rng(seed)
    same = templates.subject[:, None] == templates.subject[None, :]
    genuine = np.argwhere(np.triu(same, 1))
    impostor = np.argwhere(np.triu(~same, 1))
    chosen = np.concatenate(
        [genuine[rng.choice(len(genuine), 60, replace=False)], impostor[rng.choice(len(impostor), 60, replace=False)]]
    )
    is_same = np.repeat([True, False], 60)
    fold = np.concatenate([np.arange(60) % 3, np.arange(60) % 3])
    return PairList("pairs.txt", chosen[:, 0], chosen[:, 1], is_same, fold)


def test_a_setting_refuses_what_the_gate_refuses_with_its_reason():
    outcomes = [
        TemplateOutcome(unit_vector(np.ones(4)), "fake/1", None, _quality(yaw=30.0), 0.0),
        TemplateOutcome(unit_vector(np.ones(4)), "fake/1", None, _quality(sharpness=0.25), 0.0),
        TemplateOutcome(unit_vector(np.ones(4)), "fake/1", None, _quality(brightness=205.0), 0.0),
        TemplateOutcome(unit_vector(np.ones(4)), "fake/1", None, _quality(), 0.0),
        TemplateOutcome(None, None, "no_face", {}, 0.0),
    ]
    strict, reasons = accepted_photos(outcomes, LimitSetting.of("sface retake", DEFAULT_SFACE_CONFIG.retake))
    assert strict.tolist() == [False, False, False, True, False]
    assert reasons == {"face_turned": 1, "too_blurred": 1, "bad_exposure": 1, "no_face": 1}
    for config in (DEFAULT_SFACE_CONFIG, DEFAULT_FACE_CONFIG):  # SFace's refusal limits, dlib's
        lifted, reasons = accepted_photos(outcomes, LimitSetting.of("refusal", config))
        assert lifted.tolist() == [True, True, True, True, False]
        assert reasons == {"no_face": 1}


def test_a_limit_set_to_none_is_lifted_and_an_unknown_one_is_refused():
    setting = LimitSetting.of("no turn limit", DEFAULT_SFACE_CONFIG, max_abs_yaw=None, min_sharpness=0.2)
    assert setting.max_abs_yaw == 90.0 and setting.min_sharpness == 0.2
    assert setting.min_inter_eye_px == DEFAULT_SFACE_CONFIG.min_inter_eye_px
    with pytest.raises(ValueError, match=r"changes must name quality limits .*\['max_yaw'\]"):
        LimitSetting.of("typo", DEFAULT_SFACE_CONFIG, max_yaw=30.0)


def test_the_standard_settings_start_with_the_registered_limits_and_never_repeat():
    settings = standard_settings(DEFAULT_SFACE_CONFIG, DEFAULT_FACE_CONFIG, "dlib")
    assert settings[0].name == "registered limits"
    assert settings[0].limits() == LimitSetting.of("", DEFAULT_SFACE_CONFIG).limits()
    assert settings[1].name == "retake limits as refusals"
    assert settings[1].limits() == LimitSetting.of("", DEFAULT_SFACE_CONFIG.retake).limits()
    assert len({tuple(setting.limits().values()) for setting in settings}) == len(settings)
    turns = {setting.max_abs_yaw for setting in settings}
    assert {20.0, 25.0, 30.0, 35.0, 40.0, 45.0, 90.0} <= turns
    assert any(setting.limits() == LimitSetting.of("", DEFAULT_FACE_CONFIG).limits() for setting in settings)


def test_a_setting_measured_from_the_gate_off_run_equals_the_protocols_on_the_photos_it_accepts():
    outcomes, templates = _synthetic_run()
    view2 = _view2(templates)
    pairs = image_pairs(templates, 1.0)
    setting = LimitSetting.of("turn 25", DEFAULT_SFACE_CONFIG.retake)
    fmrs = (1e-2, 1e-3)
    result = measure_setting(setting, outcomes, templates, pairs, view2, fmrs)

    accepted, _ = accepted_photos(outcomes, setting)
    gated = replace(templates, templated=accepted)
    assert result.refused == int((~accepted).sum()) > 1
    assert result.view2_accuracy == pytest.approx(view2_accuracy(gated, view2, replicates=0).accuracy.mean())
    scores = all_pairs(gated)
    for rate in fmrs:
        assert result.fnmr_counted[rate] == fnmr_at_fmr(scores.genuine, scores.impostor, rate)
        genuine = scores.genuine[np.isfinite(scores.genuine)]
        impostor = scores.impostor[np.isfinite(scores.impostor)]
        assert result.fnmr_accepted[rate] == fnmr_at_fmr(genuine, impostor, rate)
    assert result.genuine_with_refused == int(np.sum(~np.isfinite(scores.genuine)))

    # The turned photos are the noisy ones: lifting the limit refuses fewer and misses more among accepted pairs.
    lifted = measure_setting(replace(setting, max_abs_yaw=90.0), outcomes, templates, pairs, view2, fmrs)
    assert lifted.refused == 1  # the photo with no face
    assert lifted.fnmr_accepted[1e-2] > result.fnmr_accepted[1e-2]
    # Keeping only the highest impostor comparisons changes nothing while enough are kept ...
    assert measure_setting(setting, outcomes, templates, image_pairs(templates, 0.05), view2, fmrs) == result
    # ... and says so when too few are.
    with pytest.raises(ValueError, match="cannot place a threshold at FMR 0.01"):
        measure_setting(setting, outcomes, templates, image_pairs(templates, 0.002), view2, fmrs)


def _fake_gate_off(path: str, pipeline=(None, None)) -> TemplateOutcome:
    """Gate-off outcomes for the CLI test: image 3 of each person turned 40 degrees; person 0's first photo no face."""
    name = Path(path).parent.name
    if path.endswith("Person_00_0001.jpg"):
        return TemplateOutcome(None, None, "no_face", {}, 0.01)
    number = int(Path(path).stem[-4:])
    person = np.random.default_rng(int(name[-2:])).normal(size=16)
    noise = np.random.default_rng(int(name[-2:]) * 10 + number).normal(size=16)
    yaw = 40.0 if number == 3 else 5.0
    return TemplateOutcome(unit_vector(person + 0.3 * noise), pipeline[1], None, _quality(yaw=yaw), 0.01)


def test_eval_lfw_limits_prints_the_table_and_writes_the_report_and_figure(tmp_path, monkeypatch):
    root = tmp_path / "lfw"
    for person in range(30):
        name = f"Person_{person:02d}"
        (root / "images" / name).mkdir(parents=True)
        for index in range(1, 4):
            (root / "images" / name / f"{name}_{index:04d}.jpg").write_bytes(f"{name}/{index}".encode())
    lines = ["2 10"]
    for fold in range(2):
        lines += [f"Person_{fold * 10 + i:02d}\t{1 + i % 2}\t3" for i in range(10)]
        lines += [f"Person_{fold * 10 + i:02d}\t2\tPerson_{fold * 10 + i + 5:02d}\t1" for i in range(10)]
    (root / "pairs.txt").write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(templating, "_template_file", _fake_gate_off)
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "eval",
            "lfw-limits",
            "--data",
            str(root),
            "--out",
            str(out),
            "--workers",
            "1",
            "--cache-dir",
            str(tmp_path / "c"),
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "registered limits" in result.output and "no turn limit" in result.output
    report = json.loads((out / "limits.json").read_text())
    registered, retake = report["settings"][0], report["settings"][1]
    assert retake["name"] == "retake limits as refusals"
    assert retake["refused"] == 31 and retake["refused_by_reason"] == {"face_turned": 30, "no_face": 1}
    assert retake["view2_pairs_with_refused_image"] == 20  # every genuine pair holds a photo 3
    assert registered["refused"] == 1  # no turn refused: the photos 3 are kept (with a retake advised)
    assert report["tessera_eval_limits"]["retake_limits"]["max_abs_yaw"] == 25.0
    assert report["figures"] == {"limits": "limits.png"} and (out / "limits.png").stat().st_size > 10_000
    assert report["tessera_eval_limits"]["gate_off_pipeline"]["face_config"]["max_abs_yaw"] == 90.0


def test_eval_lfw_limits_names_a_wrong_algorithm(tmp_path):
    result = runner.invoke(
        app, ["eval", "lfw-limits", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--algorithm", "nope/1"]
    )
    assert result.exit_code == 2
    assert "--algorithm must be one of" in result.output and "'nope/1'" in result.output


@pytest.mark.lfw
@pytest.mark.slow
def test_the_registered_setting_on_a_gate_off_run_is_what_the_registered_pipeline_makes(lfw_dir):
    # Photos SFace's retake limits would refuse for each reason (docs/accuracy/lfw-sface-limits), and photos they
    # accept: the registered pipeline keeps the first three with that reason as its advice, refuses the fourth.
    names = [
        "Abdoulaye_Wade/Abdoulaye_Wade_0003.jpg",
        "Alberto_Ruiz_Gallardon/Alberto_Ruiz_Gallardon_0002.jpg",
        "Bashar_Assad/Bashar_Assad_0002.jpg",
        "George_Clooney/George_Clooney_0002.jpg",
        "Abdoulaye_Wade/Abdoulaye_Wade_0001.jpg",
        "Bashar_Assad/Bashar_Assad_0001.jpg",
    ]
    paths = [lfw_dir / "images" / name for name in names]
    registered = template_files(paths, workers=1, algorithm=SFACE_ALGORITHM).outcomes
    gate_off = template_files(paths, gate_off_config(DEFAULT_SFACE_CONFIG), workers=1, algorithm=SFACE_ALGORITHM)
    accepted, _ = accepted_photos(gate_off.outcomes, LimitSetting.of("registered", DEFAULT_SFACE_CONFIG))
    advisable, _ = accepted_photos(gate_off.outcomes, LimitSetting.of("retake", DEFAULT_SFACE_CONFIG.retake))
    assert [outcome.refusal for outcome in registered] == [None, None, None, "face_too_small", None, None]
    advice = [(outcome.detail or {}).get("retake_advised") for outcome in registered]
    assert [a and a["reason"] for a in advice] == ["face_turned", "bad_exposure", "too_blurred", None, None, None]
    assert accepted.tolist() == [outcome.templated for outcome in registered]
    assert advisable.tolist() == [False, False, False, False, True, True]
    assert all(outcome.templated for outcome in gate_off.outcomes)
    for made, off in zip(registered, gate_off.outcomes):
        if made.templated:
            assert np.array_equal(made.embedding, off.embedding) and made.detail == off.detail
    assert not math.isnan(gate_off.outcomes[0].detail["yaw"])


def test_a_config_under_study_gets_its_own_cache_key_and_must_be_the_algorithms_type():
    from tessera.evaluation.cache import algorithm_fingerprint
    from tessera.face.algorithms import face_algorithm

    gate_off = gate_off_config(DEFAULT_SFACE_CONFIG)
    registered, studied = algorithm_fingerprint(SFACE_ALGORITHM), algorithm_fingerprint(SFACE_ALGORITHM, gate_off)
    assert registered["key"] != studied["key"] and studied["face_config"]["max_abs_yaw"] == 90.0
    assert algorithm_fingerprint(SFACE_ALGORITHM, DEFAULT_SFACE_CONFIG)["key"] == registered["key"]
    assert face_algorithm(SFACE_ALGORITHM).configured(gate_off).config is gate_off
    with pytest.raises(ValueError, match="config for 'yunet-sface-2021dec/1' must be a SFaceConfig; got a FaceConfig"):
        face_algorithm(SFACE_ALGORITHM).configured(DEFAULT_FACE_CONFIG)
