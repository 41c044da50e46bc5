"""Notices, contests, complaints, receipts, separation exceptions and non-biometric services are counted in the
transparency report (issue 17, items 2-4), as aggregate counts only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tessera.workflows import transparency
from tessera.workflows.adjudication import record_training
from tessera.workflows.keys import create_key
from tests.governance.people import confirmed_case, fake_settings, trained_reviewer

REJECT = {"decision": "reject", "rationale": "The blocks on the left cheek differ clearly."}


@pytest.fixture
def settings(tmp_path):
    return fake_settings(tmp_path, single_admin_exception=True)


def _everything(api, instance):
    reviewers = [trained_reviewer(instance, str(n)) for n in range(4)]
    case = confirmed_case(api, instance, reviewers[:2])
    notice = api.client.get("/v1/notices", headers=api.headers["enroller"]).json()["notices"][0]
    api.client.post(f"/v1/notices/{notice['notice_id']}/handed-over", headers=api.headers["enroller"])
    contest_id = api.client.post(
        "/v1/contests",
        json={"notice_id": notice["notice_id"], "grounds": "I have never been here before."},
        headers=api.headers["enroller"],
    ).json()["contest_id"]
    for reviewer in reviewers[2:]:
        api.client.post(f"/v1/contests/{contest_id}/decision", json=REJECT, headers=reviewer)
    api.client.post(
        "/v1/complaints",
        json={"gallery_id": case.gallery, "summary": "My card was stopped without a word."},
        headers=api.headers["enroller"],
    )
    api.client.get(f"/v1/subjects/{case.subject}/receipt", headers=api.headers["enroller"])
    api.client.put(f"/v1/galleries/{case.gallery}/non-biometric", json={"allowed": True}, headers=api.headers["admin"])
    api.client.post(
        "/v1/non-biometric",
        json={"gallery_id": case.gallery, "programme_id": "CARD-1", "reason": "declined"},
        headers=api.headers["enroller"],
    )
    api.client.post(
        "/v1/non-biometric/service",
        json={"gallery_id": case.gallery, "programme_id": "CARD-1"},
        headers=api.headers["verifier"],
    )
    lone = create_key(instance, "only-admin", "adjudicator")
    now = datetime.now(UTC)
    record_training(instance, "only-admin", lone.id, "Face review", now - timedelta(days=1), now + timedelta(days=9))


def test_the_report_counts_what_people_were_told_and_how_they_answered(api, instance):
    _everything(api, instance)
    [counts] = transparency.counts_per_period(instance, "year").values()
    expected = {
        "notices.confirmed_match": 1,
        "notices.finding_corrected": 1,
        "notices_handed_over": 1,
        "contests_opened": 1,
        "contests_decided.overturned": 1,
        "findings_corrected": 1,
        "complaints_opened": 1,
        "receipts_read": 1,
        "non_biometric_registrations.declined": 1,
        "non_biometric_services.ok": 1,
        "separation_single_admin_exceptions": 1,
    }
    assert {key: counts.get(key) for key in expected} == expected
    assert counts["enrolments"] == 1 and counts["face_captures"] == 1  # the non-biometric person is not among them
    assert transparency.standing(instance, None) == {"complaints_open": 1, "complaints_overdue": 0, "contests_open": 0}
    report = api.client.get("/v1/transparency", params={"period": "year"}, headers=api.headers["auditor"]).json()
    [published] = report["periods"].values()
    assert published["enrolments"] == {"fewer_than": 5} and "contests_opened" not in published  # below 5 in all
    assert report["now"] == dict.fromkeys(("complaints_open", "complaints_overdue", "contests_open"), {"fewer_than": 5})


def test_counting_broken_is_caught(api, instance, monkeypatch):
    """Mutation: the people's actions left out of the report → the counts the test above expects are missing."""
    monkeypatch.setattr(transparency, "PEOPLE_ACTIONS", frozenset())
    _everything(api, instance)
    [counts] = transparency.counts_per_period(instance, "year").values()
    assert "contests_opened" not in counts and "separation_single_admin_exceptions" not in counts
