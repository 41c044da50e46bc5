"""A person enrolled with an older face algorithm gets a template of the default one at a verified, fresh capture.

Through the real service, store, vault and indexes with the two fake face
algorithms of tests/fakes.py (embeddings of 8 and 12 numbers: a comparison
across them would raise, and every comparison made is recorded and checked).
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from tessera.store.models import AuditEntry, Template
from tessera.workflows.coverage import algorithm_coverage
from tessera.workflows.transparency import counts_per_period
from tests.fakes import face_image, register_fakes
from tests.service_fixtures import lead_ids, png
from tests.workflows.test_algorithms import compared, open_api  # noqa: F401 (compared: a fixture)


@pytest.fixture(scope="module")
def fakes(tmp_path_factory):
    return register_fakes(tmp_path_factory.mktemp("fake-calibrations"))


def enrolled_with_the_older_algorithm(data_dir, people: int = 1):
    """People enrolled while only fake-b served, then the instance re-opened with fake-a as the default."""
    older, api = open_api(data_dir, ("fake-b/1",))
    gallery = api.gallery()
    subjects = [api.subject(gallery) for _ in range(people)]
    for number, subject in enumerate(subjects):
        assert api.enrol(subject, png(face_image(number))).status_code == 201
    older.close()
    newer, api = open_api(data_dir, ("fake-a/1", "fake-b/1"))
    return newer, api, gallery, subjects


def templates_of(instance, subject):
    with instance.sessions() as session:
        return sorted(session.scalars(select(Template.algorithm).where(Template.subject_id == subject)))


def audit_entries(instance, action):
    with instance.sessions() as session:
        rows = session.execute(select(AuditEntry.outcome, AuditEntry.body).where(AuditEntry.action == action)).all()
    return [(outcome, json.loads(body)["details"]) for outcome, body in rows]


def test_a_verified_fresh_capture_adds_a_template_of_the_default_algorithm(fakes, tmp_path, compared):  # noqa: F811
    instance, api, gallery, (subject,) = enrolled_with_the_older_algorithm(tmp_path / "var")
    assert templates_of(instance, subject) == ["fake-b/1"]
    assert algorithm_coverage(instance).lacking_default == 1
    assert lead_ids(api.client, api.identify(gallery, png(face_image(0, photo=4)))) == []  # 1:N cannot find them yet

    answer = api.verify(subject, png(face_image(0, photo=1))).json()
    assert answer["decision"] == "match" and answer["comparisons"][0]["algorithm"] == "fake-b/1"
    assert templates_of(instance, subject) == ["fake-a/1", "fake-b/1"]
    assert algorithm_coverage(instance).lacking_default == 0
    ((outcome, details),) = audit_entries(instance, "face.migrate")
    assert outcome == "ok" and details["algorithm"] == "fake-a/1" and details["verified_by"] == "fake-b/1"
    assert details["score"] >= details["threshold"]
    assert instance.matchers.default_face.index.size() == 1
    (counts,) = counts_per_period(instance, "year").values()
    assert counts["face_templates_added_at_verification.ok"] == 1

    found = api.identify(gallery, png(face_image(0, photo=2)))  # now found by the default algorithm
    assert lead_ids(api.client, found) == [subject]
    again = api.verify(subject, png(face_image(0, photo=3))).json()
    assert again["decision"] == "match" and again["comparisons"][0]["algorithm"] == "fake-a/1"
    assert len(audit_entries(instance, "face.migrate")) == 1  # nothing more to add
    # every comparison made was between two templates of one algorithm
    assert compared and all((algorithm, length, other) in {("fake-a/1", 8, 8), ("fake-b/1", 12, 12)}
                            for algorithm, length, other in compared)  # fmt: skip
    instance.close()


def test_no_template_is_added_without_a_match_or_from_the_enrolment_photo_itself(fakes, tmp_path):
    instance, api, _, (first, second) = enrolled_with_the_older_algorithm(tmp_path / "var", people=2)
    impostor = api.verify(first, png(face_image(1, photo=1))).json()  # the second person's face
    assert impostor["decision"] == "no_match"
    replayed = api.verify(second, png(face_image(1))).json()  # the very photo enrolled: not a fresh capture
    assert replayed["decision"] == "match"
    assert templates_of(instance, first) == ["fake-b/1"] and templates_of(instance, second) == ["fake-b/1"]
    assert audit_entries(instance, "face.migrate") == []
    assert algorithm_coverage(instance).lacking_default == 2
    instance.close()


def test_a_capture_the_default_algorithm_cannot_read_is_audited_and_adds_nothing(fakes, tmp_path, monkeypatch):
    from dataclasses import replace

    from tessera.face import algorithms
    from tessera.face.refusal import FaceRefusal

    instance, api, _, (subject,) = enrolled_with_the_older_algorithm(tmp_path / "var")
    refusing = replace(
        algorithms.FACE_ALGORITHMS["fake-a/1"], extract=lambda image, trace: FaceRefusal.of("face_turned")
    )
    monkeypatch.setattr(instance.matchers.default_face, "spec", refusing)
    assert api.verify(subject, png(face_image(0, photo=1))).json()["decision"] == "match"
    assert templates_of(instance, subject) == ["fake-b/1"]
    ((outcome, details),) = audit_entries(instance, "face.migrate")
    assert outcome == "not_read" and details["reason"] == "face_turned" and details["verified_by"] == "fake-b/1"
    instance.close()
