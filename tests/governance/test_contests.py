"""Notice, contest and corrected finding (issue 17, item 3): a confirmed match notifies the person; a contest is
re-reviewed only by reviewers who did not take the first decision; an overturned finding is corrected and notified.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from tessera.governance import separation
from tessera.store.models import AuditEntry, CaseCandidate, Complaint, Contest, Notice
from tests.fakes import face_image
from tests.governance.people import RATIONALE, confirmed_case, fake_settings
from tests.service_fixtures import png

REJECT = {"decision": "reject", "rationale": "The blocks on the left cheek differ clearly."}


@pytest.fixture
def settings(tmp_path):
    return fake_settings(tmp_path)


def pending_notices(api, headers=None):
    response = api.client.get("/v1/notices", headers=headers or api.headers["enroller"])
    assert response.status_code == 200, response.text
    return response.json()["notices"]


def contest(api, notice_id, grounds="I registered only once, at the clinic in March."):
    return api.client.post(
        "/v1/contests", json={"notice_id": notice_id, "grounds": grounds}, headers=api.headers["enroller"]
    )


def test_a_confirmed_match_makes_a_notice_for_that_person_and_no_one_else(api, instance, reviewers):
    """A search lists two people; reviewers confirm one and reject the other: only the confirmed one is told, and
    their notice names no one else. Mutation M70 (tests/governance/mutations.py): a notice made for every candidate
    of the case once one is confirmed fails this test."""
    gallery = api.gallery(name="Two candidates")
    off = api.client.put(
        f"/v1/galleries/{gallery}/dedup", json={"dedup_at_enrolment": False}, headers=api.headers["admin"]
    )
    assert off.status_code == 200, off.text
    subjects = {}
    for name, person, photo in (("confirmed", 7, 0), ("rejected", 7, 1), ("bystander", 8, 0)):
        subjects[name] = api.subject(gallery)
        assert api.enrol(subjects[name], png(face_image(person, photo=photo))).status_code == 201
    found = api.identify(gallery, png(face_image(7, photo=3)))
    assert found.status_code == 200, found.text
    search_id = found.json()["search_id"]
    with instance.sessions() as session:
        listed = {
            row.subject_id: row.id
            for row in session.scalars(select(CaseCandidate).where(CaseCandidate.search_id == search_id))
        }
    assert set(listed) == {subjects["confirmed"], subjects["rejected"]}, "the search should list both photos of 7"
    for name, decision in (("confirmed", {"decision": "confirm", "rationale": RATIONALE}), ("rejected", REJECT)):
        for reviewer in ("first", "second"):
            response = api.client.post(
                f"/v1/searches/{search_id}/candidates/{listed[subjects[name]]}/decision",
                json=decision,
                headers=reviewers[reviewer],
            )
            assert response.status_code == 200, response.text

    [notice] = pending_notices(api)
    assert notice["subject_id"] == subjects["confirmed"] and notice["kind"] == "confirmed_match"
    assert notice["can_contest"]
    text = json.dumps(notice)
    with instance.sessions() as session:
        search_row = session.scalar(select(AuditEntry).where(AuditEntry.action == "face.identify"))
        assert [n.subject_id for n in session.scalars(select(Notice))] == [subjects["confirmed"]]
    assert search_row is not None
    # Nothing of the search's other parties: not who ran it, not its case reference, not the search or candidate
    # ids, not the other candidate.
    for other in (search_row.actor, "CASE-1", search_id, *listed.values(), subjects["rejected"]):
        assert other not in text
    handed = api.client.post(f"/v1/notices/{notice['notice_id']}/handed-over", headers=api.headers["enroller"])
    assert handed.status_code == 200 and handed.json()["handed_over_at"]
    assert pending_notices(api) == []
    again = api.client.post(f"/v1/notices/{notice['notice_id']}/handed-over", headers=api.headers["enroller"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "notice_already_handed_over"


def test_a_lead_makes_no_notice_before_review(api, instance, reviewers):
    """Mutation M71 (tests/governance/mutations.py): a notice made at the first confirmation fails this test."""
    confirmed_case(api, instance, [reviewers["first"]])  # one confirmation: still a lead
    assert pending_notices(api) == []


def test_a_contest_is_re_reviewed_by_others_and_corrects_the_finding(api, instance, reviewers):
    case = confirmed_case(api, instance, [reviewers["first"], reviewers["second"]])
    [notice] = pending_notices(api)
    opened = contest(api, notice["notice_id"])
    assert opened.status_code == 201, opened.text
    contest_id = opened.json()["contest_id"]
    twice = contest(api, notice["notice_id"])
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_contested"

    # The first reviewers neither see it nor may decide it.
    for name in ("first", "second"):
        assert api.client.get("/v1/contests", headers=reviewers[name]).json()["contests"] == []
        refused = api.client.post(f"/v1/contests/{contest_id}/decision", json=REJECT, headers=reviewers[name])
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "first_reviewer_cannot_rereview"
    [waiting] = api.client.get("/v1/contests", headers=reviewers["third"]).json()["contests"]
    assert waiting["contest_id"] == contest_id and "I registered only once" in waiting["grounds"]

    first = api.client.post(f"/v1/contests/{contest_id}/decision", json=REJECT, headers=reviewers["third"])
    assert first.status_code == 200 and first.json()["status"] == "open"
    second = api.client.post(f"/v1/contests/{contest_id}/decision", json=REJECT, headers=reviewers["fourth"])
    assert second.json() == {
        "contest_id": contest_id,
        "recorded": "reject",
        "status": "decided",
        "outcome": "overturned",
    }
    late = api.client.post(f"/v1/contests/{contest_id}/decision", json=REJECT, headers=reviewers["fifth"])
    assert late.status_code == 409 and late.json()["error"]["code"] == "contest_decided"

    with instance.sessions() as session:
        assert session.get_one(CaseCandidate, case.candidate_id).status == "rejected"  # the finding is corrected
        actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    assert {"contest.open", "contest.decide", "finding.corrected", "notice.create"} <= set(actions)
    by_kind = {n["kind"]: n for n in pending_notices(api)}
    assert set(by_kind) == {"confirmed_match", "finding_corrected"}
    assert not by_kind["confirmed_match"]["can_contest"]  # contested already
    corrected = by_kind["finding_corrected"]
    assert corrected["kind"] == "finding_corrected" and corrected["subject_id"] == case.subject
    assert not corrected["can_contest"]
    outcome = api.client.get(f"/v1/searches/{case.search_id}", headers=api.headers["enroller"]).json()
    # The requester is told the corrected outcome: no one is named any more.
    assert outcome["status"] == "no_likely_match" and outcome["confirmed"] == []


def test_an_upheld_contest_is_notified_and_leaves_the_finding(api, instance, reviewers):
    case = confirmed_case(api, instance, [reviewers["first"], reviewers["second"]])
    [notice] = pending_notices(api)
    contest_id = contest(api, notice["notice_id"]).json()["contest_id"]
    confirm = {"decision": "confirm", "rationale": RATIONALE}
    for name in ("third", "fourth"):
        assert api.client.post(f"/v1/contests/{contest_id}/decision", json=confirm, headers=reviewers[name]).is_success
    with instance.sessions() as session:
        assert session.get_one(CaseCandidate, case.candidate_id).status == "confirmed"
        kinds = sorted(n.kind for n in session.scalars(select(Notice)))
    assert kinds == ["confirmed_match", "finding_upheld"]


def test_re_review_rule_broken_is_caught(api, instance, reviewers, monkeypatch):
    """Mutation: check_not_first_reviewer off → a first reviewer re-reviews their own finding (the test above
    refuses it with 403)."""
    monkeypatch.setattr("tessera.workflows.contests.check_not_first_reviewer", lambda reviewer, first: None)
    confirmed_case(api, instance, [reviewers["first"], reviewers["second"]])
    [notice] = pending_notices(api)
    contest_id = contest(api, notice["notice_id"]).json()["contest_id"]
    let_through = api.client.post(f"/v1/contests/{contest_id}/decision", json=REJECT, headers=reviewers["first"])
    assert let_through.status_code == 200
    assert separation.check_not_first_reviewer is not None  # the real rule is untouched outside this test


def test_contest_needs_grounds_and_a_contestable_notice(api, instance, reviewers):
    confirmed_case(api, instance, [reviewers["first"], reviewers["second"]])
    [notice] = pending_notices(api)
    short = contest(api, notice["notice_id"], grounds="wrong")
    assert short.status_code == 422 and short.json()["error"]["code"] == "grounds_required"
    missing = contest(api, "00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "notice_not_found"
    untrained = api.client.get("/v1/contests", headers=api.headers["adjudicator"]).json()
    assert untrained["contests"] == [] and untrained["training_required"]


def test_withdrawal_erases_the_persons_notices_and_contests_and_unlinks_complaints(api, instance, reviewers):
    case = confirmed_case(api, instance, [reviewers["first"], reviewers["second"]])
    [notice] = pending_notices(api)
    assert contest(api, notice["notice_id"]).status_code == 201
    complained = api.client.post(
        "/v1/complaints",
        json={"gallery_id": case.gallery, "summary": "My card was stopped.", "subject_id": case.subject},
        headers=api.headers["enroller"],
    ).json()
    held = api.client.get(f"/v1/subjects/{case.subject}/export", headers=api.headers["enroller"]).json()
    assert [n["notice_id"] for n in held["notices"]] == [notice["notice_id"]]  # subject access shows them
    assert len(held["contests"]) == 1 and held["complaints"][0]["complaint_id"] == complained["complaint_id"]
    assert api.client.delete(f"/v1/subjects/{case.subject}", headers=api.headers["enroller"]).status_code == 200
    with instance.sessions() as session:
        assert session.scalars(select(Notice)).all() == []
        assert session.scalars(select(Contest)).all() == []
        assert session.get_one(Complaint, complained["complaint_id"]).subject_id is None  # the complaint stays


def test_a_confirmed_catch_trial_makes_no_notice(api, instance, reviewers):
    """A catch trial is a known non-mate slipped in to measure reviewers: a reviewer wrongly confirming it must not
    tell that person they matched anyone (mutation M72 of tests/governance/mutations.py: the
    ``not candidate.catch_trial`` condition in ``decide`` removed makes this test fail with a notice for the
    non-mate)."""
    instance.settings = instance.settings.model_copy(update={"catch_trial_rate": 1.0})
    gallery = api.gallery(name="Catch trials")
    for person in (7, 8, 9):
        subject = api.subject(gallery)
        assert api.enrol(subject, png(face_image(person))).status_code == 201
    search_id = api.identify(gallery, png(face_image(7, photo=3))).json()["search_id"]
    with instance.sessions() as session:
        rows = session.scalars(select(CaseCandidate).where(CaseCandidate.search_id == search_id)).all()
        trial = next((row for row in rows if row.catch_trial), None)
    assert trial is not None, "the search should hold a catch trial at rate 1"
    for name in ("first", "second"):
        response = api.client.post(
            f"/v1/searches/{search_id}/candidates/{trial.id}/decision",
            json={"decision": "confirm", "rationale": RATIONALE},
            headers=reviewers[name],
        )
        assert response.status_code == 200, response.text
    with instance.sessions() as session:
        assert session.get_one(CaseCandidate, trial.id).status == "confirmed"
        assert session.scalars(select(Notice).where(Notice.subject_id == trial.subject_id)).all() == []
