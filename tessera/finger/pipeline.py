"""The fingerprint pipeline: one image in, one minutiae template or one refusal out.

::

    locate -> normalise -> segment -> quality -> enhance -> minutiae -> quality

Each step is a function in its own module (:mod:`~tessera.finger.locate`,
:mod:`~tessera.finger.normalise`, :mod:`~tessera.finger.segment`,
:mod:`~tessera.finger.enhance`, :mod:`~tessera.finger.minutiae`,
:mod:`~tessera.finger.quality`); every tuning value is a field of
:class:`FingerConfig`. Expected failures (no finger, out of focus, ...) come
back as a falsy :class:`FingerRefusal`; exceptions mean a bug or a broken
environment.

``capture`` says what the image is: ``"contact"`` (a scanner or ink print,
dark ridges, resolution known: ``ppi``, 500 unless given) or
``"contactless"`` (a phone photo of one fingertip, mode A; the resolution
is measured from the ridges). The two are tagged in the template and never
silently mixed (NIST SP 500-334r1).

Trace keys, in the order they are logged:

``finger-skin``
    (contactless) bool mask of the finger in the photo shrunk to ``locate_side``.
``finger-tip``
    (contactless) dict: ``tip`` (row, col) and ``axis`` (unit row, col) in that photo, ``width`` pixels.
``finger-located``
    :class:`~tessera.finger.locate.FingerLocation`: the fingertip cut out upright.
``finger-normalised``
    (rows, cols) uint8: 500 ppi, dark ridges.
``finger-segmentation``
    :class:`~tessera.finger.segment.Segmentation`.
``finger-quality``
    :class:`FingerQuality` before extraction (``minutiae_count`` -1).
``finger-enhanced``
    (rows, cols) uint8: the image given to the extractor.
``finger-minutiae``
    :class:`~tessera.match.minutiae.Minutiae` kept.
``finger-refusal``
    the :class:`FingerRefusal`, when the capture is refused.
``finger-template``
    the :class:`FingerTemplate`.
"""

from __future__ import annotations

import numpy as np

from tessera.finger.config import CAPTURES, DEFAULT_FINGER_CONFIG, FingerConfig
from tessera.finger.enhance import enhance_ridges
from tessera.finger.locate import locate_contact, locate_fingertip, shows_a_face
from tessera.finger.minutiae import EXTRACTOR_ALGORITHMS, EXTRACTOR_THREADS, find_minutiae, keep_minutiae
from tessera.finger.normalise import normalise_finger
from tessera.finger.positions import check_finger_position
from tessera.finger.quality import FingerQuality, assess_capture, assess_minutiae, measure_quality, with_minutiae
from tessera.finger.refusal import REFUSAL_REASONS, FingerRefusal, refuse
from tessera.finger.segment import segment_finger
from tessera.finger.template import FingerTemplate
from tessera.primitives import NO_TRACE, Trace

__all__ = [
    "ALGORITHM",
    "CAPTURES",
    "DEFAULT_FINGER_CONFIG",
    "REFUSAL_REASONS",
    "FingerConfig",
    "FingerQuality",
    "FingerRefusal",
    "FingerTemplate",
    "algorithm_id",
    "extract_finger",
]

PIPELINE_VERSION = "tessera-finger-1"


def algorithm_id(config: FingerConfig = DEFAULT_FINGER_CONFIG) -> str:
    """The id stored with every template ``config`` makes: pipeline version and extractor weights."""
    return f"{PIPELINE_VERSION}+{EXTRACTOR_ALGORITHMS[config.extractor]}"


ALGORITHM = algorithm_id()
"""Algorithm id of the default configuration."""


def extract_finger(
    image: np.ndarray,
    capture: str,
    config: FingerConfig = DEFAULT_FINGER_CONFIG,
    trace: Trace = NO_TRACE,
    *,
    ppi: float | None = None,
    finger_position: int = 0,
    extractor_threads: int = EXTRACTOR_THREADS,
) -> FingerTemplate | FingerRefusal:
    """Make a minutiae template from a fingerprint image, or say why it cannot be used.

    Parameters
    ----------
    image : numpy.ndarray, shape (rows, cols, 3) uint8 RGB, or (rows, cols) uint8 gray
        Upright as decoded (see :func:`tessera.capture.decode.decode_image`).
    capture : str
        ``"contact"`` or ``"contactless"``.
    config : FingerConfig
    trace : Trace
        Receives the intermediate results listed in the module docstring.
    ppi : float, optional
        Resolution of a contact print (default ``config.contact_ppi``); a
        contactless photo's is measured, and giving one is an error.
    finger_position : int
        ISO/IEC 19794-2 finger position to record (0 unknown, 1-10).
    extractor_threads : int
        CPU threads for the minutiae network: 1 (default) runs it on the
        calling thread, where a request's CPU budget counts it; 0: a thread
        per core (see :data:`~tessera.finger.minutiae.EXTRACTOR_THREADS`).

    Returns
    -------
    FingerTemplate or FingerRefusal
        A refusal is falsy: ``if not result: ...``.

    Raises
    ------
    ValueError
        ``image`` is not a uint8 (rows, cols) or (rows, cols, 3) array,
        ``capture`` is unknown, or ``ppi`` is given for a contactless photo.
    """
    image = _checked_image(image)
    _check_arguments(capture, ppi, finger_position)
    refusal = _size_refusal(image, config)
    if refusal is not None:
        return _refused(refusal, image, capture, trace)
    location = (
        locate_contact(image, ppi or config.contact_ppi, config)
        if capture == "contact"
        else locate_fingertip(image, config, trace)
    )
    if isinstance(location, FingerRefusal):
        return _refused(location, image, capture, trace)
    trace.log("finger-located", location)
    finger = normalise_finger(location, capture, config)
    trace.log("finger-normalised", finger.image)
    segmentation = segment_finger(finger, config)
    trace.log("finger-segmentation", segmentation)
    quality = measure_quality(location, finger, segmentation)
    trace.log("finger-quality", quality)
    refusal = assess_capture(quality, capture, config)
    if refusal is not None:
        return _refused(refusal, image, capture, trace)
    enhance = config.enhance_contactless if capture == "contactless" else config.enhance_contact
    ridges = enhance_ridges(finger.image, segmentation, config) if enhance else finger.image
    trace.log("finger-enhanced", ridges)
    side = config.contactless_extractor_side if capture == "contactless" else config.max_extractor_side
    found = find_minutiae(ridges, segmentation.mask, config, extractor_threads, side)
    margin = config.minutia_margin_contactless if capture == "contactless" else config.minutia_margin_contact
    minutiae = keep_minutiae(found, segmentation.mask, margin, config.max_minutiae)
    trace.log("finger-minutiae", minutiae)
    quality = with_minutiae(quality, len(minutiae))
    refusal = assess_minutiae(quality, config)
    if refusal is not None:
        return _refused(refusal, image, capture, trace)
    template = FingerTemplate(
        minutiae=minutiae,
        capture=capture,
        algorithm=algorithm_id(config),
        quality=quality,
        image_size=finger.image.shape,
        finger_position=finger_position,
    )
    trace.log("finger-template", template)
    return template


FACE_CHECKED = ("move_closer", "finger_out_of_focus", "too_few_minutiae")
"""Refusals of a skin-coloured region that could be a face: only these pay for a face detection."""


def _refused(refusal: FingerRefusal, image: np.ndarray, capture: str, trace: Trace) -> FingerRefusal:
    # A face photo sent as a finger is told so, rather than to move closer or to focus.
    if capture == "contactless" and refusal.reason in FACE_CHECKED and shows_a_face(image):
        refusal = refuse(
            "not_a_finger", "not_a_finger_face", measure="face_detected", value=True, previous_reason=refusal.reason
        )
    trace.log("finger-refusal", refusal)
    return refusal


def _size_refusal(image: np.ndarray, config: FingerConfig) -> FingerRefusal | None:
    rows, cols = image.shape[:2]
    if min(rows, cols) < config.min_image_side:
        return refuse(
            "image_too_small", measure="shorter_side_px", value=int(min(rows, cols)), minimum=config.min_image_side
        )
    if rows * cols > config.max_image_pixels:
        return refuse("image_too_large", measure="pixels", value=int(rows * cols), maximum=config.max_image_pixels)
    return None


def _check_arguments(capture: str, ppi: float | None, finger_position: int) -> None:
    if capture not in CAPTURES:
        raise ValueError(f"capture must be one of {CAPTURES}; got {capture!r}")
    if ppi is not None:
        if capture == "contactless":
            raise ValueError(
                "ppi must not be given for a contactless photo: its resolution is measured from the ridges"
            )
        if not 250.0 <= float(ppi) <= 2000.0:
            raise ValueError(f"ppi must be between 250 and 2000 pixels per inch; got {ppi}")
    check_finger_position(finger_position, allow_unknown=True)


def _checked_image(image: object) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise ValueError(
            "image must be a numpy.ndarray of shape (rows, cols, 3) RGB or (rows, cols) gray, uint8; got "
            f"{type(image).__name__}"
        )
    if image.dtype != np.uint8:
        raise ValueError(f"image must have dtype uint8 (0-255); got dtype {image.dtype}")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(f"image must have shape (rows, cols, 3) or (rows, cols); got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image must have at least one row and one column; got shape {image.shape}")
    return np.ascontiguousarray(image)
