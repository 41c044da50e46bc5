"""Galleries: the sets of enrolled people of one programme, searched together."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from tessera.errors import Conflict, NotFound
from tessera.store.models import Gallery, Subject
from tessera.workflows.instance import Actor, Instance


def create_gallery(instance: Instance, actor: Actor | str, name: str, purpose: str) -> Gallery:
    with instance.transaction() as session:
        if session.scalar(select(Gallery.id).where(Gallery.name == name)) is not None:
            raise Conflict(f"A gallery named {name!r} already exists.", code="gallery_exists")
        gallery = Gallery(
            id=str(uuid.uuid4()), name=name, purpose=purpose, created_at=instance.clock(), created_by=str(actor)
        )
        session.add(gallery)
        instance.record(
            session, actor, "gallery.create", "ok", gallery_id=gallery.id, details={"name": name, "purpose": purpose}
        )
    return gallery


def get_gallery(instance: Instance, gallery_id: str) -> Gallery:
    with instance.sessions() as session:
        gallery = session.get(Gallery, gallery_id)
    if gallery is None:
        raise NotFound(f"No gallery with id {gallery_id!r}.", code="gallery_not_found")
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
