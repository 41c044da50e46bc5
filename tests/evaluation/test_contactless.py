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


def test_eval_contactless_and_finger_lodo_say_where_the_data_should_be(tmp_path):
    for dataset in ("contactless", "finger-lodo"):
        result = runner.invoke(app, ["eval", dataset, "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
        assert result.exit_code == 1, result.output
        assert "no fingerprint data" in " ".join(result.output.split())
