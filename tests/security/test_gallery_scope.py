"""Keys limited to galleries reach nothing outside them, on every route (issue 14, item 4).

The matrix is generated from the app's route table: every route must declare
what it does with a key limited to galleries (``x-gallery-scope``,
:class:`tessera.governance.scope.RouteScope`), and every route is called by
every role, with a global key and with a key limited to gallery A, on
gallery A's things and on gallery B's. A new route without a scope decision,
or a ``gallery`` route without a case here, fails
:func:`test_every_route_declares_its_gallery_scope`.

- ``gallery`` routes: the limited key succeeds in A exactly as a global key
  does; in B it gets 404 with the code an id that does not exist gets, the
  refusal is audited (``refused:out_of_scope`` with B's id) and nothing in B
  changes; a global key succeeds in B.
- ``filtered`` routes: the limited key's answer holds A's things and none of B's.
- ``instance`` routes: the limited key gets the same status as a global key.
- ``global`` routes: only admin keys hold their permission, and no admin key
  can be limited to galleries.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tessera.api.app import create_app
from tessera.governance.notices import NoticeKind
from tessera.governance.roles import ROLE_PERMISSIONS, Permission, Role
from tessera.governance.scope import RouteScope
from tessera.settings import Settings
from tessera.store.models import (
    AuditEntry,
    CaseCandidate,
    Complaint,
    Consent,
    Contest,
    LivenessChallenge,
    NonBiometricRecord,
    Notice,
    Subject,
    Template,
)
from tessera.workflows.adjudication import record_training
from tessera.workflows.contests import open_contest
from tessera.workflows.instance import Instance
from tessera.workflows.keys import create_key
from tessera.workflows.non_biometric import register as register_non_biometric
from tessera.workflows.non_biometric import set_allowed
from tessera.workflows.notices import notify
from tessera.workflows.transparency import counts_per_period, transparency_report
from tests.fakes import face_image, register_fakes
from tests.service_fixtures import Api, consent, png

PUBLIC = {"/healthz", "/v1/policy/retention"}
SIDES = ("A", "B")
"""Keys are limited to gallery A; B is the gallery they must not reach."""


@dataclass
class World:
    instance: Instance
    client: TestClient
    api: Api
    galleries: dict[str, str]
    keys: dict[str, dict[str, str]]
    """A global key's headers by role."""
    limited: dict[str, dict[str, str]]
    """A key limited to gallery A, by role (no admin: admin keys are global)."""
    key_ids: dict[str, str]
    standing: dict[str, str] = field(default_factory=dict)
    """A subject enrolled with a face in each gallery, never erased."""
    people: itertools.count = field(default_factory=lambda: itertools.count(1000))

    def fresh_subject(self, side: str, modalities=("face",), enrol: bool = True) -> tuple[str, int]:
        """A new subject in ``side``'s gallery (created by the global enroller), enrolled with a face of a new
        person unless ``enrol`` is false."""
        person = next(self.people)
        response = self.client.post(
            "/v1/subjects",
            json={
                "gallery_id": self.galleries[side],
                "consent": consent(modalities=modalities, signed_by=f"Officer {person}"),
            },
            headers=self.keys["enroller"],
        )
        assert response.status_code == 201, response.text
        subject = response.json()["id"]
        if enrol:
            assert self.api.enrol(subject, png(face_image(person)), self.keys["enroller"]).status_code == 201
        return subject, person

    def search(self, side: str, headers: dict[str, str]) -> str:
        """A search of ``side``'s gallery by ``headers``' key, listing the standing subject as a candidate."""
        person = self.standing_person[side]
        response = self.api.identify(self.galleries[side], png(face_image(person, photo=5)), headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "sent_for_review", "the standing subject should be a candidate"
        return response.json()["search_id"]

    standing_person: dict[str, int] = field(default_factory=dict)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    folder = tmp_path_factory.mktemp("scope")
    register_fakes(folder / "calibrations")
    settings = Settings(data_dir=folder / "var", face_algorithms=("fake-a/1",), catch_trial_rate=0.0)
    instance = Instance.open(settings)
    client = TestClient(create_app(instance, background_jobs=False), raise_server_exceptions=False)
    admin = {"Authorization": f"Bearer {create_key(instance, 'test', 'admin').secret}"}
    api = Api(client, {"admin": admin})
    galleries = {side: api.gallery(name=f"Gallery {side}") for side in SIDES}
    keys, limited, key_ids = {"admin": admin}, {}, {}
    for role in Role:
        if role is not Role.ADMIN:
            key = create_key(instance, "test", role)
            keys[role.value] = {"Authorization": f"Bearer {key.secret}"}
            key_ids[f"global {role.value}"] = key.id
        scoped = None if role is Role.ADMIN else create_key(instance, "test", role, galleries=[galleries["A"]])
        if scoped is not None:
            limited[role.value] = {"Authorization": f"Bearer {scoped.secret}"}
            key_ids[f"limited {role.value}"] = scoped.id
    now = datetime.now(UTC)
    for name in ("global adjudicator", "limited adjudicator"):
        record_training(  # by a second admin: the keys' creator may not attest them alone
            instance,
            "key:second-admin",
            key_ids[name],
            "Face review",
            now - timedelta(days=1),
            now + timedelta(days=30),
        )
    world = World(instance, client, Api(client, keys), galleries, keys, limited, key_ids)
    for side in SIDES:
        world.standing[side], world.standing_person[side] = world.fresh_subject(side)
    yield world
    instance.close()


# -- one case per route: the request that acts on a side's gallery, and what succeeds there ----------------------


@dataclass(frozen=True)
class Case:
    build: Callable[[World, str, dict[str, str]], dict]
    """(world, side, the caller's headers) -> the request's keyword arguments (url, json, data, files)."""
    succeeds: int
    """The status a key that reaches the side's gallery gets."""
    missing: str
    """The error code of an id that does not exist: what a key outside the gallery must get."""
    unchanged: Callable[[World, dict], bool] | None = None
    """After an out-of-scope call: True when the request changed nothing in B."""


def _subject_still_there(world: World, request: dict) -> bool:
    subject_id = request["url"].split("/")[3]
    with world.instance.sessions() as session:
        return session.get(Subject, subject_id) is not None


def _still_without_templates(world: World, request: dict) -> bool:
    subject_id = request["url"].split("/")[3]
    with world.instance.sessions() as session:
        return not session.get_one(Subject, subject_id).templates


def _no_subject_signed(world: World, request: dict) -> bool:
    with world.instance.sessions() as session:
        signed_by = request["json"]["consent"]["signed_by"]
        return session.scalar(select(Consent.subject_id).where(Consent.signed_by == signed_by)) is None


def _create_subject(world, side, headers):
    person = next(world.people)
    body = {"gallery_id": world.galleries[side], "consent": consent(signed_by=f"Officer {person}")}
    return {"url": "/v1/subjects", "json": body}


def _enrol_face(world, side, headers):
    subject, person = world.fresh_subject(side, enrol=False)
    return {"url": f"/v1/subjects/{subject}/faces", "files": {"image": ("f.png", png(face_image(person)), "image/png")}}


def _enrol_finger(world, side, headers):
    subject, _ = world.fresh_subject(side, modalities=("face", "finger"), enrol=False)
    blank = png(face_image(1, size=96)[:, :, 0])  # no finger in it: refused after the scope check, 422
    return {
        "url": f"/v1/subjects/{subject}/fingers",
        "files": {"image": ("f.png", blank, "image/png")},
        "data": {"finger_position": "2", "capture": "contact"},
    }


def _enrol_hand(world, side, headers):
    subject, _ = world.fresh_subject(side, modalities=("face", "finger"), enrol=False)
    blank = png(face_image(1, size=96)[:, :, 0])
    landmarks = json.dumps([[0.5, 0.5]] * 21)  # readable, but no hand: refused after the scope check, 422
    return {
        "url": f"/v1/subjects/{subject}/hands",
        "files": {"image": ("h.png", blank, "image/png")},
        "data": {"landmarks": landmarks, "hand": "right"},
    }


def _erase(world, side, headers):
    subject, _ = world.fresh_subject(side, enrol=False)
    return {"url": f"/v1/subjects/{subject}"}


def _verify(world, side, headers):
    probe = png(face_image(world.standing_person[side], photo=3))
    return {
        "url": "/v1/verify",
        "data": {"subject_id": world.standing[side]},
        "files": {"image": ("p.png", probe, "image/png")},
    }


def _identify(world, side, headers):
    probe = png(face_image(world.standing_person[side], photo=4))
    data = {"gallery_id": world.galleries[side], "purpose": "deduplicate", "case_reference": "CASE-7"}
    return {"url": "/v1/identify", "data": data, "files": {"image": ("p.png", probe, "image/png")}}


def _reaches(world: World, side: str, headers: dict[str, str]) -> bool:
    return side == "A" or headers not in world.limited.values()


def _search_read(world, side, headers):
    # A search is read by the key that ran it: the caller runs it where it can, the global enroller elsewhere.
    runner = headers if _reaches(world, side, headers) else world.keys["enroller"]
    return {"url": f"/v1/searches/{world.search(side, runner)}"}


def _review(world, side, headers):
    return {"url": f"/v1/searches/{world.search(side, world.keys['enroller'])}/review"}


def _decide(world, side, headers):
    search_id = world.search(side, world.keys["enroller"])
    with world.instance.sessions() as session:
        candidate = session.scalar(select(CaseCandidate.id).where(CaseCandidate.search_id == search_id))
    body = {"decision": "reject", "rationale": "Different ear shape and chin."}
    return {"url": f"/v1/searches/{search_id}/candidates/{candidate}/decision", "json": body}


def _challenge(world, side, headers):
    return {"url": "/v1/liveness/challenges", "json": {"gallery_id": world.galleries[side], "purpose": "verify"}}


def _burst(world, side, headers):
    # A burst is sent by the key its challenge was issued to: the caller where it can, the global verifier elsewhere.
    issuer = headers if _reaches(world, side, headers) else world.keys["verifier"]
    issued = world.client.post(headers=issuer, **_challenge(world, side, headers))
    assert issued.status_code == 201, issued.text
    frames = [("frame", (f"{n}.png", png(face_image(1, photo=n)), "image/png")) for n in range(5)]
    url = f"/v1/liveness/challenges/{issued.json()['challenge_id']}/burst"
    return {"url": url, "data": {"nonce": issued.json()["nonce"]}, "files": frames}


def _challenge_unused(world: World, request: dict) -> bool:
    with world.instance.sessions() as session:
        return session.get_one(LivenessChallenge, request["url"].split("/")[4]).used_at is None


def _consent(world, side, headers):
    # The standing subjects were enrolled by the global enroller: every other key says why it reads them.
    return {"url": f"/v1/subjects/{world.standing[side]}/consent?purpose=scope-test"}


def _export(world, side, headers):
    return {"url": f"/v1/subjects/{world.standing[side]}/export?purpose=scope-test"}


def _gallery_settings(world, side, headers):
    return {"url": f"/v1/galleries/{world.galleries[side]}/settings"}


def _preflight_enrol(world, side, headers):
    subject, _ = world.fresh_subject(side, enrol=False)
    return {"url": "/v1/preflight/enrol", "params": {"subject_id": subject, "modality": "face"}}


def _preflight_verify(world, side, headers):
    return {"url": "/v1/preflight/verify", "params": {"subject_id": world.standing[side], "modality": "face"}}


def _preflight_identify(world, side, headers):
    return {"url": "/v1/preflight/identify", "params": {"gallery_id": world.galleries[side], "purpose": "deduplicate"}}


def _receipt(world, side, headers):
    return {"url": f"/v1/subjects/{world.standing[side]}/receipt"}


def _new_notice(world: World, side: str, contestable: bool = True) -> str:
    """A notice of a confirmed match for a new candidate of a search in ``side``'s gallery (made as the case
    workflow makes one)."""
    search_id = world.search(side, world.keys["enroller"])
    with world.instance.transaction() as session:
        candidate = session.scalars(select(CaseCandidate).where(CaseCandidate.search_id == search_id)).first()
        assert candidate is not None
        notice = notify(
            world.instance,
            session,
            subject_id=candidate.subject_id,
            gallery_id=world.galleries[side],
            kind=NoticeKind.CONFIRMED_MATCH,
            purpose="deduplicate",
            search_id=search_id,
            candidate_id=candidate.id,
        )
        return notice.id


def _notice_not_handed_over(world: World, request: dict) -> bool:
    with world.instance.sessions() as session:
        return session.get_one(Notice, request["url"].split("/")[3]).handed_over_at is None


def _hand_over(world, side, headers):
    return {"url": f"/v1/notices/{_new_notice(world, side)}/handed-over"}


def _open_contest(world, side, headers):
    return {"url": "/v1/contests", "json": {"notice_id": _new_notice(world, side), "grounds": "I came only once."}}


def _not_contested(world: World, request: dict) -> bool:
    with world.instance.sessions() as session:
        return session.scalar(select(Contest.id).where(Contest.notice_id == request["json"]["notice_id"])) is None


def _decide_contest(world, side, headers):
    contest = open_contest(world.instance, "test", _new_notice(world, side), "I registered only once.")
    body = {"decision": "reject", "rationale": "The blocks differ on the left side."}
    return {"url": f"/v1/contests/{contest['contest_id']}/decision", "json": body}


def _contest_undecided(world: World, request: dict) -> bool:
    with world.instance.sessions() as session:
        return not session.get_one(Contest, request["url"].split("/")[3]).decisions


def _complain(world, side, headers):
    summary = f"Complaint number {next(world.people)} about the queue."
    return {"url": "/v1/complaints", "json": {"gallery_id": world.galleries[side], "summary": summary}}


def _no_complaint(world: World, request: dict) -> bool:
    with world.instance.sessions() as session:
        return session.scalar(select(Complaint.id).where(Complaint.summary == request["json"]["summary"])) is None


def _allowing_non_biometric(world: World, side: str) -> str:
    set_allowed(world.instance, "test", world.galleries[side], True)
    return world.galleries[side]


def _register_non_biometric(world, side, headers):
    body = {"gallery_id": _allowing_non_biometric(world, side), "programme_id": f"CARD-{next(world.people)}"}
    return {"url": "/v1/non-biometric", "json": {**body, "reason": "declined"}}


def _no_record(world: World, request: dict) -> bool:
    programme_id = request["json"]["programme_id"]
    with world.instance.sessions() as session:
        return (
            session.scalar(select(NonBiometricRecord.id).where(NonBiometricRecord.programme_id == programme_id)) is None
        )


def _serve_non_biometric(world, side, headers):
    gallery = _allowing_non_biometric(world, side)
    programme_id = f"CARD-{next(world.people)}"
    register_non_biometric(world.instance, "test", gallery, programme_id, "other")
    return {"url": "/v1/non-biometric/service", "json": {"gallery_id": gallery, "programme_id": programme_id}}


def _not_served(world: World, request: dict) -> bool:
    programme_id = request["json"]["programme_id"]
    with world.instance.sessions() as session:
        record = session.scalars(select(NonBiometricRecord).where(NonBiometricRecord.programme_id == programme_id))
        return record.one().times_served == 0


def _withdraw_non_biometric(world, side, headers):
    gallery = _allowing_non_biometric(world, side)
    record = register_non_biometric(world.instance, "test", gallery, f"CARD-{next(world.people)}", "declined")
    return {"url": f"/v1/non-biometric/{record['record_id']}"}


def _record_still_there(world: World, request: dict) -> bool:
    with world.instance.sessions() as session:
        return session.get(NonBiometricRecord, request["url"].split("/")[3]) is not None


def _record(world, side, headers):
    return {"url": f"/v1/subjects/{world.standing[side]}"}


def _card(world, side, headers):
    return {"url": f"/v1/subjects/{world.standing[side]}/card"}


def _lookup(world, side, headers):
    with world.instance.sessions() as session:
        number = session.get_one(Subject, world.standing[side]).number
    return {"url": "/v1/subjects/lookup", "params": {"number": number.lower()}}


GALLERY_CASES: dict[tuple[str, str], Case] = {
    ("GET", "/v1/galleries/{gallery_id}/settings"): Case(_gallery_settings, 200, "gallery_not_found"),
    ("GET", "/v1/preflight/enrol"): Case(_preflight_enrol, 200, "subject_not_found"),
    ("GET", "/v1/preflight/verify"): Case(_preflight_verify, 200, "subject_not_found"),
    ("GET", "/v1/preflight/identify"): Case(_preflight_identify, 200, "gallery_not_found"),
    ("GET", "/v1/subjects/{subject_id}"): Case(_record, 200, "subject_not_found"),
    ("GET", "/v1/subjects/{subject_id}/card"): Case(_card, 200, "subject_not_found"),
    ("GET", "/v1/subjects/lookup"): Case(_lookup, 200, "subject_not_found"),
    ("POST", "/v1/subjects"): Case(_create_subject, 201, "gallery_not_found", _no_subject_signed),
    ("POST", "/v1/subjects/{subject_id}/faces"): Case(_enrol_face, 201, "subject_not_found", _still_without_templates),
    ("POST", "/v1/subjects/{subject_id}/fingers"): Case(
        _enrol_finger, 422, "subject_not_found", _still_without_templates
    ),
    ("POST", "/v1/subjects/{subject_id}/hands"): Case(_enrol_hand, 422, "subject_not_found", _still_without_templates),
    ("DELETE", "/v1/subjects/{subject_id}"): Case(_erase, 200, "subject_not_found", _subject_still_there),
    ("POST", "/v1/verify"): Case(_verify, 200, "subject_not_found"),
    ("POST", "/v1/identify"): Case(_identify, 200, "gallery_not_found"),
    ("GET", "/v1/searches/{search_id}"): Case(_search_read, 200, "search_not_found"),
    ("GET", "/v1/searches/{search_id}/review"): Case(_review, 200, "search_not_found"),
    ("POST", "/v1/searches/{search_id}/candidates/{candidate_id}/decision"): Case(_decide, 200, "search_not_found"),
    ("POST", "/v1/liveness/challenges"): Case(_challenge, 201, "gallery_not_found"),
    ("POST", "/v1/liveness/challenges/{challenge_id}/burst"): Case(
        _burst, 200, "challenge_not_found", _challenge_unused
    ),
    ("GET", "/v1/subjects/{subject_id}/consent"): Case(_consent, 200, "subject_not_found"),
    ("GET", "/v1/subjects/{subject_id}/export"): Case(_export, 200, "subject_not_found"),
    ("GET", "/v1/subjects/{subject_id}/receipt"): Case(_receipt, 200, "subject_not_found"),
    ("POST", "/v1/notices/{notice_id}/handed-over"): Case(_hand_over, 200, "notice_not_found", _notice_not_handed_over),
    ("POST", "/v1/contests"): Case(_open_contest, 201, "notice_not_found", _not_contested),
    ("POST", "/v1/contests/{contest_id}/decision"): Case(_decide_contest, 200, "contest_not_found", _contest_undecided),
    ("POST", "/v1/complaints"): Case(_complain, 201, "gallery_not_found", _no_complaint),
    ("POST", "/v1/non-biometric"): Case(_register_non_biometric, 201, "gallery_not_found", _no_record),
    ("POST", "/v1/non-biometric/service"): Case(_serve_non_biometric, 200, "gallery_not_found", _not_served),
    ("DELETE", "/v1/non-biometric/{record_id}"): Case(
        _withdraw_non_biometric, 200, "record_not_found", _record_still_there
    ),
}
"""Every ``gallery`` route's case; a new one without a case here fails the declaration test."""

FILTERED_ROUTES = {
    ("GET", "/v1/consent-texts"),
    ("GET", "/v1/searches"),
    ("GET", "/v1/transparency"),
    ("GET", "/v1/notices"),
    ("GET", "/v1/contests"),
    ("GET", "/v1/subjects/by-external-id"),
    ("GET", "/v1/dedup-cases"),
    ("GET", "/v1/review/queue"),
    ("GET", "/v1/reviewers/accuracy"),
    ("GET", "/v1/audit"),
}


def served(routes) -> list[APIRoute]:
    """Every APIRoute in a route table, including those of included routers (FastAPI keeps them nested)."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found.extend(served(route.original_router.routes))
    return found


def routes(app) -> list[tuple[str, str, APIRoute]]:
    """(method, path, route) of every API route the app serves, read off its route table (the console's pages,
    which hold no data, are not API routes unless they sit under /v1/ or appear in the OpenAPI document)."""
    return [
        (method, route.path, route)
        for route in served(app.routes)
        if route.include_in_schema or route.path.startswith("/v1/")
        for method in sorted(route.methods)
    ]


def declared_scope(route: APIRoute) -> RouteScope:
    return RouteScope((route.openapi_extra or {})["x-gallery-scope"])


def permission_of(route: APIRoute) -> Permission | None:
    found = [d.call.permission for d in route.dependant.dependencies if hasattr(d.call, "permission")]
    return found[0] if found else None


def send(world: World, method: str, request: dict, headers: dict[str, str]):
    return world.client.request(method, headers=headers, **request)


def out_of_scope_refusals(world: World, key_name: str) -> list[AuditEntry]:
    with world.instance.sessions() as session:
        return list(
            session.scalars(
                select(AuditEntry).where(
                    AuditEntry.actor == f"key:{world.key_ids[key_name]}", AuditEntry.outcome == "refused:out_of_scope"
                )
            )
        )


def test_every_route_declares_its_gallery_scope(world):
    for method, path, route in routes(world.client.app):
        assert "x-gallery-scope" in (route.openapi_extra or {}), f"{method} {path} declares no gallery scope"
        scope = declared_scope(route)
        permission = permission_of(route)
        if scope is RouteScope.GALLERY:
            assert (method, path) in GALLERY_CASES, f"{method} {path}: add its in/out-of-scope case to this test"
        if scope is RouteScope.FILTERED:
            assert (method, path) in FILTERED_ROUTES, f"{method} {path}: add its filtered case to this test"
        if scope is RouteScope.GLOBAL:
            holders = {role for role, permissions in ROLE_PERMISSIONS.items() if permission in permissions}
            assert permission is not None and holders == {Role.ADMIN}, (method, path, holders)
        if path in PUBLIC:
            assert permission is None and scope is RouteScope.INSTANCE, (method, path)
    served_routes = {(method, path) for method, path, _ in routes(world.client.app)}
    assert len(served_routes) >= 30 and set(GALLERY_CASES) <= served_routes


@pytest.mark.parametrize("role", [role for role in Role if role is not Role.ADMIN])
def test_a_key_limited_to_a_gallery_reaches_nothing_outside_it(world, role):
    limited, global_key = world.limited[role.value], world.keys[role.value]
    allowed = ROLE_PERMISSIONS[role]
    for method, path, route in routes(world.client.app):
        scope, permission = declared_scope(route), permission_of(route)
        if path in PUBLIC or permission is None:
            continue
        if permission not in allowed:
            # Without the permission: 403 for the limited key as for the global one, whatever the gallery.
            url = path.replace("{", "").replace("}", "")
            for headers in (limited, global_key):
                response = world.client.request(method, url, headers=headers, json={} if method != "GET" else None)
                assert response.status_code == 403, (role, method, path, response.text)
            continue
        if scope is RouteScope.FILTERED:
            continue  # the tests below read the filtered answers
        if scope is RouteScope.INSTANCE:
            assert send(world, method, {"url": path}, limited).status_code == 200, (role, method, path)
            assert send(world, method, {"url": path}, global_key).status_code == 200, (role, method, path)
            continue
        case = GALLERY_CASES[(method, path)]
        inside = send(world, method, case.build(world, "A", limited), limited)
        assert inside.status_code == case.succeeds, (role, method, path, "in scope", inside.text)
        assert send(world, method, case.build(world, "B", global_key), global_key).status_code == case.succeeds, (
            role,
            method,
            path,
            "a global key in B",
        )
        before = len(out_of_scope_refusals(world, f"limited {role.value}"))
        request = case.build(world, "B", limited)
        outside = send(world, method, request, limited)
        assert outside.status_code == 404, (role, method, path, "out of scope", outside.text)
        assert outside.json()["error"]["code"] == case.missing, (role, method, path, outside.text)
        refusals = out_of_scope_refusals(world, f"limited {role.value}")
        assert len(refusals) == before + 1 and refusals[-1].gallery_id == world.galleries["B"], (role, method, path)
        if case.unchanged is not None:
            assert case.unchanged(world, request), (role, method, path, "changed something in B")


def test_out_of_scope_looks_exactly_like_missing(world):
    """The 404 a limited key gets for B's subject is the one an id that never existed gets: nothing leaks."""
    headers = world.limited["enroller"]
    for subject_id in (world.standing["B"], "00000000-0000-0000-0000-000000000000"):
        response = world.client.get(f"/v1/subjects/{subject_id}/export", headers=headers)
        assert response.status_code == 404
        assert response.json() == {
            "error": {"code": "subject_not_found", "message": f"No subject with id {subject_id!r}."}
        }


def test_an_erased_subject_of_another_gallery_is_not_found_either(world):
    subject, _ = world.fresh_subject("B", enrol=False)
    assert world.client.delete(f"/v1/subjects/{subject}", headers=world.keys["enroller"]).status_code == 200
    retried = world.client.delete(f"/v1/subjects/{subject}", headers=world.limited["enroller"])
    assert retried.status_code == 404 and retried.json()["error"]["code"] == "subject_not_found"
    mine, _ = world.fresh_subject("A", enrol=False)
    assert world.client.delete(f"/v1/subjects/{mine}", headers=world.limited["enroller"]).status_code == 200
    again = world.client.delete(f"/v1/subjects/{mine}", headers=world.limited["enroller"])
    assert again.status_code == 200  # in scope, a retried erasure still answers its receipt


def test_a_face_cannot_replace_a_template_of_another_gallerys_subject(world):
    """``replaces`` names a template: one of B's, sent by a key of A for its own subject, is answered as an id that
    does not exist, and stays; nothing is enrolled. The same request naming the subject's own template replaces it."""
    with world.instance.sessions() as session:
        theirs = session.scalars(select(Template.id).where(Template.subject_id == world.standing["B"])).one()
    mine, person = world.fresh_subject("A")
    with world.instance.sessions() as session:
        own = session.scalars(select(Template.id).where(Template.subject_id == mine)).one()
    better = {"image": ("f.png", png(face_image(person, photo=1)), "image/png")}
    for headers in (world.limited["enroller"], world.keys["enroller"]):  # the subject's gallery decides, not the key
        refused = world.client.post(
            f"/v1/subjects/{mine}/faces", files=better, data={"replaces": theirs}, headers=headers
        )
        assert refused.status_code == 404, refused.text
        missing = f"The subject has no template {theirs!r} to replace; nothing was enrolled."
        assert refused.json() == {"error": {"code": "template_not_found", "message": missing}}  # as if none existed
    with world.instance.sessions() as session:
        assert session.get(Template, theirs) is not None
        assert session.scalars(select(Template.id).where(Template.subject_id == mine)).all() == [own]
    replaced = world.client.post(
        f"/v1/subjects/{mine}/faces", files=better, data={"replaces": own}, headers=world.limited["enroller"]
    )
    assert replaced.status_code == 201 and replaced.json()["replaced"] == [own], replaced.text


def test_a_withdrawn_record_of_another_gallery_is_not_found_either(world):
    """As for an erased subject: a key of gallery A learns nothing of B's withdrawals, not even that one was made."""
    theirs = _withdraw_non_biometric(world, "B", world.keys["enroller"])
    assert world.client.delete(headers=world.keys["enroller"], **theirs).status_code == 200
    retried = world.client.delete(headers=world.limited["enroller"], **theirs)
    assert retried.status_code == 404 and retried.json()["error"]["code"] == "record_not_found"
    mine = _withdraw_non_biometric(world, "A", world.limited["enroller"])
    first = world.client.delete(headers=world.limited["enroller"], **mine)
    again = world.client.delete(headers=world.limited["enroller"], **mine)
    assert first.status_code == again.status_code == 200 and again.json() == first.json()  # in scope: its receipt


def test_searches_are_read_only_by_the_key_that_ran_them_and_admins(world):
    search_id = world.search("A", world.limited["enroller"])
    assert world.client.get(f"/v1/searches/{search_id}", headers=world.limited["enroller"]).status_code == 200
    assert world.client.get(f"/v1/searches/{search_id}", headers=world.keys["admin"]).status_code == 200
    other_operator = world.client.get(f"/v1/searches/{search_id}", headers=world.keys["enroller"])
    assert other_operator.status_code == 404 and other_operator.json()["error"]["code"] == "search_not_found"
    with world.instance.sessions() as session:
        refused = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "search.read", AuditEntry.outcome == "refused:not_requester")
        )
    assert refused >= 1


def test_search_listings_hold_only_the_keys_own_galleries_and_searches(world):
    mine = world.search("A", world.limited["enroller"])
    theirs = world.search("B", world.keys["enroller"])
    also_in_a = world.search("A", world.keys["enroller"])
    listed = world.client.get("/v1/searches", headers=world.limited["enroller"]).json()["searches"]
    ids = {s["search_id"] for s in listed}
    assert mine in ids and theirs not in ids and also_in_a not in ids
    assert {s["gallery_id"] for s in listed} == {world.galleries["A"]}
    filtered_to_b = world.client.get(
        "/v1/searches", params={"gallery_id": world.galleries["B"]}, headers=world.limited["enroller"]
    )
    assert filtered_to_b.status_code == 200 and filtered_to_b.json()["searches"] == []
    everyone = {
        s["search_id"] for s in world.client.get("/v1/searches", headers=world.keys["admin"]).json()["searches"]
    }
    assert {mine, theirs, also_in_a} <= everyone


def test_a_limited_auditor_reads_the_transparency_report_of_its_galleries(world):
    world.fresh_subject("B", enrol=False)  # B has more enrolments than A from here on, whatever ran before
    world.fresh_subject("B", enrol=False)
    limited = world.client.get("/v1/transparency", params={"period": "year"}, headers=world.limited["auditor"]).json()
    everything = world.client.get("/v1/transparency", params={"period": "year"}, headers=world.keys["auditor"]).json()
    with world.instance.sessions() as session:
        created = dict(
            session.execute(
                select(AuditEntry.gallery_id, func.count())
                .where(AuditEntry.action == "subject.create", AuditEntry.outcome == "ok")
                .group_by(AuditEntry.gallery_id)
            ).all()
        )
    assert limited["galleries"] == [world.galleries["A"]] and everything["galleries"] is None
    only_a = frozenset({world.galleries["A"]})
    assert limited == transparency_report(world.instance, "year", None, only_a)  # published from A's counts only
    assert everything == transparency_report(world.instance, "year")
    counted = counts_per_period(world.instance, "year", None, only_a).values()
    assert sum(counts["enrolments"] for counts in counted) == created[world.galleries["A"]]
    everyone = counts_per_period(world.instance, "year").values()
    assert sum(counts["enrolments"] for counts in everyone) == sum(created.values())


def test_notice_and_contest_listings_hold_only_the_keys_own_galleries(world):
    in_a, in_b = _new_notice(world, "A"), _new_notice(world, "B")
    listed = world.client.get("/v1/notices", headers=world.limited["enroller"]).json()["notices"]
    assert in_a in {n["notice_id"] for n in listed} and in_b not in {n["notice_id"] for n in listed}
    everyone = world.client.get("/v1/notices", params={"limit": 500}, headers=world.keys["enroller"]).json()
    assert {in_a, in_b} <= {n["notice_id"] for n in everyone["notices"]}
    contests = {side: open_contest(world.instance, "test", _new_notice(world, side), "I came once.") for side in SIDES}
    mine = world.client.get("/v1/contests", headers=world.limited["adjudicator"]).json()["contests"]
    assert contests["A"]["contest_id"] in {c["contest_id"] for c in mine}
    assert contests["B"]["contest_id"] not in {c["contest_id"] for c in mine}
    every = world.client.get("/v1/contests", headers=world.keys["adjudicator"]).json()["contests"]
    assert {c["contest_id"] for c in contests.values()} <= {c["contest_id"] for c in every}


def test_a_limited_reviewer_queues_and_a_limited_auditor_measures_only_their_galleries(world):
    in_a, in_b = world.search("A", world.keys["enroller"]), world.search("B", world.keys["enroller"])
    limited = world.client.get("/v1/review/queue", params={"limit": 200}, headers=world.limited["adjudicator"])
    everything = world.client.get("/v1/review/queue", params={"limit": 200}, headers=world.keys["adjudicator"])
    queued = {c["search_id"] for c in limited.json()["cases"]}
    assert in_a in queued and in_b not in queued
    assert {c["gallery_id"] for c in limited.json()["cases"]} == {world.galleries["A"]}
    assert {in_a, in_b} <= {c["search_id"] for c in everything.json()["cases"]}
    accuracy = world.client.get("/v1/reviewers/accuracy", headers=world.limited["auditor"]).json()
    assert accuracy["galleries"] == [world.galleries["A"]]
    assert world.client.get("/v1/reviewers/accuracy", headers=world.keys["auditor"]).json()["galleries"] is None


def test_a_limited_auditor_searches_the_audit_trail_of_its_galleries_only(world):
    limited, everything = world.limited["auditor"], world.keys["auditor"]
    entries = world.client.get("/v1/audit", params={"limit": 500}, headers=limited).json()["entries"]
    assert entries and {e["gallery_id"] for e in entries} == {world.galleries["A"]}
    seen = world.client.get("/v1/audit", params={"limit": 500}, headers=everything).json()["entries"]
    assert world.galleries["B"] in {e["gallery_id"] for e in seen}
    outside = world.client.get("/v1/audit", params={"gallery_id": world.galleries["B"]}, headers=limited)
    assert outside.status_code == 404 and outside.json()["error"]["code"] == "gallery_not_found"


def test_admin_keys_cannot_be_limited_and_limited_keys_are_listed(world):
    admin = world.keys["admin"]
    refused = world.client.post("/v1/keys", json={"role": "admin", "galleries": [world.galleries["A"]]}, headers=admin)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "admin_key_is_global"
    unknown = world.client.post("/v1/keys", json={"role": "verifier", "galleries": ["nope"]}, headers=admin)
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "gallery_not_found"
    both = sorted(world.galleries.values())
    created = world.client.post(
        "/v1/keys", json={"role": "verifier", "label": "clinic desk", "galleries": both[::-1]}, headers=admin
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["galleries"] == both and body["key"].startswith("tsk_")
    me = world.client.get("/v1/me", headers={"Authorization": f"Bearer {body['key']}"}).json()
    assert me["role"] == "verifier" and me["galleries"] == both
    assert world.client.get("/v1/me", headers=admin).json()["galleries"] is None
    listing = {key["id"]: key for key in world.client.get("/v1/keys", headers=admin).json()}
    assert listing[body["id"]]["galleries"] == both and listing[body["id"]]["label"] == "clinic desk"
    assert listing[world.key_ids["limited verifier"]]["galleries"] == [world.galleries["A"]]
    assert listing[world.key_ids["global verifier"]]["galleries"] is None
    assert all("secret" not in key and "key" not in key for key in listing.values())
    revoked = world.client.delete(f"/v1/keys/{body['id']}", headers=admin)
    assert revoked.status_code == 200
    assert world.client.get("/v1/me", headers={"Authorization": f"Bearer {body['key']}"}).status_code == 401


def test_docs_name_every_route_with_its_gallery_scope(world):
    doc = (Path(__file__).resolve().parents[2] / "docs" / "roles.md").read_text()
    documented = {}
    for line in doc.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("`") and cells[1] in {s.value for s in RouteScope}:
            documented[cells[0].strip("`")] = cells[1]
    for method, path, route in routes(world.client.app):
        if method == "HEAD":
            continue
        assert documented.get(f"{method} {path}") == declared_scope(route).value, (method, path)


def test_consent_text_listings_hold_only_shared_texts_and_the_keys_own_galleries(world):
    admin = world.keys["admin"]
    for side in SIDES:
        body = {
            "version": f"scope-{side}",
            "text": f"Gallery {side} asks your consent to take your face photo for its programme.",
            "gallery_id": world.galleries[side],
            "modalities": ["face"],
            "purposes": ["verify"],
        }
        assert world.client.post("/v1/consent-texts", json=body, headers=admin).status_code == 201
    limited = world.client.get("/v1/consent-texts", headers=world.limited["enroller"]).json()
    assert {t["version"] for t in limited} >= {"scope-A", "2026-01"}
    assert all(t["gallery_id"] in (None, world.galleries["A"]) for t in limited)
    every = world.client.get("/v1/consent-texts", headers=world.keys["enroller"]).json()
    assert {"scope-A", "scope-B"} <= {t["version"] for t in every}
    asked_for_b = world.client.get(
        "/v1/consent-texts", params={"gallery_id": world.galleries["B"]}, headers=world.limited["enroller"]
    )
    assert asked_for_b.status_code == 404 and asked_for_b.json()["error"]["code"] == "gallery_not_found"


def test_subject_listings_and_dedup_cases_hold_only_the_keys_galleries(world):
    """The filtered subject listing (by programme id too) and the queue of duplicate-check cases."""
    for side in SIDES:
        body = {"gallery_id": world.galleries[side], "consent": consent(signed_by=f"Officer X{side}")}
        body["external_id"] = "PROG-42"
        assert world.client.post("/v1/subjects", json=body, headers=world.keys["enroller"]).status_code == 201
    url, params = "/v1/subjects/by-external-id", {"external_id": "PROG-42"}
    listed = world.client.get(url, params=params, headers=world.limited["enroller"]).json()["subjects"]
    assert [s["gallery_id"] for s in listed] == [world.galleries["A"]]
    everyone = world.client.get(url, params=params, headers=world.keys["enroller"]).json()["subjects"]
    assert {s["gallery_id"] for s in everyone} == set(world.galleries.values())
    cases = world.client.get("/v1/dedup-cases", headers=world.limited["adjudicator"])
    assert cases.status_code == 200
    assert all(case["gallery_id"] == world.galleries["A"] for case in cases.json()["cases"])


def test_a_number_reaches_what_its_id_reaches(world):
    """A subject of gallery B named by its short number is 404 naming the number, never its id, for a key of A."""
    with world.instance.sessions() as session:
        number = session.get_one(Subject, world.standing["B"]).number
    response = world.client.get(f"/v1/subjects/{number}/export", headers=world.limited["enroller"])
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "subject_not_found", "message": f"No subject with number {number}."}
    assert world.client.get(f"/v1/subjects/{number}/export", headers=world.keys["enroller"]).status_code == 200
