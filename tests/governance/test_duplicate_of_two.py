"""A registration found to duplicate two records at once: its contest re-reviews both findings (R31, R32).

Through the service with fake face algorithms: one person enrolled twice while the gallery's check was off (two
records), then a third time with the check on; the check lists both records, two reviewers confirm both, and the
new registration is erased. Its contest re-reviews every confirmed finding of the case, each by two reviewers who
did not take the first decision; each finding is corrected only if its own re-review overturns it, and the outcome
notices say how many stand, never whose records they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from tessera.store.models import AuditEntry, CaseCandidate, Contest, Subject
from tessera.workflows import transparency
from tests.fakes import face_image
from tests.governance.people import RATIONALE, fake_settings
from tests.service_fixtures import Api, png

REJECT = {"decision": "reject", "rationale": "The blocks on the left cheek differ clearly."}
CONFIRM = {"decision": "confirm", "rationale": RATIONALE}
GROUNDS = "I registered only once, this is my first visit."


@pytest.fixture
def settings(tmp_path):
    return fake_settings(tmp_path)


@dataclass
class TwoFound:
    case_number: str
    search_id: str
    erased: str
    """The new registration, erased as a duplicate of both records."""
    records: dict[str, str]
    """``"a"`` and ``"b"``, the two records it was found to duplicate: their subject ids."""
    candidates: dict[str, str]
    """The candidate id of each record in the check's case."""


def two_found(api: Api, instance, reviewers: dict, person: int = 7) -> TwoFound:
    """The same person enrolled twice with the check off, then again with it on: both records confirmed."""
    gallery = api.gallery(name=f"Twice enrolled {person}")
    for setting in (False, None):
        if setting is None:
            records = {}
            for name, photo in (("a", 0), ("b", 1)):
                records[name] = api.subject(gallery)
                assert api.enrol(records[name], png(face_image(person, photo=photo))).status_code == 201
        switched = api.client.put(
            f"/v1/galleries/{gallery}/dedup", json={"dedup_at_enrolment": setting}, headers=api.headers["admin"]
        )
        assert switched.status_code == 200, switched.text
    erased = api.subject(gallery)
    held = api.enrol(erased, png(face_image(person, photo=2)))
    assert held.status_code == 202, held.text
    with instance.sessions() as session:
        rows = session.execute(select(CaseCandidate.subject_id, CaseCandidate.id, CaseCandidate.search_id)).all()
    by_subject = {subject: candidate for subject, candidate, _ in rows}
    assert set(by_subject) == set(records.values()), "the check should list both records of the person"
    found = TwoFound(
        held.json()["review"]["case_number"],
        rows[0][2],
        erased,
        records,
        {name: by_subject[subject] for name, subject in records.items()},
    )
    for candidate in found.candidates.values():
        for reviewer in ("first", "second"):
            decided = api.client.post(
                f"/v1/searches/{found.search_id}/candidates/{candidate}/decision",
                json=CONFIRM,
                headers=reviewers[reviewer],
            )
            assert decided.status_code == 200, decided.text
    assert api.client.get(f"/v1/subjects/{erased}", headers=api.headers["admin"]).status_code == 404
    return found


def notices(api: Api, **query) -> list[dict]:
    response = api.client.get("/v1/notices", params=query, headers=api.headers["enroller"])
    assert response.status_code == 200, response.text
    return response.json()["notices"]


def kinds(api: Api, **query) -> list[str]:
    return sorted(n["kind"] for n in notices(api, **query))


def contest_of(api: Api, instance, notice_id: str) -> dict[str, str]:
    """Open a contest of ``notice_id``; the contest of each finding it re-reviews, by candidate id."""
    opened = api.client.post(
        "/v1/contests", json={"notice_id": notice_id, "grounds": GROUNDS}, headers=api.headers["enroller"]
    )
    assert opened.status_code == 201, opened.text
    with instance.sessions() as session:
        rows = session.execute(select(Contest.candidate_id, Contest.id).where(Contest.notice_id == notice_id)).all()
    assert sorted(opened.json()["contest_ids"]) == sorted(contest for _, contest in rows)
    return dict(rows)


def re_review(api: Api, contest_id: str, decision: dict, reviewers: dict, names=("third", "fourth")) -> dict:
    for name in names:
        decided = api.client.post(f"/v1/contests/{contest_id}/decision", json=decision, headers=reviewers[name])
        assert decided.status_code == 200, decided.text
    return decided.json()


def statuses(instance, found: TwoFound) -> dict[str, str]:
    with instance.sessions() as session:
        return {name: session.get_one(CaseCandidate, c).status for name, c in found.candidates.items()}


def names_of_records(instance, found: TwoFound) -> list[str]:
    with instance.sessions() as session:
        numbers = [session.get_one(Subject, s).number for s in found.records.values()]
    return [*found.records.values(), *numbers, *found.candidates.values(), found.search_id]


def test_contesting_the_erasure_re_reviews_both_findings_and_corrects_only_the_one_found_wrong(
    api, instance, reviewers
):
    """Mutation M95 (tests/governance/mutations.py): a contest that re-reviews the best-scored finding only fails
    this test."""
    found = two_found(api, instance, reviewers)
    [erasure] = notices(api, reference=found.case_number)
    contests = contest_of(api, instance, erasure["notice_id"])
    assert set(contests) == set(found.candidates.values()), "both confirmed findings are re-reviewed"
    assert transparency.standing(instance, None)["contests_open"] == 1  # one person's contest, of two findings
    for name in ("first", "second"):  # the first reviewers of either finding neither see nor decide them
        assert api.client.get("/v1/contests", headers=reviewers[name]).json()["contests"] == []
    assert len(api.client.get("/v1/contests", headers=reviewers["third"]).json()["contests"]) == 2
    first = re_review(api, contests[found.candidates["a"]], REJECT, reviewers)
    assert first["outcome"] == "overturned"
    assert kinds(api, reference=found.case_number) == ["duplicate_erased"]  # told once both are decided
    kept = re_review(api, contests[found.candidates["b"]], CONFIRM, reviewers)
    assert kept["outcome"] == "upheld"

    assert statuses(instance, found) == {"a": "rejected", "b": "confirmed"}
    by_kind = {n["kind"]: n for n in notices(api, reference=found.case_number)}
    assert set(by_kind) == {"duplicate_erased", "duplicate_partly_corrected"}
    outcome = by_kind["duplicate_partly_corrected"]
    assert outcome["subject_id"] == found.erased and not outcome["can_contest"]
    assert "matched 2 records" in outcome["text"] and "found 1 of these findings wrong and kept 1" in outcome["text"]
    assert "stays erased" in outcome["text"] and "register again" not in outcome["text"]
    assert not by_kind["duplicate_erased"]["can_contest"]
    shown = json.dumps(list(by_kind.values()))
    for other in names_of_records(instance, found):
        assert other not in shown, other
    # The record found wrongly matched is told; the one whose finding stands is not, and may still contest it.
    theirs = {n["kind"]: n for n in notices(api, subject_id=found.records["a"])}
    assert set(theirs) == {"confirmed_match", "match_corrected"} and not theirs["confirmed_match"]["can_contest"]
    [standing] = notices(api, subject_id=found.records["b"])
    assert standing["kind"] == "confirmed_match" and standing["can_contest"]
    assert found.erased not in json.dumps([*theirs.values(), standing])
    with instance.sessions() as session:
        corrections = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "finding.corrected")))
    assert [json.loads(e.body)["details"]["candidate_id"] for e in corrections] == [found.candidates["a"]]
    assert api.client.get("/v1/audit/verify", headers=api.headers["admin"]).json()["ok"]


def test_both_findings_overturned_tell_the_registration_once_to_register_again(api, instance, reviewers):
    found = two_found(api, instance, reviewers, person=8)
    [erasure] = notices(api, reference=found.case_number)
    contests = contest_of(api, instance, erasure["notice_id"])
    for candidate in found.candidates.values():
        assert re_review(api, contests[candidate], REJECT, reviewers)["outcome"] == "overturned"

    assert statuses(instance, found) == {"a": "rejected", "b": "rejected"}
    assert kinds(api, reference=found.case_number) == ["duplicate_corrected", "duplicate_erased"]
    for record in found.records.values():
        assert kinds(api, subject_id=record) == ["confirmed_match", "match_corrected"]


def test_a_record_s_own_contest_corrects_its_finding_only_and_the_other_still_stands(api, instance, reviewers):
    """The best-scored record's own contest overturns its finding (the one the registration's notice is kept
    under): the registration is not told to register again while the other finding stands, and its own contest
    then re-reviews that one only."""
    found = two_found(api, instance, reviewers, person=9)
    with instance.sessions() as session:
        score = {name: session.get_one(CaseCandidate, c).score for name, c in found.candidates.items()}
    best, other = sorted(score, key=lambda name: (-score[name], found.candidates[name]))
    [theirs] = notices(api, subject_id=found.records[best])
    [own] = contest_of(api, instance, theirs["notice_id"]).values()
    re_review(api, own, REJECT, reviewers)
    assert kinds(api, subject_id=found.records[best]) == ["confirmed_match", "finding_corrected"]
    [erasure] = notices(api, reference=found.case_number)
    assert erasure["kind"] == "duplicate_erased" and erasure["can_contest"]

    contests = contest_of(api, instance, erasure["notice_id"])
    assert list(contests) == [found.candidates[other]]
    re_review(api, contests[found.candidates[other]], REJECT, reviewers)
    assert kinds(api, reference=found.case_number) == ["duplicate_corrected", "duplicate_erased"]
    assert kinds(api, subject_id=found.records[other]) == ["confirmed_match", "match_corrected"]
