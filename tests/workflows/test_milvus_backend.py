"""The core API scenario with face templates in Milvus: enrol, verify, identify, erase, identify again, restart.

Against Milvus Lite and against a real local Milvus server, selected the way
an operator selects it (``TESSERA_INDEX``); fingers stay in the exact index.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tessera.api.app import create_app
from tessera.index.milvus import MilvusIndex
from tessera.settings import Settings
from tessera.workflows import subjects
from tessera.workflows.instance import Instance
from tessera.workflows.keys import create_key
from tests.fakes import face_image, register_fakes
from tests.service_fixtures import lead_ids, png
from tests.workflows.test_algorithms import Api


class PowerCut(Exception):
    pass


@pytest.fixture(scope="module")
def fakes(tmp_path_factory):
    return register_fakes(tmp_path_factory.mktemp("fake-calibrations"))


def open_api(data_dir, index_setting: str) -> tuple[Instance, Api]:
    settings = Settings(data_dir=data_dir, face_algorithms=("fake-a/1",), catch_trial_rate=0.0, index=index_setting)
    instance = Instance.open(settings)
    client = TestClient(create_app(instance), raise_server_exceptions=False)
    headers = {
        role: {"Authorization": f"Bearer {create_key(instance, 'test', role).secret}"}
        for role in ("admin", "enroller", "verifier")
    }
    return instance, Api(client, headers)


def found(api, gallery, person) -> list[str]:
    return lead_ids(api.client, api.identify(gallery, png(face_image(person, photo=9))))


def test_enrol_verify_identify_erase_identify_again_and_restart(fakes, tmp_path, milvus_index_setting, monkeypatch):
    instance, api = open_api(tmp_path / "var", milvus_index_setting)
    face_index = instance.matchers.default_face.index
    assert isinstance(face_index, MilvusIndex)
    gallery = api.gallery()
    people = [api.subject(gallery) for _ in range(4)]
    for number, subject in enumerate(people):
        assert api.enrol(subject, png(face_image(number))).status_code == 201

    same = api.verify(people[1], png(face_image(1, photo=5)))
    assert same.status_code == 200 and same.json()["decision"] == "match"
    assert api.verify(people[1], png(face_image(2, photo=5))).json()["decision"] == "no_match"
    assert found(api, gallery, 2) == [people[2]]

    receipt = api.client.delete(f"/v1/subjects/{people[2]}", headers=api.headers["enroller"])
    assert receipt.status_code == 200, receipt.text
    assert receipt.json()["index_entries_removed"] == 1
    assert found(api, gallery, 2) == []  # at once: no stale read of the erased person
    assert found(api, gallery, 3) == [people[3]]

    # An erasure whose index write never happened (the process died after the store's commit)...
    monkeypatch.setattr(subjects, "drain", lambda _instance: (_ for _ in ()).throw(PowerCut("after the commit")))
    with pytest.raises(PowerCut):
        subjects.erase_subject(instance, "test", people[3])
    monkeypatch.undo()
    instance.close()

    # ...is finished at the next start; the collection persisted, so nothing is rebuilt, only the outbox applied.
    restarted, api = open_api(tmp_path / "var", milvus_index_setting)
    assert restarted.matchers.default_face.index.size() == 2
    assert found(api, gallery, 2) == [] and found(api, gallery, 3) == []
    assert found(api, gallery, 0) == [people[0]]
    restarted.close()
