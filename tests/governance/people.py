"""Helpers for the tests of issue 17's people-facing rules: fake face algorithms, trained reviewers, a case.

A test module uses them by overriding the ``settings`` fixture with :func:`fake_settings`, so the whole service
(store, vault, index, API) runs in-process on synthetic faces in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from tessera.settings import Settings
from tessera.store.models import CaseCandidate
from tessera.workflows.adjudication import record_training
from tessera.workflows.instance import Instance
from tessera.workflows.keys import create_key
from tests.fakes import face_image, register_fakes
from tests.service_fixtures import Api, png

RATIONALE = "Same pattern of blocks in every region of the face."
SECOND_ADMIN = "key:second-admin"
"""The admin who records training: not the one who created the reviewer keys (two-admin rule)."""


def fake_settings(folder: Path, **overrides) -> Settings:
    register_fakes(folder / "calibrations")
    return Settings(data_dir=folder / "var", face_algorithms=("fake-a/1",), catch_trial_rate=0.0, **overrides)


def trained_reviewer(instance: Instance, name: str) -> dict[str, str]:
    """Headers of a new adjudicator key, trained (attested by a second admin)."""
    key = create_key(instance, "test", "adjudicator", name)
    now = datetime.now(UTC)
    record_training(instance, SECOND_ADMIN, key.id, "Face review", now - timedelta(days=1), now + timedelta(days=90))
    return {"Authorization": f"Bearer {key.secret}"}


@dataclass
class Case:
    gallery: str
    subject: str
    search_id: str
    candidate_id: str


def confirmed_case(api: Api, instance: Instance, reviewers: list[dict[str, str]], person: int = 7) -> Case:
    """A subject enrolled, found again by a 1:N search and confirmed by the two ``reviewers``."""
    gallery = api.gallery(name=f"Gallery {person}")
    subject = api.subject(gallery)
    assert api.enrol(subject, png(face_image(person))).status_code == 201
    found = api.identify(gallery, png(face_image(person, photo=3)))
    assert found.status_code == 200, found.text
    search_id = found.json()["search_id"]
    with instance.sessions() as session:
        candidate_id = session.scalar(select(CaseCandidate.id).where(CaseCandidate.search_id == search_id))
    assert candidate_id is not None
    for reviewer in reviewers:
        response = api.client.post(
            f"/v1/searches/{search_id}/candidates/{candidate_id}/decision",
            json={"decision": "confirm", "rationale": RATIONALE},
            headers=reviewer,
        )
        assert response.status_code == 200, response.text
    return Case(gallery, subject, search_id, candidate_id)
