"""Consent evidence: how a person signified their consent, checked against the gallery and kept sealed.

::

    kind accepted by the gallery -> image decoded within limits, not blank | witness key checked
        -> sealed with the consent

A signature drawn on the screen or a photo of a thumbprint mark is kept as
the image sent, sealed under the subject's data key (so an erasure destroys
it with the templates); only its SHA-256 is in clear. Spoken consent is
witnessed by a second worker who types their own API key on the same
device: the key must be valid, another key than the recorder's, allowed to
enrol and reach the gallery; only its id is kept.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image

from tessera.capture.decode import ACCEPTED_FORMATS, DecodeLimits, decode_image
from tessera.errors import Conflict, InvalidRequest, PayloadTooLarge, TesseraError, Unauthorized
from tessera.governance.consent import EvidenceInput, check_evidence_accepted
from tessera.governance.roles import Permission, allows
from tessera.governance.scope import reaches
from tessera.governance.vocabulary import ConsentEvidence
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.keys import authenticate

IMAGE_FORMATS = {"PNG", "JPEG"}


@dataclass(frozen=True)
class Evidence:
    """Checked consent evidence, ready to be kept with the consent record."""

    kind: ConsentEvidence
    image: bytes | None = None
    witness_key_id: str | None = None

    @property
    def image_sha256(self) -> str | None:
        return hashlib.sha256(self.image).hexdigest() if self.image is not None else None

    def audit_details(self) -> dict[str, object]:
        """What the audit entry says of the evidence: its kind, the witness's key id, the image's hash."""
        details: dict[str, object] = {"evidence": self.kind.value}
        if self.witness_key_id is not None:
            details["witness_key_id"] = self.witness_key_id
        if self.image is not None:
            details["evidence_sha256"] = self.image_sha256
        return details


def check_evidence(
    instance: Instance, actor: Actor | str, gallery_id: str, accepted: list[str], given: EvidenceInput | None
) -> Evidence:
    """The evidence of a consent about to be recorded in ``gallery_id``, checked; raises with a reason code.

    Raises
    ------
    Conflict
        ``consent_evidence_not_accepted``: the gallery does not accept this kind (no evidence is ``typed_name``).
    InvalidRequest
        ``evidence_not_an_image``: the image is not base64 PNG or JPEG, or does not decode (truncated, corrupt, a
        JPEG of too many scans); ``evidence_blank``: every pixel of the image is alike; ``witness_key_invalid``:
        the witness's key is malformed, unknown or revoked; ``witness_is_recorder``: the witness is the worker
        recording the consent; ``witness_not_allowed``: the witness's key may not enrol in this gallery.
    PayloadTooLarge
        ``too_large``: the image is above ``consent_evidence_max_bytes`` or ``consent_evidence_max_pixels``.
    """
    kind = given.kind if given is not None else ConsentEvidence.TYPED_NAME
    refusal = check_evidence_accepted(kind, accepted)
    if refusal is not None:
        raise Conflict(refusal.message, code=refusal.code)
    if given is None or kind is ConsentEvidence.TYPED_NAME:
        return Evidence(kind)
    if given.image is not None:
        return Evidence(kind, image=read_image(instance, given.image))
    assert given.witness_key is not None  # EvidenceInput requires it for spoken consent
    return Evidence(kind, witness_key_id=check_witness(instance, actor, gallery_id, given.witness_key))


def read_image(instance: Instance, text: str) -> bytes:
    """The bytes of a base64 PNG or JPEG (an optional ``data:image/...;base64,`` prefix), within the limits."""
    limit = instance.settings.consent_evidence_max_bytes
    payload = text.split(",", 1)[1] if text.startswith("data:") else text
    if len(payload) > (limit * 4) // 3 + 4:
        raise PayloadTooLarge(f"The consent evidence image is larger than the {limit:,}-byte limit.", code="too_large")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(
            "evidence.image must be base64 (a PNG or JPEG image).", code="evidence_not_an_image"
        ) from None
    if len(data) > limit:
        raise PayloadTooLarge(f"The consent evidence image is larger than the {limit:,}-byte limit.", code="too_large")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image_format, (cols, rows) = image.format, image.size
                if image_format in IMAGE_FORMATS and rows * cols <= instance.settings.consent_evidence_max_pixels:
                    image.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PayloadTooLarge(
            f"The consent evidence image declares more than {instance.settings.consent_evidence_max_pixels:,} pixels.",
            code="too_large",
        ) from None
    except Exception:  # a malformed file breaks Pillow in many ways (OSError, struct.error...): "not an image"
        raise InvalidRequest(
            "evidence.image is not a readable PNG or JPEG image.", code="evidence_not_an_image"
        ) from None
    if image_format not in IMAGE_FORMATS:
        raise InvalidRequest(f"evidence.image must be PNG or JPEG, got {image_format}.", code="evidence_not_an_image")
    if rows * cols > instance.settings.consent_evidence_max_pixels:
        raise PayloadTooLarge(
            f"The consent evidence image has {rows * cols:,} pixels; at most "
            f"{instance.settings.consent_evidence_max_pixels:,} are accepted.",
            code="too_large",
        )
    check_decodes(instance, data)
    if is_blank(data):
        raise InvalidRequest(
            "evidence.image is blank (every pixel alike): it shows no signature or mark.", code="evidence_blank"
        )
    return data


def check_decodes(instance: Instance, data: bytes) -> None:
    """Decode the image whole, within the limits of every upload (bytes, pixels, sides, pixel data, JPEG scans),
    so that what is kept as proof is a picture: Pillow's ``verify`` reads none of a JPEG's data. 422
    ``evidence_not_an_image`` (the decoder's words), or 413 ``too_large``."""
    settings = instance.settings
    limits = DecodeLimits(
        max_bytes=settings.consent_evidence_max_bytes,
        max_pixels=settings.consent_evidence_max_pixels,
        max_jpeg_scans=settings.max_jpeg_scans,
        max_side=settings.max_image_side,
        max_raw_bytes=settings.max_raw_image_bytes,
        max_jpeg_scan_pixels=settings.max_jpeg_scan_pixels,
        what="consent evidence image",
    )
    try:
        decode_image(data, limits, formats={name: ACCEPTED_FORMATS[name] for name in IMAGE_FORMATS})
    except PayloadTooLarge:
        raise
    except TesseraError as error:
        raise InvalidRequest(f"evidence.image: {error.message}", code="evidence_not_an_image") from None


def is_blank(data: bytes) -> bool:
    """Whether every pixel of a decodable image is alike in every band, alpha included (a mark drawn in the alpha
    band alone, black strokes on a transparent canvas, is not blank)."""
    with Image.open(io.BytesIO(data)) as image:
        extrema = image.getextrema()
    bands = extrema if isinstance(extrema[0], tuple) else (extrema,)
    return all(low == high for low, high in bands)


def check_witness(instance: Instance, actor: Actor | str, gallery_id: str, witness_key: str) -> str:
    """The id of the witness's key, once it is a valid key of another worker who may enrol in the gallery."""
    try:
        witness = authenticate(instance, witness_key.strip())
    except Unauthorized as error:
        raise InvalidRequest(
            f"The witness's key is not valid ({error.message}); the second worker types their own key.",
            code="witness_key_invalid",
        ) from None
    if witness.id == str(actor):
        raise InvalidRequest(
            "The witness must be a second worker, with another key than the one recording the consent.",
            code="witness_is_recorder",
        )
    if not allows(witness.role, Permission.ENROL) or not reaches(witness.galleries, gallery_id):
        raise InvalidRequest(
            f"The witness's key (role {witness.role}) may not enrol in this gallery; ask a field worker of this "
            "programme to witness.",
            code="witness_not_allowed",
        )
    return witness.id.removeprefix("key:")
