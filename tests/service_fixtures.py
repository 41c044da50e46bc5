"""In-process API fixtures: a fresh SQLite instance per test and keys for every role."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tessera.api.app import create_app
from tessera.settings import Settings
from tessera.workflows.instance import Instance
from tessera.workflows.keys import create_key

CONSENT_TEXT = "I agree that my face may be used to verify who I am and to check I am not enrolled twice."
PHOTO_CONSENT_TEXT = (
    "I agree that my face may be used to verify who I am and to check I am not enrolled twice. A photo of my face "
    "is kept, sealed, so that two trained reviewers can check a possible match; it is erased with my record."
)
"""A consent text registered with ``keeps_reference_photo``: its galleries keep reference photos for review."""


SHARED_TEXT = {
    "version": "2026-01",
    "text": CONSENT_TEXT,
    "shared": True,
    "modalities": ["face", "finger"],
    "purposes": ["verify", "deduplicate"],
}
"""The standard consent text, shared by every gallery and asking for both biometrics and both purposes."""


def consent(
    purposes=("verify", "deduplicate"),
    modalities=("face",),
    expires_in_days=365,
    signed_by="Field officer A. Mensah",
    text=CONSENT_TEXT,
    text_version="2026-01",
):
    now = datetime.now(UTC)
    return {
        "purposes": list(purposes),
        "modalities": list(modalities),
        "text_version": text_version,
        "text_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "signed_by": signed_by,
        "signed_at": (now - timedelta(minutes=5)).isoformat(),
        "expires_at": (now + timedelta(days=expires_in_days)).isoformat(),
    }


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def settings_on(data_dir, database_url: str, **more) -> Settings:
    """Settings of an instance in ``data_dir`` on the store ``database_url`` names (the ``database_url`` fixture):
    SQLite, the data folder's own database; PostgreSQL, that database."""
    return Settings(data_dir=data_dir, database_url=None if database_url.startswith("sqlite") else database_url, **more)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "var")


@pytest.fixture
def instance(settings):
    instance = Instance.open(settings)
    yield instance
    instance.close()


@pytest.fixture
def client(instance) -> TestClient:
    return TestClient(create_app(instance), raise_server_exceptions=False)


@pytest.fixture
def headers(instance) -> dict[str, dict[str, str]]:
    """Authorization headers for one key of each role."""
    return {
        role: {"Authorization": f"Bearer {create_key(instance, 'test', role).secret}"}
        for role in ("admin", "enroller", "verifier", "auditor", "adjudicator")
    }


def leads(client: TestClient | Instance, search_id: str) -> list[dict]:
    """A search's candidates (real ones, by rank) as its audit entry records them: subject id, score, rank,
    modality (fused: each modality's score). What reviewers work on; the requester is never told them
    (tests/security/test_candidate_disclosure.py), so tests of what a search finds read them here."""
    from sqlalchemy import select

    from tessera.store.models import AuditEntry

    instance = client if isinstance(client, Instance) else client.app.state.instance  # type: ignore[attr-defined]
    with instance.sessions() as session:
        for entry in session.scalars(select(AuditEntry).where(AuditEntry.action.like("%.identify"))):
            details = json.loads(entry.body)["details"]
            if details.get("search_id") == search_id:
                return details["candidates"]
    raise AssertionError(f"no audit entry of search {search_id}")


def lead_ids(client: TestClient | Instance, response) -> list[str]:
    """The subject ids of the candidates of the search ``response`` answered (a 200 from ``POST /v1/identify``)."""
    assert response.status_code == 200, response.text
    return [c["subject_id"] for c in leads(client, response.json()["search_id"])]


class Api:
    """Small helpers over the client, so tests read as the workflow they check."""

    def __init__(self, client: TestClient, headers: dict) -> None:
        self.client = client
        self.headers = headers

    def gallery(
        self,
        name="Kakuma food distribution 2026",
        identification: bool = True,
        score_disclosure: str | None = None,
    ) -> str:
        """A gallery with the standard consent text registered and (by default) 1:N enabled; ``score_disclosure``
        ``exact`` for tests that check the scores themselves (the default answers bands)."""
        admin = self.headers["admin"]
        response = self.client.post("/v1/galleries", json={"name": name, "purpose": "Food distribution"}, headers=admin)
        assert response.status_code == 201, response.text
        gallery = response.json()["id"]
        texts = self.client.get("/v1/consent-texts", headers=admin).json()
        if not any(t["sha256"] == hashlib.sha256(CONSENT_TEXT.encode()).hexdigest() for t in texts):
            registered = self.client.post("/v1/consent-texts", json=SHARED_TEXT, headers=admin)
            assert registered.status_code == 201, registered.text
        if identification:
            enabled = self.client.post(
                f"/v1/galleries/{gallery}/identification", json={"dpia_reference": "DPIA-2026-007"}, headers=admin
            )
            assert enabled.status_code == 200, enabled.text
        if score_disclosure is not None:
            chosen = self.client.put(
                f"/v1/galleries/{gallery}/score-disclosure",
                json={"score_disclosure": score_disclosure, "reason": "the test checks the scores themselves"},
                headers=admin,
            )
            assert chosen.status_code == 200, chosen.text
        return gallery

    def subject(self, gallery_id: str, **consent_options) -> str:
        response = self.client.post(
            "/v1/subjects",
            json={"gallery_id": gallery_id, "consent": consent(**consent_options)},
            headers=self.headers["enroller"],
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def enrol(self, subject_id: str, image: bytes, headers: dict | None = None):
        return self.client.post(
            f"/v1/subjects/{subject_id}/faces",
            files={"image": ("face.jpg", image, "image/jpeg")},
            headers=headers or self.headers["enroller"],
        )

    def verify(self, subject_id: str, image: bytes):
        return self.client.post(
            "/v1/verify",
            data={"subject_id": subject_id},
            files={"image": ("probe.jpg", image, "image/jpeg")},
            headers=self.headers["verifier"],
        )

    def identify(self, gallery_id: str, image: bytes, purpose="deduplicate", case_reference="CASE-1", headers=None):
        return self.client.post(
            "/v1/identify",
            data={"gallery_id": gallery_id, "purpose": purpose, "case_reference": case_reference},
            files={"image": ("probe.jpg", image, "image/jpeg")},
            headers=headers or self.headers["enroller"],
        )


@pytest.fixture
def api(client, headers) -> Api:
    return Api(client, headers)
