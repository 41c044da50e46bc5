"""A candidate is confirmed only by two different trained adjudicators, blind to each other."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tessera.errors import Forbidden
from tessera.store.models import CaseCandidate
from tessera.workflows.adjudication import decide
from tessera.workflows.captures import Capture
from tessera.workflows.identify import identify
from tessera.workflows.instance import Actor
from tessera.workflows.keys import create_key

RATIONALE = "Same ear shape, same scar above the left eyebrow."


@pytest.fixture
def adjudicators(api, instance):
    """Two trained adjudicator keys (headers) and one untrained."""
    now = datetime.now(UTC)
    keys = {}
    for name in ("first", "second", "untrained"):
        key = create_key(instance, "test", "adjudicator", name)
        keys[name] = {"Authorization": f"Bearer {key.secret}"}
        if name != "untrained":
            response = api.client.post(
                f"/v1/adjudicators/{key.id}/training",
                json={
                    "course": "Face review 101",
                    "completed_at": (now - timedelta(days=1)).isoformat(),
                    "expires_at": (now + timedelta(days=365)).isoformat(),
                },
                headers=api.headers["admin"],
            )
            assert response.status_code == 201, response.text
    return keys


@pytest.fixture
def case(api, lfw_person):
    gallery = api.gallery()
    photos = lfw_person("Colin_Powell", 2)
    subject = api.subject(gallery)
    api.enrol(subject, photos[0])
    answer = api.identify(gallery, photos[1]).json()
    assert answer["status"] == "sent_for_review", answer
    return answer["search_id"], subject


def review(api, headers, search_id):
    response = api.client.get(f"/v1/searches/{search_id}/review", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def decision(api, headers, search_id, candidate_id, verdict="confirm", rationale=RATIONALE):
    return api.client.post(
        f"/v1/searches/{search_id}/candidates/{candidate_id}/decision",
        json={"decision": verdict, "rationale": rationale},
        headers=headers,
    )


def test_two_different_adjudicators_confirm(api, adjudicators, case):
    search_id, subject = case
    candidate = review(api, adjudicators["first"], search_id)["candidates"][0]["candidate_id"]
    assert decision(api, adjudicators["first"], search_id, candidate).status_code == 200
    outcome = api.client.get(f"/v1/searches/{search_id}", headers=api.headers["enroller"]).json()
    assert outcome["status"] == "sent_for_review" and outcome["confirmed"] == []  # one confirmation is not enough

    again = decision(api, adjudicators["first"], search_id, candidate)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_decided"

    blind = review(api, adjudicators["second"], search_id)["candidates"][0]
    assert blind["your_decision"] is None and "decisions" not in blind  # blind to the first reviewer
    assert decision(api, adjudicators["second"], search_id, candidate).status_code == 200
    outcome = api.client.get(f"/v1/searches/{search_id}", headers=api.headers["enroller"]).json()
    assert outcome["status"] == "confirmed" and outcome["confirmed"] == [{"subject_id": subject}]
    assert outcome["review"] == "closed"


def test_split_decision_is_disputed(api, adjudicators, case):
    search_id, _ = case
    candidate = review(api, adjudicators["first"], search_id)["candidates"][0]["candidate_id"]
    decision(api, adjudicators["first"], search_id, candidate, "confirm")
    decision(
        api, adjudicators["second"], search_id, candidate, "reject", "The nose bridge and the hairline differ clearly."
    )
    outcome = api.client.get(f"/v1/searches/{search_id}", headers=api.headers["enroller"]).json()
    assert outcome["status"] == "sent_for_review" and outcome["review"] == "open"  # disputed: a third decides


def test_rationale_and_training_are_required(api, adjudicators, case):
    search_id, _ = case
    candidate = review(api, adjudicators["first"], search_id)["candidates"][0]["candidate_id"]
    short = decision(api, adjudicators["first"], search_id, candidate, rationale="ok")
    assert short.status_code == 422 and short.json()["error"]["code"] == "rationale_required"
    untrained = api.client.get(f"/v1/searches/{search_id}/review", headers=adjudicators["untrained"])
    assert untrained.status_code == 403 and untrained.json()["error"]["code"] == "training_required"
    assert decision(api, adjudicators["untrained"], search_id, candidate).json()["error"]["code"] == "training_required"


def test_training_expires(api, instance, adjudicators, case):
    search_id, _ = case
    real_clock = instance.clock
    instance.clock = lambda: real_clock() + timedelta(days=400)
    response = api.client.get(f"/v1/searches/{search_id}/review", headers=adjudicators["first"])
    assert response.status_code == 403 and response.json()["error"]["code"] == "training_required"


def test_the_requester_cannot_adjudicate(api, instance, lfw_person):
    from tessera.workflows.adjudication import record_training

    gallery = api.gallery()
    photos = lfw_person("Colin_Powell", 2)
    api.enrol(api.subject(gallery), photos[0])
    key = create_key(instance, "test", "adjudicator")
    now = datetime.now(UTC)
    record_training(instance, "key:second-admin", key.id, "course", now - timedelta(days=1), now + timedelta(days=30))
    actor = Actor(id=f"key:{key.id}", role="adjudicator")
    # The roles never give one key both permissions; the workflow refuses it all the same.
    search = identify(instance, actor, gallery, "deduplicate", "C-9", [Capture.face(photos[1])])
    with pytest.raises(Forbidden, match="asked for a search cannot review"):
        decide(instance, actor, search.search_id, "any", "confirm", RATIONALE)


def test_catch_trials_measure_false_confirms(api, instance, adjudicators, lfw_person):
    instance.settings = instance.settings.model_copy(update={"catch_trial_rate": 1.0})
    instance.random = random.Random(1)
    gallery = api.gallery()
    people = {name: lfw_person(name, 2) for name in ("Colin_Powell", "Tony_Blair", "Serena_Williams")}
    for photos in people.values():
        api.enrol(api.subject(gallery), photos[0])
    answer = api.identify(gallery, people["Colin_Powell"][1]).json()
    assert answer["status"] == "sent_for_review"  # the requester is told of no candidate, real or catch
    items = review(api, adjudicators["first"], answer["search_id"])["candidates"]
    assert len(items) == 2  # the reviewer sees one more, unmarked
    for item in items:
        decision(api, adjudicators["first"], answer["search_id"], item["candidate_id"], "confirm")
    (reviewer,) = api.client.get("/v1/reviewers/accuracy", headers=api.headers["auditor"]).json()["reviewers"]
    assert reviewer["catch_trials"] == 1 and reviewer["false_confirms"] == 1  # the auditor sees each reviewer
    report = api.client.get("/v1/transparency", headers=api.headers["auditor"]).json()
    assert report["catch_trials"]["decisions"] == {"fewer_than": 5}  # the published report points at no one
    assert report["catch_trials"]["false_confirms"] == {"fewer_than": 5}
    assert report["catch_trials"]["false_confirm_rate"] is None
    outcome = api.client.get(f"/v1/searches/{answer['search_id']}", headers=api.headers["enroller"]).json()
    assert outcome["status"] == "sent_for_review" and outcome["confirmed"] == []  # one reviewer is not two


def test_reviewers_see_probe_and_reference_side_by_side_when_images_are_kept(api, instance, adjudicators, lfw_person):
    import base64
    import io

    from PIL import Image

    instance.settings = instance.settings.model_copy(update={"keep_raw_images": True, "catch_trial_rate": 0.0})
    gallery = api.gallery()
    photos = lfw_person("Colin_Powell", 2)
    api.enrol(api.subject(gallery), photos[0])
    search_id = api.identify(gallery, photos[1]).json()["search_id"]
    case = review(api, adjudicators["first"], search_id)
    # The probe: the face's reference crop; the reference: the whole capture (keep_raw_images, and the consent
    # text does not cover a reference photo).
    for url, size in ((case["probe_image"], (256, 256)), (case["candidates"][0]["reference_image"], (250, 250))):
        assert url.startswith("data:image/jpeg;base64,")
        picture = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
        assert picture.size == size and not picture.getexif()  # pixels only: no metadata kept
    candidate = case["candidates"][0]["candidate_id"]
    decision(api, adjudicators["first"], search_id, candidate)
    decision(api, adjudicators["second"], search_id, candidate)
    assert instance.vault.cases_with_keys() == set()  # case closed: the probe's key is destroyed


def test_no_reference_photo_without_a_consent_text_that_says_so(api, adjudicators, case):
    search_id, _ = case
    view = review(api, adjudicators["first"], search_id)
    assert view["probe_image"] is not None  # the probe is kept while the case is open
    assert view["candidates"][0]["reference_image"] is None  # the standard text does not cover a reference photo
    assert "score" not in view["candidates"][0] and view["candidates"][0]["band"]


def test_erasing_a_candidate_voids_their_review(api, instance, adjudicators, case):
    search_id, subject = case
    api.client.delete(f"/v1/subjects/{subject}", headers=api.headers["enroller"])
    outcome = api.client.get(f"/v1/searches/{search_id}", headers=api.headers["enroller"]).json()
    assert outcome["status"] == "no_likely_match" and outcome["review"] == "closed"  # nothing left to review
    assert search_id not in instance.vault.cases_with_keys()  # and the probe photo's key is gone
    with instance.sessions() as session:
        (row,) = session.scalars(select(CaseCandidate).where(CaseCandidate.search_id == search_id)).all()
    assert row.status == "void"


def test_review_states_are_stored_and_audited_as_their_plain_words(api, instance, adjudicators, case):
    from sqlalchemy import text

    from tessera.governance.audit import verify_chain

    search_id, _ = case
    candidate = review(api, adjudicators["first"], search_id)["candidates"][0]["candidate_id"]
    for name in ("first", "second"):
        assert decision(api, adjudicators[name], search_id, candidate).status_code == 200
    with instance.sessions() as session:
        statuses = session.execute(
            text("SELECT c.status, s.status FROM case_candidates c JOIN searches s ON s.id = c.search_id")
        ).all()
        audited = session.execute(
            text("SELECT body FROM audit_log WHERE action = 'adjudication.decide' ORDER BY seq")
        ).scalars()
        assert [json.loads(body)["details"]["status"] for body in audited] == ["pending", "confirmed"]
        assert verify_chain(session, instance.settings.audit_anchor_file).ok
    assert [tuple(row) for row in statuses] == [("confirmed", "closed")]
