"""No route names a 1:N candidate before two trained reviewers have confirmed the same one (issue 17, item 1).

One helper, every route (the pattern of Datasette's ``test_error_shape.py``):
the route table of the app is read, every route is called by a key of every
role while a search's candidates (a real mate and a catch trial) wait for
review, and :func:`assert_names_no_candidate` checks each answer. A route
added without a request here fails :func:`test_every_route_has_a_request`.

A route about a subject (its consent, its export, enrolling it) may name the
subject it was asked about; it must not say that the subject is a candidate
of the search (the search's id or case reference beside it).
:func:`test_the_check_catches_a_leak` turns the disclosure rule off and shows
the helper fails.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from tessera.api.app import create_app
from tessera.cli import app as cli
from tessera.governance.notices import NoticeKind
from tessera.governance.roles import Role
from tessera.settings import Settings
from tessera.store.models import AuditEntry, CaseCandidate, Subject
from tessera.workflows import audit_search, disclosure
from tessera.workflows.adjudication import record_training
from tessera.workflows.complaints import open_complaint
from tessera.workflows.contests import open_contest
from tessera.workflows.instance import Instance
from tessera.workflows.keys import create_key
from tessera.workflows.non_biometric import register as register_non_biometric
from tessera.workflows.non_biometric import set_allowed
from tessera.workflows.notices import notify
from tests.fakes import face_image, register_fakes
from tests.security.test_gallery_scope import routes
from tests.service_fixtures import Api, consent, png

CASE_REFERENCE = "FILE-LEAK-42"


@dataclass
class World:
    instance: Instance
    client: TestClient
    api: Api
    gallery: str
    keys: dict[str, dict[str, str]]
    key_ids: dict[str, str]
    search_id: str = ""
    mate: str = ""
    """The real candidate of the search."""
    catch: str = ""
    """The catch trial slipped into the search."""
    people: itertools.count = field(default_factory=lambda: itertools.count(500))

    @property
    def candidates(self) -> set[str]:
        return {self.mate, self.catch}

    def subject(self, enrol: bool = True) -> tuple[str, int]:
        person = next(self.people)
        subject = self.api.subject(self.gallery, signed_by=f"Officer {person}")
        if enrol:
            assert self.api.enrol(subject, png(face_image(person))).status_code == 201
        return subject, person

    def case_rows(self, search_id: str) -> list[CaseCandidate]:
        with self.instance.sessions() as session:
            return list(session.scalars(select(CaseCandidate).where(CaseCandidate.search_id == search_id)))


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    folder = tmp_path_factory.mktemp("disclosure")
    register_fakes(folder / "calibrations")
    settings = Settings(data_dir=folder / "var", face_algorithms=("fake-a/1",), catch_trial_rate=1.0)
    instance = Instance.open(settings)
    client = TestClient(create_app(instance, background_jobs=False), raise_server_exceptions=False)
    keys = {"admin": {"Authorization": f"Bearer {create_key(instance, 'test', 'admin').secret}"}}
    key_ids = {}
    for role in Role:
        if role is not Role.ADMIN:
            key = create_key(instance, "test", role)
            keys[role.value], key_ids[role.value] = {"Authorization": f"Bearer {key.secret}"}, key.id
    second = create_key(instance, "test", "adjudicator", "second")
    keys["second"], key_ids["second"] = {"Authorization": f"Bearer {second.secret}"}, second.id
    now = datetime.now(UTC)
    for name in ("adjudicator", "second"):
        record_training(
            instance, "key:second-admin", key_ids[name], "Face review", now - timedelta(days=1), now + timedelta(days=9)
        )
    api = Api(client, keys)
    world = World(instance, client, api, api.gallery(name="Disclosure"), keys, key_ids)
    world.mate, person = world.subject()
    for _ in range(6):  # the others in the gallery: one of them becomes the catch trial
        world.subject()
    answer = api.identify(world.gallery, png(face_image(person, photo=5)), case_reference=CASE_REFERENCE).json()
    world.search_id = answer["search_id"]
    rows = world.case_rows(world.search_id)
    assert {r.subject_id for r in rows if not r.catch_trial} == {world.mate}, "the fixture needs one real candidate"
    catches = [r.subject_id for r in rows if r.catch_trial]
    assert len(catches) == 1, "catch_trial_rate 1.0 slips one catch trial in"
    world.catch = catches[0]
    yield world
    instance.close()


def assert_names_no_candidate(text: str, world: World, search_id: str, about_subject: str | None = None) -> None:
    """The helper: ``text`` (an answer) names none of the search's candidates; an answer about ``about_subject``
    may name that subject, but not beside the search (its id or case reference)."""
    for subject in world.candidates:
        if subject == about_subject:
            assert search_id not in text and CASE_REFERENCE not in text, (
                f"an answer about {subject} ties them to search {search_id}: {text[:300]}"
            )
        else:
            assert subject not in text, f"candidate {subject} named before two confirmations: {text[:300]}"


# -- one request per route ---------------------------------------------------------------------------------------

Build = Callable[[World], dict]


def _url(path: str) -> Build:
    return lambda world: {"url": path}


def _photo(person: int, photo: int) -> dict:
    return {"image": ("p.png", png(face_image(person, photo=photo)), "image/png")}


def _identify(world: World) -> dict:
    data = {"gallery_id": world.gallery, "purpose": "deduplicate", "case_reference": CASE_REFERENCE}
    return {"url": "/v1/identify", "data": data, "files": _photo(500, next(world.people) % 7 + 10)}


def _throwaway_gallery(world: World) -> str:
    return world.api.gallery(name=f"Throwaway {next(world.people)}")


def _decide(world: World) -> dict:
    candidate = next(r.id for r in world.case_rows(world.search_id) if r.catch_trial)
    body = {"decision": "cannot_tell", "rationale": "The photo is too dark to tell."}
    return {"url": f"/v1/searches/{world.search_id}/candidates/{candidate}/decision", "json": body}


def _training(world: World) -> dict:
    now = datetime.now(UTC)
    body = {
        "course": "Face review",
        "completed_at": (now - timedelta(days=1)).isoformat(),
        "expires_at": (now + timedelta(days=30)).isoformat(),
    }
    return {"url": f"/v1/adjudicators/{world.key_ids['adjudicator']}/training", "json": body}


def _notice(world: World) -> str:
    """A notice of a confirmed match for a new person, found by a search of their own (not the watched one): a
    notice is only ever written once two reviewers have confirmed, so it is made here as the case workflow makes
    it."""
    subject, person = world.subject()
    found = world.api.identify(world.gallery, png(face_image(person, photo=5)), case_reference="FILE-NOTICE")
    search_id = found.json()["search_id"]
    row = next(r for r in world.case_rows(search_id) if r.subject_id == subject)
    with world.instance.transaction() as session:
        notice = notify(
            world.instance,
            session,
            subject_id=subject,
            gallery_id=world.gallery,
            kind=NoticeKind.CONFIRMED_MATCH,
            purpose="deduplicate",
            search_id=search_id,
            candidate_id=row.id,
        )
        return notice.id


def _contest(world: World) -> dict:
    body = {"notice_id": _notice(world), "grounds": "I registered only once, at the clinic."}
    return {"url": "/v1/contests", "json": body}


def _contest_decision(world: World) -> dict:
    contest = open_contest(world.instance, "test", _notice(world), "I registered only once.")
    body = {"decision": "reject", "rationale": "The blocks differ on the left side."}
    return {"url": f"/v1/contests/{contest['contest_id']}/decision", "json": body}


def _complaint_status(world: World) -> dict:
    complaint = open_complaint(world.instance, "test", world.gallery, "The queue was four hours long.")
    body = {"status": "acknowledged", "note": ""}
    return {"url": f"/v1/complaints/{complaint['complaint_id']}/status", "json": body}


def _challenge(world: World) -> dict:
    return {"url": "/v1/liveness/challenges", "json": {"gallery_id": world.gallery, "purpose": "verify"}}


def _burst(world: World) -> dict:
    issued = world.client.post(headers=world.keys["verifier"], **_challenge(world))
    assert issued.status_code == 201, issued.text
    frames = [("frame", (f"{n}.png", png(face_image(500, photo=n)), "image/png")) for n in range(5)]
    url = f"/v1/liveness/challenges/{issued.json()['challenge_id']}/burst"
    return {"url": url, "data": {"nonce": issued.json()["nonce"]}, "files": frames}


def _non_biometric(world: World) -> dict:
    set_allowed(world.instance, "test", world.gallery, True)
    body = {"gallery_id": world.gallery, "programme_id": f"CARD-{next(world.people)}", "reason": "declined"}
    return {"url": "/v1/non-biometric", "json": body}


def _non_biometric_service(world: World) -> dict:
    set_allowed(world.instance, "test", world.gallery, True)
    programme_id = f"CARD-{next(world.people)}"
    register_non_biometric(world.instance, "test", world.gallery, programme_id, "other")
    return {"url": "/v1/non-biometric/service", "json": {"gallery_id": world.gallery, "programme_id": programme_id}}


def _non_biometric_withdrawal(world: World) -> dict:
    set_allowed(world.instance, "test", world.gallery, True)
    record = register_non_biometric(world.instance, "test", world.gallery, f"CARD-{next(world.people)}", "declined")
    return {"url": f"/v1/non-biometric/{record['record_id']}"}


def _number(world: World, subject: str) -> str:
    with world.instance.sessions() as session:
        return session.get_one(Subject, subject).number


ENTRIES = "entries"
"""An answer of audit entries: each entry may name a candidate or the search, never both (see the helper below)."""

REQUESTS: dict[tuple[str, str], tuple[Build, str | None]] = {
    # (method, path): (the request, the subject it is about, if any: "mate" or "catch")
    ("GET", "/v1/me"): (_url("/v1/me"), None),
    ("GET", "/healthz"): (_url("/healthz"), None),
    ("POST", "/v1/galleries"): (lambda w: {"url": "/v1/galleries", "json": {"name": "G", "purpose": "Aid"}}, None),
    ("POST", "/v1/subjects"): (
        lambda w: {"url": "/v1/subjects", "json": {"gallery_id": w.gallery, "consent": consent()}},
        None,
    ),
    ("POST", "/v1/subjects/{subject_id}/faces"): (
        lambda w: {"url": f"/v1/subjects/{w.mate}/faces", "files": _photo(500, next(w.people) % 7 + 20)},
        "mate",
    ),
    ("POST", "/v1/subjects/{subject_id}/fingers"): (
        lambda w: {
            "url": f"/v1/subjects/{w.catch}/fingers",
            "files": _photo(1, 1),
            "data": {"finger_position": "2", "capture": "contact"},
        },
        "catch",
    ),
    ("POST", "/v1/subjects/{subject_id}/hands"): (
        lambda w: {
            "url": f"/v1/subjects/{w.catch}/hands",
            "files": _photo(1, 1),
            "data": {"landmarks": json.dumps([[0.5, 0.5]] * 21), "hand": "right"},
        },
        "catch",
    ),
    ("DELETE", "/v1/subjects/{subject_id}"): (lambda w: {"url": f"/v1/subjects/{w.subject(enrol=False)[0]}"}, None),
    ("POST", "/v1/verify"): (
        lambda w: {"url": "/v1/verify", "data": {"subject_id": w.mate}, "files": _photo(500, 3)},
        "mate",
    ),
    ("POST", "/v1/identify"): (_identify, None),
    ("GET", "/v1/audit/verify"): (_url("/v1/audit/verify"), None),
    ("POST", "/v1/consent-texts"): (
        lambda w: {"url": "/v1/consent-texts", "json": {"version": f"v{next(w.people)}", "text": "x" * 40}},
        None,
    ),
    ("GET", "/v1/consent-texts"): (_url("/v1/consent-texts"), None),
    ("POST", "/v1/galleries/{gallery_id}/identification"): (
        lambda w: {"url": f"/v1/galleries/{w.gallery}/identification", "json": {"dpia_reference": "DPIA-2"}},
        None,
    ),
    ("DELETE", "/v1/galleries/{gallery_id}/identification"): (
        lambda w: {"url": f"/v1/galleries/{_throwaway_gallery(w)}/identification"},
        None,
    ),
    ("PUT", "/v1/galleries/{gallery_id}/retention"): (
        lambda w: {"url": f"/v1/galleries/{w.gallery}/retention", "json": {"retention_days": 1000}},
        None,
    ),
    ("POST", "/v1/galleries/{gallery_id}/close"): (
        lambda w: {"url": f"/v1/galleries/{_throwaway_gallery(w)}/close"},
        None,
    ),
    ("POST", "/v1/identification/suspension"): (
        lambda w: {"url": "/v1/identification/suspension", "json": {"engaged": False, "reason": "test"}},
        None,
    ),
    ("GET", "/v1/policy/retention"): (_url("/v1/policy/retention"), None),
    ("POST", "/v1/retention/run"): (_url("/v1/retention/run"), None),
    ("GET", "/v1/searches"): (_url("/v1/searches"), None),
    ("GET", "/v1/searches/{search_id}"): (lambda w: {"url": f"/v1/searches/{w.search_id}"}, None),
    ("GET", "/v1/searches/{search_id}/review"): (lambda w: {"url": f"/v1/searches/{w.search_id}/review"}, None),
    ("POST", "/v1/searches/{search_id}/candidates/{candidate_id}/decision"): (_decide, None),
    ("POST", "/v1/adjudicators/{key_id}/training"): (_training, None),
    ("GET", "/v1/transparency"): (_url("/v1/transparency"), None),
    ("GET", "/v1/subjects/{subject_id}/consent"): (lambda w: {"url": f"/v1/subjects/{w.mate}/consent"}, "mate"),
    ("GET", "/v1/subjects/{subject_id}/export"): (lambda w: {"url": f"/v1/subjects/{w.mate}/export"}, "mate"),
    ("POST", "/v1/keys"): (lambda w: {"url": "/v1/keys", "json": {"role": "verifier", "label": "x"}}, None),
    ("GET", "/v1/keys"): (_url("/v1/keys"), None),
    ("DELETE", "/v1/keys/{key_id}"): (
        lambda w: {"url": f"/v1/keys/{create_key(w.instance, 'test', 'verifier').id}"},
        None,
    ),
    ("GET", "/v1/review/queue"): (_url("/v1/review/queue"), None),
    ("GET", "/v1/reviewers/accuracy"): (_url("/v1/reviewers/accuracy"), None),
    ("GET", "/v1/audit"): (lambda w: {"url": "/v1/audit", "params": {"limit": 500}}, ENTRIES),
    ("GET", "/v1/complaints"): (_url("/v1/complaints"), None),
    ("POST", "/v1/complaints"): (
        lambda w: {"url": "/v1/complaints", "json": {"gallery_id": w.gallery, "summary": "Nobody explained it."}},
        None,
    ),
    ("POST", "/v1/complaints/{complaint_id}/status"): (_complaint_status, None),
    ("GET", "/v1/notices"): (lambda w: {"url": "/v1/notices", "params": {"pending": "false", "limit": 500}}, None),
    ("POST", "/v1/notices/{notice_id}/handed-over"): (lambda w: {"url": f"/v1/notices/{_notice(w)}/handed-over"}, None),
    ("GET", "/v1/contests"): (_url("/v1/contests"), None),
    ("POST", "/v1/contests"): (_contest, None),
    ("POST", "/v1/contests/{contest_id}/decision"): (_contest_decision, None),
    ("GET", "/v1/dedup-cases"): (_url("/v1/dedup-cases"), None),
    ("PUT", "/v1/galleries/{gallery_id}/dedup"): (
        lambda w: {"url": f"/v1/galleries/{_throwaway_gallery(w)}/dedup", "json": {"dedup_at_enrolment": None}},
        None,
    ),
    ("GET", "/v1/galleries/{gallery_id}/settings"): (lambda w: {"url": f"/v1/galleries/{w.gallery}/settings"}, None),
    ("PUT", "/v1/galleries/{gallery_id}/consent-evidence"): (
        lambda w: {
            "url": f"/v1/galleries/{_throwaway_gallery(w)}/consent-evidence",
            "json": {"accepted": ["typed_name"]},
        },
        None,
    ),
    ("PUT", "/v1/galleries/{gallery_id}/non-biometric"): (
        lambda w: {"url": f"/v1/galleries/{_throwaway_gallery(w)}/non-biometric", "json": {"allowed": True}},
        None,
    ),
    ("PUT", "/v1/galleries/{gallery_id}/score-disclosure"): (
        lambda w: {"url": f"/v1/galleries/{w.gallery}/score-disclosure", "json": {"score_disclosure": "banded"}},
        None,
    ),
    ("GET", "/v1/preflight/enrol"): (
        lambda w: {"url": "/v1/preflight/enrol", "params": {"subject_id": w.catch, "modality": "finger"}},
        "catch",
    ),
    ("GET", "/v1/preflight/verify"): (
        lambda w: {"url": "/v1/preflight/verify", "params": {"subject_id": w.mate, "modality": "face"}},
        "mate",
    ),
    ("GET", "/v1/preflight/identify"): (
        lambda w: {"url": "/v1/preflight/identify", "params": {"gallery_id": w.gallery, "purpose": "deduplicate"}},
        None,
    ),
    ("GET", "/v1/subjects/{subject_id}"): (lambda w: {"url": f"/v1/subjects/{w.mate}"}, "mate"),
    ("GET", "/v1/subjects/{subject_id}/card"): (lambda w: {"url": f"/v1/subjects/{w.catch}/card"}, "catch"),
    ("GET", "/v1/subjects/{subject_id}/receipt"): (lambda w: {"url": f"/v1/subjects/{w.mate}/receipt"}, "mate"),
    ("GET", "/v1/subjects/lookup"): (
        lambda w: {"url": "/v1/subjects/lookup", "params": {"number": _number(w, w.catch)}},
        "catch",
    ),
    ("GET", "/v1/subjects/by-external-id"): (
        lambda w: {"url": "/v1/subjects/by-external-id", "params": {"external_id": "PROG-1"}},
        None,
    ),
    ("POST", "/v1/liveness/challenges"): (_challenge, None),
    ("POST", "/v1/liveness/challenges/{challenge_id}/burst"): (_burst, None),
    ("POST", "/v1/non-biometric"): (_non_biometric, None),
    ("POST", "/v1/non-biometric/service"): (_non_biometric_service, None),
    ("DELETE", "/v1/non-biometric/{record_id}"): (_non_biometric_withdrawal, None),
    ("GET", "/v1/subjects/{subject_id}/export/catch"): (
        lambda w: {"url": f"/v1/subjects/{w.catch}/export"},
        "catch",
    ),
    ("GET", "/v1/audit/mate"): (
        lambda w: {"url": "/v1/audit", "params": {"subject_id": w.mate, "limit": 500}},
        ENTRIES,
    ),
    ("GET", "/v1/audit/catch"): (
        lambda w: {"url": "/v1/audit", "params": {"subject_id": w.catch, "limit": 500}},
        ENTRIES,
    ),
}
"""Every route's request; the last ones ask for the catch trial's export, and the audit trail about each
candidate, too."""


def test_every_route_has_a_request(world):
    served = {(method, path) for method, path, _ in routes(world.client.app)}
    missing = served - set(REQUESTS)
    assert not missing, f"add a request for {sorted(missing)} to REQUESTS: it must be checked for leaks"


def assert_no_entry_ties_a_candidate_to_a_search(response, world: World) -> None:
    """The helper for audit entries: the trail names people (their enrolments, verifications, exports) and searches,
    but no answered entry names a candidate beside the search (its id or case reference) that listed them."""
    entries = response.json().get("entries") if response.status_code == 200 else None
    if entries is None:
        assert_names_no_candidate(response.text, world, world.search_id)
        return
    for entry in entries:
        text = json.dumps(entry)
        for subject in world.candidates:
            if subject in text:
                assert_names_no_candidate(text, world, world.search_id, subject)
        if world.search_id in text or CASE_REFERENCE in text:
            for subject in world.candidates:
                assert subject not in text, f"candidate {subject} named before two confirmations: {text[:300]}"


def call_every_route(world: World) -> int:
    """Call every route with every role's key and check each answer with the helper; returns the calls made."""
    calls = 0
    for (method, _path), (build, about) in REQUESTS.items():
        for headers in world.keys.values():
            response = world.client.request(method, headers=headers, **build(world))
            if about == ENTRIES:
                assert_no_entry_ties_a_candidate_to_a_search(response, world)
            else:
                subject = {"mate": world.mate, "catch": world.catch, None: None}[about]
                assert_names_no_candidate(response.text, world, world.search_id, subject)
            calls += 1
    return calls


def test_no_route_names_a_candidate_before_two_confirmations(world):
    assert call_every_route(world) >= len(REQUESTS) * len(Role)
    # The searches every route call ran (POST /v1/identify by the roles that may) named no one either: checked above.


def test_the_check_catches_a_leak(world, monkeypatch):
    """With the rule off (every candidate disclosed at once), the helper fails on the search routes."""
    # Mutation: the disclosure rule switched off.
    monkeypatch.setattr(disclosure, "disclosed_subjects", lambda rows: sorted({row[0] for row in rows}))
    with pytest.raises(AssertionError, match="named before two confirmations"):
        call_every_route(world)


def test_the_audit_search_withholds_unconfirmed_candidates(world, monkeypatch):
    """An auditor reads the search's entry with its candidates counted, not named; the stored chain is whole.

    Mutation: with the redaction off (entries answered as stored) the helper fails on the audit search."""
    auditor = world.keys["auditor"]
    answer = world.client.get("/v1/audit", params={"action": "face.identify", "limit": 500}, headers=auditor)
    entry = next(e for e in answer.json()["entries"] if e["details"]["search_id"] == world.search_id)
    assert entry["details"]["candidates"] == [] and entry["details"]["candidates_withheld"] == 1
    assert entry["outcome"] == "candidates:1"
    about_catch = world.client.get("/v1/audit", params={"subject_id": world.catch}, headers=auditor).json()
    assert world.search_id not in json.dumps(about_catch)  # the catch trial's decision entry is not answered either
    assert world.client.get("/v1/audit/verify", headers=auditor).json()["ok"] is True
    with world.instance.sessions() as session:
        stored = session.scalar(select(AuditEntry.body).where(AuditEntry.seq == entry["seq"]))
    assert world.mate in stored  # withheld from the answer, kept in the chain

    monkeypatch.setattr(audit_search, "redact_entries", lambda session, entries: entries)
    leaked = world.client.get("/v1/audit", params={"limit": 500}, headers=auditor)
    with pytest.raises(AssertionError, match="ties them to search|named before two confirmations"):
        assert_no_entry_ties_a_candidate_to_a_search(leaked, world)


def cli_search(world: World, folder, monkeypatch) -> str:
    """What ``tessera identify`` prints (stdout and stderr) for another photo of the mate."""
    monkeypatch.setenv("TESSERA_FACE_ALGORITHMS", json.dumps(["fake-a/1"]))
    photo = folder / "probe.png"
    photo.write_bytes(png(face_image(500, photo=6)))
    data_dir = str(world.instance.settings.data_dir)
    arguments = ["identify", world.gallery, str(photo), "--case-reference", CASE_REFERENCE, "--data-dir", data_dir]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_cli_names_no_candidate_either(world, tmp_path, monkeypatch):
    printed = cli_search(world, tmp_path, monkeypatch)
    assert '"status": "sent_for_review"' in printed
    assert world.mate not in printed  # the CLI's own search listed the mate: it names no one
    monkeypatch.setattr(disclosure, "disclosed_subjects", lambda rows: sorted({row[0] for row in rows}))
    assert world.mate in cli_search(world, tmp_path, monkeypatch)  # with the rule off, the check above would fail


def test_after_two_confirmations_only_the_confirmed_subject_is_named(world):
    mate_row = next(r for r in world.case_rows(world.search_id) if not r.catch_trial)
    body = {"decision": "confirm", "rationale": "Same ear shape and the same scar on the chin."}
    url = f"/v1/searches/{world.search_id}/candidates/{mate_row.id}/decision"
    first = world.client.post(url, json=body, headers=world.keys["adjudicator"])
    assert first.status_code == 200, first.text
    waiting = world.client.get(f"/v1/searches/{world.search_id}", headers=world.keys["enroller"]).json()
    assert waiting["status"] == "sent_for_review" and waiting["confirmed"] == []  # one confirmation is not enough
    assert world.client.post(url, json=body, headers=world.keys["second"]).status_code == 200

    outcome = world.client.get(f"/v1/searches/{world.search_id}", headers=world.keys["enroller"]).json()
    assert outcome["status"] == "confirmed" and outcome["confirmed"] == [{"subject_id": world.mate}]
    assert world.catch not in str(outcome)  # the catch trial is never disclosed
    export = world.client.get(f"/v1/subjects/{world.mate}/export", headers=world.keys["enroller"]).json()
    assert [s["search_id"] for s in export["searches_listing_them"]] == [world.search_id]
    audited = world.client.get("/v1/audit", params={"subject_id": world.mate}, headers=world.keys["auditor"]).json()
    search_entry = next(e for e in audited["entries"] if e["details"].get("search_id") == world.search_id)
    assert [c["subject_id"] for c in search_entry["details"]["candidates"]] == [world.mate]  # confirmed: named
    assert world.catch not in json.dumps(audited)
