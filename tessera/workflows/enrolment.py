"""Enrolment: a consenting subject's capture becomes sealed templates, one path for every modality.

::

    check capture -> consent -> read (every matcher of the modality) -> store, audit, queue for the index -> index

A face capture is read by every face algorithm the instance serves and
gives a template for each (so that a second algorithm can take over without
asking people to come back); the first (default) algorithm decides whether
the capture is usable, and another one that cannot read it is noted in the
audit entry. A finger capture is read by its sensor kind's matcher. The
templates, the audit entry, the idempotency record and the index outbox
rows are written in one transaction (:mod:`tessera.workflows.indexing`);
the indexes are updated after the commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select

from tessera.capture.refusal import Refusal
from tessera.errors import Conflict, NotFound, TesseraError
from tessera.face.reference import reference_crop
from tessera.governance.consent import check_consent, check_text_covers
from tessera.governance.reference_photos import keeps_reference_photo
from tessera.governance.vocabulary import Modality, SubjectStatus
from tessera.match.matchers import Matcher
from tessera.store.db import checkpoint
from tessera.store.keystore import KeyMissing
from tessera.store.models import ConsentText, Gallery, Template
from tessera.workflows.captures import (
    Capture,
    Probe,
    capture_sha256,
    check_captures,
    decode,
    read_probe,
    refuse_capture,
)
from tessera.workflows.dedup import MESSAGE, Check, check_first_capture, hold, refuse_if_pending, void_case
from tessera.workflows.idempotency import Idempotency, remember
from tessera.workflows.indexing import drain, queue_template
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.replacement import audit_replacement, check_replaceable, retire
from tessera.workflows.scope import check_subject
from tessera.workflows.subjects import load_subject


@dataclass(frozen=True)
class Enrolment:
    template_id: str
    """The default algorithm's template (the one a verification compares first)."""
    quality: dict
    templates: tuple[str, ...] = ()
    """Every template the capture gave, one per algorithm that could read it."""
    review: Check | None = None
    """The first capture resembled someone enrolled: the case it opened; the subject waits for it
    (:mod:`tessera.workflows.dedup`)."""
    replaced: tuple[str, ...] | None = None
    """Asked to replace an earlier face capture: the templates of it that were erased
    (:mod:`tessera.workflows.replacement`); None when none was asked."""

    @property
    def answer(self) -> dict[str, object]:
        """What the caller is told: the template and its quality, or only that a review case was opened (never
        who or how alike)."""
        replaced = {} if self.replaced is None else {"replaced": list(self.replaced)}
        if self.review is None:
            return {
                "template_id": self.template_id,
                "quality": self.quality,
                "status": SubjectStatus.ACTIVE.value,
                **replaced,
            }
        return {
            "template_id": self.template_id,
            "quality": self.quality,
            "status": SubjectStatus.PENDING_REVIEW.value,
            "review": {"case_number": self.review.case_number, "message": MESSAGE},
        }

    @property
    def status_code(self) -> int:
        """201 enrolled; 202 accepted for review."""
        return 201 if self.review is None else 202


def enrol(
    instance: Instance,
    actor: Actor | str,
    subject_id: str,
    capture: Capture,
    idempotency: Idempotency | None = None,
    replaces: str | None = None,
) -> Enrolment:
    """Template ``capture`` with every matcher of its modality and store the templates under the subject's consent;
    ``replaces``: a template of the subject's earlier face capture, whose templates are erased in the same
    transaction (:mod:`tessera.workflows.replacement`)."""
    check_captures([capture])
    action = f"{capture.modality.value}.enrol"
    gallery_id = consented_enrolment(instance, actor, subject_id, capture.modality)
    if replaces is not None:
        check_replaceable(instance, actor, subject_id, gallery_id, replaces)
    matchers = instance.matchers.of(capture.modality.value, capture.sensor)
    probes, unread = read_all(instance, matchers, capture)
    if not probes:
        refusal = unread[0][1]
        details = {"capture_sha256": capture_sha256(capture), **capture.where, **refusal.detail}
        instance.record_alone(
            actor, action, f"refused:{refusal.reason}", subject_id=subject_id, gallery_id=gallery_id, details=details
        )
        raise refuse_capture(refusal)
    check = check_first_capture(instance, actor, subject_id, gallery_id, probes[0])
    held = check if check is not None and check.candidates else None
    try:
        enrolment = store(
            instance, actor, action, subject_id, gallery_id, probes, unread, idempotency, held=held, replaces=replaces
        )
    except (KeyMissing, TesseraError) as error:
        if held is not None:  # nothing was stored: the case has nothing left to review
            void_case(instance, held.search_id)
        if not isinstance(error, KeyMissing):
            raise
        # an erasure destroyed the key (its first step) while this capture was read
        raise NotFound(
            f"Subject {subject_id!r} was erased while this capture was being enrolled; nothing was stored.",
            code="subject_erased",
        ) from error
    if enrolment.replaced:
        checkpoint(instance.engine)  # the replaced rows leave the write-ahead log too, as an erasure's do
        instance.vault.forget_snapshot_segment_of(subject_id)
    drain(instance)
    return enrolment


def consented_enrolment(instance: Instance, actor: Actor | str, subject_id: str, modality: Modality) -> str:
    """The subject's gallery, once the key reaches the subject and its consent covers enrolment of ``modality``
    (audited 404, 409): the checks an enrolment passes before any image is read (a route calls this before the
    liveness check and before a hand photo is cut into fingers)."""
    action = f"{modality.value}.enrol"
    check_subject(instance, actor, subject_id, action)
    return consented_gallery(instance, actor, action, subject_id, modality)


def consented_gallery(instance: Instance, actor: Actor | str, action: str, subject_id: str, modality: Modality) -> str:
    """The subject's gallery, once its consent and the text the person read both cover ``modality`` (else an
    audited 409), before any image is decoded."""
    with instance.sessions() as session:
        # locked: an erasure committing between this read and the consent's would leave the subject without one
        subject = load_subject(session, subject_id, lock=True)
        refuse_if_pending(subject)
        gallery_id = subject.gallery_id
        refusal = check_consent(subject.consent, modality=modality.value, purpose=None, now=instance.clock())
        text = session.get(ConsentText, subject.consent.text_sha256)
        if refusal is None and text is not None:
            refusal = check_text_covers(text, gallery_id=gallery_id, modalities=[modality.value], purposes=[])
    if refusal is not None:
        instance.record_alone(actor, action, f"refused:{refusal.code}", subject_id=subject_id, gallery_id=gallery_id)
        raise Conflict(refusal.message, code=refusal.code)
    return gallery_id


def read_all(
    instance: Instance, matchers: list[Matcher], capture: Capture
) -> tuple[list[Probe], list[tuple[Matcher, Refusal]]]:
    """The capture read by each matcher; empty when the first (default) one refuses it, with its refusal first."""
    image = decode(instance, capture)
    probes: list[Probe] = []
    unread: list[tuple[Matcher, Refusal]] = []
    for number, matcher in enumerate(matchers):
        result = read_probe(instance, matcher, capture, image)
        if not isinstance(result, Refusal):
            probes.append(result)
            continue
        unread.append((matcher, result))
        if number == 0:
            return [], unread
    return probes, unread


def store(
    instance: Instance,
    actor: Actor | str,
    action: str,
    subject_id: str,
    gallery_id: str,
    probes: list[Probe],
    unread: list[tuple[Matcher, Refusal]],
    idempotency: Idempotency | None,
    evidence: dict[str, object] | None = None,
    held: Check | None = None,
    replaces: str | None = None,
) -> Enrolment:
    """Seal and store a template per probe, audit the enrolment and queue the templates for the indexes, in one
    transaction; the same capture twice is a 409 ``duplicate_capture``. ``evidence`` is added to the audit entry's
    details (a template added at a verification says which comparison vouched for the photo). ``held``: the first
    capture resembled someone enrolled; the subject waits for that case, its templates stored but not queued (409
    ``enrolment_in_progress`` when another capture of the subject was stored meanwhile). ``replaces``: a template of
    the subject's earlier face capture, whose templates are deleted and leave the indexes in this transaction
    (:func:`tessera.workflows.replacement.retire`)."""
    vault, lead = instance.vault, probes[0]
    template_ids = [str(uuid.uuid4()) for _ in probes]
    with instance.transaction() as session:
        subject = load_subject(session, subject_id, lock=True)  # an erasure or enrolment in flight finishes first
        refuse_if_pending(subject)
        if held is not None and session.scalar(select(Template.id).where(Template.subject_id == subject_id).limit(1)):
            raise Conflict(
                "Another photo of this person was enrolled at the same moment; send this one again.",
                code="enrolment_in_progress",
            )
        existing = session.scalar(
            select(Template.id).where(Template.subject_id == subject_id, Template.capture_sha256 == lead.sha256)
        )
        if existing is not None:
            raise Conflict(
                f"This exact photo is already enrolled for the subject (template {existing}).",
                code="duplicate_capture",
                detail={"template_id": existing},
            )
        retired = None if replaces is None else retire(instance, session, subject_id, replaces)
        now = instance.clock()
        subject.last_interaction_at = now
        gallery = session.get_one(Gallery, gallery_id)
        gallery.version += 1
        photo_kept = keeps_reference_photo(session.get(ConsentText, subject.consent.text_sha256), gallery)
        for template_id, probe in zip(template_ids, probes):
            template = Template(
                id=template_id,
                subject_id=subject_id,
                modality=probe.capture.modality.value,
                algorithm=probe.reading.algorithm,
                ciphertext=vault.seal_template(
                    template_id=template_id,
                    subject_id=subject_id,
                    algorithm=probe.reading.algorithm,
                    payload=probe.reading.payload,
                ),
                image_ciphertext=kept_photo(instance, subject_id, template_id, probe, photo_kept),
                quality=probe.quality,
                capture_sha256=probe.sha256,
                created_at=now,
                finger_position=probe.capture.finger_position,
                capture=probe.capture.sensor,
            )
            session.add(template)
            session.flush()
            if held is None:  # a subject held for review reaches no index until it is enrolled
                queue_template(instance, session, template)
        if held is not None:
            hold(instance, session, subject, held)
        details = {
            "template_id": template_ids[0],
            "algorithm": lead.reading.algorithm,
            "capture_sha256": lead.sha256,
            **lead.capture.where,
            "quality": lead.quality,
            **(evidence or {}),
        }
        if held is not None:
            details["review"] = {"search_id": held.search_id, "case_number": held.case_number}
        if len(probes) > 1 or unread:
            details["templates"] = [
                {"template_id": template_id, "algorithm": probe.reading.algorithm}
                for template_id, probe in zip(template_ids, probes)
            ]
            details["not_read"] = [{"matcher": matcher.key, "reason": refusal.reason} for matcher, refusal in unread]
        outcome = "ok" if held is None else SubjectStatus.PENDING_REVIEW.value
        if retired is not None:
            details["replaces"] = replaces
        instance.record(session, actor, action, outcome, subject_id=subject_id, gallery_id=gallery_id, details=details)
        if retired is not None:
            audit_replacement(instance, session, actor, subject_id, gallery_id, template_ids[0], retired)
        enrolment = Enrolment(template_ids[0], lead.quality, tuple(template_ids), held, retired)
        remember(instance, session, idempotency, enrolment.status_code, enrolment.answer, subject_id)
    return enrolment


def kept_photo(instance: Instance, subject_id: str, template_id: str, probe: Probe, reference: bool) -> bytes | None:
    """The photo sealed beside a template, under the subject's key: the face's reference crop when ``reference``
    (:mod:`tessera.governance.reference_photos`), else the whole capture when ``keep_raw_images`` is on, else
    none."""
    if reference and probe.reading.region is not None:
        image = reference_crop(probe.image, probe.reading.region, instance.settings.reference_photo_pixels)
    elif instance.settings.keep_raw_images:
        image = probe.image
    else:
        return None
    return instance.vault.seal_image(subject_id=subject_id, template_id=template_id, image=image)
