"""Scores that resist hill-climbing (issue 17, item 5): banded answers, per-gallery disclosure, verify rate limits.

An attacker who may verify perturbs an image many times and keeps the
changes that raise the score. With the gallery's scores banded, the answers
to slightly different probes are identical unless the decision or the band
changes, so the attacker sees no gradient to climb; the rate limits bound
how many answers can be collected at all. Each rule is also switched off
inside its test (``monkeypatch``) to show that the check notices.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tessera.api.app import create_app
from tessera.api.rate import AttemptCounter, VerifyLimits
from tessera.governance.disclosure import ScoreDisclosure, fmr_band
from tessera.settings import Settings
from tessera.store.models import AuditEntry
from tessera.workflows import score_disclosure as disclosure
from tessera.workflows.instance import Instance
from tessera.workflows.keys import create_key
from tests.fakes import face_image, register_fakes
from tests.service_fixtures import Api, png, settings_on

PERTURBATIONS = 40


@pytest.fixture
def settings(tmp_path) -> Settings:
    register_fakes(tmp_path / "calibrations")
    return Settings(
        data_dir=tmp_path / "var",
        face_algorithms=("fake-a/1",),
        catch_trial_rate=0.0,
        verify_limit_per_subject=10_000,
        verify_limit_per_key=10_000,
    )


@pytest.fixture
def client(instance) -> TestClient:
    return TestClient(create_app(instance, background_jobs=False), raise_server_exceptions=False)


@pytest.fixture
def enrolled(api: Api) -> dict[str, str]:
    gallery = api.gallery()
    subject = api.subject(gallery)
    assert api.enrol(subject, png(face_image(1))).status_code == 201
    return {"gallery": gallery, "subject": subject}


def perturbed(person: int, photo: int, seed: int) -> bytes:
    """A slightly different copy of a photo: noise of one grey level, the kind of step a hill-climber takes."""
    image = face_image(person, photo).astype(np.float64)
    image += np.random.default_rng(seed).normal(0, 1.0, image.shape)
    return png(np.clip(image, 0, 255).astype(np.uint8))


def answers(api: Api, subject: str, person: int) -> list[dict]:
    """The answers to :data:`PERTURBATIONS` perturbed probes of ``person`` against ``subject``."""
    found = []
    for seed in range(PERTURBATIONS):
        response = api.verify(subject, perturbed(person, 3, seed))
        assert response.status_code == 200, response.text
        found.append(response.json())
    return found


def distinct(items: list[dict]) -> int:
    return len({json.dumps(item, sort_keys=True) for item in items})


def set_disclosure(api: Api, gallery: str, value: str, headers=None):
    return api.client.put(
        f"/v1/galleries/{gallery}/score-disclosure",
        json={"score_disclosure": value, "reason": "LFW-style evaluation of the field kit"},
        headers=headers or api.headers["admin"],
    )


def test_a_banded_answer_is_a_decision_and_a_band_and_the_audit_keeps_the_score(api, enrolled, instance):
    matched = api.verify(enrolled["subject"], png(face_image(1, photo=3))).json()
    assert matched["decision"] == "match" and matched["score_disclosure"] == "banded"
    for withheld in ("score", "threshold", "fmr", "fmr_detail", "quality", "fusion"):
        assert matched[withheld] is None, withheld
    assert all(c["score"] is None and c["fmr"] is None and c["quality"] is None for c in matched["comparisons"])
    with instance.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "face.verify")).all()[-1]
    logged = json.loads(entry.body)["details"]["comparisons"][0]
    assert logged["score"] is not None  # the audit log keeps the exact figure for auditors
    calibration = instance.matchers.default_face.calibration
    band = matched["fmr_band"]
    assert calibration.fmr_at(logged["score"]).value <= band["at_most"], "the band must be an upper bound"
    assert band == fmr_band(calibration.fmr_at(logged["score"]).value, instance.settings.fmr_band_edges).as_dict()
    assert band["label"].startswith(("≤ 1 in", "> 1 in"))

    refused = api.verify(enrolled["subject"], png(face_image(2))).json()
    assert refused["decision"] == "no_match" and refused["fmr_band"] is None and refused["score"] is None


def test_small_changes_of_a_probe_are_not_observable(api, enrolled, monkeypatch):
    """40 probes one grey level apart: exact scores differ every time, banded answers hardly ever.

    The answer may change only where the decision or the band does; within one (decision, band) every answer
    is identical, and the count of distinct answers is at most the count of bands plus a no-match.
    """
    subject = enrolled["subject"]
    for person in (1, 2):  # a mate (climbing inside the match bands) and a non-mate (climbing toward a match)
        banded = answers(api, subject, person)
        groups: dict[tuple, list[dict]] = {}
        for answer in banded:
            groups.setdefault((answer["decision"], json.dumps(answer["fmr_band"])), []).append(answer)
        assert all(distinct(group) == 1 for group in groups.values()), "an answer moved inside its band"
        assert distinct(banded) <= len(api.client.app.state.instance.settings.fmr_band_edges) + 2

    # The probes do move the score: the same 40 perturbations are told apart when the gallery discloses scores.
    assert set_disclosure(api, enrolled["gallery"], "exact").status_code == 200
    exact = answers(api, subject, 1)
    assert len({answer["score"] for answer in exact}) > PERTURBATIONS // 2
    assert all(answer["score_disclosure"] == "exact" for answer in exact)
    assert set_disclosure(api, enrolled["gallery"], "banded").status_code == 200

    # Mutation: with banding switched off, this test's check catches the leak.
    monkeypatch.setattr(disclosure, "subject_disclosure", lambda _instance, _subject: ScoreDisclosure.EXACT)
    leaked = answers(api, subject, 1)
    assert distinct(leaked) > len(api.client.app.state.instance.settings.fmr_band_edges) + 2


def test_a_gallery_chooses_exact_scores_only_by_an_admin_and_the_change_is_audited(api, enrolled, instance):
    assert set_disclosure(api, enrolled["gallery"], "exact", api.headers["enroller"]).status_code == 403
    bad = api.client.put(
        f"/v1/galleries/{enrolled['gallery']}/score-disclosure",
        json={"score_disclosure": "raw", "reason": "x"},
        headers=api.headers["admin"],
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
    assert set_disclosure(api, "no-such-gallery", "exact").json()["error"]["code"] == "gallery_not_found"
    changed = set_disclosure(api, enrolled["gallery"], "exact")
    assert changed.json() == {"gallery_id": enrolled["gallery"], "score_disclosure": "exact"}
    with instance.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "gallery.set_score_disclosure")).one()
    details = json.loads(entry.body)["details"]
    assert (entry.gallery_id, details["from"], details["to"]) == (enrolled["gallery"], "banded", "exact")
    assert details["reason"] == "LFW-style evaluation of the field kit"
    matched = api.verify(enrolled["subject"], png(face_image(1, photo=3))).json()
    assert matched["score"] is not None and matched["fmr"] is not None and matched["fmr_band"] is not None


def test_search_answers_name_no_candidate_banded_or_exact(api, enrolled):
    """A search's requester is told a case number and a status: no candidate, so no score or band of one, whatever
    the gallery's score disclosure (scores reach the reviewers only, as bands)."""
    for setting in ("banded", "exact"):
        assert set_disclosure(api, enrolled["gallery"], setting).status_code == 200
        found = api.identify(enrolled["gallery"], png(face_image(1, photo=4)))
        assert found.status_code == 200, found.text
        body = found.json()
        assert body["status"] == "sent_for_review" and body["confirmed"] == [] and "candidates" not in body
        assert enrolled["subject"] not in found.text


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limited(api: Api, instance, per_key: int, per_subject: int) -> Clock:
    """Give the app verification limits of ``per_key`` and ``per_subject`` per 60 s, on a clock the test moves."""
    clock = Clock()
    limits = instance.settings.model_copy(
        update={"verify_limit_per_key": per_key, "verify_limit_per_subject": per_subject}
    )
    api.client.app.state.verify_limits = VerifyLimits(
        instance, limits.model_copy(update={"verify_limit_window_seconds": 60.0}), clock=clock
    )
    return clock


def verify_as(api: Api, role: str, subject: str):
    return api.client.post(
        "/v1/verify",
        data={"subject_id": subject},
        files={"image": ("p.png", png(face_image(1, photo=3)), "image/png")},
        headers=api.headers[role],
    )


def test_verifications_of_one_subject_are_limited_across_keys(api, enrolled, instance, monkeypatch):
    clock = limited(api, instance, per_key=100, per_subject=3)
    subject = enrolled["subject"]
    assert [verify_as(api, "verifier", subject).status_code for _ in range(3)] == [200, 200, 200]
    refused = verify_as(api, "admin", subject)  # another key: the person's limit is shared
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "verify_rate_limited" and int(refused.headers["Retry-After"]) >= 1
    with instance.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.outcome == "refused:verify_rate_limited")).one()
    assert entry.subject_id == subject and json.loads(entry.body)["details"]["limit"] == "subject"
    clock.now += 61
    assert verify_as(api, "verifier", subject).status_code == 200

    # Mutation: with the count never reaching its limit, the refusal above would not have happened.
    limited(api, instance, per_key=100, per_subject=3)
    monkeypatch.setattr(AttemptCounter, "_wait", lambda self, window, now: None)
    assert [verify_as(api, "verifier", subject).status_code for _ in range(4)] == [200] * 4


def test_verifications_by_one_key_are_limited(api, instance):
    gallery = api.gallery()
    subjects = [api.subject(gallery) for _ in range(3)]
    for number, subject in enumerate(subjects):
        assert api.enrol(subject, png(face_image(10 + number))).status_code == 201
    limited(api, instance, per_key=2, per_subject=100)
    assert [verify_as(api, "verifier", s).status_code for s in subjects] == [200, 200, 429]
    assert verify_as(api, "admin", subjects[2]).status_code == 200  # another key has its own count
    with instance.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.outcome == "refused:verify_rate_limited")).one()
    assert json.loads(entry.body)["details"]["limit"] == "key"


def test_a_subject_outside_the_keys_galleries_is_not_counted(api, enrolled, instance):
    """Scope first: a key cannot use up the limit of a person outside its galleries (nor learn of them by 429)."""
    from tessera.workflows.keys import create_key

    limited(api, instance, per_key=100, per_subject=1)
    other = api.gallery(name="Other programme")
    outsider = {"Authorization": f"Bearer {create_key(instance, 'test', 'verifier', galleries=[other]).secret}"}
    for _ in range(3):
        response = api.client.post(
            "/v1/verify",
            data={"subject_id": enrolled["subject"]},
            files={"image": ("p.png", png(face_image(1, photo=3)), "image/png")},
            headers=outsider,
        )
        assert response.status_code == 404 and response.json()["error"]["code"] == "subject_not_found"
    assert verify_as(api, "verifier", enrolled["subject"]).status_code == 200


def test_the_limits_hold_across_server_processes_on_one_store(tmp_path, database_url):
    """Two apps on one store (as two server processes, each with its own memory): the per-subject limit
    counts verifications sent to either, so that more processes do not multiply it. The photo is no image: an
    admitted verification answers 422 not_an_image, the limit being decided before any image is read."""
    settings = settings_on(tmp_path / "var", database_url, verify_limit_per_subject=3)
    first, second = Instance.open(settings), Instance.open(settings)
    try:
        clients = [
            TestClient(create_app(i, background_jobs=False), raise_server_exceptions=False) for i in (first, second)
        ]
        api = Api(
            clients[0], {role: {"Authorization": f"Bearer {create_key(first, 't', role).secret}"} for role in ROLES}
        )
        subject = api.subject(api.gallery())
        codes = [
            client.post(
                "/v1/verify",
                data={"subject_id": subject},
                files={"image": ("p.png", b"not read", "image/png")},
                headers=api.headers["verifier"],
            ).status_code
            for client in (clients[0], clients[1], clients[0], clients[1])
        ]
        assert codes == [422, 422, 422, 429]
    finally:
        first.close()
        second.close()


ROLES = ("admin", "enroller", "verifier")


def test_band_edges_are_checked():
    with pytest.raises(ValueError, match="strictly decreasing"):
        Settings(fmr_band_edges=(1e-5, 1e-3))
    with pytest.raises(ValueError, match="between 0 and 1"):
        Settings(fmr_band_edges=(2.0,))
    edges = (1e-3, 1e-5, 1e-7)
    assert fmr_band(4e-4, edges).label == "≤ 1 in 1,000" and fmr_band(4e-6, edges).label == "≤ 1 in 100,000"
    assert fmr_band(3e-9, edges).at_most == 1e-7 and fmr_band(0.2, edges).label == "> 1 in 1,000"
    assert fmr_band(None, edges) is None
