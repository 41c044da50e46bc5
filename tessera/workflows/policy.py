"""Purpose binding and switches: who may search a gallery, for what, and the kill switch."""

from __future__ import annotations

from tessera.errors import Conflict, InvalidRequest, NotFound, ServiceUnavailable, TesseraError
from tessera.governance.retention import check_retention_days
from tessera.governance.vocabulary import SEARCH_PURPOSES
from tessera.store.models import Gallery, SystemFlag
from tessera.workflows.instance import Actor, Instance

SUSPENSION_FLAG = "identification_suspended"


def enable_identification(
    instance: Instance, actor: Actor | str, gallery_id: str, dpia_reference: str, purposes: list[str] | None = None
) -> Gallery:
    """Allow 1:N searches of a gallery, citing the impact assessment that justifies them."""
    dpia_reference = dpia_reference.strip()
    if not dpia_reference:
        raise InvalidRequest("dpia_reference must name the data-protection impact assessment.", code="dpia_required")
    purposes = purposes or ["deduplicate"]
    unknown = sorted(set(purposes) - set(SEARCH_PURPOSES))
    if unknown:
        raise InvalidRequest(
            f"purposes {unknown} do not allow a 1:N search; allowed: {sorted(SEARCH_PURPOSES)}.",
            code="purpose_not_searchable",
        )
    with instance.transaction() as session:
        gallery = _gallery(session, gallery_id)
        gallery.identification_enabled_at = instance.clock()
        gallery.dpia_reference = dpia_reference
        gallery.search_purposes = sorted(set(purposes))
        instance.record(
            session,
            actor,
            "gallery.enable_identification",
            "ok",
            gallery_id=gallery_id,
            details={"dpia_reference": dpia_reference, "purposes": gallery.search_purposes},
        )
    return gallery


def disable_identification(instance: Instance, actor: Actor | str, gallery_id: str) -> Gallery:
    with instance.transaction() as session:
        gallery = _gallery(session, gallery_id)
        gallery.identification_enabled_at = None
        gallery.dpia_reference = None
        instance.record(session, actor, "gallery.disable_identification", "ok", gallery_id=gallery_id)
    return gallery


def set_retention(instance: Instance, actor: Actor | str, gallery_id: str, retention_days: int) -> Gallery:
    try:
        check_retention_days(retention_days)
    except ValueError as error:
        raise InvalidRequest(str(error), code="invalid_retention") from None
    with instance.transaction() as session:
        gallery = _gallery(session, gallery_id)
        gallery.retention_days = retention_days
        instance.record(
            session,
            actor,
            "gallery.set_retention",
            "ok",
            gallery_id=gallery_id,
            details={"retention_days": retention_days},
        )
    return gallery


def set_suspension(instance: Instance, actor: Actor | str, engaged: bool, reason: str) -> dict:
    """The global kill switch: while engaged, no 1:N search runs anywhere in the instance."""
    value = {"engaged": bool(engaged), "reason": reason}
    with instance.transaction() as session:
        flag = session.get(SystemFlag, SUSPENSION_FLAG)
        if flag is None:
            flag = SystemFlag(name=SUSPENSION_FLAG, value=value, updated_at=instance.clock(), updated_by=str(actor))
            session.add(flag)
        else:
            flag.value, flag.updated_at, flag.updated_by = value, instance.clock(), str(actor)
        instance.record(
            session, actor, "identification.suspend" if engaged else "identification.resume", "ok", details=value
        )
    return value | {"updated_at": flag.updated_at.isoformat(), "updated_by": str(actor)}


def suspension(instance: Instance) -> dict:
    with instance.sessions() as session:
        flag = session.get(SystemFlag, SUSPENSION_FLAG)
        return dict(flag.value) if flag else {"engaged": False, "reason": ""}


def check_search_allowed(
    instance: Instance,
    actor: Actor | str,
    gallery_id: str,
    purpose: str,
    case_reference: str,
    action: str = "face.identify",
) -> Gallery:
    """Every rule a 1:N search must pass before a probe is even decoded; refusals are audited under ``action``."""
    with instance.sessions() as session:
        gallery = _gallery(session, gallery_id)
    refusal = search_refusal(instance, gallery, purpose, case_reference)
    if refusal is not None:
        instance.record_alone(
            actor,
            action,
            f"refused:{refusal.code}",
            gallery_id=gallery_id,
            details={"purpose": purpose, "case_reference": case_reference},
        )
        raise refusal
    return gallery


def search_refusal(
    instance: Instance, gallery: Gallery, purpose: str, case_reference: str | None
) -> TesseraError | None:
    """Why a 1:N search of ``gallery`` may not run (an error to raise), or None; ``case_reference`` None: not
    given yet (the console's check before the camera opens), so not checked."""
    state = suspension(instance)
    if state["engaged"]:
        return ServiceUnavailable(
            f"All 1:N searches are suspended by an administrator ({state['reason'] or 'no reason given'}).",
            code="identification_suspended",
        )
    if gallery.closed_at is not None:
        return Conflict("This gallery was closed when its purpose was met.", code="gallery_closed")
    if gallery.identification_enabled_at is None:
        return Conflict(
            "1:N search is not enabled for this gallery; an admin must enable it citing its impact assessment (DPIA).",
            code="identification_not_enabled",
        )
    if purpose not in SEARCH_PURPOSES:
        return InvalidRequest(
            f"purpose {purpose!r} does not allow a 1:N search; allowed: {', '.join(sorted(SEARCH_PURPOSES))}.",
            code="purpose_not_searchable",
        )
    if purpose not in gallery.search_purposes:
        return Conflict(
            f"This gallery may be searched only for: {', '.join(gallery.search_purposes)}.", code="purpose_not_allowed"
        )
    if case_reference is not None and not case_reference.strip():
        return InvalidRequest("case_reference must say which case this search is for.", code="case_reference_required")
    return None


def _gallery(session, gallery_id: str) -> Gallery:
    gallery = session.get(Gallery, gallery_id)
    if gallery is None:
        raise NotFound(f"No gallery with id {gallery_id!r}.", code="gallery_not_found")
    return gallery
