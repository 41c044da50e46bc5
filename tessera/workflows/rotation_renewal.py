"""Renewing a gallery's template rotation in an external index (ISO/IEC 24745 renewability).

A gallery's face templates are held by an external index (Milvus) only
rotated by the gallery's secret orthonormal matrix (:mod:`tessera.index.rotation`).
Renewal draws a new random rotation, moves every stored row of the gallery
to it (:meth:`tessera.index.milvus.MilvusIndex.renew_rotation`), then
destroys the previous seed: copies of the engine's data taken before the
renewal no longer match any probe Tessera sends, and cannot be rotated back
even by whoever holds the master key. The rows' old copies leave the
engine's segments at the compaction that follows.

The steps, each safe to repeat: draw the new seed → move the rows of every
face matcher's index → destroy the old seed → audit. A renewal cut off
before its end leaves two seeds held; running it again finishes that
renewal (same two rotations) instead of starting another.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from tessera.errors import InvalidRequest, NotFound
from tessera.index.rotation import GalleryRotation
from tessera.store.models import Gallery, Template
from tessera.store.vault import Vault
from tessera.workflows.instance import Actor, Instance


@dataclass(frozen=True)
class RotationRenewal:
    """What a renewal did: the renewal numbers, the rows moved per face matcher, the seeds destroyed."""

    gallery_id: str
    from_renewal: int
    to_renewal: int
    rows_moved: dict[str, int]
    seeds_destroyed: int


def gallery_rotations(vault: Vault, generation: int = 1) -> Callable[[str, int], GalleryRotation]:
    """``rotation(gallery_id, dimension)``: the rotation a gallery's templates are stored under now, for
    :class:`~tessera.index.milvus.MilvusIndex`.

    That is the gallery's newest renewal, or its first rotation (renewal 0, derived from the master key for the
    index's ``generation``) when it was never renewed. Which renewal is current is read at every call (a listing of
    the vault's rotation key folder, a few files), so a renewal made by another process is followed at once; each
    matrix is drawn once and kept, the previous renewal's dropped when a newer one is met.
    """
    drawn: dict[tuple[str, int], GalleryRotation] = {}
    lock = threading.Lock()

    def rotation(gallery_id: str, dimension: int) -> GalleryRotation:
        renewals = vault.rotation_renewals(gallery_id)
        renewal = renewals[-1] if renewals else 0
        with lock:
            kept = drawn.get((gallery_id, dimension))
            if kept is None or kept.renewal != renewal:
                kept = drawn[(gallery_id, dimension)] = _rotation(vault, gallery_id, dimension, renewal, generation)
            return kept

    return rotation


def _rotation(vault: Vault, gallery_id: str, dimension: int, renewal: int, generation: int) -> GalleryRotation:
    if renewal == 0:
        return GalleryRotation(0, vault.template_rotation(gallery_id, dimension, generation))
    return GalleryRotation(renewal, vault.renewed_template_rotation(gallery_id, dimension, renewal))


def _stored(instance: Instance, template_ids: list[str]) -> set[str]:
    """Those of ``template_ids`` the store still holds (an erasure deletes a subject's templates)."""
    with instance.sessions() as session:
        return set(session.scalars(select(Template.id).where(Template.id.in_(template_ids))))


def renew_gallery_rotation(instance: Instance, actor: Actor | str, gallery_id: str, reason: str) -> RotationRenewal:
    """Re-rotate ``gallery_id``'s templates in the external index under a new secret, destroy the old one; audited
    ``gallery.renew_template_rotation`` with the reason and the rows moved.

    Best run in a maintenance window: another process serving the same index follows the new rotation at its next
    search or write (:func:`gallery_rotations`), but while the rows move its searches of this gallery see only the
    rows already moved (rows are named by rotation: never a wrong score).

    Raises
    ------
    InvalidRequest
        ``reason_required`` for an empty reason; ``index_not_external`` when no face matcher's index is external
        (the in-process index holds templates in memory only: nothing to rotate).
    NotFound
        ``gallery_not_found``.
    """
    from tessera.index.milvus import MilvusIndex

    if not reason.strip():
        raise InvalidRequest("reason must say why the gallery's template rotation is renewed.", code="reason_required")
    with instance.sessions() as session:
        if session.get(Gallery, gallery_id) is None:
            raise NotFound(f"No gallery with id {gallery_id!r}.", code="gallery_not_found")
    indexes = {m.key: m.index for m in instance.matchers.faces if isinstance(m.index, MilvusIndex)}
    if not indexes:
        raise InvalidRequest(
            f"the face index is {instance.settings.index!r}: only an external index (milvus://...) holds rotated "
            "templates to renew.",
            code="index_not_external",
        )
    vault = instance.vault
    held = vault.rotation_renewals(gallery_id)
    if len(held) >= 2:  # a renewal was cut off: finish it
        old_renewal, new_renewal = held[-2], held[-1]
    else:
        old_renewal = held[-1] if held else 0
        new_renewal = vault.new_rotation_renewal(gallery_id)
    rows_moved: dict[str, int] = {}
    for key, index in indexes.items():
        dimension = index.dimension
        if dimension is None:  # nothing indexed yet by this matcher
            rows_moved[key] = 0
            continue
        generation = index.config.rotation_generation
        old = _rotation(vault, gallery_id, dimension, old_renewal, generation)
        new = _rotation(vault, gallery_id, dimension, new_renewal, generation)
        assert np.allclose(new.matrix @ new.matrix.T, np.eye(dimension), atol=1e-9)
        rows_moved[key] = index.renew_rotation(gallery_id, old, new, still_stored=lambda ids: _stored(instance, ids))
    destroyed = sum(vault.destroy_rotation_renewal(gallery_id, renewal) for renewal in held if renewal < new_renewal)
    renewal = RotationRenewal(gallery_id, old_renewal, new_renewal, rows_moved, destroyed)
    with instance.transaction() as session:
        instance.record(
            session,
            actor,
            "gallery.renew_template_rotation",
            "ok",
            gallery_id=gallery_id,
            details={
                "from_renewal": old_renewal,
                "to_renewal": new_renewal,
                "rows_moved": rows_moved,
                "seeds_destroyed": destroyed,
                "reason": reason.strip(),
            },
        )
    return renewal
