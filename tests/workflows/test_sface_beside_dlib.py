"""YuNet + SFace served beside dlib in one instance, on real LFW photos, through the real service and store.

Both networks' embeddings are 128 numbers long, so a comparison across them
would not fail on its own: every comparison made is checked against the
templates each algorithm makes of the same photos.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sqlalchemy import select

from tessera.capture.decode import decode_image
from tessera.face.algorithms import FACE_ALGORITHMS, YUNET_SFACE
from tessera.face.codec import embedding_from_bytes
from tessera.face.embed import DLIB_RESNET_V1_FLIP as DLIB
from tessera.face.pipeline import FaceTemplate, extract_face
from tessera.face.sface import SFACE_ALGORITHM, extract_face_sface
from tessera.match.calibration import fit_calibration
from tessera.match.matchers import FaceMatcher, build_matchers
from tessera.store.models import Template
from tests.workflows.test_algorithms import open_api

PERSON = ("Abdullah_Gul", 13, 14)
"""An LFW person enrolled from one photo and verified with another (a mate pair of tests/face/test_embed.py)."""

CALIBRATION_PEOPLE = 40
"""LFW people (the first, in name order, with two photos the quality gate takes) whose SFace scores make the test's
calibration: 80 templates, 3,160 impostor comparisons, enough to vouch for the service's 1:1 FMR of 1e-3."""


@pytest.fixture(scope="module")
def sface_calibration(lfw_dir, tmp_path_factory):
    """A calibration of SFace scores made for these tests only: every pair of two photos of 40 LFW people."""
    people = [folder for folder in sorted((lfw_dir / "images").iterdir()) if len(list(folder.glob("*.jpg"))) >= 2]
    templates: list[tuple[int, FaceTemplate]] = []
    for folder in people:
        taken = []
        for path in sorted(folder.glob("*.jpg")):
            template = extract_face_sface(decode_image(path.read_bytes()))
            if isinstance(template, FaceTemplate):
                taken.append(template)
            if len(taken) == 2:
                break
        templates += [(len(templates) // 2, template) for template in taken] if len(taken) == 2 else []
        if len(templates) == 2 * CALIBRATION_PEOPLE:
            break
    owners = np.array([owner for owner, _ in templates])
    scores = np.array([t.embedding for _, t in templates]) @ np.array([t.embedding for _, t in templates]).T
    upper = np.triu_indices(len(templates), 1)
    same = owners[upper[0]] == owners[upper[1]]
    calibration = fit_calibration(
        scores[upper][same],
        scores[upper][~same],
        modality="face",
        algorithm=SFACE_ALGORITHM,
        data={"dataset": f"LFW, 2 photos of each of the first {CALIBRATION_PEOPLE} people; for tests only"},
        score_range=(-1.0, 1.0),
    )
    return calibration.save(tmp_path_factory.mktemp("sface-calibration") / "face-yunet-sface-2021dec.json")


@pytest.fixture
def sface_served(monkeypatch, sface_calibration):
    monkeypatch.setitem(FACE_ALGORITHMS, SFACE_ALGORITHM, replace(YUNET_SFACE, calibration_file=sface_calibration))


@pytest.fixture
def compared(monkeypatch):
    """Every face comparison made, as (matcher algorithm, probe embedding, reference embedding)."""
    seen: list[tuple[str, np.ndarray, np.ndarray]] = []
    original = FaceMatcher.compare

    def compare(self, probe, reference):
        seen.append((self.algorithm, np.asarray(probe), np.asarray(reference)))
        return original(self, probe, reference)

    monkeypatch.setattr(FaceMatcher, "compare", compare)
    return seen


def test_an_algorithm_without_its_calibration_file_is_not_served(tmp_path, monkeypatch):
    missing = tmp_path / "face-yunet-sface-2021dec.json"
    monkeypatch.setitem(FACE_ALGORITHMS, SFACE_ALGORITHM, replace(YUNET_SFACE, calibration_file=missing))
    with pytest.raises(
        FileNotFoundError, match=rf"'{SFACE_ALGORITHM}' cannot be served: its calibration file {missing}"
    ):
        build_matchers((DLIB, SFACE_ALGORITHM))


def test_the_shipped_sface_calibration_describes_sface_scores_fitted_on_lfw():
    from tessera.match.matchers import check_matchers

    matchers = build_matchers((DLIB, SFACE_ALGORITHM))
    assert check_matchers(matchers) == []
    (sface,) = [matcher for matcher in matchers.faces if matcher.algorithm == SFACE_ALGORITHM]
    assert sface.calibration is not None and sface.calibration.algorithm == SFACE_ALGORITHM
    assert sface.calibration.data["pairs_file"] == "pairsDevTrain.txt"
    assert sface.calibration.n_impostor > 5_000_000


def test_sface_is_the_default_and_dlib_is_still_served():
    from tessera.settings import Settings

    assert FACE_ALGORITHMS[SFACE_ALGORITHM].dim == 128
    assert Settings().face_algorithms == (SFACE_ALGORITHM, DLIB)


def test_enrolment_makes_a_template_of_each_and_verification_uses_the_strongest_never_across(
    sface_served, tmp_path, lfw_image, compared
):
    name, enrolled, probe = PERSON
    instance, api = open_api(tmp_path / "var", (DLIB, SFACE_ALGORITHM))
    subject = api.subject(api.gallery())
    assert api.enrol(subject, lfw_image(name, enrolled)).status_code == 201
    with instance.sessions() as session:
        stored = sorted(session.scalars(select(Template.algorithm)))
    assert stored == sorted([DLIB, SFACE_ALGORITHM])
    assert {matcher.algorithm: matcher.index.size() for matcher in instance.matchers.faces} == {
        DLIB: 1,
        SFACE_ALGORITHM: 1,
    }

    answer = api.verify(subject, lfw_image(name, probe)).json()
    assert answer["decision"] == "match"
    assert [c["algorithm"] for c in answer["comparisons"]] == [DLIB]

    photos = {index: decode_image(lfw_image(name, index)) for index in (enrolled, probe)}
    made = {
        DLIB: {index: extract_face(photo).embedding for index, photo in photos.items()},
        SFACE_ALGORITHM: {index: extract_face_sface(photo).embedding for index, photo in photos.items()},
    }
    assert compared, "the verification compared nothing"
    for algorithm, probe_vector, reference_vector in compared:
        assert algorithm == DLIB
        np.testing.assert_allclose(probe_vector, made[algorithm][probe], atol=1e-6)
        np.testing.assert_allclose(reference_vector, made[algorithm][enrolled], atol=1e-6)
    instance.close()


def test_a_subject_with_only_an_sface_reference_is_compared_by_sface_alone(sface_served, tmp_path, lfw_image, compared):
    name, enrolled, probe = PERSON
    data_dir = tmp_path / "var"
    older, api = open_api(data_dir, (SFACE_ALGORITHM,))
    subject = api.subject(api.gallery())
    assert api.enrol(subject, lfw_image(name, enrolled)).status_code == 201
    older.close()

    newer, api = open_api(data_dir, (DLIB, SFACE_ALGORITHM))
    answer = api.verify(subject, lfw_image(name, probe)).json()
    assert answer["decision"] == "match"
    assert [c["algorithm"] for c in answer["comparisons"]] == [SFACE_ALGORITHM]
    assert [algorithm for algorithm, _, _ in compared] == [SFACE_ALGORITHM]
    ((_, probe_vector, reference_vector),) = compared
    np.testing.assert_allclose(
        reference_vector, extract_face_sface(decode_image(lfw_image(name, enrolled))).embedding, atol=1e-6
    )
    np.testing.assert_allclose(
        probe_vector, extract_face_sface(decode_image(lfw_image(name, probe))).embedding, atol=1e-6
    )
    newer.close()


def test_a_dlib_only_subject_verified_with_a_fresh_photo_gets_an_sface_template_of_that_photo(
    tmp_path, lfw_image, compared
):
    name, enrolled, probe = PERSON
    data_dir = tmp_path / "var"
    older, api = open_api(data_dir, (DLIB,))
    gallery = api.gallery()
    subject = api.subject(gallery)
    assert api.enrol(subject, lfw_image(name, enrolled)).status_code == 201
    older.close()

    newer, api = open_api(data_dir, (SFACE_ALGORITHM, DLIB))  # the shipped SFace calibration
    answer = api.verify(subject, lfw_image(name, probe)).json()
    assert answer["decision"] == "match"
    assert [c["algorithm"] for c in answer["comparisons"]] == [DLIB]
    with newer.sessions() as session:
        stored = {t.algorithm: t for t in session.scalars(select(Template).where(Template.subject_id == subject))}
        assert sorted(stored) == sorted([DLIB, SFACE_ALGORITHM])
        migrated = newer.vault.open_template(stored[SFACE_ALGORITHM])
    probe_sface = extract_face_sface(decode_image(lfw_image(name, probe))).embedding
    np.testing.assert_allclose(embedding_from_bytes(migrated, 128), probe_sface, atol=1e-6)  # made from that photo

    again = api.verify(subject, lfw_image(name, enrolled)).json()  # now compared by SFace, with the new template
    assert again["decision"] == "match"
    assert [c["algorithm"] for c in again["comparisons"]] == [SFACE_ALGORITHM]
    dlib_made = {i: extract_face(decode_image(lfw_image(name, i))).embedding for i in (enrolled, probe)}
    assert [algorithm for algorithm, _, _ in compared] == [DLIB, SFACE_ALGORITHM]
    (_, dlib_probe, dlib_reference), (_, sface_probe, sface_reference) = compared
    np.testing.assert_allclose(dlib_probe, dlib_made[probe], atol=1e-6)
    np.testing.assert_allclose(dlib_reference, dlib_made[enrolled], atol=1e-6)
    np.testing.assert_allclose(sface_reference, probe_sface, atol=1e-6)
    np.testing.assert_allclose(
        sface_probe, extract_face_sface(decode_image(lfw_image(name, enrolled))).embedding, atol=1e-6
    )
    newer.close()


def test_the_shipped_sface_fusion_model_describes_sface_scores_and_separates_real_mates(lfw_image):
    from tessera.match.fusion import load_score_model
    from tessera.match.matchers import check_matchers

    path = FACE_ALGORITHMS[SFACE_ALGORITHM].fusion_model_file
    assert path is not None and path.is_file(), "SFace's fusion model is not shipped"
    model = load_score_model(path)
    assert model.algorithm == SFACE_ALGORITHM and model.data["pairs_file"] == "pairsDevTrain.txt"
    assert model.n_genuine > 2_000 and model.n_impostor > 5_000_000
    matchers = build_matchers((SFACE_ALGORITHM, DLIB))
    assert check_matchers(matchers) == []  # the start-up check: each fusion model names its matcher's scores
    assert matchers.default_face.fusion_model is not None and matchers.default_face.fusion_model.algorithm == (
        SFACE_ALGORITHM
    )
    name, enrolled, probe = PERSON
    embedding = {
        key: extract_face_sface(decode_image(lfw_image(*key))).embedding
        for key in ((name, enrolled), (name, probe), ("Colin_Powell", 38))
    }
    mate = float(embedding[name, enrolled] @ embedding[name, probe])
    non_mate = float(embedding[name, enrolled] @ embedding["Colin_Powell", 38])
    assert model.llr(mate) > 0 > model.llr(non_mate)
