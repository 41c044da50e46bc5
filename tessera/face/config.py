"""Every tuning value of the face pipeline, in one frozen config.

Pass a :class:`FaceConfig` explicitly so that an evaluation can compare two
configurations in one process. :mod:`tessera.face.pipeline` re-exports it;
it lives here so that every step can read it without importing the pipeline.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from tessera.face.embed import EMBEDDERS

DETECTORS = ("hog", "hog-upsampled", "cnn")
"""Detector stages :func:`tessera.face.detect.detect_faces` knows, cheapest first."""


def _require(condition: bool, name: str, rule: str, value: object) -> None:
    if not condition:
        raise ValueError(f"{name} {rule}; got {value!r}")


def check_choice_and_quality_limits(config: Any) -> None:
    """Check the fields every face pipeline's config shares: the face-choice rule, the region quality is measured
    in, and the sharpness and exposure limits (ValueError naming the field, the value and what is allowed)."""
    _require(config.dominance_ratio >= 1.0, "dominance_ratio", "must be at least 1.0", config.dominance_ratio)
    _require(config.centre_dominance >= 1.0, "centre_dominance", "must be at least 1.0", config.centre_dominance)
    _require(0.0 <= config.max_centre_offset <= 1.0, "max_centre_offset", "must be in [0, 1]", config.max_centre_offset)
    _require(
        0.0 <= config.min_central_area_fraction <= 1.0,
        "min_central_area_fraction",
        "must be in [0, 1]",
        config.min_central_area_fraction,
    )
    _require(
        len(config.face_region) == 4
        and 0.0 <= config.face_region[0] < config.face_region[2] <= 1.0
        and 0.0 <= config.face_region[1] < config.face_region[3] <= 1.0,
        "face_region",
        "must be (top, left, bottom, right) fractions of the chip with top < bottom and left < right",
        config.face_region,
    )
    sigma, reblur = config.sharpness_denoise_sigma, config.sharpness_reblur_px
    _require(sigma > 0, "sharpness_denoise_sigma", "must be positive", sigma)
    _require(isinstance(reblur, int) and reblur >= 2, "sharpness_reblur_px", "must be an integer >= 2", reblur)
    _require(
        0.0 <= config.min_brightness < config.max_brightness <= 255.0,
        "min_brightness and max_brightness",
        "must satisfy 0 <= min < max <= 255",
        (config.min_brightness, config.max_brightness),
    )


@dataclass(frozen=True)
class QualityLimitValues:
    """The six limits :func:`tessera.face.quality.assess` reads, as values, with the same meaning and units as a
    face config's.

    A config's ``retake`` tier is one: a pipeline's config refuses a capture
    only where no usable template can be made of it (its own limits); where
    a capture passes those but breaks one of its ``retake`` limits, the
    template is made and kept, and the answer says why a retake would help
    (:func:`tessera.face.quality.retake_advice`): the field worker retakes
    while the person is there, and a photo that cannot be retaken (an
    existing record) is still compared rather than lost. An evaluation's
    setting of the gate is another
    (:class:`tessera.evaluation.quality_limits.LimitSetting`).
    """

    min_inter_eye_px: float
    min_brightness: float
    max_brightness: float
    max_clipped_fraction: float
    min_sharpness: float
    max_abs_yaw: float

    def check_within(self, refusal: Any) -> None:
        """ValueError unless every limit here is at least as strict as ``refusal``'s (a config's own limits)."""
        stricter_or_equal = (
            self.min_inter_eye_px >= refusal.min_inter_eye_px
            and self.min_brightness >= refusal.min_brightness
            and self.max_brightness <= refusal.max_brightness
            and self.max_clipped_fraction <= refusal.max_clipped_fraction
            and self.min_sharpness >= refusal.min_sharpness
            and self.max_abs_yaw <= refusal.max_abs_yaw
        )
        _require(stricter_or_equal, "retake", "limits must each be at least as strict as the refusal limits", self)


@dataclass(frozen=True)
class FaceConfig:
    """Tuning values of :func:`tessera.face.pipeline.extract_face`.

    Every field is documented with what it does and, for the quality
    limits, the measurement that set it.
    """

    # -- detection ---------------------------------------------------------
    detection_max_side: int = 640
    """Images whose longer side exceeds this many pixels are shrunk to it before detection, and the
    boxes mapped back. Detection time grows with the pixel count; a phone photo (4000 px) would take
    seconds. At 640 px with ``hog_upsample=1`` a face is found if it spans at least ~6 % of the longer
    side, which every enrolment photo does."""
    detectors: tuple[str, ...] = DETECTORS
    """Detector stages, tried in this order until one finds a face: ``"hog"`` (dlib's HOG detector at
    ``hog_upsample``), ``"hog-upsampled"`` (the same at ``fallback_hog_upsample``, for small faces) and
    ``"cnn"`` (the MMOD CNN detector, for faces HOG misses: turned, partly covered, unevenly lit).
    ``("hog",)`` turns the fallbacks off."""
    hog_upsample: int = 1
    """Times the image is doubled before HOG detection. HOG's window is 80x80 px, so each doubling halves
    the smallest face found (1: ~40 px)."""
    fallback_hog_upsample: int = 2
    """Upsampling of the ``"hog-upsampled"`` stage (2: faces down to ~20 px, so that a tiny face is
    refused as ``face_too_small`` rather than ``no_face``)."""
    fallback_hog_max_side: int = 400
    """The ``"hog-upsampled"`` stage runs on a copy shrunk to at most this many pixels on its longer side.
    It is reached only when the first HOG pass found nothing, and its cost grows with the upsampled image:
    on a photo with no face, 0.60 s of CPU at 640 px (upsampled twice: 2560x2560), 0.23 s at 400. Bounding it
    keeps what one photo can cost under the request's CPU target (docs/security.md, image limits). Photos up
    to 400 px (LFW's 250 px) are unchanged; in a larger one it finds faces down to 5 % of the longer side
    (the first pass: 6 %) instead of 3 %, faces too small to enrol in a photo of under 1,000 px anyway."""
    cnn_max_side: int = 256
    """The CNN stage runs on a copy shrunk to at most this many pixels on its longer side: it costs
    ~5 µs per pixel on one CPU core (0.32 s at 256 px, 0.5 s at 320), and its 80x80 px window finds a
    face spanning 31 % of the longer side at this size (a face framed for enrolment). 256 rather than
    320 keeps one photo's worst cost, every detector stage run in vain, well under the request's CPU target
    (docs/security.md, image limits); LFW's 250 px photos are unchanged."""
    cnn_upsample: int = 0
    """Times the image is doubled before CNN detection (each doubling costs 4x the time)."""
    min_hog_score: float = 0.0
    """Smallest HOG detection score (the SVM's margin) accepted."""
    min_cnn_score: float = 0.0
    """Smallest CNN detection confidence accepted."""
    max_centre_offset: float = 0.15
    """With several faces, the one nearest the centre of the photo is taken when its box centre lies
    within this distance of the photo's centre (rows and columns each measured as a fraction of the
    photo's height and width) and every other face is at least ``centre_dominance`` times further:
    whoever holds the camera frames the person being enrolled. On LFW (9,056 photos, 456 with two or
    more faces found) the face nearest the centre is at most 0.12 away, the others at least 0.2;
    it is the face most like the person's other photos in all 316 photos where that can be told."""
    centre_dominance: float = 2.0
    """How many times further from the photo's centre every other face must be for the nearest one to
    count as framed (see ``max_centre_offset``). On LFW the ratio is 3.3 or more, except in one photo
    (1.2) where two faces are both near the centre, which then falls to the area rule."""
    min_central_area_fraction: float = 0.4
    """The framed face is not taken when another face's box is more than 1 / this times larger: a small
    face in the background that happens to sit near the centre is not the subject. On LFW the framed
    face is at least half the size of the largest."""
    dominance_ratio: float = 2.0
    """With several faces and none framed in the centre, the largest is taken when its box area is at
    least this many times the next one (background faces are common); otherwise the capture is
    refused as ``multiple_faces``."""

    # -- alignment ---------------------------------------------------------
    chip_size: int = 150
    """Side of the aligned face chip, in pixels. The dlib ResNet descriptor needs 150."""
    chip_padding: float = 0.25
    """Margin around the landmarks' mean face in the chip, as a fraction of its size. The dlib ResNet
    descriptor was trained with 0.25."""
    face_region: tuple[float, float, float, float] = (0.25, 0.25, 0.85, 0.75)
    """(top, left, bottom, right) of the chip, as fractions of its side, where sharpness and exposure
    are measured: eyes, nose and mouth, without hair or background."""

    # -- quality limits ----------------------------------------------------
    # Set from two measurements (dlib ResNet on deep-funnelled LFW, before flip augmentation; score
    # threshold 0.926, the FMR 1e-3 point of 39 M LFW non-mate pairs): where degrading one photo of 190 LFW mate pairs
    # (pairsDevTrain) starts to raise their false non-match rate (6.3 % undegraded), and what share
    # of the 9,056 LFW photos each limit refuses (together 0.33 %; 0.30 % of a random 2,000, seed 0).
    # The LFW photos the limits refuse do match badly: the FNMR against their mates is 47 % for the
    # turned ones and for the blurred ones, against 6.7 % for all photos.
    min_inter_eye_px: float = 16.0
    """Smallest distance between the eye centres, in pixels of the input image. Shrinking LFW photos
    leaves the FNMR unchanged down to ~16 px (6.8 %) and doubles it at ~12 px (11 %; 25 % at 10 px).
    Was 20 px; lowered to where the shrinking experiment starts to hurt (the one View 2 photo in
    between, 17.6 px, was classified correctly)."""
    sharpness_denoise_sigma: float = 0.8
    """Gaussian smoothing (chip pixels) before the sharpness measure, so that quantisation and JPEG
    noise in a blurred photo do not pass for detail."""
    sharpness_reblur_px: int = 9
    """Length (chip pixels) of the box filter of the re-blur sharpness measure."""
    min_sharpness: float = 0.20
    """Smallest sharpness (see :func:`tessera.face.quality.sharpness`; LFW median 0.41). Gaussian blur
    on 250-px LFW photos: sigma 2 doubles the FNMR (12.5 %), sigma 2.5 quadruples it (24 %), sigma 3
    and more (33 %+); sigma 1.5 barely changes it (7.9 % against 6.3 %). Was 0.23 (refusing 54 % of
    sigma-2 photos) until the View 2 evaluation showed that the LFW photos between 0.20 and 0.23
    still match: their 6 View 2 pairs were all classified correctly (mate scores 0.925-0.967); below
    0.20 the one View 2 photo (0.155) is a real blur."""
    min_brightness: float = 30.0
    """Smallest mean grey level (0-255) of the face region. Darkening LFW photos raises the FNMR
    gradually (x0.3, mean 38: 9.9 %; x0.2, mean 25: 11.5 %; x0.15, mean 19: 16.5 %). LFW's darkest
    face is 40; dark skin in dim light must not be refused, hence no higher. Refuses no LFW photo."""
    max_brightness: float = 220.0
    """Largest mean grey level (0-255) of the face region. LFW's brightest face is 212."""
    max_clipped_fraction: float = 0.15
    """Largest fraction of face-region pixels that are pure black or pure white: detail the camera
    lost. Over-exposing LFW photos x1.5 (8 % of the face clipped on average) doubles the FNMR; x2
    (32 % clipped) quadruples it. LFW's worst (sunglasses) is 0.11."""
    clip_margin: int = 3
    """Grey levels within this many of 0 or 255 count as clipped (sensor noise keeps a blown-out
    region a few levels below 255)."""
    max_abs_yaw: float = 45.0
    """Largest estimated head turn left or right, in degrees (see :func:`tessera.face.quality.yaw`).
    Over all LFW mate pairs (unaugmented embeddings, threshold at FMR 1e-3) the FNMR is 4-9 % while
    both faces are within 35 degrees, and 65 % (42 pairs) when either is turned further. With flip
    augmentation and at the View 2 thresholds (FMR ~1e-2), the 26 View 2 pairs with a face turned
    35-44 degrees were all classified correctly, so the limit stands at 45 degrees: a face turned
    that far still gets a template, with a higher chance of a false non-match at strict thresholds."""

    retake: QualityLimitValues | None = None
    """Stricter limits under which a capture is kept with a retake advised (:class:`QualityLimitValues`); None: this
    pipeline's limits above are its only ones, as for dlib, whose limits were set where its templates stop being
    usable."""

    # -- embedding ---------------------------------------------------------
    embedder: str = "dlib-resnet-v1"
    """Name of the embedder in :data:`tessera.face.embed.EMBEDDERS`."""
    flip_augment: bool = True
    """Average the embeddings of the chip and its mirror image (horizontal-flip test-time augmentation).
    Costs a second network pass (~80 ms on one core: 101 -> 186 ms median per 250 px LFW photo). Over
    every pair of the 9,056 LFW photos it lowers the FNMR at FMR 1e-3 from 7.2 % to 5.7 % and raises
    LFW View 2 accuracy from 98.33 % to 98.50 % (refusals counted as errors). The template algorithm id
    differs (``dlib-resnet-v1/5pt-flip/1``): the scores of averaged embeddings have their own calibration."""

    def __post_init__(self) -> None:
        for name in ("detection_max_side", "fallback_hog_max_side", "cnn_max_side", "chip_size"):
            _require(getattr(self, name) >= 32, name, "must be at least 32 pixels", getattr(self, name))
        for name in ("hog_upsample", "fallback_hog_upsample", "cnn_upsample", "clip_margin"):
            value = getattr(self, name)
            _require(isinstance(value, int) and 0 <= value <= 4, name, "must be an integer from 0 to 4", value)
        _require(
            isinstance(self.detectors, tuple) and len(self.detectors) > 0 and set(self.detectors) <= set(DETECTORS),
            "detectors",
            f"must be a non-empty tuple drawn from {DETECTORS}",
            self.detectors,
        )
        check_choice_and_quality_limits(self)
        if self.retake is not None:
            self.retake.check_within(self)
        _require(self.embedder in EMBEDDERS, "embedder", f"must be one of {sorted(EMBEDDERS)}", self.embedder)

    def as_dict(self) -> dict:
        """The configuration as JSON-serialisable values, to record with an evaluation."""
        return config_as_dict(self)


def config_as_dict(config: Any) -> dict:
    """A face config's fields as JSON-serialisable values (tuples as lists, :class:`QualityLimitValues` as a dict)."""
    values = {}
    for f in fields(config):
        value = getattr(config, f.name)
        if f.name == "retake" and value is None:
            continue  # a config without the tier records as it did before there was one
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, QualityLimitValues):
            value = asdict(value)
        values[f.name] = value
    return values


DEFAULT_FACE_CONFIG = FaceConfig()
