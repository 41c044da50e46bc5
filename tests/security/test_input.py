"""Input that used to be accepted too loosely (issue 14, item 8).

Free text is bounded before it enters the permanent audit log; numbers are
not dates and 0 is not false; training is recorded only for keys that
exist; the API's pages load nothing from a CDN.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tessera.api.app import create_app
from tessera.errors import InvalidRequest
from tessera.governance.audit import MAX_AUDIT_TEXT
from tessera.settings import Settings
from tessera.store.models import AuditEntry, TrainingAttestation
from tessera.web.docs import docs_installed
from tessera.workflows.instance import Instance
from tests.service_fixtures import consent


def audit_size(instance: Instance) -> int:
    with instance.sessions() as session:
        return session.scalar(select(func.coalesce(func.sum(func.length(AuditEntry.body)), 0))) or 0


def test_no_text_longer_than_the_limit_enters_the_audit_log(instance):
    before = audit_size(instance)
    with pytest.raises(InvalidRequest, match=r"reason is 1,000,000 characters long; at most 2,000"):
        instance.record_alone("test", "test.action", "ok", details={"reason": "x" * 1_000_000})
    with pytest.raises(InvalidRequest, match=r"notes\[1\] is"):
        instance.record_alone("test", "test.action", "ok", details={"notes": ["short", "y" * (MAX_AUDIT_TEXT + 1)]})
    assert audit_size(instance) == before
    instance.record_alone("test", "test.action", "ok", details={"reason": "z" * MAX_AUDIT_TEXT})


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/identification/suspension", {"engaged": True, "reason": "r" * 1_000_000}, "reason"),
        ("/v1/galleries/{gallery}/identification", {"dpia_reference": "d" * 100_000}, "dpia_reference"),
        (
            "/v1/galleries/{gallery}/identification",
            {"dpia_reference": "DPIA-1", "purposes": ["p" * 100_000]},
            "purposes",
        ),
        ("/v1/adjudicators/0123456789abcdef/training", {"course": "c" * 100_000}, "course"),
        ("/v1/searches/s/candidates/c/decision", {"decision": "confirm", "rationale": "w" * 1_000_000}, "rationale"),
    ],
)
def test_long_free_text_is_refused_before_it_reaches_the_log(api, instance, path, body, field):
    gallery = api.gallery()
    before = audit_size(instance)
    role = "adjudicator" if "decision" in path else "admin"
    response = api.client.post(path.format(gallery=gallery), json=body, headers=api.headers[role])
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]["message"]
    assert audit_size(instance) == before


def test_a_long_case_reference_is_refused(api):
    gallery = api.gallery()
    response = api.client.post(
        "/v1/identify",
        data={"gallery_id": gallery, "purpose": "deduplicate", "case_reference": "c" * 1_000_000},
        files={"image": ("probe.png", b"not read", "image/png")},
        headers=api.headers["enroller"],
    )
    assert response.status_code == 422, response.text
    assert "case_reference" in response.json()["error"]["message"]


@pytest.mark.parametrize("value", [0, 1700000000, "1700000000", 1.5])
def test_a_number_is_not_a_date(api, value):
    gallery = api.gallery()
    body = {"gallery_id": gallery, "consent": {**consent(), "signed_at": value}}
    response = api.client.post("/v1/subjects", json=body, headers=api.headers["enroller"])
    assert response.status_code == 422, response.text
    assert "signed_at" in response.json()["error"]["message"]


def test_a_number_is_not_a_date_in_training_records_and_transparency(api, headers):
    key_id = api.client.get("/v1/me", headers=headers["adjudicator"]).json()["key_id"]
    body = {"course": "Adjudication 101", "completed_at": 0, "expires_at": "2030-01-01T00:00:00+00:00"}
    response = api.client.post(f"/v1/adjudicators/{key_id}/training", json=body, headers=headers["admin"])
    assert response.status_code == 422 and "completed_at" in response.json()["error"]["message"], response.text
    response = api.client.get("/v1/transparency", params={"since": "1700000000"}, headers=headers["auditor"])
    assert response.status_code == 422 and "since" in response.json()["error"]["message"], response.text
    response = api.client.get("/v1/transparency", params={"since": "2026-01-01T00:00:00"}, headers=headers["auditor"])
    assert response.status_code == 422, response.text  # no offset: which day it is depends on where (was a 500)
    response = api.client.get("/v1/transparency", params={"since": "2026-01-01T00:00:00Z"}, headers=headers["auditor"])
    assert response.status_code == 200, response.text


def test_an_audit_page_past_a_64_bit_integer_is_refused(api, headers):
    """The store keeps an entry's seq as a 64-bit integer: a larger ``after`` is a bad request (it was a 500)."""
    response = api.client.get("/v1/audit", params={"after": str(2**64)}, headers=headers["auditor"])
    assert response.status_code == 422 and "after" in response.json()["error"]["message"], response.text
    assert api.client.get("/v1/audit", params={"after": str(2**63 - 1)}, headers=headers["auditor"]).status_code == 200


@pytest.mark.parametrize("value", [0, 1, "true", "false"])
def test_zero_is_not_false(api, value):
    response = api.client.post(
        "/v1/identification/suspension", json={"engaged": value, "reason": "drill"}, headers=api.headers["admin"]
    )
    assert response.status_code == 422, response.text
    assert "engaged" in response.json()["error"]["message"]


def test_a_number_in_text_is_not_a_whole_number_of_days(api):
    gallery = api.gallery()
    response = api.client.put(
        f"/v1/galleries/{gallery}/retention", json={"retention_days": "30"}, headers=api.headers["admin"]
    )
    assert response.status_code == 422, response.text
    assert "retention_days" in response.json()["error"]["message"]


def test_training_is_refused_for_a_key_that_does_not_exist(api, instance):
    now = datetime.now(UTC)
    body = {
        "course": "Adjudication 101",
        "completed_at": now.isoformat(),
        "expires_at": (now + timedelta(days=365)).isoformat(),
    }
    response = api.client.post("/v1/adjudicators/0123456789abcdef/training", json=body, headers=api.headers["admin"])
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "key_not_found"
    with instance.sessions() as session:
        assert session.scalar(select(func.count()).select_from(TrainingAttestation)) == 0


def test_the_api_serves_no_page_that_loads_scripts_from_elsewhere(client):
    for path in ("/redoc", "/docs/oauth2-redirect"):
        assert client.get(path).status_code == 404
    document = client.get("/openapi.json")
    assert document.status_code == 200 and document.json()["paths"]
    if not docs_installed():
        assert client.get("/docs").status_code == 404
        return
    page = client.get("/docs")
    assert page.status_code == 200
    # Every script and style of the page comes from this origin, and its policy forbids any other.
    assert re.findall(r'(?:src|href)="([^"]+)"', page.text) and all(
        url.startswith("/") or url == "data:," for url in re.findall(r'(?:src|href)="([^"]+)"', page.text)
    )
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "connect-src 'self';" in policy and "frame-ancestors 'none'" in policy
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
        assert client.get(asset).status_code == 200, asset


def test_the_api_docs_can_be_switched_off(tmp_path):
    instance = Instance.open(Settings(data_dir=tmp_path / "var", api_docs=False))
    client = TestClient(create_app(instance, background_jobs=False), raise_server_exceptions=False)
    assert client.get("/docs").status_code == 404
    assert client.get("/openapi.json").status_code == 200
    instance.close()
