"""Aggregate counts per period, from the audit trail: never personal data, and no count small enough to point at
a person (:mod:`tessera.governance.small_counts`)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from tessera.governance.complaints import CLOSED, overdue
from tessera.governance.separation import SINGLE_ADMIN_EXCEPTION
from tessera.governance.small_counts import Shown, protect, shown
from tessera.governance.vocabulary import ReviewStatus
from tessera.store.models import AuditEntry, Complaint, Contest
from tessera.workflows.adjudication import reviewer_accuracy
from tessera.workflows.instance import Instance

PERIODS = {"day": "%Y-%m-%d", "month": "%Y-%m", "year": "%Y"}
VERIFY_ACTIONS = ("face.verify", "finger.verify")
"""One per modality compared: a face + fingers request is also counted once under ``fused_verifications``."""
SEARCH_ACTIONS = ("face.identify", "finger.identify", "multimodal.identify")
PEOPLE_ACTIONS = frozenset(
    {
        "notice.create",
        "notice.hand_over",
        "contest.open",
        "finding.corrected",
        "complaint.open",
        "complaint.status",
        "subject.receipt",
        "non_biometric.register",
        "non_biometric.serve",
        "non_biometric.erase",
        SINGLE_ADMIN_EXCEPTION,
    }
)
"""What people are told and how they answer back, the separation-of-duties exceptions, and the people served
without biometrics (never counted with the biometric figures): each counted under :func:`people_count`."""


def people_count(action: str, outcome: str, details: dict) -> str:
    """The transparency counter of one of :data:`PEOPLE_ACTIONS`' entries."""
    return {
        "notice.create": f"notices.{outcome}",
        "notice.hand_over": "notices_handed_over",
        "contest.open": "contests_opened",
        "finding.corrected": "findings_corrected",
        "complaint.open": "complaints_opened",
        "complaint.status": f"complaints_{outcome}" + ("_late" if details.get("was_overdue") else ""),
        "subject.receipt": "receipts_read",
        "non_biometric.register": f"non_biometric_registrations.{outcome}",
        "non_biometric.serve": f"non_biometric_services.{outcome}",
        "non_biometric.erase": f"non_biometric_erasures.{outcome}",
        SINGLE_ADMIN_EXCEPTION: "separation_single_admin_exceptions",
    }[action]


def counts_per_period(
    instance: Instance, period: str = "day", since: datetime | None = None, galleries: frozenset[str] | None = None
) -> dict[str, Counter]:
    """The exact counts per ``period`` since ``since``, of the galleries in ``galleries`` (None: the whole instance).

    What the report is computed from, never published as such: small counts among them can point at a person
    (:func:`transparency_report` publishes them under :mod:`tessera.governance.small_counts`). Counts limited to
    galleries count only the audit entries of those galleries (an entry of no gallery, such as a start-up, counts
    nowhere in them).
    """
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}; got {period!r}")
    rows: dict[str, Counter] = defaultdict(Counter)
    query = select(AuditEntry.at, AuditEntry.action, AuditEntry.outcome, AuditEntry.body).order_by(AuditEntry.seq)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if galleries is not None:
        query = query.where(AuditEntry.gallery_id.in_(sorted(galleries)))
    with instance.sessions() as session:
        for at, action, outcome, body in session.execute(query):
            counts = rows[at.strftime(PERIODS[period])]
            details = json.loads(body).get("details", {})
            if outcome.startswith("refused:"):
                counts[f"refusals.{outcome.removeprefix('refused:')}"] += 1
                continue
            if action == "subject.create":
                counts["enrolments"] += 1
            elif action == "face.enrol":
                counts["face_captures"] += 1
            elif action == "finger.enrol":
                counts["finger_captures"] += 1
            elif action == "face.migrate":
                counts[f"face_templates_added_at_verification.{outcome}"] += 1
            elif action in VERIFY_ACTIONS:
                counts[f"verifications.{outcome}"] += 1
            elif action == "multimodal.verify":
                counts[f"fused_verifications.{outcome}"] += 1
            elif action in SEARCH_ACTIONS:
                counts[f"searches.{details.get('purpose', 'unknown')}"] += 1
                counts["candidates_shown"] += len(details.get("candidates", []))
            elif action == "subject.erase":
                reason = details.get("reason", "unknown")
                counts["withdrawals" if reason == "consent_withdrawn" else f"erasures.{reason}"] += 1
            elif action in PEOPLE_ACTIONS:
                counts[people_count(action, outcome, details)] += 1
            elif action == "contest.decide":
                if details.get("outcome"):
                    counts[f"contests_decided.{details['outcome']}"] += 1
            elif action == "adjudication.decide":
                status = details.get("status")
                if status in (ReviewStatus.CONFIRMED, ReviewStatus.REJECTED) and not details.get("catch_trial"):
                    counts[f"candidates_{status}"] += 1
    return dict(rows)


def transparency_report(
    instance: Instance, period: str = "month", since: datetime | None = None, galleries: frozenset[str] | None = None
) -> dict:
    """Counts per ``period`` from the one holding ``since``, of the galleries in ``galleries`` (None: the instance).

    Every count is published under the minimum count ``k`` (setting ``transparency_min_count``) by
    :mod:`tessera.governance.small_counts`: below ``k`` it reads ``{"fewer_than": k}``, and a count withheld so
    that no small one can be worked out by subtraction reads ``{"at_least": k}``. The withholding is decided once
    on the whole record's days, months and years together, so that no granularity and no ``since`` undoes
    another's: ``since`` picks the first period listed, and every period is counted whole (a cut inside a period
    would let two reports a minute apart be subtracted). A counter below ``k`` over the whole record is not listed
    at all, except :data:`ALWAYS_LISTED`. The catch-trial figures follow :func:`catch_trials`.
    """
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}; got {period!r}")
    k = instance.settings.transparency_min_count
    published = published_calendar(counts_per_period(instance, "day", None, galleries), k)
    first = None if since is None else since.astimezone(UTC).strftime(PERIODS[period])
    listed = sorted({key for cells in published.values() for key in cells if len(key) == _KEY_LENGTH[period]})
    return {
        "period": period,
        "now": {name: shown(count, k) for name, count in standing(instance, galleries).items()},
        "galleries": None if galleries is None else sorted(galleries),
        "periods": {
            key: {counter: cells[key] for counter, cells in sorted(published.items())}
            for key in listed
            if first is None or key >= first
        },
        "catch_trials": catch_trials(reviewer_accuracy(instance, galleries), k),
        "minimum_count": k,
        "notice": f"Aggregate counts only; no person is named or can be singled out. A count below {k}, 0 included, "
        f'reads {{"fewer_than": {k}}}; {{"at_least": {k}}} is a count withheld so that no small count can be '
        f"worked out by subtracting the other days, months or years from a total. A figure that stayed below {k} "
        "over the whole record is not listed.",
    }


ALWAYS_LISTED = ("enrolments", "withdrawals")
"""Listed in every report, even below the minimum count over the whole record, so that the report keeps its shape."""
MIN_REVIEWERS = 3
"""Reviewers who must have decided catch trials before their false confirmations are counted in the open: with two,
each could subtract their own from the total and read the other's (the usual rule of at least three contributors to
a published figure)."""
_KEY_LENGTH = {"day": len("YYYY-MM-DD"), "month": len("YYYY-MM"), "year": len("YYYY")}


def published_calendar(days: dict[str, Counter], k: int) -> dict[str, dict[str, Shown]]:
    """Each counter's days, months and years from the first day counted to the last, as published.

    Parameters
    ----------
    days : dict of str to Counter
        Exact counts per day (``YYYY-MM-DD``), from :func:`counts_per_period`.
    k : int
        The minimum count published as a number.

    Returns
    -------
    dict of str to dict of str to Shown
        Per counter, every day, month (``YYYY-MM``) and year (``YYYY``) of the record, 0 included: a day is part of
        its month's sum and a month of its year's, and :func:`tessera.governance.small_counts.protect` withholds
        across all three at once.
    """
    if not days:
        return {}
    calendar = _calendar(min(days), max(days))
    parent = {day: day[:7] for day in calendar} | {day[:7]: day[:4] for day in calendar}
    totals = Counter[str]()
    for counts in days.values():
        totals.update(counts)
    published = {}
    for counter in sorted({*ALWAYS_LISTED, *(name for name, total in totals.items() if total >= k)}):
        cells = dict.fromkeys({*parent, *parent.values()}, 0)
        for day in calendar:
            count = days.get(day, Counter())[counter]
            cells[day] += count
            cells[day[:7]] += count
            cells[day[:4]] += count
        published[counter] = protect(cells, parent, k)
    return published


def catch_trials(accuracy: dict[str, dict], k: int) -> dict:
    """The catch trials decided and the false confirmations among them, with their rate, as published.

    A rate over a few decisions is a reviewer's slip told to whoever knows who reviewed: the number of false
    confirmations follows the minimum count (0 to k-1 reads ``{"fewer_than": k}``), the rate is given only over at
    least ``k`` decisions, and as a bound (``{"below": k / decisions}``) while the false confirmations are fewer than
    ``k``. With fewer than :data:`MIN_REVIEWERS` reviewers the false confirmations are a bound only and no rate is
    given.
    """
    decisions = sum(entry["catch_trials"] for entry in accuracy.values())
    false_confirms = sum(entry["false_confirms"] for entry in accuracy.values())
    rate: float | dict | None = None
    if len(accuracy) < MIN_REVIEWERS:
        counted: Shown = shown(false_confirms, k) if false_confirms < k else {"at_least": k}
        note = f"fewer than {MIN_REVIEWERS} reviewers decided catch trials: their false confirmations are not counted"
    elif decisions < k:
        counted, note = shown(false_confirms, k), f"no rate over fewer than {k} decisions"
    elif false_confirms < k:
        counted, rate = shown(false_confirms, k), {"below": k / decisions}
        note = f"fewer than {k} false confirmations: the rate is given as a bound"
    else:
        counted, rate, note = false_confirms, false_confirms / decisions, None
    return {"decisions": shown(decisions, k), "false_confirms": counted, "false_confirm_rate": rate, "note": note}


def _calendar(first: str, last: str) -> list[str]:
    """Every day from ``first`` to ``last`` (``YYYY-MM-DD``), both included."""
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [(start + timedelta(days=offset)).isoformat() for offset in range((end - start).days + 1)]


def standing(instance: Instance, galleries: frozenset[str] | None) -> dict:
    """What stands open now: complaints not closed (and how many past a time limit) and contests not decided."""
    complaints = select(Complaint.status, Complaint.opened_at).where(Complaint.status.not_in(sorted(CLOSED)))
    # A person's contest of an erased registration is one row per finding it re-reviews: counted once, by notice.
    contests = select(Contest.notice_id).where(Contest.status == "open").distinct()
    if galleries is not None:
        complaints = complaints.where(Complaint.gallery_id.in_(sorted(galleries)))
        contests = contests.where(Contest.gallery_id.in_(sorted(galleries)))
    settings, now = instance.settings, instance.clock()
    with instance.sessions() as session:
        open_complaints = session.execute(complaints).all()
        open_contests = len(session.scalars(contests).all())
    late = [
        status
        for status, opened_at in open_complaints
        if overdue(status, opened_at, now, settings.complaint_acknowledge_days, settings.complaint_resolve_days)
    ]
    return {"complaints_open": len(open_complaints), "complaints_overdue": len(late), "contests_open": open_contests}
