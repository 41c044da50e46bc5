"""Reviewers compare faces, not numbers (issue 17 item 1, issue 15): reference photos, bands, catch trials, queue.

- A reference photo (a 256 px crop of the face, not the upload) is kept, sealed under the subject's key, only
  in a gallery with 1:N enabled and only under a consent text that says so; it is unreadable after erasure.
- The probe photo is kept for the life of the case and its key destroyed when the case closes.
- The review screen shows bands, never scores; a catch trial's band is one of the real candidates' bands.
- The queue lists open cases the reviewer did not ask for; each reviewer's false-confirm rate is reported.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from unittest import mock

import pytest
from PIL import Image
from sqlalchemy import select

from tessera.governance.bands import BANDS, score_band
from tessera.settings import Settings
from tessera.store.keystore import KeyMissing
from tessera.store.models import AuditEntry, CaseCandidate, Template
from tessera.workflows import cases, enrolment
from tessera.workflows.adjudication import record_training
from tessera.workflows.instance import Instance
from tessera.workflows.keys import create_key
from tests.fakes import face_image, register_fakes
from tests.service_fixtures import PHOTO_CONSENT_TEXT, Api, png

RATIONALE = "Same ear shape and the same scar above the left eyebrow."


@pytest.fixture
def world(tmp_path):
    register_fakes(tmp_path / "calibrations")
    instance = Instance.open(Settings(data_dir=tmp_path / "var", face_algorithms=("fake-a/1",), catch_trial_rate=1.0))
    from fastapi.testclient import TestClient

    from tessera.api.app import create_app

    client = TestClient(create_app(instance, background_jobs=False), raise_server_exceptions=False)
    headers = {
        role: {"Authorization": f"Bearer {create_key(instance, 'test', role).secret}"}
        for role in ("admin", "enroller", "auditor")
    }
    now = datetime.now(UTC)
    for name in ("first", "second"):
        key = create_key(instance, "test", "adjudicator", name)
        record_training(
            instance, "key:second-admin", key.id, "Face review", now - timedelta(days=1), now + timedelta(days=30)
        )
        headers[name] = {"Authorization": f"Bearer {key.secret}"}
        headers[f"{name}_id"] = key.id  # type: ignore[assignment]
    api = Api(client, headers)
    registered = client.post(
        "/v1/consent-texts",
        json={
            "version": "2026-02-photos",
            "text": PHOTO_CONSENT_TEXT,
            "keeps_reference_photo": True,
            "shared": True,
            "modalities": ["face", "finger"],
            "purposes": ["verify", "deduplicate"],
        },
        headers=headers["admin"],
    )
    assert registered.status_code == 201 and registered.json()["keeps_reference_photo"] is True
    yield instance, api
    instance.close()


people = itertools.count(300)


def enrol_people(api: Api, gallery: str, count: int, photos: bool = True) -> list[tuple[str, int]]:
    """``count`` people enrolled in ``gallery`` under the photo consent text (or the plain one)."""
    options = {"text": PHOTO_CONSENT_TEXT, "text_version": "2026-02-photos"} if photos else {}
    enrolled = []
    for _ in range(count):
        person = next(people)
        subject = api.subject(gallery, signed_by=f"Officer {person}", **options)
        assert api.enrol(subject, png(face_image(person))).status_code == 201
        enrolled.append((subject, person))
    return enrolled


def picture(url: str) -> Image.Image:
    assert url.startswith("data:image/jpeg;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def review(api: Api, who: str, search_id: str) -> dict:
    response = api.client.get(f"/v1/searches/{search_id}/review", headers=api.headers[who])
    assert response.status_code == 200, response.text
    return response.json()


def kept_photos(instance: Instance, subject: str) -> list[bytes | None]:
    with instance.sessions() as session:
        return list(session.scalars(select(Template.image_ciphertext).where(Template.subject_id == subject)))


def gallery_without_dedup(api) -> str:
    """A gallery whose duplicate check at enrolment is off: its review queue holds the searches a test runs, not a
    held enrolment of a fake face that happens to resemble another (tests/workflows/test_dedup.py covers those)."""
    gallery = api.gallery()
    off = api.client.put(
        f"/v1/galleries/{gallery}/dedup", json={"dedup_at_enrolment": False}, headers=api.headers["admin"]
    )
    assert off.status_code == 200, off.text
    return gallery


def test_a_reference_photo_is_kept_only_in_a_searched_gallery_under_a_text_that_says_so(world, monkeypatch):
    instance, api = world
    searched = api.gallery(name="Searched")
    not_searched = api.gallery(name="Not searched", identification=False)
    ((told, _),) = enrol_people(api, searched, 1)
    ((not_told, _),) = enrol_people(api, searched, 1, photos=False)
    ((no_search, _),) = enrol_people(api, not_searched, 1)
    assert all(kept_photos(instance, told)) and kept_photos(instance, told)
    assert kept_photos(instance, not_told) == [None] and kept_photos(instance, no_search) == [None]

    # Broken on purpose: with the rule answering yes whatever the text, the plain text's person gets a photo,
    # which the assertion above would catch.
    monkeypatch.setattr(enrolment, "keeps_reference_photo", lambda text, gallery: True)
    ((broken, _),) = enrol_people(api, searched, 1, photos=False)
    assert kept_photos(instance, broken) != [None]


def test_the_reviewer_sees_photos_and_bands_and_the_photos_go_with_the_subject_and_the_case(world):
    """Mutations M60, M75 and M76 (tests/governance/mutations.py): the score shown to the reviewer, or the reference
    or probe photo withheld, fails this test."""
    instance, api = world
    gallery = api.gallery()
    enrolled = enrol_people(api, gallery, 6)
    (mate, person) = enrolled[0]
    search_id = api.identify(gallery, png(face_image(person, photo=5))).json()["search_id"]

    case = review(api, "first", search_id)
    assert picture(case["probe_image"]).size == (256, 256)  # the normalised crop, not the 96 px upload
    items = case["candidates"]
    assert len(items) == 2  # the mate and a catch trial, unmarked
    bands = {name for name, _ in BANDS}
    for item in items:
        assert picture(item["reference_image"]).size == (256, 256) and not picture(item["reference_image"]).getexif()
        assert item["band"] in bands and "score" not in item and "fmr" not in item
    with instance.sessions() as session:
        rows = {r.id: r for r in session.scalars(select(CaseCandidate).where(CaseCandidate.search_id == search_id))}
        viewed = session.scalars(select(AuditEntry).where(AuditEntry.action == "adjudication.view")).all()
    real = [i["band"] for i in items if not rows[i["candidate_id"]].catch_trial]
    catch = [i["band"] for i in items if rows[i["candidate_id"]].catch_trial]
    assert catch[0] in real  # drawn from the real candidates' bands: the screen cannot tell them apart
    for row in rows.values():
        assert f"{row.score:.3f}"[:5] not in str(case)  # no score, rounded or not, on the screen
    assert len(viewed) == 1  # the read is audited

    with instance.sessions() as session:
        template = session.scalars(select(Template).where(Template.subject_id == mate)).one()
        sealed, template_id = template.image_ciphertext, template.id
    assert sealed is not None
    instance.vault.open_image(subject_id=mate, template_id=template_id, sealed=sealed)  # readable before erasure
    assert api.client.delete(f"/v1/subjects/{mate}", headers=api.headers["enroller"]).status_code == 200
    with pytest.raises(KeyMissing):
        instance.vault.open_image(subject_id=mate, template_id=template_id, sealed=sealed)
    assert kept_photos(instance, mate) == []
    after = review(api, "first", search_id)
    assert all(i["reference_image"] is None for i in after["candidates"] if rows[i["candidate_id"]].subject_id == mate)

    # The catch trial settles the case once decided twice (the mate's review was voided by the erasure).
    catch_id = next(r.id for r in rows.values() if r.catch_trial)
    for who in ("first", "second"):
        decided = api.client.post(
            f"/v1/searches/{search_id}/candidates/{catch_id}/decision",
            json={"decision": "reject", "rationale": RATIONALE},
            headers=api.headers[who],
        )
        assert decided.status_code == 200, decided.text
    assert search_id not in instance.vault.cases_with_keys()  # case closed: the probe photo's key is gone
    assert review(api, "first", search_id)["probe_image"] is None


def test_the_queue_and_each_reviewers_false_confirm_rate(world):
    instance, api = world
    gallery = gallery_without_dedup(api)
    (_, person), *_ = enrol_people(api, gallery, 6)
    search_id = api.identify(gallery, png(face_image(person, photo=5))).json()["search_id"]

    queue = api.client.get("/v1/review/queue", headers=api.headers["first"]).json()["cases"]
    assert [(c["search_id"], c["to_decide"]) for c in queue] == [(search_id, 2)]
    untrained = create_key(instance, "test", "adjudicator")
    answer = api.client.get("/v1/review/queue", headers={"Authorization": f"Bearer {untrained.secret}"}).json()
    assert answer == {"cases": [], "trained": False}
    for item in review(api, "first", search_id)["candidates"]:
        decided = api.client.post(
            f"/v1/searches/{search_id}/candidates/{item['candidate_id']}/decision",
            json={"decision": "confirm", "rationale": RATIONALE},
            headers=api.headers["first"],
        )
        assert decided.status_code == 200, decided.text
    assert api.client.get("/v1/review/queue", headers=api.headers["first"]).json()["cases"] == []  # all decided
    second = api.client.get("/v1/review/queue", headers=api.headers["second"]).json()["cases"]
    assert [c["to_decide"] for c in second] == [2]  # blind: still waiting for the second reviewer

    accuracy = api.client.get("/v1/reviewers/accuracy", headers=api.headers["auditor"])
    assert accuracy.status_code == 200, accuracy.text
    (row,) = accuracy.json()["reviewers"]
    assert row == {
        "adjudicator": f"key:{api.headers['first_id']}",
        "catch_trials": 1,
        "false_confirms": 1,
        "false_confirm_rate": 1.0,
    }
    refused = api.client.get("/v1/reviewers/accuracy", headers=api.headers["first"])
    assert refused.status_code == 403


def test_a_catch_trial_without_a_photo_is_not_shown_beside_candidates_with_one(world):
    """Mutation M62 (tests/governance/mutations.py): the photo rule of ``open_case`` switched off fails this test."""
    instance, api = world
    gallery = api.gallery()
    ((mate, person),) = enrol_people(api, gallery, 1)
    enrol_people(api, gallery, 5, photos=False)  # every possible catch trial lacks a photo
    search_id = api.identify(gallery, png(face_image(person, photo=5))).json()["search_id"]
    items = review(api, "first", search_id)["candidates"]
    assert len(items) == 1 and items[0]["reference_image"]  # the catch trial would have stood out: left out


def test_a_reviewer_is_never_queued_their_own_search(world):
    """No role both searches and reviews; should a key ever do both, its own search stays out of its queue."""
    from tessera.workflows.adjudication import review_queue
    from tessera.workflows.captures import Capture
    from tessera.workflows.identify import identify
    from tessera.workflows.instance import Actor

    instance, api = world
    gallery = api.gallery()
    (_, person), *_ = enrol_people(api, gallery, 3)
    reviewer = Actor(id=f"key:{api.headers['first_id']}", role="adjudicator")
    own = identify(instance, reviewer, gallery, "deduplicate", "C-OWN", [Capture.face(png(face_image(person, 5)))])
    assert own.candidates  # a real case, waiting for review
    assert own.search_id not in {c["search_id"] for c in review_queue(instance, reviewer)["cases"]}
    other = Actor(id=f"key:{api.headers['second_id']}", role="adjudicator")
    assert own.search_id in {c["search_id"] for c in review_queue(instance, other)["cases"]}


REVIEW_ITEM = {
    "candidate_id": str,
    "band": str,
    "reference_quality": dict,
    "reference_captured_at": str,
    "reference_is_stale": bool,
    "reference_image": str,
    "your_decision": type(None),
}
"""Every field a reviewer receives of a candidate before deciding, and its type: each one a real candidate and a
catch trial have for the same reason (their reference, their random id), so none can tell them apart."""


def test_a_catch_trial_and_a_real_candidate_look_the_same_to_the_reviewer(world):
    """Field by field, the reviewer's view of a catch trial is that of a real candidate: the same fields with values
    of the same types, each read from the reference alone, no score, a band drawn from the real candidates' bands
    (its own band would tell it here), the list in the order of the random candidate ids.

    Mutations M60 (the score shown), M61 (a catch trial shown its own band), M63 (the rank shown, which a catch
    trial lacks) and M77 (catch trials listed last) of tests/governance/mutations.py each fail this test."""
    instance, api = world
    gallery = gallery_without_dedup(api)
    (_, person), *_ = enrol_people(api, gallery, 6)
    # Candidate ids counting down: the catch trial, stored last, gets the smallest, so a list in any order but the
    # ids' (rank first, catch trials last) would not show it first.
    countdown = (str(uuid.UUID(int=2**122 - n)) for n in itertools.count())
    with mock.patch.object(cases, "uuid", SimpleNamespace(uuid4=lambda: next(countdown))):
        search_id = api.identify(gallery, png(face_image(person, photo=5))).json()["search_id"]
    case = review(api, "first", search_id)
    with instance.sessions() as session:
        rows = {r.id: r for r in session.scalars(select(CaseCandidate).where(CaseCandidate.search_id == search_id))}
        templates = {
            t.id: t
            for t in session.scalars(select(Template).where(Template.id.in_(r.template_id for r in rows.values())))
        }
    items = case["candidates"]
    assert sorted(i["candidate_id"] for i in items) == sorted(rows)
    real = [i for i in items if not rows[i["candidate_id"]].catch_trial]
    (catch,) = [i for i in items if rows[i["candidate_id"]].catch_trial]
    assert real, "the case needs a real candidate to compare the catch trial with"
    # Here the catch trial's own band is none of the real candidates': shown its own, it would stand out.
    real_bands = {score_band(rows[i["candidate_id"]].fmr) for i in real}
    assert score_band(rows[catch["candidate_id"]].fmr) not in real_bands

    for item in items:
        assert {key: type(value) for key, value in item.items()} == REVIEW_ITEM, item.keys()
        template = templates[rows[item["candidate_id"]].template_id]
        assert item["reference_quality"] == template.quality
        assert item["reference_captured_at"] == template.created_at.isoformat()
        assert item["reference_is_stale"] is False and item["your_decision"] is None
        assert picture(item["reference_image"]).size == (256, 256)
        assert item["band"] in real_bands
    shown = json.dumps(items)
    for row in rows.values():
        assert repr(row.score) not in shown and repr(row.fmr) not in shown  # no score or rate
    assert rows[min(rows)].catch_trial  # the countdown above gave the catch trial the smallest id
    assert [i["candidate_id"] for i in items] == sorted(rows)  # ordered by the (random) ids, not by rank or kind
