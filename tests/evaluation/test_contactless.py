"""``tessera eval contactless``: which images, which pairs, which four-finger probes (real file names, no
extraction), and the CLI's answer when the data are missing."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from tessera.cli import app
from tessera.evaluation.contactless import ContactlessScores, contactless_images, slap_probes

runner = CliRunner()


def test_both_contactless_sets_are_read_with_their_fingers(finger_data):
    images = contactless_images(finger_data)
    ds1 = [image for image in images if image.source == "DS1"]
    phone = [image for image in images if image.source == "IIITD"]
    assert len(ds1) == 41 and len({image.finger for image in ds1}) == 21
    assert all(1 <= image.position <= 10 for image in ds1)
    assert len(phone) == 10 and {image.finger for image in phone} == {"IIITD:1", "IIITD:9"}
    assert not any(image.path.name == "1_1_1.jpg" for image in images)  # the contact print is another kind


def test_four_finger_probes_pair_the_same_positions_of_one_or_two_people(finger_data):
    images = contactless_images(finger_data)
    n = len(images)
    fingers = [image.finger for image in images]
    scores = np.array([[0.5 if fingers[a] == fingers[b] else 0.01 for b in range(n)] for a in range(n)])
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
    scored = ContactlessScores(
        images=images,
        refusals=[None] * n,
        scores=scores,
        genuine=[(a, b) for a, b in pairs if fingers[a] == fingers[b]],
        impostor=[(a, b) for a, b in pairs if fingers[a] != fingers[b]],
    )
    probes = slap_probes(scored)
    four = [probe for probe in probes if len(probe.scores) == 4]
    genuine = [probe for probe in four if probe.genuine]
    impostor = [probe for probe in four if not probe.genuine]
    assert genuine and impostor
    assert all(set(probe.scores.values()) == {0.5} for probe in genuine)  # one finger against itself
    assert all(set(probe.scores.values()) == {0.01} for probe in impostor)  # two people, same positions
    assert all(
        probe.label.split(" / ")[0].split("#")[0] != probe.label.split(" / ")[1].split("#")[0] for probe in impostor
    )


def test_eval_contactless_finger_lodo_and_cross_sensor_say_where_the_data_should_be(tmp_path):
    for dataset in ("contactless", "finger-lodo", "cross-sensor"):
        result = runner.invoke(app, ["eval", dataset, "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
        assert result.exit_code == 1, result.output
        assert "no fingerprint data" in " ".join(result.output.split())


def test_per_slap_counts_the_slaps_and_their_comparisons_and_separates_perfect_scores(finger_data):
    from tessera.evaluation.contactless import per_slap, slap_statistic

    images = contactless_images(finger_data)
    n = len(images)
    fingers = [image.finger for image in images]
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
    scores = np.array([[0.3 if fingers[a] == fingers[b] else 0.01 for b in range(n)] for a in range(n)])

    def scored_with(refusals):
        return ContactlessScores(
            images=images,
            refusals=refusals,
            scores=scores,
            genuine=[(a, b) for a, b in pairs if fingers[a] == fingers[b]],
            impostor=[(a, b) for a, b in pairs if fingers[a] != fingers[b]],
        )

    clean = scored_with([None] * n)
    probes = slap_probes(clean)
    result = per_slap(clean, probes)
    assert result["fta"] == 0 and result["slaps"] > 0 and result["people"] == 4
    assert result["genuine_comparisons"] == sum(1 for p in probes if p.genuine)
    assert result["impostor_comparisons"] == sum(1 for p in probes if not p.genuine)
    assert result["eer"] == 0.0 and result["eer_ci95"] == [0.0, 0.0]
    # one refused finger in a slap: still acquired (one may miss), but slaps that now lack two fingers cannot match
    refusals: list[str | None] = [None] * n
    person_one = [k for k, image in enumerate(images) if image.person == "DS1:1" and image.impression == 1]
    for k in person_one[:2]:
        refusals[k] = "too_dark"
    refused = scored_with(refusals)
    worse = per_slap(refused, slap_probes(refused))
    assert worse["slaps_failed_to_acquire"] > 0 and worse["fta"] > 0
    assert worse["eer"] > 0 and min(worse["genuine_scores"]) == 0.0
    # the rule lets one finger miss: the second-lowest score decides, a missing finger counting as 0
    assert slap_statistic({"a": 0.3, "b": 0.01, "c": 0.3, "d": 0.3}) == 0.3
    assert slap_statistic({"a": 0.3, "b": 0.3, "c": 0.3}) == 0.3
    assert slap_statistic({"a": 0.3, "b": 0.01, "c": 0.3}) == 0.01


def test_calibrate_contactless_contact_says_where_the_data_should_be(tmp_path):
    out = tmp_path / "cross.json"
    result = runner.invoke(
        app, ["calibrate", "--modality", "contactless-contact", "--data", str(tmp_path / "nope"), "--out", str(out)]
    )
    assert result.exit_code == 1, result.output
    assert "fingerprint data not found" in " ".join(result.output.split()) and not out.exists()
