"""Gallery scope: which galleries a key reaches, and what each route does with a key limited to some.

A key is global (``galleries`` is None: every admin key, and keys created
without ``--gallery``) or limited to a set of galleries. docs/roles.md lists
every route with its :class:`RouteScope`; tests/security/test_gallery_scope.py
calls every route with every role, in and out of scope, and fails on a route
that does not declare one.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum

MAX_GALLERIES_PER_KEY = 100
"""A key limited to more galleries than this should be a global key; the limit bounds the key's lookup."""


class RouteScope(StrEnum):
    """What a route does with a key limited to galleries (``x-gallery-scope`` in the OpenAPI document)."""

    GALLERY = "gallery"
    """It acts in one gallery: the one it names, or the gallery of the subject or search it names. Outside the
    key's galleries it answers 404 exactly as for an id that does not exist, and audits ``refused:out_of_scope``."""
    FILTERED = "filtered"
    """It reports on several galleries: a limited key is answered about its own galleries only."""
    INSTANCE = "instance"
    """It holds nothing of any gallery (consent texts, the audit chain's integrity, the key's own role): the same
    answer for every key allowed to call it."""
    GLOBAL = "global"
    """Only admin keys hold its permission, and admin keys are never limited to galleries."""


def reaches(galleries: Collection[str] | None, gallery_id: str | None) -> bool:
    """Whether a key limited to ``galleries`` (None: a global key) reaches ``gallery_id`` (None: no such thing)."""
    return galleries is None or (gallery_id is not None and gallery_id in galleries)
