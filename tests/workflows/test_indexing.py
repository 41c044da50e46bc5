"""The index outbox: an enrolment or erasure that dies between its commit and the index is finished at the next start.

An in-process index is rebuilt from the store at every start, so it cannot
keep a stale entry; an index that persists its entries (an external engine)
is only brought in step by the outbox. The "persistent" index here is an
exact index that outlives the instance, as a Milvus collection would.
"""

from __future__ import annotations

import pytest

from tessera.index.exact import ExactIndex
from tessera.settings import Settings
from tessera.workflows import enrolment, subjects
from tessera.workflows.captures import Capture
from tessera.workflows.indexing import drain, pending
from tessera.workflows.instance import Instance
from tests.fakes import face_image, register_fakes
from tests.service_fixtures import lead_ids, png
from tests.workflows.test_algorithms import open_api


class PowerCut(Exception):
    pass


@pytest.fixture(scope="module")
def fakes(tmp_path_factory):
    return register_fakes(tmp_path_factory.mktemp("fake-calibrations"))


@pytest.fixture
def persistent():
    """An index factory whose indexes survive the instance (one per matcher key), like an external engine's."""
    kept: dict[str, ExactIndex] = {}
    return lambda key, scorer: kept.setdefault(key, ExactIndex(key, scorer))


def search(api, gallery, person):
    return lead_ids(api.client, api.identify(gallery, png(face_image(person, photo=9))))


def test_an_enrolment_cut_off_before_its_index_entry_is_indexed_at_the_next_start(
    fakes, tmp_path, persistent, monkeypatch
):
    instance, api = open_api(tmp_path / "var", ("fake-a/1",), index_factory=persistent)
    gallery = api.gallery()
    earlier, subject = api.subject(gallery), api.subject(gallery)
    assert api.enrol(earlier, png(face_image(0))).status_code == 201  # the persistent index is not empty

    def cut(_instance):
        raise PowerCut("after the commit, before the index")

    monkeypatch.setattr(enrolment, "drain", cut)
    with pytest.raises(PowerCut):
        enrolment.enrol(instance, "test", subject, Capture.face(png(face_image(1))))
    assert pending(instance) == 1 and instance.matchers.indexed() == 1
    instance.close()
    monkeypatch.undo()

    restarted, api = open_api(tmp_path / "var", ("fake-a/1",), index_factory=persistent)
    assert pending(restarted) == 0 and restarted.matchers.indexed() == 2  # not rebuilt: the outbox was applied
    assert search(api, gallery, 1) == [subject]
    restarted.close()


def test_an_erasure_cut_off_before_the_outbox_is_applied_is_finished_at_the_next_start(
    fakes, tmp_path, persistent, monkeypatch
):
    instance, api = open_api(tmp_path / "var", ("fake-a/1",), index_factory=persistent)
    gallery = api.gallery()
    people = [api.subject(gallery) for _ in range(2)]
    for number, subject in enumerate(people):
        assert api.enrol(subject, png(face_image(number))).status_code == 201
    assert pending(instance) == 0 and instance.matchers.indexed() == 2

    def cut(_instance):
        raise PowerCut("after the commit, before the outbox is applied")

    monkeypatch.setattr(subjects, "drain", cut)
    with pytest.raises(PowerCut):
        subjects.erase_subject(instance, "test", people[0])
    monkeypatch.undo()
    assert pending(instance) == 1
    # The indexes forget the person before the commit (right after the data key is destroyed)...
    assert instance.matchers.indexed() == 1
    instance.close()

    restarted, api = open_api(tmp_path / "var", ("fake-a/1",), index_factory=persistent)
    assert pending(restarted) == 0 and restarted.matchers.indexed() == 1  # ...and the outbox is applied at start
    assert search(api, gallery, 0) == []
    assert search(api, gallery, 1) == [people[1]]
    restarted.close()


def test_an_erasure_cut_off_inside_the_index_leaves_a_person_no_one_can_match_until_the_retry(
    fakes, tmp_path, persistent, monkeypatch
):
    instance, api = open_api(tmp_path / "var", ("fake-a/1",), index_factory=persistent)
    gallery = api.gallery()
    people = [api.subject(gallery) for _ in range(2)]
    for number, subject in enumerate(people):
        assert api.enrol(subject, png(face_image(number))).status_code == 201

    def cut(_subject_id):
        raise PowerCut("after the key's destruction, inside the index, before the commit")

    for matcher in instance.matchers:
        monkeypatch.setattr(matcher.index, "remove_subject", cut)
    with pytest.raises(PowerCut):
        subjects.erase_subject(instance, "test", people[0])
    monkeypatch.undo()
    assert people[0] not in instance.vault.subjects_with_keys()  # the key went first
    instance.close()

    restarted, api = open_api(tmp_path / "var", ("fake-a/1",), index_factory=persistent)
    receipt = subjects.erase_subject(restarted, "test", people[0])  # the retry finishes the job
    assert receipt.templates_erased == 1 and receipt.index_entries_removed == 1 and receipt.data_key_destroyed
    assert pending(restarted) == 0 and restarted.matchers.indexed() == 1
    assert search(api, gallery, 0) == []
    restarted.close()


def test_an_in_process_index_is_rebuilt_from_the_store_whatever_the_outbox_says(fakes, tmp_path, monkeypatch):
    instance, api = open_api(tmp_path / "var", ("fake-a/1",))
    gallery = api.gallery()
    subject = api.subject(gallery)
    monkeypatch.setattr(enrolment, "drain", lambda _instance: None)  # the outbox is never applied in this process
    assert api.enrol(subject, png(face_image(3))).status_code == 201
    assert pending(instance) == 1 and instance.matchers.indexed() == 0
    instance.close()
    monkeypatch.undo()
    restarted = Instance.open(Settings(data_dir=tmp_path / "var", face_algorithms=("fake-a/1",)))
    assert pending(restarted) == 0 and restarted.matchers.indexed() == 1
    restarted.close()


def test_healthz_says_how_many_outbox_rows_this_process_has_not_applied(fakes, tmp_path, monkeypatch):
    instance, api = open_api(tmp_path / "var", ("fake-a/1",))
    gallery = api.gallery()
    subject = api.subject(gallery)
    assert api.enrol(subject, png(face_image(0))).status_code == 201
    health = api.client.get("/healthz").json()
    assert health["templates_indexed"] == 1 and health["index_outbox"]["pending"] == 0
    applied = health["index_outbox"]["applied_seq"]
    assert applied >= 1

    other = api.subject(gallery)
    monkeypatch.setattr(enrolment, "drain", lambda _instance: None)  # as if another process enrolled
    enrolment.enrol(instance, "test", other, Capture.face(png(face_image(1))))
    health = api.client.get("/healthz").json()
    assert health["index_outbox"] == {"applied_seq": applied, "pending": 1} and health["templates_indexed"] == 1
    monkeypatch.undo()
    drain(instance)
    health = api.client.get("/healthz").json()
    assert health["index_outbox"] == {"applied_seq": applied + 1, "pending": 0} and health["templates_indexed"] == 2
    instance.close()
