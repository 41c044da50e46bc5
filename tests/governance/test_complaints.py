"""The complaint queue (issue 17, item 3): open → acknowledged → resolved / rejected, time limits, overdue flagged."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tessera.governance import complaints as rules
from tests.governance.people import fake_settings


@pytest.fixture
def settings(tmp_path):
    return fake_settings(tmp_path, complaint_acknowledge_days=3, complaint_resolve_days=10)


def file_complaint(api, gallery, **extra):
    body = {"gallery_id": gallery, "summary": "Nobody told me why my food card was stopped.", **extra}
    return api.client.post("/v1/complaints", json=body, headers=api.headers["enroller"])


def move(api, complaint_id, status, note=""):
    return api.client.post(
        f"/v1/complaints/{complaint_id}/status", json={"status": status, "note": note}, headers=api.headers["admin"]
    )


def test_a_complaint_goes_through_its_statuses_once(api):
    gallery = api.gallery()
    subject = api.subject(gallery)
    opened = file_complaint(api, gallery, subject_id=subject)
    assert opened.status_code == 201, opened.text
    complaint = opened.json()
    assert complaint["status"] == "open" and complaint["overdue"] == []
    skipped = move(api, complaint["complaint_id"], "resolved", "Card restored after review.")
    assert skipped.status_code == 409 and skipped.json()["error"]["code"] == "invalid_complaint_transition"
    assert move(api, complaint["complaint_id"], "acknowledged").json()["acknowledged_at"]
    no_note = move(api, complaint["complaint_id"], "resolved")
    assert no_note.status_code == 422 and no_note.json()["error"]["code"] == "resolution_required"
    closed = move(api, complaint["complaint_id"], "resolved", "Card restored after review.").json()
    assert closed["status"] == "resolved" and closed["resolution"] == "Card restored after review."
    reopened = move(api, complaint["complaint_id"], "acknowledged")
    assert reopened.status_code == 409
    assert api.client.get("/v1/complaints", headers=api.headers["admin"]).json()["complaints"] == []
    listed = api.client.get("/v1/complaints", params={"status": "resolved"}, headers=api.headers["admin"]).json()
    assert [c["complaint_id"] for c in listed["complaints"]] == [complaint["complaint_id"]]


def test_overdue_complaints_are_flagged(api, instance):
    gallery = api.gallery()
    late = file_complaint(api, gallery).json()["complaint_id"]
    real_clock = instance.clock
    instance.clock = lambda: real_clock() + timedelta(days=4)
    queue = api.client.get("/v1/complaints", headers=api.headers["admin"]).json()
    assert queue["overdue"] == 1 and queue["complaints"][0]["overdue"] == ["acknowledgement"]
    assert queue["limits"] == {"acknowledge_days": 3, "resolve_days": 10}
    move(api, late, "acknowledged")
    instance.clock = lambda: real_clock() + timedelta(days=11)
    [item] = api.client.get("/v1/complaints", headers=api.headers["admin"]).json()["complaints"]
    assert item["overdue"] == ["resolution"]


def test_overdue_rule_broken_is_caught(monkeypatch):
    """Mutation: the rule compares with the wrong limit → the flag this test expects is missing."""
    from datetime import UTC, datetime

    opened = datetime(2026, 1, 1, tzinfo=UTC)
    assert rules.overdue("open", opened, opened + timedelta(days=4), 3, 10) == ["acknowledgement"]
    monkeypatch.setattr(rules, "overdue", lambda status, opened_at, now, ack, res: [])
    assert rules.overdue("open", opened, opened + timedelta(days=4), 3, 10) != ["acknowledgement"]


def test_complaints_are_refused_for_a_subject_of_another_gallery_and_without_words(api):
    first, second = api.gallery(name="First"), api.gallery(name="Second")
    subject = api.subject(first)
    wrong = file_complaint(api, second, subject_id=subject)
    assert wrong.status_code == 404 and wrong.json()["error"]["code"] == "subject_not_found"
    terse = api.client.post(
        "/v1/complaints", json={"gallery_id": first, "summary": "bad"}, headers=api.headers["enroller"]
    )
    assert terse.status_code == 422 and terse.json()["error"]["code"] == "summary_required"
