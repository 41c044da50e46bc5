"""Aggregate counts per period, from the audit trail: never personal data."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime

from sqlalchemy import select

from tessera.governance.complaints import CLOSED, overdue
from tessera.governance.separation import SINGLE_ADMIN_EXCEPTION
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


def transparency_report(
    instance: Instance, period: str = "month", since: datetime | None = None, galleries: frozenset[str] | None = None
) -> dict:
    """Counts per ``period`` since ``since``, of the galleries in ``galleries`` (None: the whole instance).

    A report limited to galleries counts only the audit entries of those galleries (an entry of no gallery, such as
    a start-up, counts nowhere in it) and the catch trials of their searches.
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
    accuracy = reviewer_accuracy(instance, galleries)
    trials = sum(entry["catch_trials"] for entry in accuracy.values())
    false_confirms = sum(entry["false_confirms"] for entry in accuracy.values())
    return {
        "period": period,
        "now": _standing(instance, galleries),
        "galleries": None if galleries is None else sorted(galleries),
        "periods": {key: dict(sorted(counts.items())) for key, counts in sorted(rows.items())},
        "catch_trials": {
            "decisions": trials,
            "false_confirms": false_confirms,
            "false_confirm_rate": false_confirms / trials if trials else None,
        },
        "notice": "Aggregate counts only; no person is named or can be singled out.",
    }


def _standing(instance: Instance, galleries: frozenset[str] | None) -> dict:
    """What stands open now: complaints not closed (and how many past a time limit) and contests not decided."""
    complaints = select(Complaint.status, Complaint.opened_at).where(Complaint.status.not_in(sorted(CLOSED)))
    contests = select(Contest.id).where(Contest.status == "open")
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
