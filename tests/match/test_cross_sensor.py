"""A contactless probe against a contact print (tessera.match.cross_sensor): mirroring and the direction gate, on
real prints and on the phone photos of one finger against its contact print."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tessera.finger.pipeline import extract_finger
from tessera.match.cross_sensor import cross_sensor_mcc_config, cross_sensor_score, mirror_minutiae
from tessera.match.mcc import MccConfig, mcc_score, mcc_template


def test_mirroring_twice_gives_back_the_minutiae(fvc_template):
    minutiae = fvc_template("DB1_B", 101, 1).minutiae
    twice = mirror_minutiae(mirror_minutiae(minutiae))
    np.testing.assert_allclose(twice.points, minutiae.points)
    np.testing.assert_allclose(np.cos(twice.angles), np.cos(minutiae.angles), atol=1e-5)
    np.testing.assert_allclose(np.sin(twice.angles), np.sin(minutiae.angles), atol=1e-5)


def test_a_mirror_image_matches_only_once_mirrored_back(fvc_template):
    # A contactless photo is the finger as seen; a print is its mirror image. Here a real print's mirror image stands
    # for the photo: compared as it is, it is a stranger; compared as the pair kind compares it, it is the finger.
    contact = fvc_template("DB1_B", 101, 1).minutiae
    photo_like = mirror_minutiae(contact)
    config = MccConfig()
    assert mcc_score(mcc_template(photo_like, config), mcc_template(contact, config), config) < 0.05
    assert cross_sensor_score(photo_like, contact) > 0.9


def test_without_the_direction_gate_a_print_on_its_side_still_matches(fvc_template):
    probe, reference = fvc_template("DB1_B", 101, 1).minutiae, fvc_template("DB1_B", 101, 2).minutiae
    turned = probe.transformed(math.radians(120.0))
    default, ungated = MccConfig(), cross_sensor_mcc_config()
    upright = mcc_score(mcc_template(probe, default), mcc_template(reference, default), default)
    gated = mcc_score(mcc_template(turned, default), mcc_template(reference, default), default)
    free = mcc_score(mcc_template(turned, ungated), mcc_template(reference, ungated), ungated)
    assert gated < 0.03 < upright  # beyond δθ = 90° every cylinder pair is cut
    assert free == pytest.approx(mcc_score(mcc_template(probe, ungated), mcc_template(reference, ungated), ungated))
    assert free > 0.1


@pytest.mark.slow
def test_a_phone_photo_scores_above_a_strangers_photo_against_the_contact_print(phone_template, finger_data):
    from tessera.evaluation.fvc import read_image

    print_path = finger_data / "phone_iiitd" / "data" / "raw" / "samples" / "1_1_1.jpg"
    contact = extract_finger(read_image(print_path), "contact")
    assert contact
    mate, stranger = phone_template("1_o_1_w_1").minutiae, phone_template("9_o_1_n_1").minutiae
    assert cross_sensor_score(mate, contact.minutiae) > 0.15 > 0.03 > cross_sensor_score(stranger, contact.minutiae)
    # as it stood before: the mate at the level of a stranger
    config = MccConfig()
    assert mcc_score(mcc_template(mate, config), mcc_template(contact.minutiae, config), config) < 0.03
