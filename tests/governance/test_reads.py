"""Reads audited (issue 17, item 6): every read of personal data leaves an audit entry; auditors search the log.

One helper, :func:`leaves_a_read_entry`, is applied to every read route of
the app (the Datasette error-shape pattern): each ``GET`` route is either in
:data:`READS` (it must leave an entry naming the reader, whom it read, when
and why) or in :data:`NO_PERSONAL_DATA` with the reason it names no one. A
new read route in neither fails :func:`test_every_read_route_is_classified`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tessera.api.app import create_app
from tessera.governance.notices import NoticeKind
from tessera.settings import Settings
from tessera.store.models import AuditEntry, CaseCandidate, DedupCase, Subject
from tessera.workflows import (
    adjudication,
    audit_search,
    cards,
    complaints,
    contests,
    dedup,
    notices,
    preflight,
    receipts,
    subject_access,
    subject_records,
)
from tessera.workflows.adjudication import record_training
from tessera.workflows.complaints import open_complaint
from tessera.workflows.contests import open_contest
from tessera.workflows.instance import Instance
from tessera.workflows.keys import create_key
from tessera.workflows.notices import notify
from tests.fakes import face_image, register_fakes
from tests.security.test_gallery_scope import served
from tests.service_fixtures import Api, png


@dataclass
class World:
    instance: Instance
    api: Api
    key_ids: dict[str, str]
    gallery: str
    subject: str
    search: str
    number: str = ""
    contest: str = ""
    """A contest of a notice about the subject, waiting for the adjudicator's re-review."""
    dedup_search: str = ""
    """The search of an open duplicate-check case (a second record of the subject's face)."""

    @property
    def client(self) -> TestClient:
        return self.api.client


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    folder = tmp_path_factory.mktemp("reads")
    register_fakes(folder / "calibrations")
    instance = Instance.open(Settings(data_dir=folder / "var", face_algorithms=("fake-a/1",), catch_trial_rate=0.0))
    keys = {role: create_key(instance, "test", role) for role in ("admin", "enroller", "verifier", "auditor")}
    keys["other enroller"] = create_key(instance, "test", "enroller")
    keys["adjudicator"] = create_key(instance, "test", "adjudicator")
    now = datetime.now(UTC)
    record_training(
        instance,
        "key:second-admin",
        keys["adjudicator"].id,
        "Face review",
        now - timedelta(days=1),
        now + timedelta(30),
    )
    headers = {name: {"Authorization": f"Bearer {key.secret}"} for name, key in keys.items()}
    api = Api(TestClient(create_app(instance, background_jobs=False), raise_server_exceptions=False), headers)
    gallery = api.gallery()
    subject = api.subject(gallery)
    assert api.enrol(subject, png(face_image(1))).status_code == 201
    found = api.identify(gallery, png(face_image(1, photo=2)))
    assert found.status_code == 200 and found.json()["status"] == "sent_for_review", found.text
    key_ids = {name: key.id for name, key in keys.items()}
    world = World(instance, api, key_ids, gallery, subject, found.json()["search_id"])
    with instance.sessions() as session:
        world.number = session.get_one(Subject, subject).number
        candidate = session.scalars(select(CaseCandidate).where(CaseCandidate.search_id == world.search)).one()
    with instance.transaction() as session:  # the notice a confirmed match gives, made as the case workflow does
        notice = notify(
            instance,
            session,
            subject_id=subject,
            gallery_id=gallery,
            kind=NoticeKind.CONFIRMED_MATCH,
            purpose="deduplicate",
            search_id=world.search,
            candidate_id=candidate.id,
        )
        notice_id = notice.id
    world.contest = open_contest(instance, "test", notice_id, "I registered only once, at the clinic.")["contest_id"]
    open_complaint(instance, "test", gallery, "Nobody told me what the photo was for.", subject)
    with instance.transaction() as session:  # the programme's own id, looked up by by-external-id
        session.get_one(Subject, subject).external_id = "PROG-7"
    twin = api.subject(gallery, signed_by="Officer Twin")
    held = api.enrol(twin, png(face_image(1, photo=3)))
    assert held.status_code == 202, held.text
    with instance.sessions() as session:
        world.dedup_search = session.scalars(select(DedupCase.search_id)).one()
    yield world
    instance.close()


def _subject(world: World) -> str:
    return world.subject


# -- every read route: what it reads, and whom its entry must name ------------------------------------------------


@dataclass(frozen=True)
class Read:
    url: Callable[[World], str]
    role: str
    action: str
    whom: Callable[[World], str]
    """The id the entry must name (a subject, in its column or its details; or a search, in its details)."""


READS: dict[str, Read] = {
    "/v1/subjects/{subject_id}/export": Read(
        lambda w: f"/v1/subjects/{w.subject}/export", "enroller", "subject.export", lambda w: w.subject
    ),
    "/v1/subjects/{subject_id}/consent": Read(
        lambda w: f"/v1/subjects/{w.subject}/consent", "enroller", "subject.consent_proof", lambda w: w.subject
    ),
    "/v1/searches/{search_id}": Read(
        lambda w: f"/v1/searches/{w.search}", "enroller", "search.read", lambda w: w.search
    ),
    "/v1/searches": Read(lambda w: "/v1/searches", "enroller", "search.list", lambda w: w.search),
    "/v1/searches/{search_id}/review": Read(
        lambda w: f"/v1/searches/{w.search}/review", "adjudicator", "adjudication.view", lambda w: w.search
    ),
    "/v1/audit": Read(lambda w: f"/v1/audit?subject_id={w.subject}", "auditor", "audit.search", lambda w: w.subject),
    "/v1/subjects/{subject_id}": Read(lambda w: f"/v1/subjects/{w.subject}", "enroller", "subject.read", _subject),
    "/v1/subjects/lookup": Read(
        lambda w: f"/v1/subjects/lookup?number={w.number}", "verifier", "subject.lookup", _subject
    ),
    "/v1/subjects/by-external-id": Read(
        lambda w: "/v1/subjects/by-external-id?external_id=PROG-7", "enroller", "subject.list", _subject
    ),
    "/v1/subjects/{subject_id}/card": Read(
        lambda w: f"/v1/subjects/{w.subject}/card", "enroller", "subject.card", _subject
    ),
    "/v1/subjects/{subject_id}/receipt": Read(
        lambda w: f"/v1/subjects/{w.subject}/receipt", "enroller", "subject.receipt", _subject
    ),
    "/v1/preflight/enrol": Read(
        lambda w: f"/v1/preflight/enrol?subject_id={w.subject}&modality=face", "enroller", "preflight.enrol", _subject
    ),
    "/v1/preflight/verify": Read(
        lambda w: f"/v1/preflight/verify?subject_id={w.subject}&modality=face",
        "verifier",
        "preflight.verify",
        _subject,
    ),
    "/v1/notices": Read(lambda w: "/v1/notices?pending=false", "enroller", "notice.list", _subject),
    "/v1/complaints": Read(lambda w: "/v1/complaints", "admin", "complaint.list", _subject),
    "/v1/contests": Read(lambda w: "/v1/contests", "adjudicator", "contest.view", lambda w: w.contest),
    "/v1/dedup-cases": Read(lambda w: "/v1/dedup-cases", "adjudicator", "dedup.cases", lambda w: w.dedup_search),
    "/v1/review/queue": Read(lambda w: "/v1/review/queue", "adjudicator", "review.queue", lambda w: w.search),
}
"""Every route that reads personal data."""

NO_PERSONAL_DATA: dict[str, str] = {
    "/": "the console's page (static): no data",
    "/docs": "the API reference page (static Swagger UI over the public OpenAPI document): no data",
    "/healthz": "liveness and a count of templates: no person",
    "/v1/me": "the calling key's own id, role and galleries",
    "/v1/policy/retention": "the public retention policy",
    "/v1/consent-texts": "the consent texts shown to everyone: no person",
    "/v1/transparency": "aggregate counts per period, never a person",
    "/v1/audit/verify": "the chain's integrity: a count and a hash, naming no one",
    "/v1/keys": "API keys of the programme's workers (admin only, changes audited), no enrolled person",
    "/v1/galleries/{gallery_id}/settings": "a gallery's settings (consent evidence, liveness, scores): no person",
    "/v1/preflight/identify": "whether a gallery may be searched now, for a purpose: no person",
    "/v1/reviewers/accuracy": "catch-trial counts per reviewer key: the programme's workers, no enrolled person",
}
"""Read routes that name no enrolled person, and why."""


def read_routes(app) -> set[str]:
    """Every GET path the app serves, including those of included routers."""
    return {route.path for route in served(app.routes) if "GET" in route.methods}


def newest_seq(world: World) -> int:
    with world.instance.sessions() as session:
        return session.scalar(select(func.max(AuditEntry.seq))) or 0


def leaves_a_read_entry(world: World, read: Read) -> bool:
    """Read through the API as ``read.role``; True when a new ``ok`` entry records who, whom, when and why."""
    before, asked_at = newest_seq(world), world.instance.clock()
    response = world.client.get(read.url(world), headers=world.api.headers[read.role])
    assert response.status_code == 200, response.text
    with world.instance.sessions() as session:
        new = session.scalars(select(AuditEntry).where(AuditEntry.seq > before, AuditEntry.action == read.action)).all()
    whom = read.whom(world)
    return any(
        entry.actor == f"key:{world.key_ids[read.role]}"
        and entry.outcome == "ok"
        and entry.at >= asked_at - timedelta(seconds=1)
        and (entry.subject_id == whom or whom in entry.body)
        and "purpose" in json.loads(entry.body)["details"]  # why: the reason given, or null for an owner's read
        for entry in new
    )


def test_every_read_route_is_classified(world):
    served = read_routes(world.client.app)
    unclassified = served - set(READS) - set(NO_PERSONAL_DATA)
    assert not unclassified, f"classify these read routes in READS or NO_PERSONAL_DATA: {sorted(unclassified)}"
    # /docs is mounted only where `make web` installed the Swagger UI assets (setting api_docs)
    assert set(READS) <= served and set(NO_PERSONAL_DATA) - {"/docs"} <= served


@pytest.mark.parametrize("path", sorted(READS))
def test_every_read_of_personal_data_leaves_an_audit_entry(world, path):
    assert leaves_a_read_entry(world, READS[path]), f"GET {path} left no audit entry of who read whom"


def test_the_helper_catches_a_read_that_is_not_recorded(world, monkeypatch):
    """Mutation: with the recording switched off in each workflow, the helper reports the read as unrecorded."""
    for module, path in (
        (subject_access, "/v1/subjects/{subject_id}/export"),
        (adjudication, "/v1/searches/{search_id}"),
        (audit_search, "/v1/audit"),
        (subject_records, "/v1/subjects/{subject_id}"),
        (subject_records, "/v1/subjects/lookup"),
        (subject_records, "/v1/subjects/by-external-id"),
        (cards, "/v1/subjects/{subject_id}/card"),
        (receipts, "/v1/subjects/{subject_id}/receipt"),
        (preflight, "/v1/preflight/enrol"),
        (preflight, "/v1/preflight/verify"),
        (notices, "/v1/notices"),
        (complaints, "/v1/complaints"),
        (contests, "/v1/contests"),
        (dedup, "/v1/dedup-cases"),
        (adjudication, "/v1/review/queue"),
    ):
        with monkeypatch.context() as patched:
            patched.setattr(module, "record_read", lambda *args, **kwargs: None)
            assert not leaves_a_read_entry(world, READS[path]), path


def test_reading_a_person_one_did_not_enrol_needs_a_purpose(world):
    other = world.api.headers["other enroller"]
    for read in ("export", "consent"):
        refused = world.client.get(f"/v1/subjects/{world.subject}/{read}", headers=other)
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "purpose_required", refused.text
        assert "why" in refused.json()["error"]["message"]
        given = world.client.get(
            f"/v1/subjects/{world.subject}/{read}", params={"purpose": "Request 2026-114 by the person"}, headers=other
        )
        assert given.status_code == 200, given.text
    with world.instance.sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(
                AuditEntry.actor == f"key:{world.key_ids['other enroller']}", AuditEntry.subject_id == world.subject
            )
        ).all()
    outcomes = [(e.action, e.outcome, json.loads(e.body)["details"].get("purpose")) for e in entries]
    assert outcomes == [
        ("subject.export", "refused:purpose_required", None),
        ("subject.export", "ok", "Request 2026-114 by the person"),
        ("subject.consent_proof", "refused:purpose_required", None),
        ("subject.consent_proof", "ok", "Request 2026-114 by the person"),
    ]
    # The person's own export lists who read their data, when and why.
    export = world.client.get(f"/v1/subjects/{world.subject}/export", headers=world.api.headers["enroller"]).json()
    # (A search read names the case, never its candidates: it is not an entry about them.)
    assert {"subject.export", "subject.consent_proof"} <= {e["action"] for e in export["audit_entries"]}


def test_auditors_search_the_log_by_actor_subject_action_gallery_and_time(world):
    auditor = world.api.headers["auditor"]
    reader = f"key:{world.key_ids['other enroller']}"
    world.client.get(
        f"/v1/subjects/{world.subject}/export",
        params={"purpose": "audit search test"},
        headers=world.api.headers["other enroller"],
    )

    def search(**params) -> dict:
        response = world.client.get("/v1/audit", params=params, headers=auditor)
        assert response.status_code == 200, response.text
        return response.json()

    by_actor = search(actor_key=world.key_ids["other enroller"])["entries"]
    assert by_actor and {e["actor"] for e in by_actor} == {reader}
    about = search(subject_id=world.subject, action="subject.*")["entries"]
    assert about and all(e["action"].startswith("subject.") for e in about)
    # About them (their column) or naming them (a listing that answered them, in its details).
    assert all(e["subject_id"] == world.subject or world.subject in json.dumps(e["details"]) for e in about)
    assert any(e["actor"] == reader and e["details"].get("purpose") == "audit search test" for e in about)
    assert all(e["gallery_id"] == world.gallery for e in search(gallery_id=world.gallery)["entries"])
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert search(since=future)["entries"] == []
    assert search(until=future, action="subject.create")["entries"]

    everything = search(limit=500)["entries"]
    assert len(everything) < 500
    pages, after = [], 0
    while True:
        page = search(limit=3, after=after)
        pages.extend(page["entries"])
        if page["next_after"] is None:
            break
        after = page["next_after"]
    seqs = [e["seq"] for e in pages]
    # Page by page, the same entries in the same order (the searches' own entries, added meanwhile, come after).
    assert seqs[: len(everything)] == [e["seq"] for e in everything] and seqs == sorted(set(seqs))

    with world.instance.sessions() as session:
        own = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "audit.search").order_by(AuditEntry.seq.desc())
        ).first()
    assert own.actor == f"key:{world.key_ids['auditor']}" and json.loads(own.body)["details"]["query"]["limit"] == 3


def test_the_audit_search_refuses_bad_queries_and_other_roles(world):
    auditor = world.api.headers["auditor"]
    backwards = world.client.get(
        "/v1/audit", params={"since": "2026-02-01T00:00Z", "until": "2026-01-01T00:00Z"}, headers=auditor
    )
    assert backwards.status_code == 422 and backwards.json()["error"]["code"] == "invalid_audit_query"
    naive = world.client.get("/v1/audit", params={"since": "2026-02-01T00:00"}, headers=auditor)
    assert naive.status_code == 422 and naive.json()["error"]["code"] == "invalid_request"
    too_many = world.client.get("/v1/audit", params={"limit": 501}, headers=auditor)
    assert too_many.status_code == 422
    for role in ("enroller", "verifier", "adjudicator"):
        assert world.client.get("/v1/audit", headers=world.api.headers[role]).status_code == 403
