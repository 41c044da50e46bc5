"""Every read of personal data leaves an audit entry: who, whom, when and why (:mod:`tessera.governance.reads`)."""

from __future__ import annotations

from tessera.errors import InvalidRequest
from tessera.governance.reads import purpose_problem
from tessera.workflows.instance import Actor, Instance

PURPOSE_REQUIRED = "purpose_required"


def require_purpose(
    instance: Instance,
    actor: Actor | str,
    action: str,
    subject_id: str,
    gallery_id: str,
    owner: str,
    purpose: str | None,
) -> None:
    """Refuse (audited 422 ``purpose_required``) a read of a person the reader did not enrol, without a reason."""
    problem = purpose_problem(owner, str(actor), purpose)
    if problem is None:
        return
    instance.record_alone(actor, action, f"refused:{PURPOSE_REQUIRED}", subject_id=subject_id, gallery_id=gallery_id)
    raise InvalidRequest(problem, code=PURPOSE_REQUIRED)


def record_read(
    instance: Instance,
    actor: Actor | str,
    action: str,
    *,
    subject_id: str | None = None,
    gallery_id: str | None = None,
    purpose: str | None = None,
    details: dict | None = None,
) -> None:
    """Audit one read (outcome ``ok``): the reader, the person (or search) read, and the reason given."""
    reason = (purpose or "").strip() or None
    instance.record_alone(
        actor,
        action,
        "ok",
        subject_id=subject_id,
        gallery_id=gallery_id,
        details={"purpose": reason, **(details or {})},
    )
