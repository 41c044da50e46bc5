"""Galleries: the sets of enrolled people of one programme, searched together."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from tessera.errors import Conflict, InvalidRequest, NotFound
from tessera.governance.vocabulary import ConsentEvidence
from tessera.store.models import Gallery, Subject
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.scope import check_gallery

LIVENESS_POLICIES = ("supervised", "unsupervised")
"""A gallery's liveness policy (docs/liveness.md)."""


def create_gallery(
    instance: Instance, actor: Actor | str, name: str, purpose: str, liveness: str = "supervised"
) -> Gallery:
    """Create a gallery; ``liveness`` is its policy (:data:`LIVENESS_POLICIES`)."""
    if liveness not in LIVENESS_POLICIES:
        raise ValueError(f"liveness must be one of {', '.join(LIVENESS_POLICIES)}; got {liveness!r}")
    with instance.transaction() as session:
        if session.scalar(select(Gallery.id).where(Gallery.name == name)) is not None:
            raise Conflict(f"A gallery named {name!r} already exists.", code="gallery_exists")
        gallery = Gallery(
            id=str(uuid.uuid4()),
            name=name,
            purpose=purpose,
            created_at=instance.clock(),
            created_by=str(actor),
            liveness=liveness,
        )
        session.add(gallery)
        instance.record(
            session,
            actor,
            "gallery.create",
            "ok",
            gallery_id=gallery.id,
            details={"name": name, "purpose": purpose, "liveness": liveness},
        )
    return gallery


def get_gallery(instance: Instance, gallery_id: str) -> Gallery:
    with instance.sessions() as session:
        gallery = session.get(Gallery, gallery_id)
    if gallery is None:
        raise NotFound(f"No gallery with id {gallery_id!r}.", code="gallery_not_found")
    return gallery


def gallery_settings(instance: Instance, actor: Actor | str, gallery_id: str) -> dict:
    """What a worker must know of a gallery before working in it: whether 1:N search is on (and whether the
    instance's kill switch stops it), the retention period, the consent evidence it accepts and the consent texts
    it offers (its own and the shared ones, without their wording: ``GET /v1/consent-texts`` has it)."""
    from tessera.workflows.consent_texts import describe, list_consent_texts
    from tessera.workflows.policy import suspension

    check_gallery(instance, actor, gallery_id, "gallery.read")
    gallery = get_gallery(instance, gallery_id)
    texts = list_consent_texts(instance, actor, gallery_id)
    enabled = gallery.identification_enabled_at
    return {
        "gallery_id": gallery.id,
        "name": gallery.name,
        "purpose": gallery.purpose,
        "closed": gallery.closed_at is not None,
        "identification": {
            "enabled": enabled is not None,
            "enabled_at": enabled.isoformat() if enabled else None,
            "dpia_reference": gallery.dpia_reference,
            "search_purposes": list(gallery.search_purposes) if enabled else [],
            "suspended": bool(suspension(instance)["engaged"]),
        },
        "retention_days": gallery.retention_days,
        "consent_evidence": list(gallery.consent_evidence),
        "consent_texts": [describe(text, with_text=False) for text in texts],
    }


def set_consent_evidence(instance: Instance, actor: Actor | str, gallery_id: str, accepted: list[str]) -> Gallery:
    """Choose how a consent may be signified in the gallery (at least one kind); audited."""
    kinds = sorted({ConsentEvidence(kind).value for kind in accepted})
    if not kinds:
        raise InvalidRequest("accepted must name at least one kind of consent evidence.", code="invalid_request")
    with instance.transaction() as session:
        gallery = session.get(Gallery, gallery_id)
        if gallery is None:
            raise NotFound(f"No gallery with id {gallery_id!r}.", code="gallery_not_found")
        gallery.consent_evidence = kinds
        instance.record(
            session, actor, "gallery.set_consent_evidence", "ok", gallery_id=gallery_id, details={"accepted": kinds}
        )
    return gallery


def list_galleries(instance: Instance) -> list[dict[str, object]]:
    """Every gallery, oldest first, with its 1:N, duplicate-check and retention settings and subjects by status
    (for the operator's ``tessera galleries list``; no person's data)."""
    from tessera.workflows.dedup import dedup_enabled

    with instance.sessions() as session:
        counts: dict[str, dict[str, int]] = {}
        for gallery_id, status, count in session.execute(
            select(Subject.gallery_id, Subject.status, func.count()).group_by(Subject.gallery_id, Subject.status)
        ):
            counts.setdefault(gallery_id, {})[status] = count
        return [
            {
                "id": gallery.id,
                "name": gallery.name,
                "purpose": gallery.purpose,
                "created_at": gallery.created_at.isoformat(),
                "identification": gallery.identification_enabled_at is not None,
                "dpia_reference": gallery.dpia_reference,
                "search_purposes": list(gallery.search_purposes),
                "dedup_at_enrolment": dedup_enabled(gallery),
                "retention_days": gallery.retention_days,
                "closed": gallery.closed_at is not None,
                "subjects": counts.get(gallery.id, {}),
            }
            for gallery in session.scalars(select(Gallery).order_by(Gallery.created_at, Gallery.id))
        ]
