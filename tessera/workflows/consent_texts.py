"""The consent ledger's texts: each version stored exactly as shown, addressed by its SHA-256.

A text belongs to one gallery, or is shared by every gallery (``gallery_id``
None), and names the modalities and purposes it asks consent for
(:func:`tessera.governance.consent.check_text_covers`). ``version`` is the
text's content id: its language versions share it, one per language.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence

from sqlalchemy import or_, select

from tessera.errors import Conflict, InvalidRequest, NotFound
from tessera.governance.vocabulary import Modality, Purpose
from tessera.store.models import ConsentText, Gallery
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.scope import check_gallery


def text_sha256(text: str) -> str:
    """SHA-256 of the text's UTF-8 bytes: what a capture device computes of the text it shows."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def register_consent_text(
    instance: Instance,
    actor: Actor | str,
    version: str,
    text: str,
    language: str,
    *,
    gallery_id: str | None = None,
    modalities: Sequence[Modality | str] = tuple(Modality),
    purposes: Sequence[Purpose | str] = tuple(Purpose),
    keeps_reference_photo: bool = False,
) -> ConsentText:
    """Register a text exactly as shown; ``gallery_id`` None shares it with every gallery;
    ``keeps_reference_photo`` declares that it tells people a reference photo of their face is kept for reviewers
    (:mod:`tessera.governance.reference_photos`).

    A language version of a registered text (same ``version``, another language) must be for the same gallery,
    modalities and purposes: a translation cannot ask for more than the text it translates.
    """
    try:
        modality_values = sorted({Modality(m).value for m in modalities})
        purpose_values = sorted({Purpose(p).value for p in purposes})
    except ValueError as error:
        raise InvalidRequest(
            f"{error}; modalities are {[m.value for m in Modality]}, purposes {[p.value for p in Purpose]}.",
            code="invalid_request",
        ) from None
    if not modality_values or not purpose_values:
        raise InvalidRequest("A consent text names at least one modality and one purpose.", code="invalid_request")
    digest = text_sha256(text)
    with instance.transaction() as session:
        if gallery_id is not None and session.get(Gallery, gallery_id) is None:
            raise NotFound(f"No gallery with id {gallery_id!r}.", code="gallery_not_found")
        if session.get(ConsentText, digest) is not None:
            raise Conflict(
                "This exact consent text is already registered.", code="consent_text_exists", detail={"sha256": digest}
            )
        siblings = list(session.scalars(select(ConsentText).where(ConsentText.version == version)))
        if any(t.language == language for t in siblings):
            raise Conflict(
                f"Version {version!r} in {language!r} is already registered with different wording; give the "
                "new text a new version.",
                code="consent_text_version_exists",
            )
        for sibling in siblings:
            if (sibling.gallery_id, sorted(sibling.modalities), sorted(sibling.purposes)) != (
                gallery_id,
                modality_values,
                purpose_values,
            ):
                raise Conflict(
                    f"Version {version!r} is registered in {sibling.language!r} for another gallery, modalities or "
                    "purposes; a language version must ask for exactly what the text it translates asks for.",
                    code="consent_text_versions_differ",
                )
        record = ConsentText(
            sha256=digest,
            version=version,
            language=language,
            text=text,
            created_at=instance.clock(),
            created_by=str(actor),
            gallery_id=gallery_id,
            modalities=modality_values,
            purposes=purpose_values,
            keeps_reference_photo=keeps_reference_photo,
        )
        session.add(record)
        instance.record(
            session,
            actor,
            "consent_text.register",
            "ok",
            gallery_id=gallery_id,
            details={
                "version": version,
                "language": language,
                "sha256": digest,
                "shared": gallery_id is None,
                "modalities": modality_values,
                "purposes": purpose_values,
                "keeps_reference_photo": keeps_reference_photo,
            },
        )
    return record


def list_consent_texts(
    instance: Instance,
    actor: Actor | str | None = None,
    gallery_id: str | None = None,
    language: str | None = None,
) -> list[ConsentText]:
    """The texts ``actor`` may read, oldest first: a gallery's own and the shared ones when ``gallery_id`` is
    given (checked against the key's galleries), else every text the key's galleries reach."""
    if gallery_id is not None and actor is not None:
        check_gallery(instance, actor, gallery_id, "consent_text.list")
    reach: Collection[str] | None = (
        [gallery_id] if gallery_id is not None else (actor.galleries if isinstance(actor, Actor) else None)
    )
    query = select(ConsentText).order_by(ConsentText.created_at, ConsentText.language)
    if reach is not None:
        query = query.where(or_(ConsentText.gallery_id.is_(None), ConsentText.gallery_id.in_(sorted(reach))))
    if language is not None:
        query = query.where(ConsentText.language == language)
    with instance.sessions() as session:
        return list(session.scalars(query))


def describe(text: ConsentText, *, with_text: bool = True) -> dict:
    """A text as the API answers it."""
    return {
        "version": text.version,
        "language": text.language,
        "sha256": text.sha256,
        "gallery_id": text.gallery_id,
        "shared": text.gallery_id is None,
        "modalities": list(text.modalities),
        "purposes": list(text.purposes),
        "keeps_reference_photo": text.keeps_reference_photo,
        "registered_at": text.created_at.isoformat(),
        **({"text": text.text} if with_text else {}),
    }


def get_consent_text(session, version: str, sha256: str) -> ConsentText:
    record = session.get(ConsentText, sha256)
    if record is None or record.version != version:
        raise NotFound(
            f"No registered consent text has version {version!r} and SHA-256 {sha256}; register the text shown "
            "to people first.",
            code="unknown_consent_text",
        )
    return record
