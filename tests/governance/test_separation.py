"""Separation of duties (issue 17, item 2): each rule refuses, and the test fails when the rule is switched off.

Every "broken" test monkeypatches the rule in :mod:`tessera.governance.separation` to do nothing and asserts
the check below it would then let the forbidden act through: proof that the test can fail.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tessera.errors import Forbidden, NotFound
from tessera.governance import separation
from tessera.store.models import AuditEntry, Search, TrainingAttestation
from tessera.workflows.adjudication import decide, record_training
from tessera.workflows.instance import Actor
from tessera.workflows.keys import create_key, list_keys, revoke_key
from tests.governance.people import RATIONALE, SECOND_ADMIN, confirmed_case, fake_settings

NOW = datetime.now(UTC)
SPAN = (NOW - timedelta(days=1), NOW + timedelta(days=30))


@pytest.fixture
def settings(tmp_path):
    return fake_settings(tmp_path)


def _attest(instance, recorder, key_id):
    return record_training(instance, recorder, key_id, "Face review", *SPAN)


def _attestations(instance) -> list[TrainingAttestation]:
    with instance.sessions() as session:
        return list(session.scalars(select(TrainingAttestation)))


def test_every_key_shows_who_created_it(api, instance, headers):
    admin_id = api.client.get("/v1/me", headers=headers["admin"]).json()["key_id"]
    made = api.client.post("/v1/keys", json={"role": "adjudicator", "label": "R. Okello"}, headers=headers["admin"])
    assert made.status_code == 201 and made.json()["created_by"] == f"key:{admin_id}"
    listed = {key["id"]: key for key in api.client.get("/v1/keys", headers=headers["admin"]).json()}
    assert listed[made.json()["id"]]["created_by"] == f"key:{admin_id}"
    assert listed[admin_id]["created_by"] == "test"  # the fixture's local operator
    assert {key.created_by for key in list_keys(instance)} == {"test", f"key:{admin_id}"}


def test_the_admin_who_created_a_reviewer_key_cannot_attest_it_alone(api, instance, headers):
    made = api.client.post("/v1/keys", json={"role": "adjudicator"}, headers=headers["admin"]).json()
    body = {"course": "Face review", "completed_at": SPAN[0].isoformat(), "expires_at": SPAN[1].isoformat()}
    alone = api.client.post(f"/v1/adjudicators/{made['id']}/training", json=body, headers=headers["admin"])
    assert alone.status_code == 403 and alone.json()["error"]["code"] == "second_admin_required", alone.text
    assert _attestations(instance) == []
    second = {"Authorization": f"Bearer {create_key(instance, 'test', 'admin', 'second').secret}"}
    attested = api.client.post(f"/v1/adjudicators/{made['id']}/training", json=body, headers=second)
    assert attested.status_code == 201, attested.text
    assert [a.single_admin_exception for a in _attestations(instance)] == [False]


def test_two_admin_rule_broken_is_caught(api, instance, headers, monkeypatch):
    """Mutation: the rule off (the creator may attest alone) → the refusal asserted above no longer happens."""
    monkeypatch.setattr("tessera.workflows.adjudication.check_attestation", lambda recorder, key, exception: False)
    key = create_key(instance, "creator", "adjudicator")
    _attest(instance, "creator", key.id)  # no Forbidden: the broken rule lets the creator attest alone
    assert len(_attestations(instance)) == 1


def test_the_single_admin_exception_is_off_by_default_and_every_use_is_audited(instance):
    assert instance.settings.single_admin_exception is False
    key = create_key(instance, "only-admin", "adjudicator")
    with pytest.raises(Forbidden, match="second admin"):
        _attest(instance, "only-admin", key.id)
    instance.settings = instance.settings.model_copy(update={"single_admin_exception": True})
    _attest(instance, "only-admin", key.id)
    [attestation] = _attestations(instance)
    assert attestation.single_admin_exception and attestation.recorded_by == "only-admin"
    with instance.sessions() as session:
        used = session.scalars(select(AuditEntry).where(AuditEntry.action == separation.SINGLE_ADMIN_EXCEPTION)).all()
    assert len(used) == 1 and key.id in used[0].body
    # A second admin's attestation is no exception and is not audited as one.
    _attest(instance, SECOND_ADMIN, key.id)
    with instance.sessions() as session:
        assert (
            len(session.scalars(select(AuditEntry).where(AuditEntry.action == separation.SINGLE_ADMIN_EXCEPTION)).all())
            == 1
        )


def test_training_is_never_recorded_for_a_missing_revoked_or_non_reviewer_key_or_by_the_reviewer(instance):
    with pytest.raises(NotFound, match="existing key"):
        _attest(instance, SECOND_ADMIN, "0123456789abcdef")
    verifier = create_key(instance, "test", "verifier")
    with pytest.raises(Exception, match="adjudicator keys") as refused:
        _attest(instance, SECOND_ADMIN, verifier.id)
    assert getattr(refused.value, "code", None) == "not_an_adjudicator"
    reviewer = create_key(instance, "test", "adjudicator")
    with pytest.raises(Forbidden, match="their own training"):
        _attest(instance, f"key:{reviewer.id}", reviewer.id)
    revoke_key(instance, "test", reviewer.id)
    with pytest.raises(Exception, match="revoked") as revoked:
        _attest(instance, SECOND_ADMIN, reviewer.id)
    assert getattr(revoked.value, "code", None) == "key_revoked"
    assert _attestations(instance) == []


def test_attestation_rules_broken_are_caught(instance, monkeypatch):
    """Mutation: check_attestation replaced by one that allows anything → a missing key and a self-attestation are
    recorded, which the test above forbids."""
    monkeypatch.setattr("tessera.workflows.adjudication.check_attestation", lambda recorder, key, exception: False)
    reviewer = create_key(instance, "test", "adjudicator")
    _attest(instance, f"key:{reviewer.id}", reviewer.id)
    _attest(instance, SECOND_ADMIN, "0123456789abcdef")
    assert len(_attestations(instance)) == 2


def test_a_reviewer_cannot_review_their_own_search(api, instance):
    reviewer_key = create_key(instance, "test", "adjudicator")
    _attest(instance, SECOND_ADMIN, reviewer_key.id)
    reviewer = Actor(id=f"key:{reviewer_key.id}", role="adjudicator")
    case = confirmed_case(api, instance, [])  # a search, undecided
    with instance.transaction() as session:  # as if the reviewer's own key had asked for it
        session.get_one(Search, case.search_id).requested_by = str(reviewer)
    with pytest.raises(Forbidden) as refused:
        decide(instance, reviewer, case.search_id, case.candidate_id, "confirm", RATIONALE)
    assert refused.value.code == "requester_cannot_adjudicate"


def test_own_search_rule_broken_is_caught(api, instance, monkeypatch):
    """Mutation: check_not_own_search off → the reviewer decides on their own search."""
    monkeypatch.setattr("tessera.workflows.adjudication.check_not_own_search", lambda reviewer, requested_by: None)
    reviewer_key = create_key(instance, "test", "adjudicator")
    _attest(instance, SECOND_ADMIN, reviewer_key.id)
    reviewer = Actor(id=f"key:{reviewer_key.id}", role="adjudicator")
    case = confirmed_case(api, instance, [])
    with instance.transaction() as session:
        session.get_one(Search, case.search_id).requested_by = str(reviewer)
    assert decide(instance, reviewer, case.search_id, case.candidate_id, "confirm", RATIONALE)["recorded"] == "confirm"


def test_the_rules_themselves():
    separation.check_not_own_search("key:a", "key:b")
    with pytest.raises(Forbidden):
        separation.check_not_own_search("key:a", "key:a")
    separation.check_not_first_reviewer("key:c", ["key:a", "key:b"])
    with pytest.raises(Forbidden, match="did not must re-review"):
        separation.check_not_first_reviewer("key:a", ["key:a", "key:b"])
    facts = separation.KeyFacts("k1", "adjudicator", created_by="key:admin1", revoked=False)
    assert separation.check_attestation("key:admin2", facts, single_admin_exception=False) is False
    assert separation.check_attestation("key:admin1", facts, single_admin_exception=True) is True
