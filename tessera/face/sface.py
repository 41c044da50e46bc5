"""The YuNet + SFace face pipeline: one photo in, one template or one refusal out.

::

    detect (YuNet) -> choose -> align (5 landmarks, 112 px) -> quality -> embed (SFace) -> retake advice

The same contract as dlib's :func:`tessera.face.pipeline.extract_face`: the
same centre-face rule (:func:`~tessera.face.detect.choose_face`), the same
quality gate and refusal reasons (:func:`~tessera.face.quality.assess`), the
same :class:`~tessera.face.pipeline.FaceTemplate`, with the algorithm id
:data:`SFACE_ALGORITHM`. Every tuning value is a field of
:class:`~tessera.face.sface_config.SFaceConfig`; its gate refuses only what
leaves no template worth comparing, and a kept capture that breaks one of the
stricter retake limits carries the reason a retake would help
(:func:`~tessera.face.quality.retake_advice`).

Trace keys, in the order they are logged:

``face-detections``
    tuple of :class:`~tessera.face.detect.Detection`, strongest first.
``face-chosen``
    the :class:`~tessera.face.detect.Detection` taken as the subject.
``face-landmarks``
    (5, 2) float64 array of (row, col) in input pixels: eye centres, nose tip, mouth corners
    (:mod:`tessera.face.yunet`).
``face-chip``
    (112, 112, 3) uint8 RGB aligned chip.
``face-quality``
    :class:`~tessera.face.quality.FaceQuality`.
``face-refusal``
    the :class:`~tessera.face.refusal.FaceRefusal`, when the capture is refused.
``face-embedding``
    (128,) float32 unit embedding.
``face-retake-advice``
    the :class:`~tessera.face.refusal.RetakeAdvice` a retake limit gives, or None.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tessera.face.detect import choose_face
from tessera.face.pipeline import FaceTemplate, checked_image, clipped_box
from tessera.face.quality import (
    FaceQuality,
    assess,
    brightness,
    clipped_fraction,
    face_region,
    retake_advice,
    sharpness,
    turn_angle,
)
from tessera.face.refusal import FaceRefusal
from tessera.face.sface_config import DEFAULT_SFACE_CONFIG, SFaceConfig
from tessera.face.sface_models import SFaceModels, load_sface_models
from tessera.face.yunet import EYE_ON_IMAGE_LEFT, EYE_ON_IMAGE_RIGHT, NOSE_TIP, YuNetFace, detect_faces_yunet
from tessera.primitives import NO_TRACE, Image, Trace, unit_vector

SFACE_ALGORITHM = "yunet-sface-2021dec/1"
"""Template algorithm id: YuNet's landmarks, SFace 2021dec (fp32), no flip augmentation; the version is bumped
whenever the output changes for the same image."""

SFACE_CHIP_SIZE = 112
"""Side of the chip SFace reads, in pixels."""

SFACE_REFERENCE_POINTS = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)
"""Where the five landmarks go on the 112-px chip, (x, y): eye on the image's left, eye on its right, nose
tip, mouth corners. The ArcFace reference (Deng et al., "ArcFace: Additive Angular Margin Loss for Deep Face
Recognition", CVPR 2019; insightface), which SFace was trained with and OpenCV's
``FaceRecognizerSF.alignCrop`` uses."""


@dataclass(frozen=True)
class SFaceEmbedder:
    """SFace (Zhong et al., "SFace: Sigmoid-Constrained Hypersphere Loss for Robust Face Recognition",
    IEEE TIP 30, 2021): a MobileFaceNet trained on CASIA-WebFace, 99.40 % on LFW's standard protocol
    (OpenCV Zoo's figure for this file). No flip augmentation.
    """

    models: SFaceModels
    dim: int = 128

    @property
    def algorithm(self) -> str:
        return SFACE_ALGORITHM

    def embed(self, chip: np.ndarray) -> np.ndarray:
        """Embed a chip cut by :func:`align_sface`.

        Returns
        -------
        numpy.ndarray, shape (128,), float32
            Unit L2 norm.
        """
        if chip.shape != (SFACE_CHIP_SIZE, SFACE_CHIP_SIZE, 3) or chip.dtype != np.uint8:
            raise ValueError(
                f"chip must be a ({SFACE_CHIP_SIZE}, {SFACE_CHIP_SIZE}, 3) uint8 RGB array as align_sface cuts it; "
                f"got shape {chip.shape} and dtype {chip.dtype}"
            )
        # RGB, 0-255, channels first: what OpenCV's FaceRecognizerSF feeds the network.
        blob = np.ascontiguousarray(chip.transpose(2, 0, 1)[None], dtype=np.float32)
        session = self.models.recognizer
        (output,) = session.run(None, {session.get_inputs()[0].name: blob})
        return unit_vector(output)


def extract_face_sface(
    image: Image, config: SFaceConfig = DEFAULT_SFACE_CONFIG, trace: Trace = NO_TRACE
) -> FaceTemplate | FaceRefusal:
    """Make a YuNet + SFace face template from a photo of one person, or say why the photo cannot be used.

    Parameters
    ----------
    image : numpy.ndarray, shape (rows, cols, 3), uint8
        RGB photo, upright (see :func:`tessera.capture.decode.decode_image`).
    config : SFaceConfig
        Tuning values and quality limits.
    trace : Trace
        Receives the intermediate results listed in the module docstring.

    Returns
    -------
    FaceTemplate or FaceRefusal
        A refusal is falsy; its reasons and messages are dlib's pipeline's.

    Raises
    ------
    ValueError
        ``image`` is not a (rows, cols, 3) uint8 array.
    """
    image = checked_image(image)
    models = load_sface_models()
    found = detect_faces_yunet(image, config, models, trace)
    chosen = choose_face(tuple(face.detection for face in found), image.shape, config)
    if isinstance(chosen, FaceRefusal):
        return _refused(chosen, trace)
    trace.log("face-chosen", chosen)
    face = next(face for face in found if face.detection is chosen)
    trace.log("face-landmarks", face.landmarks)
    chip = align_sface(image, face.landmarks)
    trace.log("face-chip", chip)
    quality = measure_sface_quality(chip, face, len(found), config)
    trace.log("face-quality", quality)
    refusal = assess(quality, config)
    if refusal is not None:
        return _refused(refusal, trace)
    embedding = SFaceEmbedder(models).embed(chip)
    embedding.setflags(write=False)
    trace.log("face-embedding", embedding)
    box = clipped_box(chosen.box, image.shape)
    advice = retake_advice(quality, config)
    trace.log("face-retake-advice", advice)
    return FaceTemplate(embedding=embedding, quality=quality, box=box, algorithm=SFACE_ALGORITHM, retake_advised=advice)


def align_sface(image: Image, landmarks: np.ndarray) -> np.ndarray:
    """Cut the 112-px chip: the similarity transform that best maps ``landmarks`` onto :data:`SFACE_REFERENCE_POINTS`.

    Parameters
    ----------
    image : numpy.ndarray, shape (rows, cols, 3), uint8
        RGB image, full resolution.
    landmarks : numpy.ndarray, shape (5, 2)
        (row, col) in ``image``'s pixels, in YuNet's order.

    Returns
    -------
    numpy.ndarray, shape (112, 112, 3), uint8
        RGB chip; bilinear interpolation, black outside the image (as ``FaceRecognizerSF.alignCrop``).
    """
    matrix = similarity_transform(landmarks[:, ::-1], SFACE_REFERENCE_POINTS)
    return cv2.warpAffine(image, matrix, (SFACE_CHIP_SIZE, SFACE_CHIP_SIZE), flags=cv2.INTER_LINEAR)


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The rotation, uniform scale and shift that best map ``source`` onto ``target`` in least squares.

    Umeyama, "Least-squares estimation of transformation parameters between
    two point patterns", IEEE TPAMI 13(4), 1991, eqs. 34-43 (reflections excluded).

    Parameters
    ----------
    source, target : numpy.ndarray, shape (n, 2)
        Corresponding points, (x, y).

    Returns
    -------
    numpy.ndarray, shape (2, 3), float64
        The affine matrix ``[s R | t]`` that :func:`cv2.warpAffine` takes.
    """
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    centred_source, centred_target = source - source_mean, target - target_mean
    covariance = centred_target.T @ centred_source / len(source)
    left, singular, right = np.linalg.svd(covariance)
    sign = np.array([1.0, -1.0 if np.linalg.det(left) * np.linalg.det(right) < 0 else 1.0])
    rotation = left @ np.diag(sign) @ right
    scale = float(singular @ sign) / float((centred_source**2).sum(axis=1).mean())
    shift = target_mean - scale * rotation @ source_mean
    return np.hstack([scale * rotation, shift[:, None]])


def measure_sface_quality(chip: np.ndarray, face: YuNetFace, faces_found: int, config: SFaceConfig) -> FaceQuality:
    """Measure ``face`` (found among ``faces_found``) and its chip with dlib's pipeline's measures.

    Face size is the distance between YuNet's eye centres, in input pixels;
    sharpness and exposure are taken on the chip's face region; yaw comes
    from the nose tip's sideways shift (:func:`~tessera.face.quality.turn_angle`
    with ``config.nose_depth_ratio``).
    """
    region = face_region(chip, config.face_region)
    left_eye, right_eye = face.landmarks[EYE_ON_IMAGE_LEFT], face.landmarks[EYE_ON_IMAGE_RIGHT]
    turn = turn_angle(right_eye, left_eye, face.landmarks[NOSE_TIP], config.nose_depth_ratio)
    return FaceQuality(
        detection_score=round(face.detection.score, 4),
        face_width_px=float(face.detection.box.width),
        inter_eye_px=round(float(np.linalg.norm(right_eye - left_eye)), 2),
        sharpness=round(sharpness(region, config.sharpness_denoise_sigma, config.sharpness_reblur_px), 4),
        brightness=round(brightness(region), 2),
        clipped_fraction=round(clipped_fraction(region, config.clip_margin), 4),
        yaw=round(turn, 1),
        faces_found=int(faces_found),
        detector=face.detection.detector,
    )


def _refused(refusal: FaceRefusal, trace: Trace) -> FaceRefusal:
    trace.log("face-refusal", refusal)
    return refusal
