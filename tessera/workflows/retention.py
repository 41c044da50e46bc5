"""Run the retention schedule: erase every subject whose data may no longer be kept."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import select

from tessera.governance.retention import MAX_RETENTION_DAYS, erasure_due
from tessera.store.models import Consent, Gallery, Subject
from tessera.workflows.instance import Instance
from tessera.workflows.non_biometric import expire_records
from tessera.workflows.subjects import ErasureReceipt, erase_subject, restored_subjects

log = logging.getLogger("tessera.retention")
ACTOR = "system:retention"


def run_retention(instance: Instance) -> list[ErasureReceipt]:
    """Erase every subject that :func:`erasure_due` says must go; returns the receipts. First, finish every
    duplicate-check settlement a crash or a stop interrupted (:func:`tessera.workflows.dedup.settle_stalled`)."""
    from tessera.workflows.dedup import settle_stalled  # dedup builds on the workflows this module's imports use

    settled = settle_stalled(instance)
    now = instance.clock()
    with instance.sessions() as session:
        rows = session.execute(
            select(
                Subject.id, Subject.last_interaction_at, Consent.expires_at, Gallery.retention_days, Gallery.closed_at
            )
            .join(Consent, Consent.subject_id == Subject.id)
            .join(Gallery, Gallery.id == Subject.gallery_id)
        ).all()
    # Rows a tombstone says were erased (restored from a backup, or replayed) go first, whatever their dates.
    restored = restored_subjects(instance)
    receipts = [erase_subject(instance, ACTOR, subject_id, reason="restored_after_erasure") for subject_id in restored]
    for subject_id, last_interaction_at, expires_at, retention_days, closed_at in rows:
        reason = erasure_due(
            last_interaction_at=last_interaction_at,
            consent_expires_at=expires_at,
            retention_days=retention_days,
            gallery_closed_at=closed_at,
            now=now,
        )
        if reason is not None and subject_id not in restored:
            receipts.append(erase_subject(instance, ACTOR, subject_id, reason=reason))
    expired = expire_records(instance, ACTOR)  # people served without biometrics are kept no longer
    instance.record_alone(
        ACTOR,
        "retention.run",
        "ok",
        details={"erased": len(receipts), "non_biometric_erased": expired, "checks_settled": len(settled)},
    )
    return receipts


def close_gallery(instance: Instance, actor, gallery_id: str) -> list[ErasureReceipt]:
    """The gallery's purpose is met: close it and erase everyone in it now."""
    from tessera.workflows.policy import _gallery

    with instance.transaction() as session:
        gallery = _gallery(session, gallery_id)
        gallery.closed_at = instance.clock()
        gallery.identification_enabled_at = None
        instance.record(session, actor, "gallery.close", "ok", gallery_id=gallery_id)
    return run_retention(instance)


def retention_policy(instance: Instance) -> dict:
    """The public description of what is kept and for how long."""
    with instance.sessions() as session:
        galleries = [
            {"gallery_id": g.id, "name": g.name, "retention_days": g.retention_days, "closed": g.closed_at is not None}
            for g in session.scalars(select(Gallery).order_by(Gallery.created_at))
        ]
    return {
        "rule": (
            "A person's biometric data is destroyed when the purpose it was collected for is met (the gallery "
            "is closed), "
            "when their consent expires or is withdrawn, or when the gallery's retention period has passed since their "
            "last enrolment or verification, whichever comes first."
        ),
        "default_retention_days": MAX_RETENTION_DAYS,
        "max_retention_days": MAX_RETENTION_DAYS,
        "schedule_runs_every_seconds": instance.settings.retention_interval_seconds,
        "raw_images_kept": instance.settings.keep_raw_images,
        "reference_photos": (
            "In a gallery with 1:N search enabled, a person whose consent text says so has one photo of their face "
            f"({instance.settings.reference_photo_pixels} px, cropped) kept sealed under their own key for two "
            "trained reviewers, erased with the rest of their data. A search's photo is kept sealed only while "
            "its review is open."
        ),
        "audit_retention_days": instance.settings.audit_retention_days,
        "galleries": galleries,
    }


class RetentionJob:
    """Runs the schedule in a background thread while the service is up."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tessera-retention", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                receipts = run_retention(self.instance)
                if receipts:
                    log.info("retention erased %d subjects", len(receipts))
            except Exception:  # keep the schedule alive; the next run retries
                log.exception("retention run failed")
            self._stop.wait(self.instance.settings.retention_interval_seconds)
