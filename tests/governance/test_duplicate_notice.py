"""The registration a confirmed duplicate check erases gets a notice of its own, and can contest it (R31, R32).

Through the service with fake face algorithms: a person enrolled once is enrolled again under a new subject; the
duplicate check holds it and gives the field worker a case number; two reviewers confirm; the new registration is
erased and a notice for it is kept under that case number (and its erased subject id), saying what happened and
how to contest, never whom it was found to duplicate. A contest of it is re-reviewed by reviewers who did not take
the first decision; an overturned finding is told under the same case number (register again) and to the record
it matched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from tessera.governance.notices import ERASED_WORDS, FOR_ERASED
from tessera.store.models import AuditEntry, CaseCandidate, Notice, Subject
from tests.fakes import face_image
from tests.governance.people import RATIONALE, fake_settings, trained_reviewer
from tests.service_fixtures import SHARED_TEXT, Api, png

REJECT = {"decision": "reject", "rationale": "The blocks on the left cheek differ clearly."}
CONFIRM = {"decision": "confirm", "rationale": RATIONALE}
FRENCH = "J'accepte que mon visage serve à vérifier qui je suis et à vérifier que je ne suis pas enregistré deux fois."


@pytest.fixture
def settings(tmp_path):
    return fake_settings(tmp_path, complaint_contact="Call 0800 123 456 (free) or write to dpo@example.org.")


@pytest.fixture
def reviewers(instance):
    return {name: trained_reviewer(instance, name) for name in ("first", "second", "third", "fourth")}


@dataclass
class Duplicate:
    gallery: str
    first: str
    """The record the new registration was found to duplicate."""
    second: str
    """The new registration, held for review."""
    case_number: str
    search_id: str
    candidate_id: str


def held_duplicate(api: Api, instance, person: int = 7, **consent) -> Duplicate:
    """A person enrolled, then enrolled again under a new subject: held for review with a case number."""
    gallery = api.gallery(name=f"Duplicates {person}")
    first = api.subject(gallery)
    assert api.enrol(first, png(face_image(person))).status_code == 201
    second = api.subject(gallery, signed_by="Field officer B. Okello", **consent)
    held = api.enrol(second, png(face_image(person, photo=1)))
    assert held.status_code == 202, held.text
    case_number = held.json()["review"]["case_number"]
    with instance.sessions() as session:
        search_id, candidate_id = session.execute(
            select(CaseCandidate.search_id, CaseCandidate.id).where(CaseCandidate.subject_id == first)
        ).one()
    return Duplicate(gallery, first, second, case_number, search_id, candidate_id)


def decide(api: Api, case: Duplicate, reviewers: list[dict], decision: dict) -> None:
    for reviewer in reviewers:
        response = api.client.post(
            f"/v1/searches/{case.search_id}/candidates/{case.candidate_id}/decision", json=decision, headers=reviewer
        )
        assert response.status_code == 200, response.text


def notices(api: Api, **query) -> list[dict]:
    response = api.client.get("/v1/notices", params=query, headers=api.headers["enroller"])
    assert response.status_code == 200, response.text
    return response.json()["notices"]


def contested(api: Api, notice_id: str, grounds: str, decision: dict, reviewers: dict) -> None:
    """A contest of ``notice_id`` opened by a field worker and decided ``decision`` by the third and fourth
    reviewers (neither took the first decision)."""
    opened = api.client.post(
        "/v1/contests", json={"notice_id": notice_id, "grounds": grounds}, headers=api.headers["enroller"]
    )
    assert opened.status_code == 201, opened.text
    for name in ("third", "fourth"):
        decided = api.client.post(
            f"/v1/contests/{opened.json()['contest_id']}/decision", json=decision, headers=reviewers[name]
        )
        assert decided.status_code == 200, decided.text


def the_other_record(instance, case: Duplicate) -> list[str]:
    """Everything that could name or point to the record the registration was found to duplicate."""
    with instance.sessions() as session:
        number = session.get_one(Subject, case.first).number
        their_notices = list(session.scalars(select(Notice.id).where(Notice.subject_id == case.first)))
        candidate = session.get_one(CaseCandidate, case.candidate_id)
    return [case.first, number, *their_notices, case.candidate_id, case.search_id, candidate.template_id]


def test_a_confirmed_duplicate_makes_a_notice_for_the_erased_registration_naming_no_one_else(api, instance, reviewers):
    """Mutations M80, M81, M82 (tests/governance/mutations.py): no notice for the erased registration, one that
    names the record it matched, or one not found by its case number fails this test."""
    case = held_duplicate(api, instance)
    decide(api, case, [reviewers["first"], reviewers["second"]], CONFIRM)
    gone = api.client.get(f"/v1/subjects/{case.second}", headers=api.headers["admin"])
    assert gone.status_code == 404 and gone.json()["error"]["detail"] == {"reason": "duplicate_confirmed"}

    [notice] = notices(api, reference=case.case_number)
    assert notice["kind"] == "duplicate_erased" and notice["erased"] and notice["reference"] == case.case_number
    assert notice["subject_id"] == case.second and notice["can_contest"]
    assert notices(api, subject_id=case.second) == [notice]  # the field worker's way in: the erased number
    assert notices(api, reference=case.case_number.lower()) == [notice]
    text = notice["text"]
    day = notice["created_at"][:10]
    for said in (
        f"On {day}, two trained reviewers decided",
        f"your registration (case {case.case_number})",
        "a person already enrolled in this programme, and it was erased",
        "they cannot be restored",
        f"give a field worker the case number {case.case_number}",
        "reviewers who did not take it will look at it again",
        "you can register again, with a new consent",
    ):
        assert said in text, said
    assert notice["how_to_complain"].startswith("Call 0800 123 456")
    assert "case number" in notice["how_to_contest"]
    # Nothing of the other record or its person, and no template, score or photo.
    shown = json.dumps(notice)
    for other in the_other_record(instance, case):
        assert other not in shown, other
    assert not {"score", "fmr", "template", "image", "reference_image"} & set(notice)
    with instance.sessions() as session:
        row = session.scalar(select(Notice).where(Notice.reference == case.case_number))
        assert row is not None and row.subject_id is None and row.erased_subject_id == case.second
        # The matched record keeps its own notice, as before; no one else is told anything.
        kinds = sorted(
            (n.subject_id, n.kind) for n in session.scalars(select(Notice).where(Notice.reference.is_(None)))
        )
        assert kinds == [(case.first, "confirmed_match")]


def test_the_notice_speaks_the_language_of_the_consent_text_shown(api, instance, reviewers):
    """Mutation M83 (tests/governance/mutations.py): an erased registration's notice in English for a person shown
    the French consent text fails this test."""
    registered = api.client.post(
        "/v1/consent-texts", json={**SHARED_TEXT, "text": FRENCH, "language": "fr"}, headers=api.headers["admin"]
    )
    assert registered.status_code == 201, registered.text
    case = held_duplicate(api, instance, person=8, text=FRENCH)
    decide(api, case, [reviewers["first"], reviewers["second"]], CONFIRM)
    [notice] = notices(api, reference=case.case_number)
    assert notice["language"] == "fr"
    assert "deux examinateurs formés" in notice["text"] and "ne peuvent pas être rétablis" in notice["text"]
    assert f"dossier {case.case_number}" in notice["text"]


def test_every_language_has_every_erased_notice():
    assert all(set(words) == FOR_ERASED for words in ERASED_WORDS.values())


def test_contesting_the_erasure_is_re_reviewed_by_others_and_the_overturned_finding_is_told_under_the_reference(
    api, instance, reviewers
):
    """Mutations M84, M85, M86 (tests/governance/mutations.py): a contest of an erased registration's notice
    refused, its first reviewers allowed to re-review it, or the record it matched left with a standing finding
    fails this test."""
    case = held_duplicate(api, instance, person=9)
    decide(api, case, [reviewers["first"], reviewers["second"]], CONFIRM)
    [notice] = notices(api, reference=case.case_number)
    opened = api.client.post(
        "/v1/contests",
        json={"notice_id": notice["notice_id"], "grounds": "I registered only once, this is my first visit."},
        headers=api.headers["enroller"],
    )
    assert opened.status_code == 201, opened.text
    contest_id = opened.json()["contest_id"]
    for name in ("first", "second"):  # the reviewers who confirmed it neither see it nor decide it
        assert api.client.get("/v1/contests", headers=reviewers[name]).json()["contests"] == []
        refused = api.client.post(f"/v1/contests/{contest_id}/decision", json=REJECT, headers=reviewers[name])
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "first_reviewer_cannot_rereview"
    [waiting] = api.client.get("/v1/contests", headers=reviewers["third"]).json()["contests"]
    assert waiting["contest_id"] == contest_id and "first visit" in waiting["grounds"]
    for name in ("third", "fourth"):
        decided = api.client.post(f"/v1/contests/{contest_id}/decision", json=REJECT, headers=reviewers[name])
        assert decided.status_code == 200, decided.text
    assert decided.json()["outcome"] == "overturned"

    by_kind = {n["kind"]: n for n in notices(api, reference=case.case_number)}
    assert set(by_kind) == {"duplicate_erased", "duplicate_corrected"}
    assert not by_kind["duplicate_erased"]["can_contest"]
    corrected = by_kind["duplicate_corrected"]
    assert corrected["subject_id"] == case.second and not corrected["can_contest"]
    assert "found it was wrong" in corrected["text"] and "cannot be restored" in corrected["text"]
    assert "Please register again with a field worker, with a new consent" in corrected["text"]
    shown = json.dumps(corrected)
    for other in the_other_record(instance, case):
        assert other not in shown, other
    # The record it matched is told too, and its finding can no longer be contested.
    theirs = {n["kind"]: n for n in notices(api, subject_id=case.first)}
    assert set(theirs) == {"confirmed_match", "match_corrected"} and not theirs["confirmed_match"]["can_contest"]
    assert case.second not in json.dumps(theirs) and case.case_number not in json.dumps(theirs)
    late = api.client.post(
        "/v1/contests",
        json={"notice_id": theirs["confirmed_match"]["notice_id"], "grounds": "That was not me at all, I think."},
        headers=api.headers["enroller"],
    )
    assert late.status_code == 409 and late.json()["error"]["code"] == "not_contestable"
    with instance.sessions() as session:
        assert session.get_one(CaseCandidate, case.candidate_id).status == "rejected"
        corrections = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "finding.corrected")))
    assert [json.loads(e.body)["details"]["contest_id"] for e in corrections] == [contest_id]
    assert api.client.get("/v1/audit/verify", headers=api.headers["admin"]).json()["ok"]


def test_an_upheld_erasure_is_told_under_the_reference(api, instance, reviewers):
    case = held_duplicate(api, instance, person=10)
    decide(api, case, [reviewers["first"], reviewers["second"]], CONFIRM)
    [notice] = notices(api, reference=case.case_number)
    contested(api, notice["notice_id"], "I registered only once, this is my first visit.", CONFIRM, reviewers)
    kinds = sorted(n["kind"] for n in notices(api, reference=case.case_number))
    assert kinds == ["duplicate_erased", "duplicate_upheld"]
    assert sorted(n["kind"] for n in notices(api, subject_id=case.first)) == ["confirmed_match"]


def test_a_finding_corrected_on_the_matched_persons_contest_is_told_to_the_erased_registration(
    api, instance, reviewers
):
    """Mutation M96 (tests/governance/mutations.py) fails this test: either party's contest corrects the finding for
    both."""
    case = held_duplicate(api, instance, person=11)
    decide(api, case, [reviewers["first"], reviewers["second"]], CONFIRM)
    [theirs] = notices(api, subject_id=case.first)
    contested(api, theirs["notice_id"], "I have never registered anyone else.", REJECT, reviewers)
    kinds = sorted(n["kind"] for n in notices(api, reference=case.case_number))
    assert kinds == ["duplicate_corrected", "duplicate_erased"]
    assert sorted(n["kind"] for n in notices(api, subject_id=case.first)) == ["confirmed_match", "finding_corrected"]


def test_a_rejected_lead_makes_no_notice(api, instance, reviewers):
    """Mutation M87 (tests/governance/mutations.py): a notice made for a registration whose lead was rejected fails
    this test."""
    case = held_duplicate(api, instance, person=12)
    decide(api, case, [reviewers["first"], reviewers["second"]], REJECT)
    assert api.client.get(f"/v1/subjects/{case.second}", headers=api.headers["admin"]).json()["status"] == "active"
    assert notices(api, reference=case.case_number) == []
    assert notices(api, subject_id=case.second) == []
    with instance.sessions() as session:
        assert session.scalars(select(Notice)).all() == []


class Crash(Exception):
    """A process killed at this point of the settlement."""


def crash_once(monkeypatch, module, name: str, when=lambda *args, **kwargs: True) -> None:
    """``module.name`` raises :class:`Crash` the first time it is called with arguments ``when`` accepts."""
    original = getattr(module, name)
    crashed = []

    def crashing(*args, **kwargs):
        if not crashed and when(*args, **kwargs):
            crashed.append(name)
            raise Crash(name)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, crashing)


def settled_once(api: Api, instance, case: Duplicate) -> None:
    """The registration is erased, its case closed as erased with the erasure's receipt, and it has one notice."""
    from tessera.store.models import DedupCase, Tombstone

    gone = api.client.get(f"/v1/subjects/{case.second}", headers=api.headers["admin"])
    assert gone.status_code == 404 and gone.json()["error"]["detail"] == {"reason": "duplicate_confirmed"}
    assert [notice["kind"] for notice in notices(api, reference=case.case_number)] == ["duplicate_erased"]
    with instance.sessions() as session:
        settled = session.get_one(DedupCase, case.search_id)
        assert settled.outcome == "erased"
        assert settled.receipt_sha256 == session.get_one(Tombstone, case.second).receipt_sha256


@pytest.mark.parametrize("step", ["after_the_notice", "after_the_erasure"])
def test_a_settlement_cut_short_by_a_crash_is_finished_with_one_notice_by_the_retention_run(
    api, instance, reviewers, monkeypatch, step
):
    """The notice is made first, in its own transaction, then the registration erased, then the case closed: a
    crash between two of them leaves an open case, which the retention run settles, the notice made once. (Made
    in the case's closing transaction, after the erasure, a crash between the two left an erased registration with
    no notice, and a retry closed the case as a withdrawal.)"""
    from tessera.workflows import dedup, subjects
    from tessera.workflows.retention import run_retention

    if step == "after_the_notice":
        crash_once(monkeypatch, subjects, "erase_subject")
    else:
        crash_once(monkeypatch, dedup, "_close", lambda *args, **kwargs: args[4] == "erased")
    case = held_duplicate(api, instance, person=11)
    decide(api, case, [reviewers["first"]], CONFIRM)
    last = api.client.post(
        f"/v1/searches/{case.search_id}/candidates/{case.candidate_id}/decision",
        json=CONFIRM,
        headers=reviewers["second"],
    )
    assert last.status_code == 500  # the process "died" in the settlement; the decision itself was kept
    assert [notice["kind"] for notice in notices(api, reference=case.case_number)] == ["duplicate_erased"]
    erased = api.client.get(f"/v1/subjects/{case.second}", headers=api.headers["admin"]).status_code == 404
    assert erased == (step == "after_the_erasure")

    run_retention(instance)
    settled_once(api, instance, case)
    run_retention(instance)  # nothing left to settle: no second notice, no second receipt
    settled_once(api, instance, case)
