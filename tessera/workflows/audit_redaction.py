"""What an auditor's search of the log is not told: the candidates of a search before two reviewers confirmed them.

The stored chain keeps every entry whole (it is what ``tessera audit
verify`` recomputes); only the answer of ``GET /v1/audit`` is redacted. An
entry that belongs to a search (its details carry the ``search_id``) names
none of that search's candidates that the search's requester may not be told
of yet (:func:`tessera.workflows.disclosure.disclosed_subjects`, the one
rule): the ``candidates`` list keeps the confirmed ones and says how many
were withheld, and any other mention (the entry's ``subject_id``, a field of
its details) is replaced by :data:`WITHHELD`. An auditor who needs a
candidate reads the case as an adjudicator would, or after its review.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from tessera.store.models import CaseCandidate
from tessera.workflows import disclosure

WITHHELD = "withheld:unconfirmed_candidate"
"""What stands in an answered entry where a candidate not yet confirmed by two reviewers was named."""


def hidden_candidates(session: Session, search_ids: Iterable[str]) -> dict[str, set[str]]:
    """For each search, the subjects among its case's candidates (catch trials too) its requester may not be told."""
    rows: dict[str, list[tuple[str, bool, str]]] = defaultdict(list)
    wanted = sorted(set(search_ids))
    if not wanted:
        return {}
    statement = select(
        CaseCandidate.search_id, CaseCandidate.subject_id, CaseCandidate.catch_trial, CaseCandidate.status
    ).where(CaseCandidate.search_id.in_(wanted))
    for search_id, subject_id, catch_trial, status in session.execute(statement):
        rows[search_id].append((subject_id, catch_trial, status))
    return {
        search_id: {row[0] for row in case} - set(disclosure.disclosed_subjects(case))
        for search_id, case in rows.items()
    }


def redact_entries(session: Session, entries: list[dict]) -> list[dict]:
    """The answered entries (as :func:`tessera.workflows.audit_search.shown_entry` shapes them) with every
    unconfirmed candidate of the search they belong to withheld; entries of no search are returned as they are."""
    searches = [entry["details"].get("search_id") for entry in entries]
    hidden = hidden_candidates(session, [s for s in searches if isinstance(s, str)])
    return [redact_entry(entry, hidden.get(entry["details"].get("search_id"), set())) for entry in entries]


def redact_entry(entry: dict, hidden: set[str]) -> dict:
    """One entry with the subjects in ``hidden`` withheld (the entry itself is not changed: a copy is returned)."""
    if not hidden:
        return entry
    details = dict(entry["details"])
    candidates = details.get("candidates")
    if isinstance(candidates, list):
        kept = [c for c in candidates if not (isinstance(c, dict) and c.get("subject_id") in hidden)]
        details["candidates"] = kept
        details["candidates_withheld"] = len(candidates) - len(kept)
    subject_id = WITHHELD if entry["subject_id"] in hidden else entry["subject_id"]
    return {**entry, "subject_id": subject_id, "details": _withhold(details, hidden)}


def _withhold(value: object, hidden: set[str]) -> object:
    """``value`` (JSON: dicts, lists, strings, numbers) with every string in ``hidden`` replaced by WITHHELD."""
    if isinstance(value, str):
        return WITHHELD if value in hidden else value
    if isinstance(value, dict):
        return {key: _withhold(item, hidden) for key, item in value.items()}
    if isinstance(value, list):
        return [_withhold(item, hidden) for item in value]
    return value
