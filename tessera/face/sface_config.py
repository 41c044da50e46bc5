"""Every tuning value of the YuNet + SFace face pipeline, in one frozen config.

The choice among several faces and the quality gate are dlib's pipeline's
(:mod:`tessera.face.detect`, :mod:`tessera.face.quality`), with the same field
names, so the same functions read them. The limits start at dlib's values
(measured with dlib's detector, landmarks and 150-px chip, see
:class:`~tessera.face.config.FaceConfig`) or, where the measure differs
(YuNet's eye centres and nose tip, SFace's 112-px chip), at a value chosen so
that it means about the same. The face-size and sharpness limits have been
measured against SFace's false non-match rate on pairsDevTrain photos (see each
field: 16 px holds; 0.20 sharpness is too lenient for SFace); the exposure and
head-turn limits are still provisional.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from tessera.face.config import DEFAULT_FACE_CONFIG, check_choice_and_quality_limits


def _require(condition: bool, name: str, rule: str, value: object) -> None:
    if not condition:
        raise ValueError(f"{name} {rule}; got {value!r}")


@dataclass(frozen=True)
class SFaceConfig:
    """Tuning values of :func:`tessera.face.sface.extract_face_sface`. Provisional until measured (module docstring)."""

    # -- detection ---------------------------------------------------------
    detection_max_side: int = 640
    """Images whose longer side exceeds this many pixels are shrunk to it before detection, and the boxes
    and landmarks mapped back. YuNet finds faces from ~10 px up to ~300 px in the image it sees (OpenCV
    Zoo's model notes), so at 640 px a face filling a phone photo is still found."""
    min_detection_score: float = 0.7
    """Smallest YuNet score (0-1) of a face. OpenCV Zoo's demo uses 0.9; lower, so that a small or dim face
    is found and refused for its real reason (``face_too_small``, ``bad_exposure``) rather than as
    ``no_face``. Provisional."""
    nms_threshold: float = 0.3
    """Overlap (IoU) above which YuNet keeps only the stronger of two boxes (OpenCV Zoo's default)."""

    # -- choosing the face (as FaceConfig's; measured with dlib's boxes) ----
    max_centre_offset: float = DEFAULT_FACE_CONFIG.max_centre_offset
    """As :attr:`FaceConfig.max_centre_offset`. YuNet's boxes sit on the face much as dlib's do; provisional."""
    centre_dominance: float = DEFAULT_FACE_CONFIG.centre_dominance
    """As :attr:`FaceConfig.centre_dominance`; provisional."""
    min_central_area_fraction: float = DEFAULT_FACE_CONFIG.min_central_area_fraction
    """As :attr:`FaceConfig.min_central_area_fraction`; provisional."""
    dominance_ratio: float = DEFAULT_FACE_CONFIG.dominance_ratio
    """As :attr:`FaceConfig.dominance_ratio`; provisional."""

    # -- where quality is measured on the 112-px chip ----------------------
    face_region: tuple[float, float, float, float] = (0.30, 0.20, 0.95, 0.80)
    """(top, left, bottom, right) of SFace's chip, as fractions of its side, where sharpness and exposure are
    measured: eyes (row 0.46), nose and mouth (row 0.82), without hair or background. SFace's chip is
    cut tighter than dlib's, hence other fractions than :attr:`FaceConfig.face_region`."""
    sharpness_denoise_sigma: float = DEFAULT_FACE_CONFIG.sharpness_denoise_sigma
    """As :attr:`FaceConfig.sharpness_denoise_sigma` (chip pixels). The eyes are ~35 px apart on SFace's chip,
    about as far as on dlib's, so a chip pixel covers about as much of the face; provisional."""
    sharpness_reblur_px: int = DEFAULT_FACE_CONFIG.sharpness_reblur_px
    """As :attr:`FaceConfig.sharpness_reblur_px`; provisional."""
    clip_margin: int = DEFAULT_FACE_CONFIG.clip_margin
    """As :attr:`FaceConfig.clip_margin`."""
    nose_depth_ratio: float = 0.9
    """How far YuNet's nose *tip* stands in front of its eye centres, as a fraction of the distance between
    the eyes; turns the tip's sideways shift into an angle (:func:`tessera.face.quality.turn_angle`). Larger
    than dlib's :data:`~tessera.face.quality.NOSE_DEPTH_RATIO` (nose base, 0.65): the tip stands further out.
    Set so that this yaw agrees with dlib's pipeline's (:func:`tessera.face.quality.yaw`) on 500 LFW photos
    (random, seed 1): RMS difference 4.3 degrees, the least of 0.30-1.50 in steps of 0.05; 6.8 degrees on the
    62 photos dlib reads as turned more than 15 (0.75 would give 6.1 there). Whether 45 degrees is the right
    limit for SFace is not yet measured: provisional."""

    # -- quality limits (dlib's, provisional) ------------------------------
    min_inter_eye_px: float = DEFAULT_FACE_CONFIG.min_inter_eye_px
    """Smallest distance between YuNet's eye centres, in input pixels. Measured for SFace: shrinking one photo of
    200 pairsDevTrain mate pairs (random, seed 0) leaves the FNMR at SFace's FMR 1e-3 threshold unchanged (1.0 %)
    down to a median of 15.6 px, doubles it at 12.1 px (2.0 %), 4.0 % at 11.0 px, 7.5 % at 9.4 px, 23 % at 7.9 px;
    so dlib's 16 px holds for SFace too. On the 3,443 pairsDevTrain photos it refuses 4, whose 10 mate pairs all
    match at FMR 1e-3."""
    min_sharpness: float = DEFAULT_FACE_CONFIG.min_sharpness
    """Smallest sharpness of the chip's face region (:func:`tessera.face.quality.sharpness`; dlib's limit).
    Measured for SFace (the same 200 pairs, one photo Gaussian-blurred): FNMR at FMR 1e-3 1.0 % at sigma 1.5
    (median sharpness 0.373), 2.0 % at sigma 2 (0.325), 3.0 % at 2.5 (0.280), 7.0 % at 3 (0.242, 10th
    percentile 0.200). SFace's chip reads sharper than dlib's (pairsDevTrain median 0.48, lowest ~0.30), so 0.20
    lets most sigma-3 blur through: about 0.28 would match dlib's rule (refuse where the FNMR has tripled) and
    refuse none of the 3,443 pairsDevTrain photos. Not changed yet: a new limit needs the calibration refitted
    (its recorded config must be this one) and the evaluation re-run."""
    min_brightness: float = DEFAULT_FACE_CONFIG.min_brightness
    """Smallest mean grey level (0-255) of the face region (dlib's limit; provisional)."""
    max_brightness: float = DEFAULT_FACE_CONFIG.max_brightness
    """Largest mean grey level (0-255) of the face region (dlib's limit; provisional)."""
    max_clipped_fraction: float = DEFAULT_FACE_CONFIG.max_clipped_fraction
    """Largest fraction of face-region pixels that are pure black or white (dlib's limit; provisional)."""
    max_abs_yaw: float = DEFAULT_FACE_CONFIG.max_abs_yaw
    """Largest estimated head turn, degrees (dlib's limit; provisional, and so is the yaw estimate)."""

    def __post_init__(self) -> None:
        _require(
            self.detection_max_side >= 32, "detection_max_side", "must be at least 32 pixels", self.detection_max_side
        )
        _require(
            0.0 < self.min_detection_score < 1.0, "min_detection_score", "must be in (0, 1)", self.min_detection_score
        )
        _require(0.0 < self.nms_threshold < 1.0, "nms_threshold", "must be in (0, 1)", self.nms_threshold)
        check_choice_and_quality_limits(self)
        _require(self.nose_depth_ratio > 0, "nose_depth_ratio", "must be positive", self.nose_depth_ratio)

    def as_dict(self) -> dict:
        """The configuration as JSON-serialisable values, to record with an evaluation."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}


DEFAULT_SFACE_CONFIG = SFaceConfig()
