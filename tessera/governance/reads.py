"""Reads of personal data: who read whom, when and why.

Every read of a person's data (a subject-access export, a consent proof, a
search's candidates, a review case, the audit trail itself) leaves an audit
entry naming the reader, the person or search read, and the reason the
reader gave (GDPR Art. 5(2), 30 and 32(4): accountability for access; EU AI
Act Art. 12 for the searches). A key reading a person it did not enrol must
say why (``purpose``): reading someone else's file is the access an auditor
needs to be able to question.
"""

from __future__ import annotations

MIN_PURPOSE_CHARS = 3
"""The shortest reason accepted for reading a person's data one did not enrol (e.g. a ticket number)."""
MAX_PURPOSE_CHARS = 500


def purpose_problem(owner: str, reader: str, purpose: str | None) -> str | None:
    """Why a read of a subject by ``reader`` cannot go ahead, or None when it can.

    Parameters
    ----------
    owner : str
        Who created the subject (``Subject.created_by``).
    reader : str
        Who reads (an audit actor: ``key:<id>`` or ``cli:<user>``).
    purpose : str or None
        The reason the reader gave.
    """
    given = (purpose or "").strip()
    if len(given) > MAX_PURPOSE_CHARS:
        return f"purpose is {len(given):,} characters long; at most {MAX_PURPOSE_CHARS} are recorded."
    if reader == owner or len(given) >= MIN_PURPOSE_CHARS:
        return None
    return (
        "This person was enrolled by another key: say why you read their data in purpose (at least "
        f"{MIN_PURPOSE_CHARS} characters, e.g. a request or ticket number). It is recorded in the audit log."
    )
