"""The governance rules of docs/governance.md, each checked without evaluation data, each shown to fail when broken.

The tests of the same rules on real LFW photos (tests/api/test_consent.py,
tests/governance/test_purpose_binding.py, test_adjudication.py, ...) skip
where the data is absent; these run everywhere, on the synthetic faces of
:mod:`tests.fakes`, so that every claim of docs/governance.md is checked by
the fast suite. Each test ends by switching its rule off (``monkeypatch``)
and asserting that the same check then fails: a test that cannot fail
proves nothing. docs/governance.md names these tests; test_docs.py checks
that each one exists and is not skipped without data.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tessera.api.app import create_app
from tessera.errors import Forbidden
from tessera.settings import Settings
from tessera.store.models import AuditEntry, CaseCandidate, Template
from tessera.store.vault import SealedDataUnreadable
from tessera.workflows import adjudication, enrolment, identify, policy, retention, verify
from tessera.workflows.captures import Capture
from tessera.workflows.keys import authenticate, create_key
from tessera.workflows.retention import run_retention
from tessera.workflows.transparency import counts_per_period
from tests.fakes import face_image, register_fakes
from tests.service_fixtures import Api, png

RATIONALE = "Same ear shape, same scar above the left eyebrow."


@pytest.fixture
def settings(tmp_path) -> Settings:
    register_fakes(tmp_path / "calibrations")
    return Settings(data_dir=tmp_path / "var", face_algorithms=("fake-a/1",), catch_trial_rate=0.0)


@pytest.fixture
def client(instance) -> TestClient:
    return TestClient(create_app(instance, background_jobs=False), raise_server_exceptions=False)


@pytest.fixture
def clock(instance):
    """The instance's clock, moved forward by ``clock(days)``."""
    state = {"now": datetime.now(UTC)}
    instance.clock = lambda: state["now"]

    def advance(days: float) -> None:
        state["now"] += timedelta(days=days)

    return advance


def photo(person: int, number: int = 0) -> bytes:
    return png(face_image(person, number))


def enrolled(api: Api, gallery: str, person: int, **consent) -> str:
    subject = api.subject(gallery, **consent)
    assert api.enrol(subject, photo(person)).status_code == 201
    return subject


def outcomes(instance) -> list[str]:
    with instance.sessions() as session:
        return list(session.scalars(select(AuditEntry.outcome)))


def adjudicators(api: Api, instance) -> dict[str, dict[str, str]]:
    """Two trained adjudicator keys and one untrained, by name."""
    now = datetime.now(UTC)
    keys = {}
    for name in ("first", "second", "untrained"):
        key = create_key(instance, "test", "adjudicator", name)
        keys[name] = {"Authorization": f"Bearer {key.secret}"}
        if name != "untrained":
            adjudication.record_training(  # by a second admin: the keys' creator may not attest them alone
                instance, "key:second-admin", key.id, "Face review", now - timedelta(days=1), now + timedelta(365)
            )
    return keys


def decide(api: Api, headers, search_id: str, candidate_id: str, verdict="confirm", rationale=RATIONALE):
    return api.client.post(
        f"/v1/searches/{search_id}/candidates/{candidate_id}/decision",
        json={"decision": verdict, "rationale": rationale},
        headers=headers,
    )


def review(api: Api, headers, search_id: str) -> dict:
    response = api.client.get(f"/v1/searches/{search_id}/review", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


# -- consent: modality, purpose, expiry --------------------------------------------------------------------------


def test_a_modality_not_consented_is_refused_and_audited(api, instance, monkeypatch):
    gallery = api.gallery()
    subject = api.subject(gallery, modalities=("finger",))
    refused = api.enrol(subject, photo(1))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "modality_not_consented"
    assert "refused:modality_not_consented" in outcomes(instance)
    # Mutation: with the consent check switched off, the capture is enrolled and the check above would fail.
    monkeypatch.setattr(enrolment, "check_consent", lambda *args, **kwargs: None)
    assert api.enrol(subject, photo(1)).status_code == 201  # ... and the check above would have failed


def test_a_verification_for_a_purpose_not_consented_is_refused_and_audited(api, instance, monkeypatch):
    gallery = api.gallery()
    subject = enrolled(api, gallery, 1, purposes=("deduplicate",))
    refused = api.verify(subject, photo(1, 1))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "purpose_not_consented"
    assert "refused:purpose_not_consented" in outcomes(instance)
    # Mutation: with the consent check switched off, the verification goes ahead.
    monkeypatch.setattr(verify, "check_consent", lambda *args, **kwargs: None)
    assert api.verify(subject, photo(1, 1)).status_code == 200


def test_an_expired_consent_stops_verification_and_search(api, instance, clock, monkeypatch):
    gallery = api.gallery()
    subject = enrolled(api, gallery, 1, expires_in_days=30)
    assert api.identify(gallery, photo(1, 1)).json()["status"] == "sent_for_review"
    clock(31)
    refused = api.verify(subject, photo(1, 1))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "consent_expired"
    search = api.identify(gallery, photo(1, 1)).json()
    assert search["status"] == "no_likely_match" and search["gallery_size"] == 0
    # Mutation: with the consent check switched off, the expired consent verifies again.
    monkeypatch.setattr(verify, "check_consent", lambda *args, **kwargs: None)
    assert api.verify(subject, photo(1, 1)).status_code == 200


def test_only_subjects_consented_to_the_search_purpose_are_searched(api, instance):
    """Mutation M4 (tests/governance/mutations.py): counting subjects whatever their purpose fails this test."""
    gallery = api.gallery()
    subject = enrolled(api, gallery, 1, purposes=("verify",))
    search = api.identify(gallery, photo(1, 1)).json()
    assert search["gallery_size"] == 0 and search["status"] == "no_likely_match"
    assert api.verify(subject, photo(1, 1)).json()["decision"] == "match"


# -- withdrawal and erasure ---------------------------------------------------------------------------------------


def test_withdrawal_erases_templates_index_entries_and_open_reviews_before_it_returns(api, instance, monkeypatch):
    gallery = api.gallery()
    subject = enrolled(api, gallery, 1)
    case = api.identify(gallery, photo(1, 1)).json()
    with instance.sessions() as session:
        sealed = session.scalars(select(Template).where(Template.subject_id == subject)).all()
    receipt = api.client.delete(f"/v1/subjects/{subject}", headers=api.headers["enroller"]).json()
    assert receipt["templates_erased"] == 1 == receipt["index_entries_removed"] and receipt["data_key_destroyed"]
    assert api.identify(gallery, photo(1, 1)).json()["status"] == "no_likely_match"
    outcome = api.client.get(f"/v1/searches/{case['search_id']}", headers=api.headers["enroller"]).json()
    assert outcome["status"] == "no_likely_match" and outcome["confirmed"] == []
    with instance.sessions() as session:  # the open review was voided, not left waiting
        reviews = session.scalars(select(CaseCandidate.status).where(CaseCandidate.search_id == case["search_id"]))
        assert list(reviews) == ["void"]
    with pytest.raises(SealedDataUnreadable):  # crypto-shredding: the sealed template no longer opens
        instance.vault.open_template(sealed[0])
    # Mutation: an erasure that keeps the data key leaves the template readable, and the check above fails.
    other = enrolled(api, gallery, 2)
    with instance.sessions() as session:
        kept = session.scalars(select(Template).where(Template.subject_id == other)).one()
    monkeypatch.setattr(instance.vault, "erase_subject", lambda *args, **kwargs: None)
    api.client.delete(f"/v1/subjects/{other}", headers=api.headers["enroller"])
    assert instance.vault.open_template(kept) is not None


# -- retention ----------------------------------------------------------------------------------------------------


def test_retention_erases_after_the_period_from_the_last_interaction_and_on_expired_consent(
    api, instance, clock, monkeypatch
):
    gallery = api.gallery()
    subject = enrolled(api, gallery, 1, expires_in_days=5000)
    lapsing = enrolled(api, gallery, 2, expires_in_days=10)
    api.client.put(f"/v1/galleries/{gallery}/retention", json={"retention_days": 30}, headers=api.headers["admin"])
    clock(11)
    assert [(r.subject_id, r.reason) for r in run_retention(instance)] == [(lapsing, "consent_expired")]
    gone = api.verify(lapsing, photo(2, 1)).json()["error"]  # the field worker is told why, not "withdrawn"
    assert gone["code"] == "subject_erased" and gone["detail"] == {"reason": "consent_expired"}
    assert gone["message"] == f"Subject {lapsing!r} was erased when the consent expired."
    clock(9)
    assert api.verify(subject, photo(1, 1)).json()["decision"] == "match"  # an interaction: the period restarts
    clock(29)
    assert run_retention(instance) == []
    clock(2)
    assert [(r.subject_id, r.reason) for r in run_retention(instance)] == [(subject, "retention_period_ended")]
    # Mutation: with nothing ever due, the schedule erases no one.
    kept = enrolled(api, gallery, 3, expires_in_days=5000)
    clock(31)
    monkeypatch.setattr(retention, "erasure_due", lambda *args, **kwargs: None)
    assert kept not in [r.subject_id for r in run_retention(instance)]


# -- 1:N: DPIA, purpose, case, kill switch, logging ---------------------------------------------------------------


def test_a_gallery_is_searched_only_once_enabled_with_a_dpia(api, instance, monkeypatch):
    gallery = api.gallery(identification=False)
    refused = api.identify(gallery, photo(1))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "identification_not_enabled"
    assert "refused:identification_not_enabled" in outcomes(instance)
    blank = api.client.post(
        f"/v1/galleries/{gallery}/identification", json={"dpia_reference": "  "}, headers=api.headers["admin"]
    )
    assert blank.status_code == 422 and blank.json()["error"]["code"] == "dpia_required"
    # Mutation: with the search policy switched off, the gallery without a DPIA is searched.
    monkeypatch.setattr(identify, "check_search_allowed", lambda *args, **kwargs: None)
    assert api.identify(gallery, photo(1)).status_code == 200


def test_a_search_needs_an_allowed_purpose_and_a_case_reference(api, monkeypatch):
    gallery = api.gallery()
    blank = api.identify(gallery, photo(1), case_reference="  ")
    assert blank.status_code == 422 and blank.json()["error"]["code"] == "case_reference_required"
    wrong = api.identify(gallery, photo(1), purpose="verify")
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "purpose_not_searchable"
    # Mutation: with the search policy switched off, a search without a case reference runs.
    monkeypatch.setattr(identify, "check_search_allowed", lambda *args, **kwargs: None)
    assert api.identify(gallery, photo(1), case_reference="  ").status_code == 200


def test_the_kill_switch_stops_every_search_at_once(api, instance, monkeypatch):
    galleries = [api.gallery("one"), api.gallery("two")]
    admin = api.headers["admin"]
    api.client.post("/v1/identification/suspension", json={"engaged": True, "reason": "court order"}, headers=admin)
    for gallery in galleries:
        stopped = api.identify(gallery, photo(1))
        assert stopped.status_code == 503 and stopped.json()["error"]["code"] == "identification_suspended"
    assert "refused:identification_suspended" in outcomes(instance)
    # Mutation: with the switch no longer read, searches run while it is engaged.
    monkeypatch.setattr(policy, "SUSPENSION_FLAG", "no-such-flag")
    assert api.identify(galleries[0], photo(1)).status_code == 200


def test_a_search_is_recorded_with_times_gallery_version_probe_hash_and_candidates(api, instance):
    """Mutation M18 (tests/governance/mutations.py): a search entry without the probe's hash fails this test."""
    gallery = api.gallery()
    subject = enrolled(api, gallery, 1)
    probe = photo(1, 1)
    answer = api.identify(gallery, probe, case_reference="FILE-77").json()
    with instance.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "face.identify")).one()
    details = json.loads(entry.body)["details"]
    assert details["search_id"] == answer["search_id"] and details["gallery_version"] == answer["gallery_version"]
    assert details["probe_sha256"] == hashlib.sha256(probe).hexdigest()
    assert details["started_at"] <= details["ended_at"] and details["candidates"][0]["subject_id"] == subject
    assert details["case_reference"] == "FILE-77" and entry.actor.startswith("key:")


# -- review: two people, trained, with a rationale, never the requester; catch trials -----------------------------


def test_two_different_trained_reviewers_confirm_blind_and_with_a_rationale(api, instance, monkeypatch):
    keys = adjudicators(api, instance)
    gallery = api.gallery()
    subject = enrolled(api, gallery, 1)
    search_id = api.identify(gallery, photo(1, 1)).json()["search_id"]
    (item,) = review(api, keys["first"], search_id)["candidates"]
    candidate = item["candidate_id"]
    assert decide(api, keys["untrained"], search_id, candidate).json()["error"]["code"] == "training_required"
    short = decide(api, keys["first"], search_id, candidate, rationale="same")
    assert short.json()["error"]["code"] == "rationale_required"
    assert decide(api, keys["first"], search_id, candidate).status_code == 200
    again = decide(api, keys["first"], search_id, candidate)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_decided"
    outcome = api.client.get(f"/v1/searches/{search_id}", headers=api.headers["enroller"]).json()
    assert outcome["status"] == "sent_for_review" and outcome["confirmed"] == []  # one confirmation confirms nothing
    assert review(api, keys["second"], search_id)["candidates"][0]["your_decision"] is None  # blind to the first
    assert decide(api, keys["second"], search_id, candidate).status_code == 200
    outcome = api.client.get(f"/v1/searches/{search_id}", headers=api.headers["enroller"]).json()
    assert outcome["status"] == "confirmed" and outcome["confirmed"] == [{"subject_id": subject}]
    with instance.sessions() as session:
        assert len(session.get_one(CaseCandidate, candidate).decisions) == 2
    # Mutation: with one confirmation enough, the 'pending after one' check above catches it.
    monkeypatch.setattr(adjudication, "candidate_status", lambda decisions: "confirmed")
    enrolled(api, gallery, 2)
    other = api.identify(gallery, photo(2, 1)).json()["search_id"]
    (item,) = review(api, keys["first"], other)["candidates"]
    decide(api, keys["first"], other, item["candidate_id"])
    outcome = api.client.get(f"/v1/searches/{other}", headers=api.headers["enroller"]).json()
    assert outcome["status"] == "confirmed"


def test_the_requester_of_a_search_cannot_review_it(api, instance, monkeypatch):
    keys = adjudicators(api, instance)
    gallery = api.gallery()
    enrolled(api, gallery, 1)
    actor = authenticate(instance, keys["first"]["Authorization"].removeprefix("Bearer "))
    # The roles never give one key both permissions; the workflow refuses it all the same.
    search = identify.identify(instance, actor, gallery, "deduplicate", "C-9", [Capture.face(photo(1, 1))])
    with pytest.raises(Forbidden, match="asked for a search cannot review"):
        adjudication.decide(instance, actor, search.search_id, "any", "confirm", RATIONALE)
    with pytest.raises(Forbidden, match="asked for a search cannot review"):
        adjudication.review_case(instance, actor, search.search_id)
    # Mutation: with the requester rule gone, the requester reviews their own search.
    real = adjudication._check_reviewer

    def without_requester_rule(instance, session, actor, search):
        return real(instance, session, actor, SimpleNamespace(requested_by="someone else"))

    monkeypatch.setattr(adjudication, "_check_reviewer", without_requester_rule)
    assert adjudication.review_case(instance, actor, search.search_id)["candidates"]


def test_catch_trials_measure_each_reviewers_false_confirms_hidden_from_the_requester(api, instance):
    """Mutations M19, M73 and M74 (tests/governance/mutations.py): a slipped-in non-mate not marked as a catch
    trial, or a catch trial two reviewers confirmed named to the requester or counted in the status they are told,
    fails this test."""
    instance.settings = instance.settings.model_copy(update={"catch_trial_rate": 1.0})
    instance.random = random.Random(1)
    keys = adjudicators(api, instance)
    gallery = api.gallery()
    for person in (1, 2, 3, 4):
        enrolled(api, gallery, person)
    answer = api.identify(gallery, photo(1, 1)).json()
    assert answer["status"] == "sent_for_review" and "candidates" not in answer  # the requester sees no candidate
    items = review(api, keys["first"], answer["search_id"])["candidates"]
    assert len(items) == 2  # the reviewer sees one more, unmarked
    for item in items:
        decide(api, keys["first"], answer["search_id"], item["candidate_id"])
    (reviewer,) = api.client.get("/v1/reviewers/accuracy", headers=api.headers["auditor"]).json()["reviewers"]
    assert reviewer["catch_trials"] == 1 and reviewer["false_confirms"] == 1  # the auditor sees each reviewer
    report = api.client.get("/v1/transparency", headers=api.headers["auditor"]).json()
    assert report["catch_trials"]["decisions"] == {"fewer_than": 5}  # the published report points at no one
    assert report["catch_trials"]["false_confirms"] == {"fewer_than": 5}
    assert report["catch_trials"]["false_confirm_rate"] is None

    # The second reviewer confirms the catch trial too and rejects the mate: the requester learns of neither.
    with instance.sessions() as session:
        rows = session.scalars(select(CaseCandidate).where(CaseCandidate.search_id == answer["search_id"])).all()
    (trial,) = [row for row in rows if row.catch_trial]
    for row in rows:
        verdict = "confirm" if row.catch_trial else "reject"
        assert decide(api, keys["second"], answer["search_id"], row.id, verdict).status_code == 200
    outcome = api.client.get(f"/v1/searches/{answer['search_id']}", headers=api.headers["enroller"]).json()
    assert outcome["status"] == "sent_for_review" and outcome["confirmed"] == []  # the mate is disputed
    assert trial.subject_id not in json.dumps(outcome)


# -- transparency and subject access ------------------------------------------------------------------------------


def test_the_transparency_report_counts_without_personal_data(api, instance, monkeypatch):
    gallery = api.gallery()
    subject = enrolled(api, gallery, 1)
    api.verify(subject, photo(1, 1))
    api.identify(gallery, photo(1, 1))
    api.client.delete(f"/v1/subjects/{subject}", headers=api.headers["enroller"])
    (day,) = counts_per_period(instance, "day").values()
    assert day["enrolments"] == 1 and day["withdrawals"] == 1 and day["verifications.match"] == 1
    report = api.client.get("/v1/transparency", params={"period": "day"}, headers=api.headers["auditor"]).json()
    assert list(report["periods"].values()) == [{"enrolments": {"fewer_than": 5}, "withdrawals": {"fewer_than": 5}}]
    text = json.dumps(report)
    assert subject not in text and "signed_by" not in text and "Field officer" not in text
    # Mutation: a report that carries the entries it counts names the person, and the check above catches it.
    from tessera.workflows import transparency

    real = transparency.transparency_report
    monkeypatch.setattr(transparency, "transparency_report", lambda *args: {**real(*args), "subjects": [subject]})
    leaked = api.client.get("/v1/transparency", params={"period": "day"}, headers=api.headers["auditor"]).json()
    assert subject in json.dumps(leaked)


def test_no_published_count_points_at_a_person_even_by_subtraction(api, instance, monkeypatch):
    """Six people enrolled one day and one the next, searched for and erased: the gallery's day, month and year
    reports together say "fewer than 5" for every count of that one person and let no subtraction bring a 1 back;
    the month's 7 is published. Switched off (no complementary suppression, or no minimum count), the 1 comes back.
    """
    from tessera.governance import small_counts
    from tests.governance.test_small_counts import worked_out

    now = datetime.now(UTC)
    first = (now.replace(day=1) + timedelta(days=62)).replace(day=10, hour=12)  # two days of one month, to come
    instance.clock = lambda: first
    gallery = api.gallery()
    auditor = {"Authorization": f"Bearer {create_key(instance, 'test', 'auditor', galleries=[gallery]).secret}"}
    for person in range(6):
        enrolled(api, gallery, person)
    instance.clock = lambda: first + timedelta(days=1)
    subject = enrolled(api, gallery, 6)
    api.identify(gallery, photo(6, 1))
    api.client.delete(f"/v1/subjects/{subject}", headers=api.headers["enroller"])
    day, month, year = (first + timedelta(days=1)).strftime("%Y-%m-%d"), first.strftime("%Y-%m"), first.strftime("%Y")

    def published() -> dict[str, dict]:
        """Every counter's days, months and years, from the three reports together."""
        cells: dict[str, dict] = {}
        for period in ("day", "month", "year"):
            report = api.client.get("/v1/transparency", params={"period": period}, headers=auditor)
            for key, counts in report.json()["periods"].items():
                for counter, cell in counts.items():
                    cells.setdefault(counter, {})[key] = cell
        return cells

    cells = published()
    only = frozenset({gallery})
    counted = {
        key: n
        for period in ("day", "month", "year")
        for key, n in counts_per_period(instance, period, None, only).items()
    }
    exact = {counter: {key: counts[counter] for key, counts in counted.items()} for counter in cells}
    assert exact["enrolments"][day] == exact["withdrawals"][day] == 1  # counted exactly, never published so
    assert cells["enrolments"][day] == cells["withdrawals"][day] == {"fewer_than": 5}
    assert cells["enrolments"][month] == cells["enrolments"][year] == 7  # larger counts are published exactly
    assert {counter: worked_out(found, exact[counter]) for counter, found in cells.items()} == dict.fromkeys(cells, {})
    assert 1 not in [cell for found in cells.values() for cell in found.values()]
    since = (first + timedelta(days=1, hours=1)).isoformat()  # a cut inside the month would let two reports differ by 1
    later = api.client.get("/v1/transparency", params={"period": "month", "since": since}, headers=auditor).json()
    assert later["periods"][month]["enrolments"] == 7  # so the month is counted whole
    # Mutations: without complementary suppression the month minus the first day gives the 1 back; without a minimum
    # count the report prints it.
    monkeypatch.setattr(small_counts, "_exposed", lambda *args: None)
    assert worked_out(published()["enrolments"], exact["enrolments"]) == {day: 1}
    monkeypatch.setattr(small_counts, "shown", lambda count, k: count)
    assert published()["enrolments"][day] == 1


def test_subject_access_and_consent_proof_hold_everything_but_templates(api, instance):
    """Mutation M25 (tests/governance/mutations.py): an export carrying sealed templates fails this test."""
    gallery = api.gallery()
    subject = enrolled(api, gallery, 1)
    proof = api.client.get(f"/v1/subjects/{subject}/consent", headers=api.headers["enroller"]).json()
    assert proof["consent"]["text_sha256"] == hashlib.sha256(proof["text"]["text"].encode()).hexdigest()
    assert proof["audit"]["body"]["action"] == "subject.create"
    export = api.client.get(f"/v1/subjects/{subject}/export", headers=api.headers["enroller"]).json()
    assert [c["modality"] for c in export["captures"]] == ["face"] and export["consent"] == proof["consent"]
    assert "subject.create" in {e["action"] for e in export["audit_entries"]}
    text = json.dumps(export)
    with instance.sessions() as session:
        sealed = session.scalars(select(Template).where(Template.subject_id == subject)).one()
    assert "ciphertext" not in text and sealed.ciphertext.hex()[:32] not in text


def test_a_withdrawn_consent_cannot_be_replayed(api):
    """Mutation M3 (tests/governance/mutations.py): skipping the tombstone lookup fails this test."""
    from tests.service_fixtures import consent

    gallery = api.gallery()
    record = consent()
    enroller = api.headers["enroller"]
    subject = api.client.post("/v1/subjects", json={"gallery_id": gallery, "consent": record}, headers=enroller)
    api.client.delete(f"/v1/subjects/{subject.json()['id']}", headers=enroller)
    replay = api.client.post("/v1/subjects", json={"gallery_id": gallery, "consent": record}, headers=enroller)
    assert replay.status_code == 409 and replay.json()["error"]["code"] == "consent_withdrawn"


def test_the_service_runs_the_retention_schedule_by_itself(api, instance):
    """Mutation M8 (tests/governance/mutations.py): a retention job that runs nothing fails this test."""
    import time

    from tessera.governance.retention import MAX_RETENTION_DAYS
    from tessera.workflows.retention import RetentionJob

    gallery = api.gallery()
    enrolled(api, gallery, 1, expires_in_days=5000)
    instance.settings = instance.settings.model_copy(update={"retention_interval_seconds": 0.05})
    real_clock = instance.clock
    instance.clock = lambda: real_clock() + timedelta(days=MAX_RETENTION_DAYS + 1)
    job = RetentionJob(instance)
    job.start()
    try:
        deadline = time.monotonic() + 20
        while instance.matchers.indexed() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        job.stop()
    assert instance.matchers.indexed() == 0


# -- minimisation, capture refusals, stated rates -----------------------------------------------------------------


def test_raw_images_are_not_kept_by_default_and_kept_ones_carry_pixels_only(api, instance, monkeypatch):
    from PIL import Image as PILImage

    from tessera.capture.still import clean_jpeg

    gallery = api.gallery()
    subject = enrolled(api, gallery, 1)
    with instance.sessions() as session:
        assert session.scalars(select(Template.image_ciphertext).where(Template.subject_id == subject)).all() == [None]
    kept = PILImage.open(__import__("io").BytesIO(clean_jpeg(face_image(1))))
    assert kept.format == "JPEG" and not kept.getexif() and not kept.info.get("exif")
    # Mutation: with keep_raw_images on (as a broken default would be), the check above finds a kept image.
    monkeypatch.setattr(instance, "settings", instance.settings.model_copy(update={"keep_raw_images": True}))
    other = enrolled(api, gallery, 2)
    with instance.sessions() as session:
        assert session.scalars(select(Template.image_ciphertext).where(Template.subject_id == other)).one()


def test_an_unusable_capture_is_refused_with_its_reason_and_audited(api, instance):
    """Mutation M26 (tests/governance/mutations.py): an unusable search probe that is not refused fails this test."""
    gallery = api.gallery()
    subject = api.subject(gallery)
    flat = png(face_image(1) * 0 + 128)  # the fake pipeline finds no face in a flat image
    refused = api.enrol(subject, flat)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "no_face"
    search = api.identify(gallery, flat)
    assert search.status_code == 422 and search.json()["error"]["code"] == "no_face"
    assert "refused:no_face" in outcomes(instance)


def test_without_a_calibration_no_rate_is_invented_and_the_decision_is_inconclusive(api, instance, monkeypatch):
    """Every decision states the FMR its threshold stands for; a matcher with no calibration decides nothing."""
    gallery = api.gallery(score_disclosure="exact")
    subject = enrolled(api, gallery, 1)
    stated = api.verify(subject, photo(1, 1)).json()
    assert stated["decision"] == "match" and 0 < stated["fmr"] <= instance.settings.verify_target_fmr * 1.0001
    assert stated["fmr_detail"]["basis"] in {"measured", "upper_bound", "extrapolated"}
    monkeypatch.setattr(instance.matchers.default_face, "calibration", None)
    unstated = api.verify(subject, photo(1, 1)).json()
    assert unstated["decision"] == "inconclusive" and unstated["reason"] == "not_calibrated"
    assert unstated["fmr"] is None and unstated["threshold"] is None
    # Mutation: a threshold invented without a calibration (a fixed 0.5) gives a decision with no stated rate.
    monkeypatch.setattr(verify, "verify_threshold", lambda instance, matcher: (0.5, None, None))
    invented = api.verify(subject, photo(1, 1)).json()
    assert invented["decision"] != "inconclusive" and invented["fmr"] is None


def test_an_edited_detail_of_an_audit_entry_is_detected(instance):
    """An edit that leaves every column as it was (a rationale, a score, a reason) is caught by the hash alone.

    Mutation M20 (tests/governance/mutations.py): with the hash not recomputed, this edit goes unseen.
    """
    from sqlalchemy import text

    from tessera.governance.audit import verify_chain

    entry = instance.record_alone("key:abc", "adjudication.decide", "reject", details={"rationale": "Different chin."})
    with instance.engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_log SET body = replace(body, 'Different chin.', 'Same chin.') WHERE seq = :seq"),
            {"seq": entry.seq},
        )
    with instance.sessions() as session:
        check = verify_chain(session, instance.settings.audit_anchor_file)
    assert not check.ok and f"entry {entry.seq} was altered: its hash does not match its content" in check.problems
