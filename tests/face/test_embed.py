"""Embeddings: mates score above the FMR 1e-3 threshold, non-mates below FMR 1e-2, and small
changes to a photo keep it matching itself."""

from __future__ import annotations

import numpy as np
import pytest

from tessera.face.embed import DLIB_RESNET_V1, DLIB_RESNET_V1_FLIP, EMBEDDERS, DlibResNetEmbedder
from tessera.face.models import load_face_models
from tessera.face.pipeline import ALGORITHM, FaceConfig, extract_face
from tessera.primitives import DictTrace
from tests.face.samples import MATE_ABOVE, NON_MATE_BELOW, jpeg_recompress, rescale, rotate, score

# The first usable pairs of LFW's pairsDevTest.txt (a development view no limit was set on), in file order.
MATES = [
    (("Abdullah_Gul", 13), ("Abdullah_Gul", 14)),
    (("Abdullatif_Sener", 1), ("Abdullatif_Sener", 2)),
    (("Adel_Al-Jubeir", 1), ("Adel_Al-Jubeir", 3)),
    (("Al_Pacino", 1), ("Al_Pacino", 2)),
]
NON_MATES = [
    (("AJ_Lamas", 1), ("Zach_Safrin", 1)),
    (("Aaron_Guiel", 1), ("Reese_Witherspoon", 3)),
    (("Aaron_Tippin", 1), ("Jose_Luis_Rodriguez_Zapatero", 1)),
    (("Abdul_Majeed_Shobokshi", 1), ("Charles_Cope", 1)),
]


def _template(lfw_rgb, person):
    template = extract_face(lfw_rgb(*person))
    assert template, f"{person} must be usable; got {template}"
    return template


@pytest.mark.parametrize(("first", "second"), MATES, ids=lambda pair: f"{pair[0]}_{pair[1]}")
def test_two_photos_of_one_person_score_above_the_band(lfw_rgb, first, second):
    assert score(_template(lfw_rgb, first), _template(lfw_rgb, second)) > MATE_ABOVE


@pytest.mark.parametrize(("first", "second"), NON_MATES, ids=lambda pair: f"{pair[0]}_{pair[1]}")
def test_photos_of_two_people_score_below_the_band(lfw_rgb, first, second):
    assert score(_template(lfw_rgb, first), _template(lfw_rgb, second)) < NON_MATE_BELOW


def _small_crop(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    rows, cols = image.shape[:2]
    top, bottom, left, right = rng.integers(0, 20, size=4)  # up to 8 % off each side
    return np.ascontiguousarray(image[top : rows - bottom, left : cols - right])


PERTURBATIONS = {
    "crop": _small_crop,
    "rescale-0.7": lambda image, rng: rescale(image, 0.7),
    "rotate-10": lambda image, rng: rotate(image, 10),
    "jpeg-q40": lambda image, rng: jpeg_recompress(image, 40),
}


@pytest.mark.parametrize("name", PERTURBATIONS)
def test_a_perturbed_photo_still_matches_the_original(reference_photo, reference_template, name):
    rng = np.random.default_rng(20240611)
    perturbed = extract_face(PERTURBATIONS[name](reference_photo, rng))
    assert perturbed, f"the {name} photo must still be usable; got {perturbed}"
    assert score(perturbed, reference_template) > MATE_ABOVE


def test_flip_augmentation_stays_in_the_same_space_under_its_own_id(reference_photo, reference_template):
    # The default averages the chip's and its mirror's embeddings; plain embedding is one pass.
    assert reference_template.algorithm == DLIB_RESNET_V1_FLIP == ALGORITHM
    plain = extract_face(reference_photo, FaceConfig(flip_augment=False))
    assert plain.algorithm == DLIB_RESNET_V1
    assert np.linalg.norm(reference_template.embedding) == pytest.approx(1.0, abs=1e-5)
    assert not np.array_equal(plain.embedding, reference_template.embedding)
    assert score(plain, reference_template) > 0.98


def test_the_embedder_maps_a_chip_to_a_unit_vector(reference_photo, reference_template):
    trace = DictTrace()
    extract_face(reference_photo, trace=trace)
    embedder = EMBEDDERS["dlib-resnet-v1"](True)
    assert (embedder.algorithm, embedder.dim) == (DLIB_RESNET_V1_FLIP, 128)
    np.testing.assert_array_equal(embedder.embed(trace.items["face-chip"]), reference_template.embedding)
    assert EMBEDDERS["dlib-resnet-v1"](False).algorithm == DLIB_RESNET_V1


def test_the_embedder_refuses_a_chip_of_the_wrong_size():
    embedder = DlibResNetEmbedder(load_face_models())
    with pytest.raises(ValueError, match=r"chip must be a \(150, 150, 3\) uint8 RGB array.*got shape \(112, 112, 3\)"):
        embedder.embed(np.zeros((112, 112, 3), np.uint8))
