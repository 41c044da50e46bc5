"""Several face algorithms side by side in one instance, and the start-up check that they agree with their files.

Runs through the real service, store, vault and indexes with two fake face
algorithms (tests/fakes.py) whose embeddings differ in length (8 and 12):
any comparison across them would raise, and each comparison is also checked
explicitly.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tessera.api.app import create_app
from tessera.match.calibration import load_calibration
from tessera.match.matchers import FaceMatcher
from tessera.settings import Settings
from tessera.store.models import Template
from tessera.workflows.instance import Instance, InstanceMisconfigured
from tessera.workflows.keys import create_key
from tests.fakes import face_image, register_fakes
from tests.service_fixtures import Api, lead_ids, png


@pytest.fixture(scope="module")
def fakes(tmp_path_factory):
    return register_fakes(tmp_path_factory.mktemp("fake-calibrations"))


def open_api(data_dir, algorithms, **options) -> tuple[Instance, Api]:
    instance = Instance.open(Settings(data_dir=data_dir, face_algorithms=algorithms, catch_trial_rate=0.0), **options)
    client = TestClient(create_app(instance), raise_server_exceptions=False)
    headers = {
        role: {"Authorization": f"Bearer {create_key(instance, 'test', role).secret}"}
        for role in ("admin", "enroller", "verifier")
    }
    return instance, Api(client, headers)


@pytest.fixture
def compared(monkeypatch):
    """Every face comparison made, as (matcher algorithm, probe length, reference length)."""
    seen: list[tuple[str, int, int]] = []
    original = FaceMatcher.compare

    def compare(self, probe, reference):
        seen.append((self.algorithm, len(probe), len(reference)))
        return original(self, probe, reference)

    monkeypatch.setattr(FaceMatcher, "compare", compare)
    return seen


def test_enrolment_makes_a_template_for_every_algorithm_and_each_index_holds_only_its_own(fakes, tmp_path, compared):
    instance, api = open_api(tmp_path / "var", ("fake-a/1", "fake-b/1"))
    gallery = api.gallery()
    people = [api.subject(gallery) for _ in range(3)]
    for number, subject in enumerate(people):
        assert api.enrol(subject, png(face_image(number))).status_code == 201
    with instance.sessions() as session:
        stored = session.execute(select(Template.algorithm, Template.subject_id)).all()
    assert sorted(algorithm for algorithm, _ in stored) == ["fake-a/1"] * 3 + ["fake-b/1"] * 3
    for matcher in instance.matchers.faces:
        assert matcher.index.size() == 3
        assert matcher.index.matcher == matcher.key == f"face:{matcher.algorithm}"

    verified = api.verify(people[1], png(face_image(1, photo=1))).json()
    assert verified["decision"] == "match"
    assert verified["comparisons"][0]["algorithm"] == "fake-a/1"  # the strongest served, listed first
    response = api.identify(gallery, png(face_image(2, photo=1)))
    assert lead_ids(api.client, response) == [people[2]]
    found = response.json()
    assert found["probes"][0]["algorithm"] == "fake-a/1"
    assert compared and all(length == 8 and other == 8 for _, length, other in compared)
    instance.close()


def test_a_subject_is_verified_with_the_strongest_algorithm_it_has_a_reference_of(fakes, tmp_path, compared):
    data_dir = tmp_path / "var"
    older, api = open_api(data_dir, ("fake-b/1",))
    gallery = api.gallery()
    subject = api.subject(gallery)
    assert api.enrol(subject, png(face_image(5))).status_code == 201
    older.close()

    newer, api = open_api(data_dir, ("fake-a/1", "fake-b/1"))
    answer = api.verify(subject, png(face_image(5, photo=3))).json()
    assert answer["decision"] == "match"
    assert answer["comparisons"][0]["algorithm"] == "fake-b/1"
    assert compared == [("fake-b/1", 12, 12)]
    newer.close()


def test_an_algorithm_no_longer_served_is_not_compared_and_the_subject_is_asked_to_re_enrol(fakes, tmp_path, caplog):
    data_dir = tmp_path / "var"
    older, api = open_api(data_dir, ("fake-b/1",))
    subject = api.subject(api.gallery())
    assert api.enrol(subject, png(face_image(6))).status_code == 201
    older.close()

    with caplog.at_level(logging.WARNING, logger="tessera"):
        newer, api = open_api(data_dir, ("fake-a/1",))
    assert newer.unserved_templates == {"face fake-b/1": 1}
    assert newer.matchers.indexed() == 0
    refused = api.verify(subject, png(face_image(6, photo=1)))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "no_reference"
    assert "another face algorithm (fake-b/1)" in refused.json()["error"]["message"]
    newer.close()


def test_start_refuses_a_calibration_of_another_algorithm(fakes, tmp_path, monkeypatch):
    from tessera.face import algorithms

    other = load_calibration(fakes[1].calibration_file)  # fake-b's scores
    monkeypatch.setitem(
        algorithms.FACE_ALGORITHMS, "fake-a/1", replace(fakes[0], calibration_file=fakes[1].calibration_file)
    )
    with pytest.raises(InstanceMisconfigured, match=r"face:fake-a/1: its calibration describes 'fake-b/1' scores"):
        Instance.open(Settings(data_dir=tmp_path / "var", face_algorithms=("fake-a/1",)))
    assert other.algorithm == "fake-b/1"


def test_start_refuses_a_fusion_model_of_another_algorithm(fakes, tmp_path):
    from tessera.match.fusion import load_fusion_models

    shipped = load_fusion_models()
    with pytest.raises(InstanceMisconfigured, match=r"its fusion model describes 'dlib-resnet-v1/5pt-flip/1' scores"):
        Instance.open(
            Settings(data_dir=tmp_path / "var", face_algorithms=("fake-a/1",)),
            fusion_models={"face": shipped["face"], "finger": shipped["finger"]},
        )


def test_start_refuses_templates_no_known_algorithm_made(fakes, tmp_path):
    instance, api = open_api(tmp_path / "var", ("fake-a/1",))
    subject = api.subject(api.gallery())
    assert api.enrol(subject, png(face_image(7))).status_code == 201
    with instance.transaction() as session:
        for template in session.scalars(select(Template)):
            template.algorithm = "someone-elses-network/9"
    instance.close()
    with pytest.raises(InstanceMisconfigured, match=r"1 face templates of 'someone-elses-network/9'"):
        Instance.open(Settings(data_dir=tmp_path / "var", face_algorithms=("fake-a/1",)))


def test_the_fake_algorithms_embed_people_apart(fakes):
    for algorithm in fakes:
        same = [algorithm.extract(face_image(person, photo)).embedding for person in range(4) for photo in range(2)]
        scores = np.array(same) @ np.array(same).T
        mates = [scores[2 * p, 2 * p + 1] for p in range(4)]
        threshold = load_calibration(algorithm.calibration_file).threshold_for_fmr(1e-3)
        assert min(mates) > threshold > max(scores[0, 2:].max(), scores[2, 4:].max())


def test_a_request_with_no_capture_or_two_faces_is_refused_before_anything_is_read(fakes, tmp_path):
    from tessera.errors import InvalidRequest
    from tessera.workflows.captures import Capture
    from tessera.workflows.identify import identify
    from tessera.workflows.verify import verify

    instance, api = open_api(tmp_path / "var", ("fake-a/1",))
    gallery = api.gallery()
    subject = api.subject(gallery)
    face = Capture.face(png(face_image(1)))
    for call in (
        lambda captures: identify(instance, "test", gallery, "deduplicate", "C-1", captures),
        lambda captures: verify(instance, "test", subject, captures),
    ):
        with pytest.raises(InvalidRequest, match="Send a face image, or one or more finger_image") as none:
            call([])
        assert none.value.code == "no_probe"
        with pytest.raises(InvalidRequest, match=r"Send at most 1 face image in one request; got 2\.") as two:
            call([face, face])
        assert two.value.code == "too_many_images"
        with pytest.raises(InvalidRequest, match=r"capture must be one of contact, contactless; got 'scanner'\."):
            call([Capture.finger(b"x", 2, "scanner")])
    instance.close()


def test_the_people_without_a_template_of_the_default_algorithm_are_counted(fakes, tmp_path):
    from tessera.workflows.coverage import algorithm_coverage

    data_dir = tmp_path / "var"
    older, api = open_api(data_dir, ("fake-b/1",))
    gallery = api.gallery()
    early = [api.subject(gallery) for _ in range(2)]
    for number, subject in enumerate(early):
        assert api.enrol(subject, png(face_image(number))).status_code == 201
    older.close()
    newer, api = open_api(data_dir, ("fake-a/1", "fake-b/1"))
    late = api.subject(gallery)
    assert api.enrol(late, png(face_image(9))).status_code == 201  # a template of each algorithm
    coverage = algorithm_coverage(newer)
    assert coverage.subjects_with_a_face == 3 and coverage.lacking_default == 2
    rows = {row.algorithm: row for row in coverage.algorithms}
    assert (rows["fake-a/1"].default, rows["fake-a/1"].templates, rows["fake-a/1"].subjects) == (True, 1, 1)
    assert (rows["fake-b/1"].served, rows["fake-b/1"].templates, rows["fake-b/1"].subjects) == (True, 3, 3)
    assert rows["dlib-resnet-v1/5pt-flip/1"].served is False and rows["dlib-resnet-v1/5pt-flip/1"].templates == 0
    newer.close()
