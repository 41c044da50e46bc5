"""Liveness: issuing a challenge, checking its burst, and the liveness of the photo an enrolment, verification or
search is made with (docs/liveness.md).

::

    challenge: scope -> may do the purpose -> draw steps -> store hashed nonce -> audit
    burst:     scope -> fresh, bound, first use (consumed) -> read frames -> checks -> token -> audit
    photo:     policy -> read the face (once, with the comparison when it is YuNet + SFace) -> passive score
               -> token: open, same face -> audit

Frames and photos live only in the request: what is stored is the challenge (hashed nonce, steps, outcome) and,
until used or expired, a passed burst's embedding sealed under its token (:mod:`tessera.liveness.token`).
"""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from tessera.errors import Conflict, Forbidden, InvalidRequest, NotFound
from tessera.face.sface import SFACE_ALGORITHM
from tessera.governance.roles import Permission, allows
from tessera.governance.vocabulary import Modality
from tessera.liveness.burst import check_burst
from tessera.liveness.config import DEFAULT_LIVENESS_CONFIG, INSTRUCTIONS, LivenessConfig
from tessera.liveness.frames import StillFace, decode_frame, frame_limits, read_frame, read_still
from tessera.liveness.passive import passive_score
from tessera.liveness.steps import draw_steps
from tessera.liveness.token import new_token, open_embedding, seal_embedding, token_sha256
from tessera.match.matchers import FaceMatcher
from tessera.store.crypto import DecryptionError
from tessera.store.models import Gallery, LivenessChallenge, LivenessToken
from tessera.workflows.budget import checkpoint
from tessera.workflows.captures import Capture, decode, decode_limits
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.scope import check_gallery

PURPOSE_PERMISSIONS = {"enrol": Permission.ENROL, "verify": Permission.VERIFY, "identify": Permission.IDENTIFY}
"""What a key must be allowed to do to ask for a challenge of each purpose."""
REQUIRED_FOR = ("enrol", "verify")
"""Purposes for which an ``unsupervised`` gallery requires a token (a search requires one only with fingers)."""
FINGERS_UNSUPERVISED = {
    "enrol": "This programme is self-service (liveness policy unsupervised) and a finger cannot be checked for "
    "liveness: only a face can show the person is present. Enrol fingers in a supervised programme, where a "
    "trained worker sees the person, or enrol the face with its liveness check.",
    "verify": "This programme is self-service (liveness policy unsupervised) and fingers alone cannot be checked "
    "for liveness: only a face can show the person is present. Do the liveness check (POST "
    "/v1/liveness/challenges), then send the face photo with its liveness_token, with the fingers if you like.",
    "identify": "This programme is self-service (liveness policy unsupervised) and fingers alone cannot be checked "
    "for liveness: only a face can show the person is present. Do the liveness check for the search (POST "
    "/v1/liveness/challenges with purpose identify), then send the face photo with its liveness_token, with the "
    "fingers if you like.",
}
"""What an ``unsupervised`` gallery answers (``liveness_unavailable_for_fingers``) to an enrolment, verification
or search with fingers and no face: the challenge is face-only, so fingers count there only beside a face that
passed it."""
LIVENESS_REQUIRED = {
    "face": "This programme needs a liveness check before a face is used: ask for a challenge "
    "(POST /v1/liveness/challenges), follow it, and send its liveness_token with the photo.",
    "fingers": "This programme is self-service (liveness policy unsupervised) and fingers count only beside a face "
    "that passed the liveness check: ask for a challenge (POST /v1/liveness/challenges), follow it, and send its "
    "liveness_token with the face photo, or search with the face photo alone.",
}
"""What an ``unsupervised`` gallery answers (``liveness_required``) to a face without a token: an enrolment or
verification always needs one (``face``); a search needs one when fingers come with the face (``fingers``)."""

NEEDS_FACE = "A liveness_token was sent without a face image: send the photo too."
"""What a token without a face photo is answered (``liveness_needs_face``): the token stands for a face."""


def issue_challenge(
    instance: Instance,
    actor: Actor | str,
    gallery_id: str,
    purpose: str,
    config: LivenessConfig = DEFAULT_LIVENESS_CONFIG,
) -> dict[str, object]:
    """A new single-use challenge for ``gallery_id`` and ``purpose`` (docs/liveness.md), audited."""
    check_gallery(instance, actor, gallery_id, "liveness.challenge")
    if purpose not in PURPOSE_PERMISSIONS:
        raise InvalidRequest(f"purpose must be one of {', '.join(PURPOSE_PERMISSIONS)}; got {purpose!r}.")
    if isinstance(actor, Actor) and not allows(actor.role, PURPOSE_PERMISSIONS[purpose]):
        raise Forbidden(f"The role {actor.role!r} may not {purpose}: no liveness challenge for it.", code="forbidden")
    nonce = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii").rstrip("=")
    steps = draw_steps(config)
    now = instance.clock()
    challenge = LivenessChallenge(
        id=str(uuid.uuid4()),
        gallery_id=gallery_id,
        purpose=purpose,
        issued_to=str(actor),
        nonce_sha256=token_sha256(nonce),
        steps=steps,
        created_at=now,
        expires_at=now + timedelta(seconds=instance.settings.liveness_challenge_seconds),
    )
    with instance.transaction() as session:
        if session.get(Gallery, gallery_id) is None:
            raise NotFound(f"No gallery with id {gallery_id!r}.", code="gallery_not_found")
        _purge(instance, session)
        session.add(challenge)
        instance.record(
            session,
            actor,
            "liveness.challenge",
            "ok",
            gallery_id=gallery_id,
            details={"challenge_id": challenge.id, "purpose": purpose, "steps": steps},
        )
    return {
        "challenge_id": challenge.id,
        "nonce": nonce,
        "steps": steps,
        "instructions": {step: INSTRUCTIONS[step] for step in steps},
        "expires_at": challenge.expires_at.isoformat().replace("+00:00", "Z"),
        "min_frames": config.min_frames,
        "max_frames": config.max_frames,
    }


def _purge(instance: Instance, session) -> None:
    """Delete expired tokens and challenge rows past their keeping time (no image is in either)."""
    now = instance.clock()
    session.execute(delete(LivenessToken).where(LivenessToken.expires_at < now))
    kept_since = now - timedelta(seconds=instance.settings.liveness_challenges_keep_seconds)
    session.execute(delete(LivenessChallenge).where(LivenessChallenge.expires_at < kept_since))


def issue_token(session: Session, challenge: LivenessChallenge, embedding: np.ndarray, expires_at: datetime) -> str:
    """Store the token of ``challenge``'s passed burst in ``session`` and return it (shown once, kept only as its hash).

    The face the burst showed is sealed under the token itself, bound to the challenge's gallery, purpose and key:
    the enrolment, verification or search that presents the token is compared with that face.
    """
    token = new_token()
    session.add(
        LivenessToken(
            token_sha256=token_sha256(token),
            challenge_id=challenge.id,
            gallery_id=challenge.gallery_id,
            purpose=challenge.purpose,
            issued_to=challenge.issued_to,
            algorithm=SFACE_ALGORITHM,
            sealed_embedding=seal_embedding(token, embedding, challenge.id),
            expires_at=expires_at,
        )
    )
    return token


def answer_challenge(
    instance: Instance,
    actor: Actor | str,
    challenge_id: str,
    nonce: str,
    frames: Sequence[bytes],
    config: LivenessConfig = DEFAULT_LIVENESS_CONFIG,
) -> dict[str, object]:
    """Check a burst sent for a challenge; the answer says passed or failed and why, with a token when passed."""
    started = time.perf_counter()
    with instance.sessions() as session:
        challenge = session.get(LivenessChallenge, challenge_id[:64])
    missing = NotFound(f"No liveness challenge with id {challenge_id!r}.", code="challenge_not_found")
    if challenge is None:
        raise missing
    try:  # another gallery's challenge is answered as one that does not exist (audited as out of scope)
        check_gallery(instance, actor, challenge.gallery_id, "liveness.burst")
    except NotFound:
        raise missing from None
    details = {"challenge_id": challenge.id, "purpose": challenge.purpose}

    def refuse(error: Exception) -> Exception:
        code = getattr(error, "code", "refused")
        instance.record_alone(
            actor, "liveness.burst", f"refused:{code}", gallery_id=challenge.gallery_id, details=details
        )
        return error

    if challenge.issued_to != str(actor):
        raise refuse(
            Forbidden("This challenge was issued to another key; ask for your own.", code="challenge_not_yours")
        )
    if not config.min_frames <= len(frames) <= config.max_frames:
        raise refuse(
            InvalidRequest(
                f"Send {config.min_frames} to {config.max_frames} frames in capture order; got {len(frames)}.",
                code="too_few_frames" if len(frames) < config.min_frames else "too_many_images",
            )
        )
    now = instance.clock()
    with instance.transaction() as session:
        # The first burst consumes the challenge, whatever its outcome: a conditional update, so that two bursts
        # racing for one challenge cannot both be checked.
        result = session.execute(
            update(LivenessChallenge)
            .where(LivenessChallenge.id == challenge.id, LivenessChallenge.used_at.is_(None))
            .values(used_at=now)
        )
        taken = int(getattr(result, "rowcount", 0) or 0)
    if not taken:
        raise refuse(Conflict("A burst was already sent for this challenge; ask for a new one.", code="challenge_used"))
    if now > challenge.expires_at:
        _finish(instance, challenge.id, "expired")
        raise refuse(
            Conflict(
                "The challenge expired before the frames arrived; ask for a new one and follow it within "
                f"{instance.settings.liveness_challenge_seconds:g} seconds.",
                code="challenge_expired",
            )
        )
    if not secrets.compare_digest(token_sha256(nonce), challenge.nonce_sha256):
        _finish(instance, challenge.id, "mismatch")
        raise refuse(
            InvalidRequest("The nonce is not this challenge's; ask for a new challenge.", code="challenge_mismatch")
        )
    settings = instance.settings
    limits = frame_limits(
        decode_limits(settings, Capture.face(b"")), config.frame_max_pixels, config.frame_max_upload_pixels
    )
    images = []  # each once; a bad frame is refused before any is read
    for number, data in enumerate(frames):
        checkpoint(f"decoding burst frame {number + 1}")  # decoding ten frames is most of a costly burst's CPU
        images.append(decode_frame(data, limits))
    readings = []
    for number, image in enumerate(images):
        checkpoint(f"reading burst frame {number + 1}")
        readings.append(read_frame(image))
    outcome = check_burst(readings, challenge.steps, config)
    checks = {"fresh": True, "bound": True, **outcome.checks}
    measures = {"frames": len(frames), **outcome.measures()}
    token, token_expires = None, None
    with instance.transaction() as session:
        session.execute(
            update(LivenessChallenge)
            .where(LivenessChallenge.id == challenge.id)
            .values(outcome="passed" if outcome.passed else outcome.reason)
        )
        if outcome.passed and outcome.embedding is not None:
            token_expires = now + timedelta(seconds=settings.liveness_token_seconds)
            token = issue_token(session, challenge, outcome.embedding, token_expires)
        instance.record(
            session,
            actor,
            "liveness.burst",
            "ok" if outcome.passed else f"failed:{outcome.reason}",
            gallery_id=challenge.gallery_id,
            details={**details, "checks": checks, "measures": measures},
        )
    return {
        "challenge_id": challenge.id,
        "liveness": "passed" if outcome.passed else "failed",
        "reason": outcome.reason,
        "message": outcome.message,
        "checks": checks,
        "measures": measures,
        "liveness_token": token,
        "token_expires_at": None if token_expires is None else token_expires.isoformat().replace("+00:00", "Z"),
        "server_ms": round(1000 * (time.perf_counter() - started), 1),
    }


def _finish(instance: Instance, challenge_id: str, outcome: str) -> None:
    with instance.transaction() as session:
        session.execute(update(LivenessChallenge).where(LivenessChallenge.id == challenge_id).values(outcome=outcome))


@dataclass(frozen=True)
class PhotoLiveness:
    """The liveness of the photo a request is made with: the gallery's policy, the challenge, the passive score."""

    policy: str
    challenge: str
    challenge_id: str | None
    similarity: float | None
    passive: dict[str, object] | None

    def as_dict(self) -> dict[str, object]:
        return {
            "policy": self.policy,
            "challenge": self.challenge,
            "challenge_id": self.challenge_id,
            "similarity": self.similarity,
            "passive": self.passive,
        }


def read_face(instance: Instance, face: Capture, image: np.ndarray) -> StillFace:
    """Read the photo's face with YuNet + SFace, once for the liveness step and the comparison.

    When the instance serves YuNet + SFace, the photo is read by its matcher's own pipeline and the reading is left
    with the capture (:attr:`~tessera.workflows.captures.Capture.readings`): the enrolment, verification or search
    that follows takes it instead of detecting and embedding the same pixels again. Otherwise (another face
    algorithm compares faces) the liveness step's own reading is the only one of this algorithm.
    """
    served = instance.matchers.of_template(Modality.FACE.value, SFACE_ALGORITHM, None)
    if not isinstance(served, FaceMatcher):
        return read_still(image)
    still = read_still(image, served.spec)
    if still.result is not None:
        face.readings[served.key] = (image, served.reading(still.result))
    return still


def policy_refusal(policy: str, purpose: str, *, face: bool, fingers: bool, token: bool) -> tuple[str, str] | None:
    """What a gallery's liveness policy refuses before any image is read: ``(code, message)``, or None.

    The one rule behind a request (:func:`photo_liveness`) and the check before the camera opens
    (:mod:`tessera.workflows.preflight`): in an ``unsupervised`` gallery, an enrolment or verification needs a
    token, a search needs one when fingers come with its face, and fingers without a face are refused whatever the
    purpose (the challenge is face-only: fingers count there only beside a face that passed it).
    """
    if token or policy != "unsupervised" or not (purpose in REQUIRED_FOR or fingers or not face):
        return None
    if not face:
        return "liveness_unavailable_for_fingers", FINGERS_UNSUPERVISED[purpose]
    return "liveness_required", LIVENESS_REQUIRED["face" if purpose in REQUIRED_FOR else "fingers"]


def photo_liveness(
    instance: Instance,
    actor: Actor | str,
    gallery_id: str | None,
    purpose: str,
    face: Capture | None,
    token: str | None,
    fingers: bool = False,
) -> PhotoLiveness | None:
    """Apply the gallery's liveness policy to a request's face photo and token, and score the photo passively.

    Refusals (422, audited ``liveness.token``): ``liveness_required`` (an unsupervised gallery, enrol or verify
    without a token, or a search whose face comes with ``fingers``), ``liveness_unavailable_for_fingers`` (the
    same without a face: fingers only, for every purpose),
    ``liveness_needs_face``, ``liveness_token_invalid`` (unknown, used, expired, or another
    gallery's, purpose's or key's), ``liveness_face_mismatch`` (the photo is not the burst's face). A token is
    consumed by the first request that presents it. Returns None when there is no gallery to apply a policy of
    (an unknown subject: the workflow answers 404). ``face`` is decoded once: :func:`~tessera.workflows.captures.decode`
    keeps the pixels with the capture, and the workflow that compares it reads the same ones.
    """
    if gallery_id is None:
        return None
    with instance.sessions() as session:
        gallery = session.get(Gallery, gallery_id)
        policy = gallery.liveness if gallery is not None else "supervised"

    def refuse(code: str, message: str, **more: object) -> InvalidRequest:
        instance.record_alone(
            actor, "liveness.token", f"refused:{code}", gallery_id=gallery_id, details={"purpose": purpose, **more}
        )
        return InvalidRequest(message, code=code)

    refusal = policy_refusal(policy, purpose, face=face is not None, fingers=fingers, token=token is not None)
    if refusal is not None:
        raise refuse(*refusal)
    if face is None:
        if token is not None:
            raise refuse("liveness_needs_face", NEEDS_FACE)
        return PhotoLiveness(policy, "not_done", None, None, None)
    image = decode(instance, face)  # the capture keeps it: the workflow's comparison reads the same pixels
    checkpoint("reading the face image")  # the same stages, and budget checks, as the workflow's own reading
    still = read_face(instance, face, image)
    passive = passive_score(image, still.box).as_dict()
    if token is None:
        instance.record_alone(
            actor, "liveness.passive", "ok", gallery_id=gallery_id, details={"purpose": purpose, "passive": passive}
        )
        return PhotoLiveness(policy, "not_done", None, None, passive)
    with instance.transaction() as session:
        row = session.get(LivenessToken, token_sha256(token[:128]))
        if row is not None:
            session.delete(row)  # single use: consumed by the first request that presents it
    invalid = (
        row is None
        or row.expires_at < instance.clock()
        or row.gallery_id != gallery_id
        or row.purpose != purpose
        or row.issued_to != str(actor)
    )
    if row is None or invalid:
        raise refuse(
            "liveness_token_invalid",
            "The liveness token is unknown, used, expired, or for another programme, purpose or key: do the "
            "liveness challenge again.",
            challenge_id=None if row is None else row.challenge_id,
        )
    try:
        burst_face = open_embedding(token, row.sealed_embedding, row.challenge_id)
    except DecryptionError:
        raise refuse("liveness_token_invalid", "The liveness token cannot be read: do the challenge again.") from None
    similarity = None if still.embedding is None else float(burst_face @ still.embedding)
    if similarity is None or similarity < DEFAULT_LIVENESS_CONFIG.same_face_min_similarity:
        raise refuse(
            "liveness_face_mismatch",
            "The photo does not show the face seen in the liveness check"
            + (f" ({still.refusal.replace('_', ' ')})" if still.refusal else "")
            + ": take the photo of the same person right after the check.",
            challenge_id=row.challenge_id,
            similarity=None if similarity is None else round(similarity, 3),
        )
    instance.record_alone(
        actor,
        "liveness.token",
        "ok",
        gallery_id=gallery_id,
        details={
            "purpose": purpose,
            "challenge_id": row.challenge_id,
            "similarity": round(similarity, 3),
            "passive": passive,
        },
    )
    return PhotoLiveness(policy, "passed", row.challenge_id, round(similarity, 3), passive)
