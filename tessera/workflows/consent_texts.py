"""The consent ledger's texts: each version stored exactly as shown, addressed by its SHA-256."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from tessera.errors import Conflict, NotFound
from tessera.store.models import ConsentText
from tessera.workflows.instance import Actor, Instance


def text_sha256(text: str) -> str:
    """SHA-256 of the text's UTF-8 bytes: what a capture device computes of the text it shows."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def register_consent_text(
    instance: Instance,
    actor: Actor | str,
    version: str,
    text: str,
    language: str,
    keeps_reference_photo: bool = False,
) -> ConsentText:
    """Store a consent text exactly as shown; ``keeps_reference_photo`` declares that it tells people a reference
    photo of their face is kept for reviewers (:mod:`tessera.governance.reference_photos`)."""
    digest = text_sha256(text)
    with instance.transaction() as session:
        if session.get(ConsentText, digest) is not None:
            raise Conflict(
                "This exact consent text is already registered.", code="consent_text_exists", detail={"sha256": digest}
            )
        clash = session.scalar(
            select(ConsentText).where(ConsentText.version == version, ConsentText.language == language)
        )
        if clash is not None:
            raise Conflict(
                f"Version {version!r} in {language!r} is already registered with different wording; give the "
                "new text a new version.",
                code="consent_text_version_exists",
            )
        record = ConsentText(
            sha256=digest,
            version=version,
            language=language,
            text=text,
            created_at=instance.clock(),
            created_by=str(actor),
            keeps_reference_photo=keeps_reference_photo,
        )
        session.add(record)
        instance.record(
            session,
            actor,
            "consent_text.register",
            "ok",
            details={
                "version": version,
                "language": language,
                "sha256": digest,
                "keeps_reference_photo": keeps_reference_photo,
            },
        )
    return record


def list_consent_texts(instance: Instance) -> list[ConsentText]:
    with instance.sessions() as session:
        return list(session.scalars(select(ConsentText).order_by(ConsentText.created_at)))


def get_consent_text(session, version: str, sha256: str) -> ConsentText:
    record = session.get(ConsentText, sha256)
    if record is None or record.version != version:
        raise NotFound(
            f"No registered consent text has version {version!r} and SHA-256 {sha256}; register the text shown "
            "to people first.",
            code="unknown_consent_text",
        )
    return record
