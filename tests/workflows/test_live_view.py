"""One live view of the data: every process applies every change of the index outbox.

A person enrolled or erased by one process (the CLI, another server on the
same store) is seen by a running server within a second, and a search never
returns a person whose erasure was committed before it began.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tessera.api.app import create_app
from tessera.cli import app as cli
from tessera.settings import Settings
from tessera.workflows import enrolment, subjects
from tessera.workflows.captures import Capture
from tessera.workflows.indexing import IndexFollower, drain, pending, queue_removal
from tessera.workflows.instance import Instance
from tessera.workflows.keys import create_key
from tests.fakes import face_image, register_fakes
from tests.service_fixtures import Api, consent, lead_ids, png
from tests.workflows.test_algorithms import open_api

ALGORITHMS = ("fake-a/1",)


@pytest.fixture(scope="module")
def fakes(tmp_path_factory):
    return register_fakes(tmp_path_factory.mktemp("fake-calibrations"))


def candidates(api: Api, gallery: str, person: int, instance: Instance | None = None) -> list[str]:
    """The subjects a search of ``person``'s photo listed for review (read from ``instance``'s store when the
    client is not in process)."""
    return lead_ids(instance or api.client, api.identify(gallery, png(face_image(person, photo=9))))


def within(seconds: float, condition) -> float:
    """Poll ``condition`` until it holds; how long it took (fails after ``seconds``)."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        time.sleep(0.01)
    return time.monotonic() - started


def open_on(data_dir, database_url: str) -> tuple[Instance, Api]:
    """An instance on ``data_dir`` (SQLite: its own database file there) or on the PostgreSQL ``database_url``."""
    if database_url.startswith("sqlite"):
        database_url = f"sqlite:///{data_dir / 'tessera.db'}"
    instance = Instance.open(
        Settings(data_dir=data_dir, database_url=database_url, face_algorithms=ALGORITHMS, catch_trial_rate=0.0)
    )
    headers = {
        role: {"Authorization": f"Bearer {create_key(instance, 'test', role).secret}"}
        for role in ("admin", "enroller", "verifier")
    }
    return instance, Api(TestClient(create_app(instance), raise_server_exceptions=False), headers)


def test_two_instances_on_one_store_see_each_others_enrolments_and_erasures(fakes, tmp_path, database_url):
    first, first_api = open_on(tmp_path / "var", database_url)
    second, second_api = open_on(tmp_path / "var", database_url)  # no lifespan: only the drain before each search
    gallery = first_api.gallery()
    people = [first_api.subject(gallery) for _ in range(2)]
    for number, subject in enumerate(people):
        assert first_api.enrol(subject, png(face_image(number))).status_code == 201
    assert second.matchers.indexed() == 0 and pending(second) == 2

    assert candidates(second_api, gallery, 0) == [people[0]]  # enrolled by the other instance
    assert second.matchers.indexed() == 2 and pending(second) == 0

    subjects.erase_subject(first, "test", people[0])
    assert second.matchers.indexed() == 2  # not yet applied here...
    assert candidates(second_api, gallery, 0) == []  # ...but before the next search
    assert candidates(second_api, gallery, 1) == [people[1]]
    assert second.matchers.indexed() == 1
    # Every process applies every row: the first instance applied them too, and none was consumed.
    assert pending(first) == 0 and first.matchers.indexed() == 1
    assert drain(second) == 0
    first.close()
    second.close()


def test_on_postgresql_outbox_rows_commit_in_seq_order_so_a_cursor_never_skips_a_late_commit(
    fakes, tmp_path, postgres_url
):
    """Without the advisory lock the second transaction takes the higher seq and commits first; a drain in
    between moves the cursor past the first one's row, which is then never applied."""
    writer, _ = open_on(tmp_path / "var", postgres_url)
    reader, _ = open_on(tmp_path / "var", postgres_url)
    early_row = threading.Event()
    finish_early = threading.Event()

    def early() -> None:
        with writer.transaction() as session:
            queue_removal(writer, session, "early-subject")
            session.flush()  # takes its seq now
            early_row.set()
            finish_early.wait(10)

    def late() -> None:
        with writer.transaction() as session:
            queue_removal(writer, session, "late-subject")

    first = threading.Thread(target=early)
    first.start()
    assert early_row.wait(10)
    second = threading.Thread(target=late)
    second.start()
    second.join(1.0)  # with the lock it waits for the first to commit; without, it commits now
    applied = drain(reader)
    finish_early.set()
    first.join(10)
    second.join(10)
    applied += drain(reader)
    assert applied == 2 and pending(reader) == 0
    writer.close()
    reader.close()


def test_a_following_instance_takes_other_processes_changes_in_the_background_within_a_second(fakes, tmp_path):
    writer, api = open_api(tmp_path / "var", ALGORITHMS)
    gallery = api.gallery()
    subject = api.subject(gallery)
    reader = Instance.open(Settings(data_dir=tmp_path / "var", face_algorithms=ALGORITHMS))
    follower = IndexFollower(reader, interval=0.25, keep_seconds=3600)
    follower.start()
    try:
        assert api.enrol(subject, png(face_image(4))).status_code == 201
        within(1.0, lambda: reader.matchers.indexed() == 1)
        subjects.erase_subject(writer, "test", subject)
        within(1.0, lambda: reader.matchers.indexed() == 0)
    finally:
        follower.stop()
    assert not follower._thread.is_alive()  # stops cleanly
    writer.close()
    reader.close()


def test_a_new_instance_starts_from_the_store_and_applies_only_later_rows(fakes, tmp_path, monkeypatch):
    writer, api = open_api(tmp_path / "var", ALGORITHMS)
    gallery = api.gallery()
    people = [api.subject(gallery) for _ in range(3)]
    for number, subject in enumerate(people[:2]):
        assert api.enrol(subject, png(face_image(number))).status_code == 201
    subjects.erase_subject(writer, "test", people[0])
    reader = Instance.open(Settings(data_dir=tmp_path / "var", face_algorithms=ALGORITHMS))
    assert reader.matchers.indexed() == 1 and pending(reader) == 0  # rebuilt from the store, cursor at the newest

    monkeypatch.setattr(enrolment, "drain", lambda _instance: None)  # the writer leaves its row to the others
    enrolment.enrol(writer, "test", people[2], Capture.face(png(face_image(2))))
    assert pending(reader) == 1 and drain(reader) == 1 and reader.matchers.indexed() == 2
    writer.close()
    reader.close()


def test_old_outbox_rows_are_pruned_by_age_only(fakes, tmp_path):
    from tessera.workflows.indexing import prune

    instance, api = open_api(tmp_path / "var", ALGORITHMS)
    gallery = api.gallery()
    for number in range(2):
        assert api.enrol(api.subject(gallery), png(face_image(number))).status_code == 201
    assert prune(instance, keep_seconds=3600) == 0  # applied by this process, but others may not have yet
    assert prune(instance, keep_seconds=-1) == 1  # the older row; the newest is kept
    assert prune(instance, keep_seconds=-1) == 0
    instance.close()


def test_a_change_after_the_outbox_was_pruned_reaches_a_running_process(fakes, tmp_path, monkeypatch):
    """SQLite numbers a row one above the highest present: had pruning emptied the outbox, the next change would
    take number 1, below every running process's cursor, and never reach their indexes. Mutation check: with every
    old row deleted (the newest too), the reader saw 0 pending rows."""
    from tessera.workflows.indexing import prune

    writer, api = open_api(tmp_path / "var", ALGORITHMS)
    gallery = api.gallery()
    people = [api.subject(gallery) for _ in range(3)]
    for number, subject in enumerate(people[:2]):
        assert api.enrol(subject, png(face_image(number))).status_code == 201
    reader = Instance.open(Settings(data_dir=tmp_path / "var", face_algorithms=ALGORITHMS))
    prune(writer, keep_seconds=-1)  # every row but the newest
    monkeypatch.setattr(enrolment, "drain", lambda _instance: None)  # the writer leaves its row to the others
    enrolment.enrol(writer, "test", people[2], Capture.face(png(face_image(2))))
    assert pending(reader) == 1 and drain(reader) == 1 and reader.matchers.indexed() == 3
    writer.close()
    reader.close()


@pytest.fixture
def server(fakes, tmp_path):
    """A real server (uvicorn on 127.0.0.1, its lifespan running) over ``tmp_path / "var"``; yields its client."""
    instance = Instance.open(
        Settings(data_dir=tmp_path / "var", face_algorithms=ALGORITHMS, catch_trial_rate=0.0), announce=True
    )
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    running = uvicorn.Server(uvicorn.Config(create_app(instance, background_jobs=False), log_level="warning"))
    thread = threading.Thread(target=running.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    within(20, lambda: running.started)
    host, port = listening.getsockname()
    headers = {
        role: {"Authorization": f"Bearer {create_key(instance, 'test', role).secret}"}
        for role in ("admin", "enroller", "verifier")
    }
    with httpx.Client(base_url=f"http://{host}:{port}", timeout=30) as client:
        yield instance, Api(client, headers)  # type: ignore[arg-type]
    running.should_exit = True
    thread.join(10)
    listening.close()
    instance.close()


def test_the_server_sees_what_the_cli_enrols_within_a_second_and_never_returns_whom_it_erased(
    server, tmp_path, monkeypatch
):
    instance, api = server
    gallery = api.gallery()
    monkeypatch.setenv("TESSERA_FACE_ALGORITHMS", json.dumps(ALGORITHMS))
    consent_file = tmp_path / "consent.json"
    consent_file.write_text(json.dumps(consent()))
    photo = tmp_path / "face.png"
    photo.write_bytes(png(face_image(5)))
    data = ["--data-dir", str(tmp_path / "var")]
    runner = CliRunner()

    enrolled = runner.invoke(
        cli, ["enrol", "--gallery-id", gallery, "--consent-file", str(consent_file), str(photo), *data]
    )
    assert enrolled.exit_code == 0, enrolled.output
    subject = enrolled.stdout.strip().splitlines()[-1]
    within(1.0, lambda: instance.matchers.indexed() == 1)  # the server's follower applied the CLI's row
    assert candidates(api, gallery, 5, instance) == [subject]

    erased = runner.invoke(cli, ["erase", subject, *data])
    assert erased.exit_code == 0, erased.output
    assert candidates(api, gallery, 5, instance) == []  # the very next search, whatever the follower did meanwhile


def test_one_drain_applies_enrolments_and_a_later_erasure_in_their_order(fakes, tmp_path, monkeypatch):
    writer, api = open_api(tmp_path / "var", ALGORITHMS)
    gallery = api.gallery()
    people = [api.subject(gallery) for _ in range(3)]
    reader, reader_api = open_on(tmp_path / "var", "sqlite")
    monkeypatch.setattr(enrolment, "drain", lambda _instance: None)  # every row is left to the reader
    monkeypatch.setattr(subjects, "drain", lambda _instance: None)
    for number, subject in enumerate(people[:2]):
        assert api.enrol(subject, png(face_image(number))).status_code == 201
    subjects.erase_subject(writer, "test", people[0])
    assert api.enrol(people[2], png(face_image(2))).status_code == 201
    assert drain(reader) == 4  # upsert, upsert, remove, upsert: one step
    assert reader.matchers.indexed() == 2
    assert candidates(reader_api, gallery, 0) == [] and candidates(reader_api, gallery, 2) == [people[2]]
    writer.close()
    reader.close()
