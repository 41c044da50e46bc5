"""A person can be registered and served without biometrics (issue 17, item 4), apart from every biometric record."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from tessera.errors import InvalidRequest
from tessera.store.counts import count_searchable
from tessera.store.models import AuditEntry, NonBiometricRecord, Subject, Template
from tessera.workflows import non_biometric
from tests.fakes import face_image
from tests.governance.people import fake_settings
from tests.security.test_erased_data import database_files
from tests.service_fixtures import lead_ids, png


@pytest.fixture
def settings(tmp_path):
    return fake_settings(tmp_path)


def allow(api, gallery, allowed=True):
    response = api.client.put(
        f"/v1/galleries/{gallery}/non-biometric", json={"allowed": allowed}, headers=api.headers["admin"]
    )
    assert response.status_code == 200, response.text


def register(api, gallery, programme_id="WFP-CARD-0042", reason="declined"):
    body = {"gallery_id": gallery, "programme_id": programme_id, "reason": reason}
    return api.client.post("/v1/non-biometric", json=body, headers=api.headers["enroller"])


def serve(api, gallery, programme_id="WFP-CARD-0042", **extra):
    body = {"gallery_id": gallery, "programme_id": programme_id, **extra}
    return api.client.post("/v1/non-biometric/service", json=body, headers=api.headers["verifier"])


def withdraw(api, record_id, role="enroller"):
    return api.client.delete(f"/v1/non-biometric/{record_id}", headers=api.headers[role])


def test_registered_and_served_without_any_biometric_record(api, instance):
    gallery = api.gallery()
    enrolled = api.subject(gallery)
    assert api.enrol(enrolled, png(face_image(5))).status_code == 201
    indexed_before = api.client.get("/healthz").json()["templates_indexed"]
    allow(api, gallery)
    made = register(api, gallery, reason="cannot_be_captured")
    assert made.status_code == 201, made.text
    record = made.json()
    assert record["reason"] == "cannot_be_captured" and record["biometric"] is False
    served = serve(api, gallery, record_id=record["record_id"])
    assert served.status_code == 200 and served.json()["times_served"] == 1 and served.json()["last_served_at"]
    assert serve(api, gallery).json()["times_served"] == 2  # by the programme card alone
    with instance.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Subject)) == 1  # only the enrolled person
        assert session.scalar(select(func.count()).select_from(Template)) == 1
        searchable = count_searchable(
            session, gallery_id=gallery, algorithm=None, modality="face", purpose="deduplicate", now=datetime.now(UTC)
        )
        assert searchable == 1  # N of 1:N counts biometric records only
    assert api.client.get("/healthz").json()["templates_indexed"] == indexed_before
    # Biometric routes do not know the record: it is no subject.
    assert (
        api.client.get(f"/v1/subjects/{record['record_id']}/export", headers=api.headers["enroller"]).status_code == 404
    )
    wrong = serve(api, gallery, record_id="00000000-0000-0000-0000-000000000000")
    assert wrong.status_code == 404 and wrong.json()["error"]["code"] == "record_not_found"


def test_a_search_neither_counts_nor_finds_a_person_registered_without_biometrics(api):
    gallery = api.gallery()
    enrolled = [api.subject(gallery) for _ in range(2)]
    for person, subject in zip((5, 6), enrolled, strict=True):
        assert api.enrol(subject, png(face_image(person))).status_code == 201
    probe = png(face_image(5, photo=3))
    before = api.identify(gallery, probe, case_reference="CASE-BEFORE")
    indexed = api.client.get("/healthz").json()["templates_indexed"]
    allow(api, gallery)
    for i, reason in enumerate(("declined", "cannot_be_captured", "other", "declined")):
        assert register(api, gallery, f"WFP-CARD-{i}", reason).status_code == 201
    after = api.identify(gallery, probe, case_reference="CASE-AFTER")
    # N, and with it the 1:N threshold, counts the two people with a template, not the four without one.
    assert after.json()["gallery_size"] == before.json()["gallery_size"] == 2
    assert after.json()["threshold"] == before.json()["threshold"]
    assert lead_ids(api.client, after) == lead_ids(api.client, before) == [enrolled[0]]  # and finds no record
    assert api.client.get("/healthz").json()["templates_indexed"] == indexed  # no record reached the index


def test_registered_only_where_allowed_and_still_served_once_the_gallery_stops_it(api, instance):
    from datetime import timedelta

    from tessera.workflows.retention import run_retention

    gallery = api.gallery()
    api.client.put(f"/v1/galleries/{gallery}/retention", json={"retention_days": 30}, headers=api.headers["admin"])
    refused = register(api, gallery)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "non_biometric_not_allowed"
    allow(api, gallery)
    assert register(api, gallery).status_code == 201
    taken = register(api, gallery)
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "programme_id_taken"
    allow(api, gallery, False)
    # The setting governs new registrations only: the person who declined biometrics under it is still served,
    # never pushed to give biometrics to be served again (R4; GDPR Art. 7(4)).
    served = serve(api, gallery)
    assert served.status_code == 200, served.text
    assert served.json()["times_served"] == 1 and served.json()["biometric"] is False
    refused = register(api, gallery, "WFP-CARD-0043")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "non_biometric_not_allowed"
    with instance.sessions() as session:
        switches = session.scalars(
            select(AuditEntry.outcome)
            .where(AuditEntry.action == "gallery.non_biometric", AuditEntry.gallery_id == gallery)
            .order_by(AuditEntry.seq)
        ).all()
    assert switches == ["on", "off"]  # the switch-off is audited
    # And kept no longer than before: the gallery's retention still erases the record.
    real_clock = instance.clock
    instance.clock = lambda: real_clock() + timedelta(days=31)
    run_retention(instance)
    with instance.sessions() as session:
        assert session.scalars(select(NonBiometricRecord)).all() == []
    gone = serve(api, gallery)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "record_not_found"


def test_the_reason_is_chosen_from_the_fixed_list_never_inferred(api, instance):
    gallery = api.gallery()
    allow(api, gallery)
    for missing_or_free_text in ({}, {"reason": "looks elderly"}, {"reason": ""}):
        body = {"gallery_id": gallery, "programme_id": "P-1", **missing_or_free_text}
        response = api.client.post("/v1/non-biometric", json=body, headers=api.headers["enroller"])
        assert response.status_code == 422 and "reason" in response.json()["error"]["message"], response.text
    # The workflow holds the list itself, whoever calls it (the API's model checks it first).
    with pytest.raises(
        InvalidRequest, match="reason must be one of declined, cannot_be_captured, other; got 'looks elderly'"
    ):
        non_biometric.register(instance, "key:enroller", gallery, "P-1", "looks elderly")
    with instance.sessions() as session:
        assert session.scalar(select(func.count()).select_from(NonBiometricRecord)) == 0
    assert register(api, gallery, "P-2", "other").json()["reason"] == "other"
    # Nothing beyond the chosen reason is stored about why.
    assert {c.name for c in NonBiometricRecord.__table__.columns} == {
        "id",
        "gallery_id",
        "programme_id",
        "reason",
        "registered_at",
        "registered_by",
        "last_served_at",
        "times_served",
    }


def test_records_are_kept_no_longer_than_the_gallerys_retention(api, instance):
    from datetime import timedelta

    from tessera.workflows.retention import run_retention

    gallery = api.gallery()
    api.client.put(f"/v1/galleries/{gallery}/retention", json={"retention_days": 30}, headers=api.headers["admin"])
    allow(api, gallery)
    register(api, gallery, "OLD-1")
    real_clock = instance.clock
    instance.clock = lambda: real_clock() + timedelta(days=20)
    assert serve(api, gallery, "OLD-1").status_code == 200  # a visit keeps it 30 more days
    register(api, gallery, "NEW-1")
    instance.clock = lambda: real_clock() + timedelta(days=45)
    run_retention(instance)
    with instance.sessions() as session:
        kept = set(session.scalars(select(NonBiometricRecord.programme_id)))
    assert kept == {"OLD-1", "NEW-1"}  # OLD-1 was served on day 20, NEW-1 registered on day 20
    instance.clock = lambda: real_clock() + timedelta(days=51)
    run_retention(instance)
    with instance.sessions() as session:
        assert session.scalars(select(NonBiometricRecord)).all() == []
    register(api, gallery, "LAST-1")
    assert api.client.post(f"/v1/galleries/{gallery}/close", headers=api.headers["admin"]).status_code == 200
    with instance.sessions() as session:
        assert session.scalars(select(NonBiometricRecord)).all() == []  # the purpose is met: gone with the gallery


def test_a_record_the_retention_erased_keeps_a_receipt_and_its_number_says_why(api, instance, settings):
    """As a subject erased by the retention keeps a tombstone that says why (R7): the record's number is answered
    ``record_erased`` with the retention's reason, and a withdrawal asked afterwards gets the erasure's receipt."""
    from datetime import timedelta

    from tessera.workflows.retention import run_retention

    gallery = api.gallery()
    api.client.put(f"/v1/galleries/{gallery}/retention", json={"retention_days": 30}, headers=api.headers["admin"])
    allow(api, gallery)
    card = "WFP-CARD-4410-EXPIRED"
    record = register(api, gallery, card).json()
    real_clock = instance.clock
    instance.clock = lambda: real_clock() + timedelta(days=31)
    run_retention(instance)

    by_number = serve(api, gallery, card, record_id=record["record_id"])
    assert by_number.status_code == 404 and by_number.json()["error"]["code"] == "record_erased", by_number.text
    assert by_number.json()["error"]["detail"] == {"reason": "retention_period_ended"}
    assert "retention period ended" in by_number.json()["error"]["message"]
    late = withdraw(api, record["record_id"])
    assert late.status_code == 200, late.text
    receipt = late.json()
    assert receipt["reason"] == "retention_period_ended" and receipt["record_id"] == record["record_id"]
    with instance.sessions() as session:
        entry = session.get_one(AuditEntry, receipt["audit_seq"])
    assert (entry.action, entry.outcome) == ("non_biometric.erase", "retention_period_ended")
    assert json.loads(entry.body)["details"] == {
        "record_id": record["record_id"],
        "receipt_sha256": receipt["receipt_sha256"],
    }
    for name, data in database_files(settings).items():
        assert card.encode() not in data, f"the expired programme id is still in {name}"
    assert withdraw(api, record["record_id"]).json() == receipt  # asked again: the same receipt


def test_a_person_registered_without_biometrics_withdraws_and_the_record_is_erased_before_the_answer(
    api, instance, settings
):
    """GDPR Art. 7(3), 17, as a subject's withdrawal (R7, R8): erased before the answer, from the database's files
    too, audited by the record's number only, with a receipt that a retry answers again."""
    gallery = api.gallery()
    allow(api, gallery)
    card = "WFP-CARD-7731-WITHDRAWN"  # in this person's record, nowhere else
    record = register(api, gallery, card).json()
    assert register(api, gallery, "WFP-CARD-0001").status_code == 201  # a bystander, still served after
    assert serve(api, gallery, card, record_id=record["record_id"]).status_code == 200
    assert any(card.encode() in data for data in database_files(settings).values())  # the check can see it
    refused = withdraw(api, record["record_id"], role="verifier")  # the erase permission, as for a subject
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"

    answer = withdraw(api, record["record_id"])
    assert answer.status_code == 200, answer.text
    receipt = answer.json()
    assert receipt["record_id"] == record["record_id"] and receipt["gallery_id"] == gallery
    assert receipt["reason"] == "withdrawn" and receipt["erased_at"] and len(receipt["receipt_sha256"]) == 64
    fields = {c.name for c in NonBiometricRecord.__table__.columns}
    assert set(receipt["fields_erased"]) == fields - {"id", "gallery_id"}  # every personal field is named
    with instance.sessions() as session:
        assert session.get(NonBiometricRecord, record["record_id"]) is None  # gone before the answer
        entry = session.get_one(AuditEntry, receipt["audit_seq"])
    assert (entry.action, entry.outcome, entry.gallery_id) == ("non_biometric.erase", "withdrawn", gallery)
    details = json.loads(entry.body)["details"]
    assert details == {"record_id": record["record_id"], "receipt_sha256": receipt["receipt_sha256"]}
    for name, data in database_files(settings).items():  # the service still running, its connections open
        assert card.encode() not in data, f"the withdrawn programme id is still in {name}"

    # Served no more: the record's number says why; the programme id alone is no longer known.
    by_number = serve(api, gallery, card, record_id=record["record_id"])
    assert by_number.status_code == 404 and by_number.json()["error"]["code"] == "record_erased", by_number.text
    assert by_number.json()["error"]["detail"] == {"reason": "withdrawn"}
    by_card = serve(api, gallery, card)
    assert by_card.status_code == 404 and by_card.json()["error"]["code"] == "record_not_found"
    assert serve(api, gallery, "WFP-CARD-0001").status_code == 200

    # A retry (a lost answer, a second tap) answers the same receipt; nothing more is audited or erased.
    again = withdraw(api, record["record_id"])
    assert again.status_code == 200 and again.json() == receipt
    with instance.sessions() as session:
        withdrawals = session.scalars(
            select(AuditEntry.seq).where(AuditEntry.action == "non_biometric.erase", AuditEntry.outcome == "withdrawn")
        ).all()
    assert withdrawals == [receipt["audit_seq"]]
    assert api.client.get("/v1/audit/verify", headers=api.headers["auditor"]).json()["ok"] is True
    unknown = withdraw(api, "00000000-0000-0000-0000-000000000000")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "record_not_found"
    # The person may come back: the programme id is free to register again, under a new number.
    back = register(api, gallery, card)
    assert back.status_code == 201 and back.json()["record_id"] != record["record_id"]
