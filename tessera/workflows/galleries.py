"""Galleries: the sets of enrolled people of one programme, searched together."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from tessera.errors import Conflict, NotFound
from tessera.store.models import Gallery
from tessera.workflows.instance import Actor, Instance

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
