"""The enrolment receipt (issue 17, item 3): what was captured, for what, until when, how to withdraw, complain."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tessera.store.models import AuditEntry, Subject
from tessera.workflows.receipts import WORDS, kept_until
from tests.fakes import face_image
from tests.governance.people import fake_settings
from tests.service_fixtures import CONSENT_TEXT, SHARED_TEXT, png

FRENCH = "J'accepte que mon visage serve à vérifier qui je suis et à vérifier que je ne suis pas enregistré deux fois."


@pytest.fixture
def settings(tmp_path):
    return fake_settings(tmp_path, complaint_contact="Call 0800 123 456 (free) or write to dpo@example.org.")


def test_the_receipt_says_what_for_until_when_and_how_to_withdraw_or_complain(api, instance):
    """Mutations M64 to M68 (tests/governance/mutations.py): a receipt without the withdrawal or complaint
    instructions, kept until a date past the consent's end, listing purposes not consented to or not saying what
    was captured fails this test."""
    gallery = api.gallery()
    api.client.put(f"/v1/galleries/{gallery}/retention", json={"retention_days": 400}, headers=api.headers["admin"])
    subject = api.subject(gallery, purposes=("verify",), expires_in_days=200)
    assert api.enrol(subject, png(face_image(3))).status_code == 201
    response = api.client.get(f"/v1/subjects/{subject}/receipt", headers=api.headers["enroller"])
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = response.text
    assert 'name="viewport"' in page and "@media print" in page
    assert subject in page and "1 face photo(s)" in page and "are not kept" in page
    assert "to check it is you when you come back" in page and "registered twice" not in page  # verify only
    with instance.sessions() as session:
        row = session.get_one(Subject, subject)
        until = kept_until(row.last_interaction_at, 400, row.consent.expires_at)
    assert until == row.consent.expires_at  # consent ends before 400 days: the earlier date is the one printed
    assert f"<dd>{until.date().isoformat()} at the latest." in page
    assert "tell any field worker" in page and "Call 0800 123 456" in page
    assert CONSENT_TEXT.replace("'", "&#x27;") in page
    assert "without your face" not in page  # the gallery does not serve people without biometrics
    with instance.sessions() as session:
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "subject.receipt")) is not None


def test_the_receipt_speaks_the_language_of_the_consent_text(api):
    """Mutation M69 (tests/governance/mutations.py): a receipt in English for a person shown the French text fails
    this test."""
    gallery = api.gallery()
    registered = api.client.post(
        "/v1/consent-texts", json={**SHARED_TEXT, "text": FRENCH, "language": "fr"}, headers=api.headers["admin"]
    )
    assert registered.status_code == 201, registered.text
    subject = api.subject(gallery)
    english = api.client.get(f"/v1/subjects/{subject}/receipt", headers=api.headers["enroller"]).text
    assert "Your enrolment receipt" in english and "also available in: fr" in english
    french = api.client.get(f"/v1/subjects/{subject}/receipt", params={"lang": "fr"}, headers=api.headers["enroller"])
    assert '<html lang="fr">' in french.text and "Votre reçu" in french.text
    assert "J&#x27;accepte que mon visage" in french.text
    unknown = api.client.get(f"/v1/subjects/{subject}/receipt", params={"lang": "sw"}, headers=api.headers["enroller"])
    assert "Your enrolment receipt" in unknown.text  # no Swahili text registered: the one shown
    shown_french = api.subject(gallery, text=FRENCH)
    receipt = api.client.get(f"/v1/subjects/{shown_french}/receipt", headers=api.headers["enroller"]).text
    assert '<html lang="fr">' in receipt and "Votre reçu" in receipt  # unasked: the language of the text shown
    assert "Ce reçu existe aussi en: en" in receipt


def test_every_language_has_every_word():
    assert all(set(words) == set(WORDS["en"]) for words in WORDS.values())


def test_kept_until_is_the_earlier_of_retention_and_consent():
    from datetime import UTC, datetime

    last = datetime(2026, 1, 1, tzinfo=UTC)
    assert kept_until(last, 30, last + timedelta(days=365)) == last + timedelta(days=30)
    assert kept_until(last, 365, last + timedelta(days=30)) == last + timedelta(days=30)
