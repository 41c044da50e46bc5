"""Gallery scope in the workflows: a key limited to galleries reaches nothing outside them.

Every workflow that acts on a gallery, a subject or a search calls one of
these first, before it decodes an image or reads a record. A key outside its
galleries is answered :class:`~tessera.errors.NotFound` with the code and
message an id that does not exist gets (``gallery_not_found``,
``subject_not_found``, ``search_not_found``), so that it cannot learn what
other galleries hold; the refusal is audited (``refused:out_of_scope``, with
the gallery it aimed at) for the auditors of both. Global keys and local
operators (``cli:<user>``, ``system:retention``) pass.
"""

from __future__ import annotations

from sqlalchemy import select

from tessera.errors import NotFound
from tessera.governance.scope import reaches
from tessera.store.models import Gallery, Search, Subject, Tombstone
from tessera.workflows.instance import Actor, Instance

OUT_OF_SCOPE = "refused:out_of_scope"
"""The audit outcome of a request a key's galleries do not reach."""

_LOGGED_ID_CHARS = 64
"""How much of an id that names nothing is logged (ids are 36 characters; a longer one is someone's noise)."""


def galleries_of(actor: Actor | str) -> frozenset[str] | None:
    """The galleries ``actor`` is limited to; None: every gallery (a global key or a local operator)."""
    return actor.galleries if isinstance(actor, Actor) else None


def check_gallery(instance: Instance, actor: Actor | str, gallery_id: str, action: str) -> None:
    """Refuse (audited 404 ``gallery_not_found``) a gallery outside the key's galleries."""
    scope = galleries_of(actor)
    if reaches(scope, gallery_id):
        return
    with instance.sessions() as session:
        exists = session.get(Gallery, gallery_id) is not None
    _refuse(instance, actor, action, gallery_id if exists else None, None, gallery_id)
    raise NotFound(f"No gallery with id {gallery_id!r}.", code="gallery_not_found")


def check_subject(instance: Instance, actor: Actor | str, subject_id: str, action: str) -> None:
    """Refuse (audited 404 ``subject_not_found``) a subject, present or erased, outside the key's galleries."""
    scope = galleries_of(actor)
    if scope is None:
        return
    with instance.sessions() as session:
        gallery_id = session.scalar(select(Subject.gallery_id).where(Subject.id == subject_id))
        if gallery_id is None:
            gallery_id = session.scalar(select(Tombstone.gallery_id).where(Tombstone.subject_id == subject_id))
    if reaches(scope, gallery_id):
        return
    _refuse(instance, actor, action, gallery_id, subject_id if gallery_id else None, subject_id)
    raise NotFound(f"No subject with id {subject_id!r}.", code="subject_not_found")


def check_search(instance: Instance, actor: Actor | str, search_id: str, action: str) -> None:
    """Refuse (audited 404 ``search_not_found``) a search of a gallery outside the key's galleries."""
    scope = galleries_of(actor)
    if scope is None:
        return
    with instance.sessions() as session:
        gallery_id = session.scalar(select(Search.gallery_id).where(Search.id == search_id))
    if reaches(scope, gallery_id):
        return
    _refuse(instance, actor, action, gallery_id, None, search_id)
    raise NotFound(f"No search with id {search_id!r}.", code="search_not_found")


def _refuse(
    instance: Instance,
    actor: Actor | str,
    action: str,
    gallery_id: str | None,
    subject_id: str | None,
    requested: str,
) -> None:
    """Audit a request outside the key's galleries: the gallery it aimed at (None: nothing by that id)."""
    instance.record_alone(
        actor,
        action,
        OUT_OF_SCOPE,
        gallery_id=gallery_id,
        subject_id=subject_id,
        details={"requested": requested[:_LOGGED_ID_CHARS], "key_galleries": sorted(galleries_of(actor) or ())},
    )


def check_found(
    instance: Instance, actor: Actor | str, gallery_id: str | None, requested: str, action: str, missing: NotFound
) -> None:
    """Refuse (audited, then ``missing``) a thing found in ``gallery_id`` (None: not found at all) that the key does
    not reach, or that does not exist: for the rows of one gallery that are not galleries, subjects or searches
    (notices, contests, complaints, non-biometric records)."""
    if gallery_id is not None and reaches(galleries_of(actor), gallery_id):
        return
    if gallery_id is not None:
        _refuse(instance, actor, action, gallery_id, None, requested)
    raise missing
