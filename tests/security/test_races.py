"""Requests that race each other answer a clear error, never a 500 (issue 14, item 8).

Races are made deterministic: every request is held at the point where the
race happens (after its idempotency check; an erasure between its key's
destruction and its commit) until all of them got there.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

import tessera.api.routes.subjects as subject_routes
import tessera.workflows.enrolment as enrolment_workflow
from tessera.api.app import create_app
from tessera.errors import NotFound
from tessera.settings import Settings
from tessera.store.keystore import FileKeyStore, KeyMissing
from tessera.store.models import Subject, Template
from tessera.workflows.instance import Instance
from tessera.workflows.keys import create_key
from tessera.workflows.subjects import erase_subject, load_subject
from tests.fakes import face_image, register_fakes
from tests.service_fixtures import Api, consent, png

RACERS = 6


@pytest.fixture(scope="module")
def fakes(tmp_path_factory):
    return register_fakes(tmp_path_factory.mktemp("fake-calibrations"))


@pytest.fixture(params=["sqlite", "postgresql"])
def served(request, fakes, tmp_path):
    """An instance on SQLite, and on PostgreSQL when it is reachable (where the races are truly concurrent)."""
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    settings = Settings(
        data_dir=tmp_path / "var",
        database_url=url,
        face_algorithms=("fake-a/1",),
        catch_trial_rate=0.0,
        # All racers are in flight at once with one key: the per-key concurrency limit must admit them.
        max_concurrent_requests_per_key=RACERS,
    )
    instance = Instance.open(settings)
    client = TestClient(create_app(instance, background_jobs=False), raise_server_exceptions=False)
    headers = {
        role: {"Authorization": f"Bearer {create_key(instance, 'test', role).secret}"}
        for role in ("admin", "enroller", "verifier")
    }
    yield instance, Api(client, headers)
    instance.close()


def held_after_replay(monkeypatch, parties: int) -> None:
    """Every request waits, once past its idempotency check, until ``parties`` requests are past theirs."""
    barrier = threading.Barrier(parties, timeout=20)
    original = subject_routes.replay

    def replay(instance, idempotency):
        stored = original(instance, idempotency)
        if stored is None:
            barrier.wait()
        return stored

    monkeypatch.setattr(subject_routes, "replay", replay)


def test_concurrent_creations_with_one_idempotency_key_create_one_subject_and_never_fail(served, monkeypatch):
    instance, api = served
    gallery = api.gallery()
    body = {"gallery_id": gallery, "consent": consent()}
    headers = {**api.headers["enroller"], "Idempotency-Key": "create-amara-1"}
    held_after_replay(monkeypatch, RACERS)
    with ThreadPoolExecutor(RACERS) as pool:
        responses = list(pool.map(lambda _: api.client.post("/v1/subjects", json=body, headers=headers), range(RACERS)))
    statuses = sorted(response.status_code for response in responses)
    assert all(status in (201, 409) for status in statuses), [(r.status_code, r.text) for r in responses]
    assert statuses.count(201) == 1
    for response in responses:
        if response.status_code == 409:
            assert response.json()["error"]["code"] == "idempotency_key_in_flight"
    with instance.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Subject)) == 1
    created = next(r.json() for r in responses if r.status_code == 201)
    monkeypatch.undo()
    again = api.client.post("/v1/subjects", json=body, headers=headers)  # a later retry gets the first answer
    assert again.status_code == 201 and again.json() == created and set(created) == {"id", "number", "external_id"}


def test_concurrent_enrolments_with_one_idempotency_key_store_one_template_and_never_fail(served, monkeypatch):
    instance, api = served
    subject = api.subject(api.gallery())
    headers = {**api.headers["enroller"], "Idempotency-Key": "enrol-amara-1"}
    image = png(face_image(5))
    held_after_replay(monkeypatch, RACERS)
    with ThreadPoolExecutor(RACERS) as pool:
        responses = list(pool.map(lambda _: api.enrol(subject, image, headers=headers), range(RACERS)))
    statuses = sorted(response.status_code for response in responses)
    assert all(status in (201, 409) for status in statuses), [(r.status_code, r.text) for r in responses]
    assert statuses.count(201) == 1
    with instance.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Template)) == 1


def test_an_enrolment_racing_the_erasure_of_its_subject_answers_subject_erased(served, monkeypatch):
    instance, api = served
    subject = api.subject(api.gallery())
    original = enrolment_workflow.read_all

    def read_all_then_erasure_begins(instance, matchers, capture):
        read = original(instance, matchers, capture)
        instance.vault.erase_subject(subject)  # an erasure's first step: its commit has not happened yet
        return read

    monkeypatch.setattr(enrolment_workflow, "read_all", read_all_then_erasure_begins)
    response = api.enrol(subject, png(face_image(6)))
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "subject_erased"
    monkeypatch.undo()
    assert api.client.delete(f"/v1/subjects/{subject}", headers=api.headers["admin"]).status_code == 200
    with instance.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Template)) == 0


def test_enrolments_and_erasures_of_the_same_subjects_in_parallel_never_answer_500(served):
    _instance, api = served
    gallery = api.gallery()
    subjects = [api.subject(gallery, signed_by=f"Person {number}") for number in range(8)]

    def enrol(number: int):
        return api.enrol(subjects[number], png(face_image(number)))

    def erase(number: int):
        return api.client.delete(f"/v1/subjects/{subjects[number]}", headers=api.headers["admin"])

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(work, number) for number in range(8) for work in (enrol, erase)]
        responses = [future.result() for future in futures]
    for response in responses:
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert response.json()["error"]["code"] in ("subject_erased", "subject_not_found"), response.text


def test_a_key_read_while_it_is_being_destroyed_is_missing_not_undecryptable(tmp_path):
    store = FileKeyStore(tmp_path / "keys", bytes(32))
    store.create("0123456789abcdef")
    path = tmp_path / "keys" / "0123456789abcdef.key"
    path.write_bytes(b"\0" * len(path.read_bytes()))  # destroy() has overwritten it and not yet unlinked it
    with pytest.raises(KeyMissing, match="being destroyed"):
        store.get("0123456789abcdef")


def load_subject_erased_after(instance, subject_id: str, erased_after: int):
    """``load_subject`` of ``subject_id`` (the subject, or the NotFound raised), with an erasure of the subject
    committed right after the read's ``erased_after``-th statement; and how many statements the read ran."""
    statements: list[str] = []

    def erasure_commits(_connection, _cursor, statement, *_args):
        statements.append(statement)
        if len(statements) == erased_after:
            erase_subject(instance, "cli:test", subject_id)  # on its own connection, committed when it returns

    with instance.sessions() as session:
        connection = session.connection()
        event.listen(connection, "after_cursor_execute", erasure_commits)
        try:
            loaded: Subject | NotFound = load_subject(session, subject_id)
        except NotFound as error:
            loaded = error
        finally:
            event.remove(connection, "after_cursor_execute", erasure_commits)
    return loaded, len(statements)


def test_a_subject_read_while_its_erasure_commits_comes_with_its_consent_or_as_erased(served):
    """Every caller of ``load_subject`` reads the subject's consent. An erasure committed after any statement of the
    read answers ``subject_erased`` or a subject with its consent: never a subject whose consent is gone (read lazily
    after an erasure committed, it was None, and callers answered 500)."""
    instance, api = served
    if instance.engine.dialect.name == "sqlite":
        pytest.skip("a SQLite transaction reads from one snapshot: no erasure commits between its statements")
    gallery = api.gallery()
    for erased_after in (1, 2, 3):
        subject = api.subject(gallery)
        loaded, statements = load_subject_erased_after(instance, subject, erased_after)
        assert statements >= erased_after  # the erasure committed in the middle of the read
        if isinstance(loaded, NotFound):
            assert loaded.code == "subject_erased", erased_after
        else:
            assert loaded.consent is not None, f"erased after statement {erased_after}: a subject with no consent"
        with instance.sessions() as session:
            assert session.get(Subject, subject) is None


def erased_while_another_erasure_commits(instance, subject_id: str, after: int):
    """Two erasures of ``subject_id``: the first (this thread) is joined, after its ``after``-th statement, by a
    second on another connection, waited for until it commits (or, when the first holds the subject's lock, until
    the first finishes). Both receipts, and how many statements the first ran."""
    first = threading.get_ident()
    statements: list[str] = []
    second: dict[str, object] = {}

    def erase_second():
        try:
            second["receipt"] = erase_subject(instance, "cli:second", subject_id)
        except Exception as error:  # the test reports whatever the second erasure raised
            second["receipt"] = error

    racer = threading.Thread(target=erase_second)

    def second_commits(_connection, _cursor, statement, *_args):
        if threading.get_ident() != first:
            return
        statements.append(statement)
        if len(statements) == after:
            racer.start()
            racer.join(timeout=2)  # a second erasure waiting for the first's lock finishes after it

    event.listen(instance.engine, "after_cursor_execute", second_commits)
    try:
        receipt = erase_subject(instance, "cli:first", subject_id)
    finally:
        event.remove(instance.engine, "after_cursor_execute", second_commits)
    racer.join(timeout=30)
    return receipt, second.get("receipt"), len(statements)


def test_an_erasure_racing_another_erasure_of_its_subject_answers_the_same_receipt(served):
    """An erasure reads the subject and its consent; another erasure of the same subject committing after any of its
    statements leaves both answering the one receipt (the tombstone's), never an error, and the subject gone."""
    instance, api = served
    gallery = api.gallery()
    for after in range(1, 6):
        subject = api.subject(gallery, signed_by=f"Person {after}")
        first, second, statements = erased_while_another_erasure_commits(instance, subject, after)
        assert statements >= after
        assert not isinstance(second, BaseException), f"after statement {after}: the second raised {second!r}"
        assert first.receipt_sha256 == second.receipt_sha256, after
        with instance.sessions() as session:
            assert session.get(Subject, subject) is None
        assert not instance.vault.holds_subject_key(subject)
