"""1:1 verification: is the person in these captures the one enrolled as subject #123?

One straight line for every modality::

    check captures -> consent and references -> read probes and compare -> decide (fuse) -> audit
        -> migrate (a face verified by an older algorithm gets a template of the default one)

Each capture is compared on its own by the matcher of its references
(:mod:`tessera.match.matchers`): a face by the strongest face algorithm the
subject has a reference of, a finger by its sensor kind's matcher against
the references of the same finger. Each :class:`Comparison` carries its
score, its kind and algorithm, and the false-match rate its threshold
stands for; with no calibration no rate is invented and the comparison is
``inconclusive``. With several scores, :func:`combine` fuses those that can
be (:mod:`tessera.match.fusion`) into one decision that states its fused
false-match rate.

A face matched with an older algorithm than the default, in a verification
whose answer is a match, gives the subject a template of the default
algorithm from that fresh photo (:mod:`tessera.workflows.migration`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from sqlalchemy import select

from tessera.capture.refusal import Refusal
from tessera.errors import Conflict
from tessera.governance.consent import check_consent
from tessera.governance.vocabulary import Decision, Modality, Purpose
from tessera.match.calibration import Calibration, FmrBeyondCalibration, FmrEstimate
from tessera.match.cross_sensor import PAIR_KIND
from tessera.match.matchers import Matcher
from tessera.store.keystore import KeyMissing
from tessera.store.models import Consent, Template
from tessera.workflows.captures import Capture, capture_sha256, check_captures, decode, read_probe
from tessera.workflows.comparisons import Comparison, MultimodalVerification, combine, fmr_fields
from tessera.workflows.dedup import refuse_if_pending
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.migration import migrate_after_verification
from tessera.workflows.scope import check_subject
from tessera.workflows.subjects import load_subject

CONSENT_ORDER = [Modality.FINGER, Modality.FACE]
"""The order consent is checked in (and a refusal audited under): fingers first, as before fusion existed."""


def verify(
    instance: Instance, actor: Actor | str, subject_id: str, captures: Sequence[Capture]
) -> MultimodalVerification:
    """1:1 with a face photo, finger captures, or both: each compared on its own, then fused by :func:`combine`.

    Consent to every modality sent is checked before anything is compared.
    """
    check_captures(captures)
    check_subject(instance, actor, subject_id, verify_action(captures))
    gallery_id, references = consented_references(instance, actor, subject_id, captures)
    images = [decode(instance, capture) for capture in captures]  # bad input: 413/415/422, nothing compared
    require_references(instance, actor, subject_id, gallery_id, references)
    require_key(instance, actor, subject_id, gallery_id, references)
    try:
        comparisons = [compare(instance, c, image, references[c.modality]) for c, image in zip(captures, images)]
    except KeyMissing as error:  # erased while this verification ran
        raise _unreadable(subject_id) from error
    answer = combine(comparisons, instance)
    record_verification(instance, actor, subject_id, gallery_id, comparisons, answer)
    migrate_after_verification(instance, actor, subject_id, gallery_id, captures, images, comparisons, answer)
    return answer


def verify_action(captures: Sequence[Capture]) -> str:
    """The audit action of a verification: ``face.verify``, ``finger.verify`` or ``multimodal.verify``."""
    modalities = {capture.modality for capture in captures}
    return f"{modalities.pop().value}.verify" if len(modalities) == 1 else "multimodal.verify"


def consented_verification(instance: Instance, actor: Actor | str, subject_id: str, captures: Sequence[Capture]) -> str:
    """The subject's gallery, once the request's captures are well formed, the key reaches the subject and its
    consent covers verification with every modality sent: the checks a request passes before any of its images
    is read (a route calls this before the liveness check and before a hand photo is cut into fingers).

    Refusals are those of :func:`verify` (audited 404, 409), in the same order.
    """
    check_captures(captures)
    check_subject(instance, actor, subject_id, verify_action(captures))
    with instance.sessions() as session:
        subject = load_subject(session, subject_id)
        refuse_if_pending(subject)
        gallery_id, consent = subject.gallery_id, subject.consent
    _check_verify_consent(instance, actor, subject_id, gallery_id, consent, captures)
    return gallery_id


def consented_references(
    instance: Instance, actor: Actor | str, subject_id: str, captures: Sequence[Capture]
) -> tuple[str, dict[Modality, list[Template]]]:
    """The subject's gallery and templates per modality sent, once consent covers verification with each.

    A refusal is audited under that modality's action and raised as a 409;
    fingers are checked first.
    """
    with instance.sessions() as session:
        subject = load_subject(session, subject_id)
        refuse_if_pending(subject)
        gallery_id, consent = subject.gallery_id, subject.consent
        templates = list(session.scalars(select(Template).where(Template.subject_id == subject_id)))
    _check_verify_consent(instance, actor, subject_id, gallery_id, consent, captures)
    held: dict[str, list[Template]] = defaultdict(list)
    for template in templates:
        held[template.modality].append(template)
    return gallery_id, {modality: held[modality.value] for modality in _modalities(captures)}


def _modalities(captures: Sequence[Capture]) -> list[Modality]:
    return sorted({c.modality for c in captures}, key=CONSENT_ORDER.index)


def _check_verify_consent(
    instance: Instance,
    actor: Actor | str,
    subject_id: str,
    gallery_id: str,
    consent: Consent,
    captures: Sequence[Capture],
) -> None:
    """Refuse (audited under the modality's action, 409) a modality sent that the consent does not cover for
    verification; fingers are checked first."""
    now = instance.clock()
    for modality in _modalities(captures):
        refusal = check_consent(consent, modality=modality.value, purpose=Purpose.VERIFY.value, now=now)
        if refusal is not None:
            action = f"{modality.value}.verify"
            instance.record_alone(
                actor, action, f"refused:{refusal.code}", subject_id=subject_id, gallery_id=gallery_id
            )
            raise Conflict(refusal.message, code=refusal.code)


def require_references(
    instance: Instance,
    actor: Actor | str,
    subject_id: str,
    gallery_id: str,
    references: dict[Modality, list[Template]],
) -> None:
    """Refuse (audited 409 ``no_reference``) a modality of which the subject has no template a matcher here reads."""
    for modality, templates in references.items():
        if not any(instance.matchers.of_template(t.modality, t.algorithm, t.capture) for t in templates):
            action = f"{modality.value}.verify"
            instance.record_alone(actor, action, "refused:no_reference", subject_id=subject_id, gallery_id=gallery_id)
            raise Conflict(_no_reference(instance, modality, templates), code="no_reference")


def require_key(
    instance: Instance,
    actor: Actor | str,
    subject_id: str,
    gallery_id: str,
    references: dict[Modality, list[Template]],
) -> None:
    """Refuse (audited 409 ``subject_unreadable``) a subject whose data key is gone: its templates open for no one.

    A database restored from before an erasure brings the person's rows back but not their destroyed key.
    """
    if instance.vault.holds_subject_key(subject_id):
        return
    for modality in references:
        instance.record_alone(
            actor,
            f"{modality.value}.verify",
            "refused:subject_unreadable",
            subject_id=subject_id,
            gallery_id=gallery_id,
        )
    raise _unreadable(subject_id)


def _unreadable(subject_id: str) -> Conflict:
    return Conflict(
        f"Subject {subject_id!r} has no data key, so its templates cannot be read: the person was erased (after this "
        "database was backed up, or while this request ran), or the key folder is not this database's. Erase the "
        "subject again to finish an erasure a restore undid.",
        code="subject_unreadable",
    )


def compare(instance: Instance, capture: Capture, image: np.ndarray, references: list[Template]) -> Comparison:
    """One capture (``image``: decoded) against the subject's references that its matcher can compare it with."""
    matcher = choose_matcher(instance, capture, references)
    same_finger = [
        t for t in references if t.algorithm == matcher.algorithm and (t.finger_position or 0) == capture.part
    ]
    mine = [t for t in same_finger if t.capture in (None, capture.sensor)]
    if not mine and capture.sensor == "contactless" and any(t.capture == "contact" for t in same_finger):
        contact = [t for t in same_finger if t.capture == "contact"]
        return compare_with_contact(instance, matcher, capture, image, contact)
    threshold, estimate, missing = verify_threshold(instance, matcher)
    probe = read_probe(instance, matcher, capture, image)
    unread = undecided(matcher, capture, threshold, estimate, missing, matcher.score_algorithm)
    if isinstance(probe, Refusal):
        return replace(unread, reason=probe.reason, message=probe.message)
    if not mine:
        message = f"The subject has no {capture.description} reference of this finger to compare with."
        return replace(unread, reason="no_reference", message=message, quality=probe.quality)
    score = max(matcher.compare(probe.features, matcher.features(instance.vault.open_template(t))) for t in mine)
    if threshold is None:
        message = _uncalibrated(instance, capture, missing)
        return replace(unread, score=score, reason=missing, message=message, quality=probe.quality)
    decision = Decision.MATCH if score >= threshold else Decision.NO_MATCH
    return replace(unread, decision=decision, score=score, quality=probe.quality)


def compare_with_contact(
    instance: Instance, matcher: Matcher, capture: Capture, image: np.ndarray, references: list[Template]
) -> Comparison:
    """A contactless capture against the subject's contact references of that finger: the pair kind
    ``contactless-contact``, decided only by its own calibration (``matcher.cross_calibration``), never by the
    contactless or the contact one (NIST SP 500-334r1); without it, or beyond it, ``inconclusive`` with a reason."""
    calibration = getattr(matcher, "cross_calibration", None)
    threshold, estimate, missing = threshold_at(calibration, instance.settings.verify_target_fmr)
    if calibration is None:
        missing = "cross_sensor_not_calibrated"
    probe = read_probe(instance, matcher, capture, image)
    algorithm = f"{matcher.score_algorithm}+{PAIR_KIND}"
    unread = replace(undecided(matcher, capture, threshold, estimate, missing, algorithm), pair_kind=PAIR_KIND)
    if isinstance(probe, Refusal):
        return replace(unread, reason=probe.reason, message=probe.message)
    score = max(
        matcher.compare_with_contact(probe.reading.payload, instance.vault.open_template(t))  # type: ignore[attr-defined]
        for t in references
    )
    if threshold is None:
        return replace(unread, score=score, reason=missing, message=_cross_sensor_message(instance, missing))
    decision = Decision.MATCH if score >= threshold else Decision.NO_MATCH
    return replace(unread, decision=decision, score=score, quality=probe.quality)


def undecided(
    matcher: Matcher,
    capture: Capture,
    threshold: float | None,
    estimate: FmrEstimate | None,
    missing: str | None,
    algorithm: str,
) -> Comparison:
    """A capture's comparison before any score decides it: ``inconclusive``, with the threshold and the FMR it
    stands for (or ``missing``: why there is none), which a score then turns into a decision."""
    return Comparison(
        modality=capture.modality.value,
        decision=Decision.INCONCLUSIVE,
        score=None,
        threshold=threshold,
        fmr=None if estimate is None else estimate.value,
        fmr_detail=None if estimate is None else fmr_fields(estimate),
        calibrated=missing is None,
        algorithm=algorithm,
        finger_position=capture.finger_position,
        capture=capture.sensor,
        score_kind=matcher.score_kind.value,
        matcher=matcher.key,
        probe_sha256=capture_sha256(capture),
    )


def _cross_sensor_message(instance: Instance, missing: str | None) -> str:
    what = (
        "no calibration of contactless photos against contact prints is installed"
        if missing == "cross_sensor_not_calibrated"
        else "the calibration of contactless photos against contact prints cannot vouch for the configured "
        f"false-match rate {instance.settings.verify_target_fmr:g}"
    )
    return (
        f"The subject's reference of this finger is a contact print and {what}, so no decision is made. Capture "
        "this finger on a contact scanner, or enrol a contactless reference of it."
    )


def choose_matcher(instance: Instance, capture: Capture, references: list[Template]) -> Matcher:
    """The strongest matcher of the capture's modality and sensor that the subject has a reference of (else the
    strongest: the comparison then says there is no reference)."""
    candidates = instance.matchers.of(capture.modality.value, capture.sensor)
    held = {t.algorithm for t in references}
    return next((m for m in candidates if m.algorithm in held), candidates[0])


def verify_threshold(instance: Instance, matcher: Matcher) -> tuple[float | None, FmrEstimate | None, str | None]:
    """The matcher's 1:1 threshold at ``verify_target_fmr``, the FMR it stands for, and why there is none."""
    return threshold_at(matcher.calibration, instance.settings.verify_target_fmr)


def threshold_at(
    calibration: Calibration | None, target_fmr: float
) -> tuple[float | None, FmrEstimate | None, str | None]:
    """``calibration``'s threshold at ``target_fmr``, the FMR it stands for, and why there is none."""
    if calibration is None:
        return None, None, "not_calibrated"
    try:
        threshold, estimate = calibration.operating_point(target_fmr)
    except FmrBeyondCalibration:
        return None, None, "beyond_calibration"
    return threshold, estimate, None


def record_verification(
    instance: Instance,
    actor: Actor | str,
    subject_id: str,
    gallery_id: str,
    comparisons: Sequence[Comparison],
    answer: MultimodalVerification,
) -> None:
    """Audit each modality's comparisons (``face.verify``, ``finger.verify``) and a fused decision
    (``multimodal.verify``), in one transaction; a match counts as an interaction (retention)."""
    by_modality: dict[str, list[Comparison]] = defaultdict(list)
    for comparison in comparisons:
        by_modality[comparison.modality].append(comparison)
    with instance.transaction() as session:
        if answer.decision == Decision.MATCH or any(c.decision == Decision.MATCH for c in comparisons):
            load_subject(session, subject_id).last_interaction_at = instance.clock()
        for modality, mine in by_modality.items():
            decisions = {c.decision for c in mine}
            outcome = decisions.pop() if len(decisions) == 1 else "mixed"
            logged: dict[str, object] = {"purpose": Purpose.VERIFY.value, "comparisons": [_logged(c) for c in mine]}
            if answer.multi_finger is not None:  # the fingers were decided together: that decision is the outcome
                outcome = answer.decision
                logged["multi_finger"] = answer.multi_finger
            instance.record(
                session,
                actor,
                f"{modality}.verify",
                outcome,
                subject_id=subject_id,
                gallery_id=gallery_id,
                details=logged,
            )
        if answer.fused and answer.fusion is not None:
            instance.record(
                session,
                actor,
                "multimodal.verify",
                answer.decision,
                subject_id=subject_id,
                gallery_id=gallery_id,
                details=_logged_fusion(answer),
            )


def _logged_fusion(answer: MultimodalVerification) -> dict[str, object]:
    """What ``multimodal.verify`` keeps of a fused decision: by likelihood ratios, or by the product of rates."""
    fusion = answer.fusion or {}
    common = {
        "purpose": Purpose.VERIFY.value,
        "target_fmr": fusion["target_fmr"],
        "fmr": answer.fmr,
        "fmr_basis": fusion["fmr_basis"],
        "scores": fusion["scores"],
        "missing": [item["modality"] for item in fusion["missing"]],
    }
    if fusion.get("rule") == "product_of_rates":
        algorithms = {"face": fusion["face"]["algorithm"], "fingers": fusion["fingers"]["algorithm"]}
        return {**common, "rule": fusion["rule"], "p_values": fusion["p_values"], "algorithms": algorithms}
    return {
        **common,
        "score_kind": "llr",
        "llr": fusion["llr"],
        "threshold_llr": fusion["threshold_llr"],
        "fmr_safety_factor": fusion["fmr_safety_factor"],
        "algorithms": fusion["algorithms"],
        "not_fused": [item["modality"] for item in fusion["not_fused"]],
    }


def _logged(comparison: Comparison) -> dict:
    keys = ("probe_sha256", "finger_position", "capture", "decision", "score", "score_kind", "threshold", "fmr")
    return {
        **{key: getattr(comparison, key) for key in keys},
        "algorithm": comparison.algorithm,
        "reason": comparison.reason,
    }


def _uncalibrated(instance: Instance, capture: Capture, missing: str | None) -> str:
    what = capture.description
    if missing == "not_calibrated":
        return (
            f"No calibration of {what} scores is installed, so the score cannot be given a false-match rate "
            "and no decision is made."
        )
    return (
        f"The {what} calibration cannot vouch for the configured false-match rate "
        f"{instance.settings.verify_target_fmr:g}; no decision is made."
    )


def _no_reference(instance: Instance, modality: Modality, templates: list[Template]) -> str:
    if not templates:
        return f"The subject has no {modality.value} enrolled to compare with."
    held = ", ".join(sorted({t.algorithm for t in templates}))
    served = ", ".join(m.algorithm for m in instance.matchers.of_modality(modality.value))
    return (
        f"The subject's {modality.value} was enrolled with another {modality.value} algorithm ({held}) than this "
        f"service compares ({served}): enrol a new {modality.value} capture."
    )
