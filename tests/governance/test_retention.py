"""Data is destroyed when the purpose is met, consent lapses, or the retention period passes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from tessera.governance.retention import MAX_RETENTION_DAYS, erasure_due
from tessera.workflows.retention import RetentionJob, run_retention

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_erasure_due_rules():
    kwargs = {
        "last_interaction_at": NOW,
        "consent_expires_at": NOW + timedelta(days=5000),
        "retention_days": 1095,
        "gallery_closed_at": None,
    }
    assert erasure_due(**kwargs, now=NOW + timedelta(days=1094)) is None
    assert erasure_due(**kwargs, now=NOW + timedelta(days=1095)) == "retention_period_ended"
    assert erasure_due(**{**kwargs, "gallery_closed_at": NOW}, now=NOW) == "purpose_met"
    assert erasure_due(**{**kwargs, "consent_expires_at": NOW}, now=NOW) == "consent_expired"


@pytest.fixture
def clock(instance):
    """An injected clock the test can move forward."""
    state = {"now": datetime.now(UTC)}
    instance.clock = lambda: state["now"]

    def advance(days: float) -> None:
        state["now"] += timedelta(days=days)

    return advance


def subject_count(api, gallery) -> int:
    return api.identify(gallery, api.probe).json()["gallery_size"]


@pytest.fixture
def enrolled(api, lfw_person):
    gallery = api.gallery()
    photos = lfw_person("Colin_Powell", 2)
    api.probe = photos[1]
    subject = api.subject(gallery, expires_in_days=5000)
    assert api.enrol(subject, photos[0]).status_code == 201
    return gallery, subject


def test_retention_period_counts_from_the_last_interaction(api, instance, clock, enrolled):
    gallery, subject = enrolled
    shorter = api.client.put(
        f"/v1/galleries/{gallery}/retention", json={"retention_days": 30}, headers=api.headers["admin"]
    )
    assert shorter.status_code == 200
    clock(20)
    assert api.verify(subject, api.probe).json()["decision"] == "match"  # an interaction: the clock restarts
    clock(20)
    assert run_retention(instance) == []
    clock(11)
    receipts = run_retention(instance)
    assert [(r.subject_id, r.reason) for r in receipts] == [(subject, "retention_period_ended")]
    assert subject_count(api, gallery) == 0
    gone = api.verify(subject, api.probe)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "subject_erased"


def test_retention_cannot_exceed_three_years(api):
    gallery = api.gallery()
    response = api.client.put(
        f"/v1/galleries/{gallery}/retention",
        json={"retention_days": MAX_RETENTION_DAYS + 1},
        headers=api.headers["admin"],
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_retention"


def test_default_is_three_years(api, instance, clock, enrolled):
    gallery, _ = enrolled
    clock(MAX_RETENTION_DAYS - 1)
    assert run_retention(instance) == []
    clock(1)
    assert len(run_retention(instance)) == 1


def test_expired_consent_is_erased(api, instance, clock, lfw_person):
    gallery = api.gallery()
    subject = api.subject(gallery, expires_in_days=10)
    clock(10.01)
    assert [(r.subject_id, r.reason) for r in run_retention(instance)] == [(subject, "consent_expired")]


def test_closing_a_gallery_erases_everyone_in_it(api, enrolled):
    gallery, subject = enrolled
    response = api.client.post(f"/v1/galleries/{gallery}/close", headers=api.headers["admin"])
    assert response.status_code == 200
    assert [r["subject_id"] for r in response.json()["erased"]] == [subject]
    assert response.json()["erased"][0]["reason"] == "purpose_met"
    refused = api.client.post(
        "/v1/subjects", json={"gallery_id": gallery, "consent": {}}, headers=api.headers["enroller"]
    )
    assert refused.status_code == 422  # malformed first...
    from tests.service_fixtures import consent

    refused = api.client.post(
        "/v1/subjects", json={"gallery_id": gallery, "consent": consent()}, headers=api.headers["enroller"]
    )
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "gallery_closed"


def test_the_service_runs_the_schedule_by_itself(api, instance, enrolled):
    gallery, subject = enrolled
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


def test_retention_policy_is_public(client, api):
    api.gallery("Clinic 9")
    response = client.get("/v1/policy/retention")
    assert response.status_code == 200
    body = response.json()
    assert body["max_retention_days"] == 1095 and "last enrolment or verification" in body["rule"]
    assert body["galleries"][0]["retention_days"] == 1095 and body["audit_retention_days"] >= 183
