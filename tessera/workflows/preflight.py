"""Checks before the camera opens: may this enrolment, verification or search run here, now?

The console asks before it starts a camera, so that a field worker hears
"1:N search is switched off", "no person with this number", "the person did
not consent to fingers", "this gallery is closed", "this self-service gallery
needs the liveness check" or "your role may not do this" before anyone is
photographed. Each check is the same rule the real
request applies first (the same functions, so the two cannot drift), and
answers with the same error and reason code; nothing is decoded or changed.
A refusal is audited (``preflight.<action>``, ``refused:<code>``), so that
probing numbers through this route is as visible as through the real ones;
so is a ready answer about a person (``ok``): it read their consent.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from tessera.errors import Conflict, InvalidRequest, NotFound, TesseraError
from tessera.governance.consent import check_consent, check_text_covers
from tessera.governance.vocabulary import Modality, Purpose
from tessera.store.models import ConsentText, Gallery, Template
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.liveness import NEEDS_FACE, policy_refusal
from tessera.workflows.policy import search_refusal
from tessera.workflows.reads import record_read
from tessera.workflows.scope import check_gallery, check_subject
from tessera.workflows.subjects import load_subject


def preflight_enrol(
    instance: Instance,
    actor: Actor | str,
    subject_id: str,
    modality: Modality,
    liveness_check: bool | None = None,
) -> dict:
    """Ready when the subject exists, its gallery is open, and its consent and consent text cover ``modality``;
    and, when ``liveness_check`` says whether a liveness check will come first, when its gallery's liveness policy
    allows an enrolment of ``modality`` that way (:func:`liveness_policy`: in a self-service gallery a face needs
    the check, and a finger is refused whatever comes)."""
    check_subject(instance, actor, subject_id, "preflight.enrol")

    def check() -> str:
        with instance.sessions() as session:
            subject = load_subject(session, subject_id)
            gallery = session.get_one(Gallery, subject.gallery_id)
            if gallery.closed_at is not None:
                raise Conflict(
                    "This gallery was closed when its purpose was met; it enrols no one.", code="gallery_closed"
                )
            refusal = check_consent(subject.consent, modality=modality.value, purpose=None, now=instance.clock())
            text = session.get(ConsentText, subject.consent.text_sha256)
            if refusal is None and text is not None:
                refusal = check_text_covers(text, gallery_id=gallery.id, modalities=[modality.value], purposes=[])
            if refusal is not None:
                raise Conflict(refusal.message, code=refusal.code)
            # as the enrolment itself: its liveness policy once its consent is read, before any photo
            liveness_policy(gallery, "enrol", {modality}, liveness_check)
            return gallery.id

    gallery_id = _audited(instance, actor, "preflight.enrol", subject_id, check)
    record_read(instance, actor, "preflight.enrol", subject_id=subject_id, gallery_id=gallery_id)  # their consent
    return {"ready": True, "action": "enrol", "subject_id": subject_id, "gallery_id": gallery_id, "modality": modality}


def preflight_verify(
    instance: Instance,
    actor: Actor | str,
    subject_id: str,
    modality: Modality,
    liveness_check: bool | None = None,
) -> dict:
    """Ready when the subject exists, consented to verification with ``modality``, and has a reference of it; and,
    when ``liveness_check`` says whether a liveness check will come first, when its gallery's liveness policy
    allows that (:func:`liveness_policy`)."""
    check_subject(instance, actor, subject_id, "preflight.verify")

    def check() -> str:
        with instance.sessions() as session:
            subject = load_subject(session, subject_id)
            refusal = check_consent(
                subject.consent, modality=modality.value, purpose=Purpose.VERIFY.value, now=instance.clock()
            )
            if refusal is not None:
                raise Conflict(refusal.message, code=refusal.code)
            # as the verification itself: its liveness policy before its references are read
            liveness_policy(session.get_one(Gallery, subject.gallery_id), "verify", {modality}, liveness_check)
            templates = session.execute(
                select(Template.modality, Template.algorithm, Template.capture).where(
                    Template.subject_id == subject_id, Template.modality == modality.value
                )
            ).all()
            if not any(instance.matchers.of_template(m, a, c) for m, a, c in templates):
                raise Conflict(
                    f"The person has no {modality.value} enrolled that this server can compare with; enrol one first.",
                    code="no_reference",
                )
            return subject.gallery_id

    gallery_id = _audited(instance, actor, "preflight.verify", subject_id, check)
    record_read(
        instance, actor, "preflight.verify", subject_id=subject_id, gallery_id=gallery_id
    )  # consent, references
    return {"ready": True, "action": "verify", "subject_id": subject_id, "gallery_id": gallery_id, "modality": modality}


def preflight_identify(
    instance: Instance,
    actor: Actor | str,
    gallery_id: str,
    purpose: str,
    modalities: set[Modality] | None = None,
    liveness_check: bool | None = None,
) -> dict:
    """Ready when the gallery exists and a 1:N search of it for ``purpose`` is allowed now (the case reference
    is asked for with the photo); and, when ``liveness_check`` says whether a liveness check will come first, when
    the gallery's liveness policy allows a search with ``modalities`` (default: the face) that way."""
    check_gallery(instance, actor, gallery_id, "preflight.identify")

    def check() -> str:
        with instance.sessions() as session:
            gallery = session.get(Gallery, gallery_id)
        if gallery is None:
            raise NotFound(f"No gallery with id {gallery_id!r}.", code="gallery_not_found")
        refusal = search_refusal(instance, gallery, purpose, None)
        if refusal is not None:
            raise refusal
        liveness_policy(gallery, "identify", modalities or {Modality.FACE}, liveness_check)
        return gallery_id

    _audited(instance, actor, "preflight.identify", None, check, gallery_id=gallery_id)
    return {"ready": True, "action": "identify", "gallery_id": gallery_id, "purpose": purpose}


def liveness_policy(gallery: Gallery, purpose: str, modalities: set[Modality], liveness_check: bool | None) -> None:
    """Raise what the request would answer under the gallery's liveness policy (``liveness_required``,
    ``liveness_unavailable_for_fingers``: :func:`~tessera.workflows.liveness.policy_refusal`, the same rule; and
    ``liveness_needs_face`` for a check without a face), when the caller said whether a liveness check (and so a
    token) will come with the photo; ``None``: not asked."""
    if liveness_check is None:
        return
    if liveness_check and Modality.FACE not in modalities:
        raise InvalidRequest(NEEDS_FACE, code="liveness_needs_face")
    refusal = policy_refusal(
        gallery.liveness,
        purpose,
        face=Modality.FACE in modalities,
        fingers=Modality.FINGER in modalities,
        token=liveness_check,
    )
    if refusal is not None:
        code, message = refusal
        raise InvalidRequest(message, code=code)


def _audited(
    instance: Instance,
    actor: Actor | str,
    action: str,
    subject_id: str | None,
    check: Callable[[], str],
    gallery_id: str | None = None,
) -> str:
    """Run ``check``; a refusal is audited under ``action`` with its reason code, then raised (an id that names
    nothing is logged in the details only, as :mod:`tessera.workflows.scope` does)."""
    try:
        return check()
    except TesseraError as error:
        found = error.status != 404
        instance.record_alone(
            actor,
            action,
            f"refused:{error.code}",
            subject_id=subject_id if found else None,
            gallery_id=gallery_id if found else None,
            details={"requested": (subject_id or gallery_id or "")[:64]},
        )
        raise
