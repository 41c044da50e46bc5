"""Erased data is gone from the files, files are private, keys live apart from the database (issue 14, item 7).

An erased person's consent (their name, ``signed_by``) and sealed templates
must not survive in the SQLite database, its write-ahead log or its shared
memory file; the database, key and anchor files must be readable by their
owner only; and a backup of the database folder must neither hold the keys
nor, once restored, make a verification of an erased subject fail with a 500.
"""

from __future__ import annotations

import os
import shutil
import stat

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from tessera.api.app import create_app
from tessera.settings import Settings
from tessera.store.models import Template
from tessera.workflows.instance import Instance
from tessera.workflows.keys import create_key
from tests.fakes import face_image, register_fakes
from tests.service_fixtures import Api, png

NAME = "Amara Okonkwo-Dlamini"
"""A name that appears nowhere but in the erased person's consent."""


@pytest.fixture(scope="module")
def fakes(tmp_path_factory):
    return register_fakes(tmp_path_factory.mktemp("fake-calibrations"))


def open_api(settings: Settings) -> tuple[Instance, Api]:
    instance = Instance.open(settings)
    client = TestClient(create_app(instance, background_jobs=False), raise_server_exceptions=False)
    headers = {
        role: {"Authorization": f"Bearer {create_key(instance, 'test', role).secret}"}
        for role in ("admin", "enroller", "verifier")
    }
    return instance, Api(client, headers)


def enrolled(api: Api, gallery: str, person: int, name: str) -> str:
    subject = api.subject(gallery, signed_by=name)
    response = api.enrol(subject, png(face_image(person)))
    assert response.status_code == 201, response.text
    return subject


def database_files(settings: Settings) -> dict[str, bytes]:
    database = settings.data_dir / "tessera.db"
    return {
        path.name: path.read_bytes()
        for path in (database, database.with_name("tessera.db-wal"), database.with_name("tessera.db-shm"))
        if path.exists()
    }


@pytest.fixture
def fake_settings(fakes, tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "var", face_algorithms=("fake-a/1",), catch_trial_rate=0.0)


def gone_from_files(settings, instance, secrets: dict[str, bytes]) -> None:
    """None of ``secrets`` (what each is: its bytes) is in any database file while the service still runs (its
    connections open), nor after it stops (``instance`` is closed)."""
    for moment in ("running", "stopped"):
        files = database_files(settings)
        assert files, "no database file found"
        for name, data in files.items():
            for what, secret in secrets.items():
                assert secret not in data, f"{what} is still in {name} ({moment})"
        instance.close()


def test_an_erased_persons_name_and_sealed_template_are_gone_from_the_database_files(fake_settings):
    instance, api = open_api(fake_settings)
    gallery = api.gallery()
    erased = enrolled(api, gallery, 1, NAME)
    enrolled(api, gallery, 2, "Someone Else Entirely")  # a bystander keeps the database busy after the erasure
    with instance.sessions() as session:
        ciphertext = session.scalar(select(Template.ciphertext).where(Template.subject_id == erased))
    assert ciphertext is not None and len(ciphertext) > 16
    before = database_files(fake_settings)
    assert any(NAME.encode() in data for data in before.values())  # the check can see the name while it is there

    response = api.client.delete(f"/v1/subjects/{erased}", headers=api.headers["admin"])
    assert response.status_code == 200, response.text

    gone_from_files(
        fake_settings,
        instance,
        {"the erased person's name": NAME.encode(), "the erased template's ciphertext": ciphertext[16:48]},
    )


def test_a_replaced_face_template_is_gone_from_the_database_files(fake_settings):
    """A better photo enrolled with ``replaces``: the earlier capture's sealed template leaves the database file and
    its write-ahead log as an erased person's does, while the person stays enrolled."""
    instance, api = open_api(fake_settings)
    gallery = api.gallery()
    subject = enrolled(api, gallery, 3, "A Person Who Stays")
    with instance.sessions() as session:
        old_id, ciphertext = session.execute(
            select(Template.id, Template.ciphertext).where(Template.subject_id == subject)
        ).one()
    before = database_files(fake_settings)
    assert any(ciphertext[16:48] in data for data in before.values())  # the check can see it while it is there

    response = api.client.post(
        f"/v1/subjects/{subject}/faces",
        files={"image": ("face.png", png(face_image(3, photo=1)), "image/png")},
        data={"replaces": old_id},
        headers=api.headers["enroller"],
    )
    assert response.status_code == 201 and response.json()["replaced"] == [old_id], response.text
    with instance.sessions() as session:
        assert session.scalars(select(Template.id).where(Template.subject_id == subject)).all() == [
            response.json()["template_id"]
        ]
    gone_from_files(fake_settings, instance, {"the replaced template's ciphertext": ciphertext[16:48]})


def test_a_withdrawn_record_without_biometrics_is_gone_from_the_database_files(fake_settings):
    """A person registered without biometrics who withdraws: their programme id leaves every file, as a subject's
    name does (the record's row and its entry in the programme-id index)."""
    instance, api = open_api(fake_settings)
    gallery = api.gallery()
    allowed = api.client.put(
        f"/v1/galleries/{gallery}/non-biometric", json={"allowed": True}, headers=api.headers["admin"]
    )
    assert allowed.status_code == 200, allowed.text
    card = "PROGRAMME-CARD-Okonkwo-Dlamini-77"
    made = [
        api.client.post(
            "/v1/non-biometric",
            json={"gallery_id": gallery, "programme_id": programme_id, "reason": "declined"},
            headers=api.headers["enroller"],
        )
        for programme_id in (card, "SOMEONE-ELSE-ENTIRELY")  # a bystander keeps the database busy after
    ]
    assert all(response.status_code == 201 for response in made), [r.text for r in made]
    assert any(card.encode() in data for data in database_files(fake_settings).values())

    response = api.client.delete(f"/v1/non-biometric/{made[0].json()['record_id']}", headers=api.headers["enroller"])
    assert response.status_code == 200, response.text

    gone_from_files(fake_settings, instance, {"the withdrawn programme id": card.encode()})


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_database_key_and_anchor_files_are_private_whatever_the_umask(fake_settings):
    previous = os.umask(0o022)  # the usual default, which would make files 0644 and folders 0755
    try:
        instance, api = open_api(fake_settings)
        enrolled(api, api.gallery(), 1, NAME)
        instance.close()
    finally:
        os.umask(previous)
    data_dir, key_dir = fake_settings.data_dir, fake_settings.resolved_key_dir
    files = [path for folder in (data_dir, key_dir) for path in folder.rglob("*") if path.is_file()]
    assert any(path.name == "tessera.db" for path in files)
    assert any(path.suffix == ".key" for path in files)
    assert any(path.name == "master.key" for path in files)
    for path in files:
        assert mode(path) == 0o600, f"{path} is {oct(mode(path))}, not 0600"
    folders = [
        data_dir,
        key_dir,
        *(path for folder in (data_dir, key_dir) for path in folder.rglob("*") if path.is_dir()),
    ]
    for folder in folders:
        assert mode(folder) == 0o700, f"{folder} is {oct(mode(folder))}, not 0700"


def test_keys_are_kept_outside_the_database_folder_by_default(tmp_path):
    settings = Settings(data_dir=tmp_path / "var")
    for path in (settings.resolved_master_key_file, settings.resolved_key_store_dir, settings.case_key_dir):
        assert settings.data_dir not in path.parents, f"{path} is inside the database folder {settings.data_dir}"
    instance = Instance.open(settings)
    instance.close()
    assert not list(settings.data_dir.rglob("*.key"))


def test_a_key_folder_inside_the_database_folder_is_refused(tmp_path):
    with pytest.raises(ValidationError, match="key_dir .* is inside the database folder"):
        Settings(data_dir=tmp_path / "var", key_dir=tmp_path / "var" / "keys")
    with pytest.raises(ValidationError, match="master_key_file .* is inside the database folder"):
        Settings(data_dir=tmp_path / "var", master_key_file=tmp_path / "var" / "master.key")
    with pytest.raises(ValidationError, match="key_dir .* is inside the database folder .*db"):
        Settings(
            data_dir=tmp_path / "var", database_url=f"sqlite:///{tmp_path / 'db' / 't.db'}", key_dir=tmp_path / "db"
        )


def test_a_restored_database_folder_does_not_revive_an_erased_person_and_verify_answers_a_clear_error(
    fake_settings, tmp_path
):
    instance, api = open_api(fake_settings)
    gallery = api.gallery()
    subject = enrolled(api, gallery, 3, NAME)
    instance.close()
    backup = tmp_path / "backup"
    shutil.copytree(fake_settings.data_dir, backup)  # a backup of the database folder, taken before the erasure

    instance, api = open_api(fake_settings)
    assert api.client.delete(f"/v1/subjects/{subject}", headers=api.headers["admin"]).status_code == 200
    instance.close()

    shutil.rmtree(fake_settings.data_dir)
    shutil.copytree(backup, fake_settings.data_dir)  # the whole database folder restored; the key folder is not in it

    instance = Instance.open(fake_settings)
    client = TestClient(create_app(instance, background_jobs=False), raise_server_exceptions=False)
    verifier = {"Authorization": f"Bearer {create_key(instance, 'test', 'verifier').secret}"}
    admin_secret = create_key(instance, "test", "admin").secret
    response = client.post(
        "/v1/verify",
        data={"subject_id": subject},
        files={"image": ("probe.jpg", png(face_image(3, photo=1)), "image/jpeg")},
        headers=verifier,
    )
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "subject_unreadable"
    assert "key" in response.json()["error"]["message"]
    with instance.sessions() as session:  # the templates the backup holds open for no one
        assert session.scalars(select(Template.id).where(Template.subject_id == subject)).all()
    response = client.delete(f"/v1/subjects/{subject}", headers={"Authorization": f"Bearer {admin_secret}"})
    assert response.status_code == 200, response.text  # erasing again finishes what the restore undid
    instance.close()


def test_keys_an_older_build_kept_inside_the_database_folder_are_moved_out_at_start(fake_settings):
    instance, api = open_api(fake_settings)
    subject = enrolled(api, api.gallery(), 4, NAME)
    instance.close()
    data_dir, key_dir = fake_settings.data_dir, fake_settings.resolved_key_dir
    (key_dir / "master.key").rename(data_dir / "master.key")  # the layout of older builds
    (key_dir / "subjects").rename(data_dir / "keys")
    (key_dir / "cases").rename(data_dir / "case-keys")

    instance, api = open_api(fake_settings)
    assert not (data_dir / "master.key").exists() and not (data_dir / "keys").exists()
    assert (key_dir / "subjects" / f"{subject}.key").exists()
    response = api.verify(subject, png(face_image(4, photo=1)))
    assert response.status_code == 200 and response.json()["decision"] == "match", response.text
    instance.close()
