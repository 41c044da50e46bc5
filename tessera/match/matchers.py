"""Matchers: one per algorithm an instance serves, each keyed, calibrated and owning its index.

A matcher is everything the workflows need of one algorithm, whatever the
modality:

- its :data:`MatcherKey` (``face:<algorithm>``, ``finger:<sensor>:<algorithm>``),
  which names it in every index, audit entry and stored score;
- :meth:`Matcher.read`: a capture (decoded photo or scan) into the
  features a comparison uses and the template payload stored, or a
  refusal saying why it cannot be used;
- :meth:`Matcher.features`: a stored template payload back into features;
- :meth:`Matcher.compare`: one score between two features (and what kind
  of score it is: :class:`ScoreKind`);
- its calibration (score -> false-match rate; None: no rate can be stated)
  and fusion model (score -> LLR; None: its scores are not fused);
- its index (:mod:`tessera.index`), which holds only its own templates.

Templates are only ever compared by the matcher whose algorithm made them:
the algorithm is in the key of every index, and a probe is read by the
matcher whose references it meets. :class:`Matchers` is the plain registry
of an instance's matchers, built by :func:`build_matchers`; face algorithms
come from :data:`tessera.face.algorithms.FACE_ALGORITHMS`, the finger
matcher is MCC over the finger pipeline's minutiae, one per sensor kind.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from tessera.capture.refusal import Refusal
from tessera.face.algorithms import FACE_ALGORITHMS, FaceAlgorithm, face_algorithm
from tessera.face.codec import embedding_from_bytes, embedding_to_bytes
from tessera.face.embed import ALGORITHM_IDS
from tessera.face.pipeline import FaceRefusal, FaceTemplate
from tessera.finger.config import CAPTURES, DEFAULT_FINGER_CONFIG, FingerConfig
from tessera.finger.minutiae import warm_up_extractor
from tessera.finger.pipeline import PIPELINE_VERSION, extract_finger
from tessera.finger.pipeline import algorithm_id as finger_algorithm_id
from tessera.finger.template import FingerTemplate
from tessera.governance.vocabulary import Modality
from tessera.index.base import SearchIndex, matcher_key
from tessera.index.exact import ExactIndex
from tessera.index.finger import FingerIndex
from tessera.index.matrix import MatrixIndex
from tessera.match.calibration import Calibration, load_calibration
from tessera.match.cross_sensor import cross_sensor_mcc_config, cross_sensor_score, load_cross_sensor_calibration
from tessera.match.face import CosineScorer, similarity
from tessera.match.fusion import ScoreModel, load_score_model
from tessera.match.mcc import ALGORITHM as MCC_ALGORITHM
from tessera.match.mcc import MccConfig, MccScorer, MccTemplate, mcc_score, mcc_template
from tessera.primitives import NO_TRACE, Box

log = logging.getLogger("tessera")

MatcherKey = str
"""``face:<template algorithm>`` or ``finger:<sensor>:<template algorithm>+<matcher algorithm>``."""

CALIBRATIONS_DIR = Path(__file__).resolve().parent / "calibrations"
FINGER_CALIBRATION_FILES = {"contact": CALIBRATIONS_DIR / "finger-contact-leader-mcc-v1.json"}
"""The finger calibration shipped for each sensor kind; contactless has none yet (too few genuine pairs)."""
FINGER_FUSION_MODEL_FILE = CALIBRATIONS_DIR / "fusion-finger-mcc-v1.json"
FUSABLE_SENSORS = ("contact",)
"""The finger fusion model was fitted on contact scans; contactless scores are not fused."""
WARM_UP_SIDE = 320
"""Side of the blank photo a face matcher reads when it warms up, pixels."""


class ScoreKind(StrEnum):
    """What a stored or returned score is; scores of two kinds are never compared with each other."""

    COSINE = "cosine"
    """Cosine similarity of two face embeddings, in [-1, 1]."""
    MCC = "mcc"
    """Minutia Cylinder-Code similarity of two finger templates, in [0, 1]."""
    LLR = "llr"
    """Fused log-likelihood ratio of several modalities' scores, in nats."""


def face_key(algorithm: str) -> MatcherKey:
    return matcher_key(Modality.FACE.value, algorithm)


def finger_key(sensor: str, algorithm: str) -> MatcherKey:
    return matcher_key(Modality.FINGER.value, algorithm, sensor)


def finger_score_algorithm(config: FingerConfig = DEFAULT_FINGER_CONFIG) -> str:
    """What finger scores come from: the template algorithm (pipeline and minutiae weights) and the matcher."""
    return f"{finger_algorithm_id(config)}+{MCC_ALGORITHM}"


@dataclass(frozen=True)
class Reading:
    """A usable capture, read by one matcher: what a comparison uses and what is stored."""

    features: object
    """What :meth:`Matcher.compare` and the index take: a unit embedding, or MCC cylinders."""
    payload: bytes
    """The template to seal and store (:meth:`Matcher.features` reads it back)."""
    quality: dict[str, object]
    algorithm: str
    region: Box | None = None
    """Faces: where the face is in the decoded image (its reference photo is cut from there); None for fingers."""


class Matcher(Protocol):
    """One algorithm of one modality, as the workflows use it (see the module docstring)."""

    @property
    def key(self) -> MatcherKey:
        """``face:<algorithm>`` or ``finger:<sensor>:<algorithm>``: names it in indexes, audit entries and scores."""
        ...

    @property
    def modality(self) -> Modality: ...

    @property
    def sensor(self) -> str | None:
        """Fingers: ``contact`` or ``contactless`` (never compared with each other); None for a face."""
        ...

    @property
    def algorithm(self) -> str:
        """The template algorithm id, stored with each of its templates (``Template.algorithm``)."""
        ...

    @property
    def score_algorithm(self) -> str:
        """What its scores come from (template algorithm, plus the matcher for fingers): what its calibration
        must name."""
        ...

    @property
    def fusion_algorithm(self) -> str:
        """The algorithm a fusion model of its scores must name."""
        ...

    @property
    def score_kind(self) -> ScoreKind: ...

    @property
    def calibration(self) -> Calibration | None:
        """Score -> false-match rate; None: no rate can be stated, and no decision is made."""
        ...

    @property
    def fusion_model(self) -> ScoreModel | None:
        """Score -> LLR; None: its scores are not fused."""
        ...

    @property
    def index(self) -> SearchIndex[Any]: ...

    def read(self, image: np.ndarray, part: int = 0) -> Reading | Refusal:
        """Read a decoded capture (``part``: the finger position for fingers, 0 for a face)."""
        ...

    def warm_up(self) -> None:
        """Load the models :meth:`read` uses and run them once, so that no request pays for it."""
        ...

    def features(self, payload: bytes) -> object:
        """The features of a stored template payload."""
        ...

    def compare(self, probe: object, reference: object) -> float:
        """The score of two features; higher means more alike."""
        ...


@dataclass
class FaceMatcher:
    """A registered face algorithm (:class:`~tessera.face.algorithms.FaceAlgorithm`), with cosine scores."""

    spec: FaceAlgorithm
    calibration: Calibration | None
    fusion_model: ScoreModel | None
    index: SearchIndex[Any]
    modality: Modality = Modality.FACE
    sensor: str | None = None
    score_kind: ScoreKind = ScoreKind.COSINE

    @property
    def algorithm(self) -> str:
        return self.spec.id

    @property
    def key(self) -> MatcherKey:
        return face_key(self.spec.id)

    @property
    def score_algorithm(self) -> str:
        return self.spec.id

    @property
    def fusion_algorithm(self) -> str:
        return self.spec.id

    def read(self, image: np.ndarray, part: int = 0) -> Reading | Refusal:
        return self.reading(self.spec.extract(image, NO_TRACE))

    def warm_up(self) -> None:
        _read_a_blank_photo(self.spec)

    def reading(self, result: FaceTemplate | FaceRefusal) -> Reading | Refusal:
        """What :meth:`read` answers for ``result``, the template or refusal its algorithm's pipeline returned."""
        if isinstance(result, Refusal):
            return result
        return Reading(
            result.embedding,
            embedding_to_bytes(result.embedding),
            result.quality_record(),
            result.algorithm,
            region=result.box,
        )

    def features(self, payload: bytes) -> np.ndarray:
        return embedding_from_bytes(payload, self.spec.dim)

    def compare(self, probe: object, reference: object) -> float:
        return similarity(np.asarray(probe), np.asarray(reference))


@dataclass
class FingerMatcher:
    """Tessera's finger pipeline (minutiae) with the MCC matcher, for one sensor kind."""

    sensor: str
    calibration: Calibration | None
    fusion_model: ScoreModel | None
    index: SearchIndex[Any]
    config: FingerConfig = DEFAULT_FINGER_CONFIG
    modality: Modality = Modality.FINGER
    score_kind: ScoreKind = ScoreKind.MCC
    cross_calibration: Calibration | None = None
    """Contactless only: the calibration of the pair kind ``contactless-contact`` (a probe of this sensor against a
    contact reference, :mod:`tessera.match.cross_sensor`); None: such a pair is never decided."""

    @property
    def algorithm(self) -> str:
        return finger_algorithm_id(self.config)

    @property
    def score_algorithm(self) -> str:
        return finger_score_algorithm(self.config)

    @property
    def mcc(self) -> MccConfig:
        """The cylinder configuration its features are made and compared with (``FingerConfig.mcc``)."""
        return self.config.mcc

    @property
    def fusion_algorithm(self) -> str:
        return MCC_ALGORITHM

    @property
    def key(self) -> MatcherKey:
        return finger_key(self.sensor, self.score_algorithm)

    def read(self, image: np.ndarray, part: int = 0) -> Reading | Refusal:
        result = extract_finger(image, self.sensor, self.config, finger_position=part)
        if isinstance(result, Refusal):
            return result
        features = mcc_template(result.minutiae, self.mcc)
        return Reading(features, result.to_bytes(), result.quality.as_dict(), result.algorithm)

    def warm_up(self) -> None:
        warm_up_extractor(self.config)

    def features(self, payload: bytes) -> MccTemplate:
        return mcc_template(FingerTemplate.from_bytes(payload).minutiae, self.mcc)

    def compare(self, probe: object, reference: object) -> float:
        if not isinstance(probe, MccTemplate) or not isinstance(reference, MccTemplate):
            raise TypeError("a finger matcher compares two MccTemplate features")
        return mcc_score(probe, reference, self.mcc)

    def compare_with_contact(self, probe_payload: bytes, reference_payload: bytes) -> float:
        """A contactless probe's template against a contact reference's, as the pair kind ``contactless-contact``
        compares them (:func:`tessera.match.cross_sensor.cross_sensor_score`): a score for ``cross_calibration``
        only."""
        probe = FingerTemplate.from_bytes(probe_payload)
        reference = FingerTemplate.from_bytes(reference_payload)
        return cross_sensor_score(probe.minutiae, reference.minutiae, cross_sensor_mcc_config(self.mcc))


IndexFactory = Callable[[MatcherKey, Any], SearchIndex[Any]]
"""``factory(matcher_key, scorer) -> SearchIndex``: the index backend each matcher gets (default: exact)."""


def exact_index(key: MatcherKey, scorer: Any) -> SearchIndex[Any]:
    """Exact search in process over any matcher's features (:class:`~tessera.index.exact.ExactIndex`)."""
    return ExactIndex(key, scorer)


def default_index(key: MatcherKey, scorer: Any) -> SearchIndex[Any]:
    """The default backend: exact search in process; embeddings (faces) held as columns
    (:class:`~tessera.index.matrix.MatrixIndex`), finger templates by :class:`~tessera.index.exact.ExactIndex`."""
    if isinstance(scorer, CosineScorer):
        return MatrixIndex(key, scorer)
    return ExactIndex(key, scorer)


def finger_prefilter_index(key: MatcherKey, scorer: Any) -> SearchIndex[Any]:
    """Faces as :func:`default_index`; fingers by :class:`~tessera.index.finger.FingerIndex`: a prefilter code
    shortlists, exact MCC ranks the shortlist (shards of up to 20,000 eligible templates are still searched
    exactly; docs/fingerprints.md gives what a larger shard may lose). The service picks its finger index by
    the ``finger_search`` setting (:func:`tessera.workflows.instance.finger_index_factory`)."""
    if isinstance(scorer, MccScorer):
        return FingerIndex(key, scorer)
    return default_index(key, scorer)


@dataclass
class Matchers:
    """The matchers of one instance, by key; face matchers in order of preference (the first is the default)."""

    by_key: dict[MatcherKey, Matcher] = field(default_factory=dict)
    face_order: list[MatcherKey] = field(default_factory=list)

    def add(self, matcher: Matcher) -> None:
        if matcher.key in self.by_key:
            raise ValueError(f"matcher {matcher.key!r} is added twice")
        self.by_key[matcher.key] = matcher
        if matcher.modality is Modality.FACE:
            self.face_order.append(matcher.key)

    def __iter__(self) -> Iterator[Matcher]:
        return iter(self.by_key.values())

    def __getitem__(self, key: MatcherKey) -> Matcher:
        return self.by_key[key]

    @property
    def faces(self) -> list[Matcher]:
        """The face matchers, strongest first: enrolment makes a template for each, comparisons prefer the first."""
        return [self.by_key[key] for key in self.face_order]

    @property
    def default_face(self) -> Matcher:
        return self.by_key[self.face_order[0]]

    def of(self, modality: str, sensor: str | None = None) -> list[Matcher]:
        """The matchers that read captures of ``modality`` from ``sensor`` (None for a face), strongest first.

        Enrolment makes a template with each; 1:1 takes the first one the
        subject has a reference of; 1:N searches with the first.
        """
        found = [m for m in self.by_key.values() if m.modality.value == modality and m.sensor == sensor]
        if not found:
            raise KeyError(f"no matcher reads {modality} captures from sensor {sensor!r}")
        return found

    def of_modality(self, modality: str) -> list[Matcher]:
        """Every matcher of ``modality``, whatever its sensor."""
        return [m for m in self.by_key.values() if m.modality.value == modality]

    def finger(self, sensor: str) -> Matcher:
        """The finger matcher of ``sensor`` (``contact``, ``contactless``)."""
        return self.of(Modality.FINGER.value, sensor)[0]

    def of_template(self, modality: str, algorithm: str, capture: str | None) -> Matcher | None:
        """The matcher that reads stored templates of this kind, or None when this instance serves none."""
        for matcher in self.by_key.values():
            if matcher.modality.value == modality and matcher.algorithm == algorithm and matcher.sensor == capture:
                return matcher
        return None

    def indexed(self) -> int:
        """Templates held by all the matchers' indexes."""
        return sum(matcher.index.size() for matcher in self)


def build_matchers(
    face_algorithms: Sequence[str],
    *,
    finger_config: FingerConfig = DEFAULT_FINGER_CONFIG,
    finger_calibrations: dict[str, Calibration] | None = None,
    fusion_models: dict[str, ScoreModel] | None = None,
    index_factory: IndexFactory = default_index,
    cross_sensor_calibration: Calibration | None | Literal["shipped"] = "shipped",
) -> Matchers:
    """The matchers an instance serves: each face algorithm named (first: the default), and one finger matcher
    per sensor kind.

    Calibrations and fusion models come from the registered files unless
    given (``finger_calibrations`` by sensor; ``fusion_models`` by kind,
    ``face`` / ``finger``, applied to the default face matcher and the
    contact finger matcher). :func:`check_matchers` then says whether they
    agree with each other. ``cross_sensor_calibration`` is the contactless
    matcher's calibration of contactless probes against contact references
    (default: the shipped file, if any; None: never decided).

    Raises
    ------
    FileNotFoundError
        A face algorithm named has no calibration file yet: it is
        registered but cannot be served, as none of its scores could say
        what false-match rate it stands for.
    """
    if not face_algorithms:
        raise ValueError("face_algorithms must name at least one registered face algorithm")
    matchers = Matchers()
    for number, algorithm_id in enumerate(dict.fromkeys(face_algorithms)):
        spec = face_algorithm(algorithm_id)
        if not spec.calibration_file.is_file():
            raise FileNotFoundError(
                f"face algorithm {algorithm_id!r} cannot be served: its calibration file {spec.calibration_file} "
                f"does not exist; fit it with `tessera calibrate` or remove {algorithm_id!r} from face_algorithms"
            )
        if fusion_models is None:
            model = _optional_model(spec.fusion_model_file)
        else:  # given models are the default algorithm's
            model = fusion_models.get("face") if number == 0 else None
        matchers.add(
            FaceMatcher(
                spec=spec,
                calibration=load_calibration(spec.calibration_file),
                fusion_model=model,
                index=index_factory(face_key(spec.id), CosineScorer()),
            )
        )
    calibrations = load_finger_calibrations() if finger_calibrations is None else dict(finger_calibrations)
    cross = load_cross_sensor_calibration() if cross_sensor_calibration == "shipped" else cross_sensor_calibration
    for sensor in CAPTURES:
        if sensor not in FUSABLE_SENSORS:
            model = None
        elif fusion_models is None:
            model = _optional_model(FINGER_FUSION_MODEL_FILE)
        else:
            model = fusion_models.get("finger")
        key = finger_key(sensor, finger_score_algorithm(finger_config))
        matchers.add(
            FingerMatcher(
                sensor=sensor,
                calibration=calibrations.get(sensor),
                fusion_model=model,
                index=index_factory(key, MccScorer(finger_config.mcc)),
                config=finger_config,
                cross_calibration=cross if sensor == "contactless" else None,
            )
        )
    return matchers


@functools.cache
def _read_a_blank_photo(algorithm: FaceAlgorithm) -> None:
    """Once per process and algorithm: no face, so every detector stage runs."""
    algorithm.extract(np.full((WARM_UP_SIDE, WARM_UP_SIDE, 3), 128, np.uint8), NO_TRACE)


def warm_up(matchers: Iterable[Matcher]) -> None:
    """Load every model of ``matchers`` and run each once, as the service does when it starts.

    The first request to read a finger paid 0.8 s of CPU more than the next ones (the minutiae network's session,
    and its memory grown to the largest window: :func:`~tessera.finger.minutiae.warm_up_extractor`), a face's first
    reading the loading of its detectors and networks.
    """
    for matcher in matchers:
        matcher.warm_up()


def warm_up_in_background(matchers: Sequence[Matcher]) -> threading.Event:
    """Run :func:`warm_up` on a thread of its own; the event returned is set when it has finished.

    The service answers (``/healthz`` too) while its models load: warming every model costs about 4 s of CPU, and
    a service over a million templates must answer within seconds of its start (docs/scale.md). A request that
    reads a photo before the event is set loads what is not loaded yet, as every request did before.
    """
    done = threading.Event()

    def run() -> None:
        try:
            warm_up(matchers)
        finally:
            done.set()

    threading.Thread(target=run, name="tessera-warm-up", daemon=True).start()
    return done


def check_matchers(matchers: Iterable[Matcher]) -> list[str]:
    """Every disagreement between a matcher and the files that give its scores a meaning; empty when none.

    A calibration or fusion model of another algorithm than the scores it
    would be applied to would state a false-match rate for the wrong
    scores: the service refuses to start with one.
    """
    problems = []
    for matcher in matchers:
        calibration, model = matcher.calibration, matcher.fusion_model
        if calibration is not None and calibration.algorithm != matcher.score_algorithm:
            problems.append(
                f"{matcher.key}: its calibration describes {calibration.algorithm!r} scores, not "
                f"{matcher.score_algorithm!r}"
            )
        if calibration is not None and calibration.modality != matcher.modality:
            problems.append(f"{matcher.key}: its calibration is of {calibration.modality!r} scores")
        if model is not None and model.algorithm != matcher.fusion_algorithm:
            problems.append(
                f"{matcher.key}: its fusion model describes {model.algorithm!r} scores, not "
                f"{matcher.fusion_algorithm!r}; fusing them would state a false-match rate for the wrong scores"
            )
    return problems


def is_known_algorithm(modality: str, algorithm: str) -> bool:
    """Whether a template algorithm is one Tessera knows (served by this instance or not): a registered or
    earlier face algorithm, or a version of Tessera's finger pipeline."""
    known = {
        Modality.FACE.value: lambda: algorithm in FACE_ALGORITHMS or algorithm in ALGORITHM_IDS.values(),
        Modality.FINGER.value: lambda: algorithm.startswith(f"{PIPELINE_VERSION}+"),
    }
    return modality in known and known[modality]()


def load_finger_calibrations(directory: Path = CALIBRATIONS_DIR) -> dict[str, Calibration]:
    """Every finger calibration in ``directory`` (files ``finger-*.json``), by the sensor kind it describes.

    A calibration describes comparisons of two ``contact`` or two
    ``contactless`` templates: its ``data["capture"]`` says which, else its
    file name (``contactless`` in it: contactless; otherwise contact). No file
    for a kind means no calibration: finger scores of that kind are reported
    with their false-match rate unknown, never with an invented one.

    Raises
    ------
    ValueError
        A file is not a finger calibration, names an unknown capture kind, or
        two files describe the same kind.
    """
    found: dict[str, Calibration] = {}
    for path in sorted(Path(directory).glob("finger-*.json")):
        calibration = load_calibration(path)
        if calibration.modality != Modality.FINGER:
            raise ValueError(
                f"{path}: 'modality' must be 'finger' for a finger-*.json file; got {calibration.modality!r}"
            )
        capture = calibration.data.get("capture") or ("contactless" if "contactless" in path.stem else "contact")
        if capture not in CAPTURES:
            raise ValueError(f"{path}: data.capture must be one of {CAPTURES}; got {capture!r}")
        if capture in found:
            raise ValueError(f"{path}: a second calibration of {capture} finger scores; keep one file per capture kind")
        found[capture] = calibration
    return found


def _optional_model(path: Path | None) -> ScoreModel | None:
    if path is None or not path.is_file():
        return None
    return load_score_model(path)
