"""The audit trail: its integrity (every link recomputed) and its search by auditors (itself audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from tessera.api.deps import FILTERED, INSTANCE, InstanceDep, require
from tessera.api.schemas import AuditCheckOut
from tessera.governance.consent import IsoAwareDatetime
from tessera.governance.roles import Permission
from tessera.workflows.audit_search import MAX_PAGE, AuditQuery, search_audit
from tessera.workflows.instance import Actor

router = APIRouter(prefix="/v1/audit", tags=["audit"])

AuditReader = Annotated[Actor, Depends(require(Permission.READ_AUDIT))]


@router.get("/verify", response_model=AuditCheckOut, summary="Recompute the audit hash chain", openapi_extra=INSTANCE)
def get_audit_verify(instance: InstanceDep, actor: AuditReader):
    return instance.verify_audit().as_dict()


@router.get(
    "",
    summary="Search the audit trail: who did what to whom, when and why (paged; the search is audited)",
    openapi_extra=FILTERED,
)
def get_audit(
    instance: InstanceDep,
    actor: AuditReader,
    actor_key: Annotated[
        str | None, Query(max_length=64, description="Entries by this key (its id, or key:<id>, cli:<user>).")
    ] = None,
    subject_id: Annotated[
        str | None, Query(max_length=36, description="Entries about this person, or naming them (a search read).")
    ] = None,
    action: Annotated[
        str | None, Query(max_length=64, description="An action (subject.export), or a prefix ending in * (subject.*).")
    ] = None,
    gallery_id: Annotated[str | None, Query(max_length=36, description="Entries of this gallery.")] = None,
    since: Annotated[IsoAwareDatetime | None, Query(description="From this time (ISO 8601 with its offset).")] = None,
    until: Annotated[IsoAwareDatetime | None, Query(description="Before this time (ISO 8601 with its offset).")] = None,
    after: Annotated[
        int, Query(ge=0, le=2**63 - 1, description="The seq of the last entry of the previous page.")
    ] = 0,  # at most a 64-bit integer, as the store keeps it (a larger one was a 500)
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Entries per page, oldest first.")] = 100,
):
    query = AuditQuery(actor_key, subject_id, action, gallery_id, since, until, after, limit)
    return search_audit(instance, actor, query)
