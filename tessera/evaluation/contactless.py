"""``tessera eval contactless``: contactless fingers, one by one and four at a time, and their calibration.

::

    contactless_ds1 + phone_iiitd photos -> finger pipeline (contactless, cached) -> every pair scored by MCC
        -> per finger: FTA, genuine / impostor scores, EER [95 % CI], comparisons behind it
        -> calibration (rule-of-three bounds where the data are thin) -> four-finger probes decided by the
           multi-finger rule (tessera.match.multifinger) at the verify target
        -> dependence check: two fingers of the same two people (CrossMatch, the only shared set with several
           fingers of one person and enough of them)

What the data are (docs/fingerprints.md says what they cannot show)
    ``contactless_ds1``: 41 images of 21 fingers of 4 people from a lab contactless device (ISO finger
    positions in the file names, 1-10); ``phone_iiitd``: 10 iPhone photos of one finger of each of 2 people
    (the contact print ``1_1_1.jpg`` is left out: another capture kind). Genuine: two images of one finger;
    impostor: two images of different fingers, within a set and across the two sets (different people in
    either case). No synthetic data are used.

Four-finger probes (:func:`slap_probes`)
    DS1 has five fingers of each person in two impressions. A genuine four-finger probe is impression 1 of four
    fingers of a person against impression 2 of the same four; an impostor probe is four fingers of one person
    against the same four positions of another (subjects 1 and 3 share positions 1-5, 2 and 4 share 6-10),
    every impression combination. They are decided with the calibration fitted on the same comparisons: an
    in-sample check of the rule, not a held-out measurement.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import math
import os
import platform
import re
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

import tessera
from tessera.match.calibration import Calibration, CalibrationConfig, fit_calibration
from tessera.match.multifinger import decide_fingers
from tessera.workflows.budget import as_the_service_runs

PHONE_PHOTO = re.compile(r"^(\d+)_[io]_\d+_[wn]_\d+\.jpg$")
"""``<subject>_<indoor|outdoor>_<n>_<white|natural background>_<k>.jpg``: one finger per subject."""

CONTACTLESS_CALIBRATION_PATH = (
    Path(__file__).resolve().parents[1] / "match" / "calibrations" / "finger-contactless-leader-mcc-v1.json"
)
"""The contactless calibration Tessera ships (the service reads every ``finger-*.json`` by its ``data.capture``)."""

VERIFY_TARGET_FMR = 1e-3
"""The rate four-finger probes are decided at here: the service's default ``verify_target_fmr``."""

SLAP_SIZE = 4


@dataclass(frozen=True)
class ContactlessImage:
    """One contactless image: where it is, its source, the finger it shows (``source:<person>_<position>``)."""

    path: Path
    source: str
    finger: str
    person: str
    position: int | None
    impression: int


def contactless_images(data: Path | str) -> list[ContactlessImage]:
    """Every contactless image under the finger root ``data`` (DS1, then the phone photos).

    Raises
    ------
    FileNotFoundError
        Neither ``contactless_ds1`` nor ``phone_iiitd`` is under ``data``.
    """
    from tessera.evaluation.fvc import CONTACTLESS_NAME, PHONE_FOLDER

    data = Path(data)
    images = []
    for path in sorted((data / "contactless_ds1" / "data" / "DS1_sample").glob("*/SIRE-*.bmp")):
        found = CONTACTLESS_NAME.search(path.name)
        if found is None:
            continue
        person, position, impression = (int(value) for value in found.groups())
        images.append(ContactlessImage(path, "DS1", f"DS1:{person}_{position}", f"DS1:{person}", position, impression))
    phone = sorted((data / PHONE_FOLDER).glob("*.jpg"))
    for number, path in enumerate(phone):
        found = PHONE_PHOTO.match(path.name)
        if found is None:  # the contact print 1_1_1.jpg
            continue
        subject = found.group(1)
        images.append(ContactlessImage(path, "IIITD", f"IIITD:{subject}", f"IIITD:{subject}", None, number))
    if not images:
        raise FileNotFoundError(
            f"no contactless images under {data}: expected contactless_ds1/data/DS1_sample/ or "
            "phone_iiitd/data/raw/samples/ (see ../shared/data/README.md)"
        )
    return images


@dataclass(frozen=True)
class ContactlessScores:
    """Every contactless image's template (or refusal) and every pair's score."""

    images: list[ContactlessImage]
    refusals: list[str | None]
    scores: np.ndarray
    """(n, n) MCC scores; 0 where either image was refused."""
    genuine: list[tuple[int, int]]
    impostor: list[tuple[int, int]]

    @property
    def templated(self) -> np.ndarray:
        return np.array([refusal is None for refusal in self.refusals])

    def pair_scores(self, pairs: list[tuple[int, int]]) -> np.ndarray:
        """The scores of the pairs whose two images were both templated."""
        templated = self.templated
        kept = [(a, b) for a, b in pairs if templated[a] and templated[b]]
        return np.array([self.scores[a, b] for a, b in kept], dtype=np.float64)


def score_contactless(images: list[ContactlessImage], cache_dir: Path | None, workers: int) -> ContactlessScores:
    """Template every image (cached as ``tessera eval fvc`` does) and score every pair."""
    from tessera.evaluation.fvc import extract_all, score_matrix

    extractions = extract_all([(image.path, "contactless", None) for image in images], cache_dir, workers, False)
    fingers = [image.finger for image in images]
    pairs = list(itertools.combinations(range(len(images)), 2))
    return ContactlessScores(
        images=images,
        refusals=[item.refusal for item in extractions],
        scores=score_matrix(extractions),
        genuine=[(a, b) for a, b in pairs if fingers[a] == fingers[b]],
        impostor=[(a, b) for a, b in pairs if fingers[a] != fingers[b]],
    )


def fit_contactless_calibration(
    scored: ContactlessScores, *, position_allowance: float, position_record: dict | None = None
) -> Calibration:
    """The contactless calibration: every templated genuine and impostor pair, widened by the position allowance.

    With ~1,200 impostor comparisons no tail model is fitted (it needs 200 in the highest 1 %), so above the
    third-highest impostor score the rate stated is the rule-of-three bound ``3 / n`` (basis ``upper_bound``): one
    finger cannot be decided below ~2.5e-3. The impostors mix finger positions; the same-position allowance
    measured on contact prints (:func:`tessera.evaluation.finger_lodo.position_allowance`) widens every rate.
    """
    from tessera.finger.pipeline import ALGORITHM, DEFAULT_FINGER_CONFIG
    from tessera.match.mcc import ALGORITHM as MATCHER

    genuine = scored.pair_scores(scored.genuine)
    impostor = scored.pair_scores(scored.impostor)
    sources = Counter(image.source for image in scored.images)
    record: dict[str, Any] = {
        "capture": "contactless",
        "dataset": "contactless_ds1 (lab contactless device, 4 people, 21 fingers) and phone_iiitd (IIITD "
        "SmartPhone Fingerphoto Database v1 sample: iPhone 5 photos of one finger of 2 people); no synthetic data",
        "images": dict(sources),
        "refused": dict(Counter(refusal for refusal in scored.refusals if refusal)),
        "pairs": "genuine: two templated images of one finger; impostor: two templated images of different fingers "
        "(any positions), within and across the two sets",
        "n_genuine_by_source": _by_source(scored, scored.genuine),
        "n_impostor_by_source": _by_source(scored, scored.impostor),
        "pipeline": "tessera.capture.decode.decode_image, then tessera.finger.pipeline.extract_finger("
        "capture='contactless')",
        "matcher": f"tessera.match.mcc.mcc_score ({MATCHER}), default MccConfig",
        "finger_config": DEFAULT_FINGER_CONFIG.as_dict(),
        "fmr_allowance": {
            "factor": position_allowance,
            "how": "the same-position allowance measured on contact prints (CrossMatch, ISO positions known): the "
            "contactless impostors mix positions, and too few share one to measure it on them",
            "position": position_record,
        },
        "what_it_cannot_show": "with ~1,200 impostor comparisons one finger is decided at FMR 2.5e-3 at best "
        "(rule of three); the people are few (6), so a rate for a population is not measured; a lab device and "
        "one phone model",
        "tessera_version": tessera.__version__,
        "numpy_version": np.__version__,
        "python": platform.python_version(),
    }
    calibration = fit_calibration(
        genuine,
        impostor,
        modality="finger",
        algorithm=f"{ALGORITHM}+{MATCHER}",
        data=record,
        score_range=(0.0, 1.0),
        config=CalibrationConfig(),
        created=datetime.now(UTC),
    )
    from dataclasses import replace

    return replace(calibration, fmr_allowance=max(1.0, float(position_allowance)))


def _by_source(scored: ContactlessScores, pairs: list[tuple[int, int]]) -> dict[str, int]:
    templated = scored.templated
    counts: Counter[str] = Counter()
    for a, b in pairs:
        if templated[a] and templated[b]:
            counts["+".join(sorted({scored.images[a].source, scored.images[b].source}))] += 1
    return dict(sorted(counts.items()))


@dataclass(frozen=True)
class SlapProbe:
    """A four-finger comparison: the score of each finger position, and whether the two sides are one person."""

    genuine: bool
    scores: dict[str, float]
    label: str
    people: tuple[str, str] = ("", "")
    """The two people compared (one person twice for a genuine slap)."""


def slap_probes(scored: ContactlessScores) -> list[SlapProbe]:
    """Genuine and impostor four-finger probes from DS1 (see the module docstring); refused images leave a finger
    out (the probe then has fewer fingers, as a slap with a refused finger would)."""
    from tessera.finger.positions import FingerPosition

    index = {
        (image.person, image.position, image.impression): number
        for number, image in enumerate(scored.images)
        if image.source == "DS1"
    }
    templated = scored.templated
    people: dict[str, set[int]] = {}
    for person, position, _ in index:
        if position is not None:
            people.setdefault(person, set()).add(position)

    def probe(person_a, impression_a, person_b, impression_b, positions, genuine) -> SlapProbe:
        scores = {}
        for position in positions:
            a, b = index.get((person_a, position, impression_a)), index.get((person_b, position, impression_b))
            if a is None or b is None or not (templated[a] and templated[b]):
                continue
            scores[f"finger:{FingerPosition(position).label}"] = float(scored.scores[a, b])
        label = f"{person_a}#{impression_a} / {person_b}#{impression_b} {sorted(positions)}"
        return SlapProbe(genuine, scores, label, (person_a, person_b))

    probes = []
    for person, positions in sorted(people.items()):
        for chosen in itertools.combinations(sorted(positions), SLAP_SIZE):
            probes.append(probe(person, 1, person, 2, chosen, True))
    for (person_a, positions_a), (person_b, positions_b) in itertools.combinations(sorted(people.items()), 2):
        shared = sorted(positions_a & positions_b)
        for chosen in itertools.combinations(shared, SLAP_SIZE):
            for impression_a, impression_b in itertools.product((1, 2), (1, 2)):
                probes.append(probe(person_a, impression_a, person_b, impression_b, chosen, False))
    return [p for p in probes if len(p.scores) >= 2]


SLAP_BOOTSTRAP_RESAMPLES = 1000


def slap_statistic(scores: dict[str, float], size: int = SLAP_SIZE) -> float:
    """The score a slap is decided on by the multi-finger rule: with ``size`` fingers, all but one must reach the
    per-finger threshold, so the second-lowest finger score decides (a refused finger counts as the lowest, 0)."""
    values = sorted(scores.values()) + [0.0] * max(0, size - len(scores))
    return float(sorted(values)[1]) if len(values) >= 2 else 0.0


def per_slap(scored: ContactlessScores, probes: list[SlapProbe]) -> dict:
    """Four-finger slaps: FTA, genuine and impostor distributions of :func:`slap_statistic`, EER with a 95 % interval
    (resampling the people) and the number of slap comparisons behind it.

    A slap is one person's four fingers in one impression (DS1: every four of the five positions a person gave); it
    fails to be acquired when fewer than three of its fingers are templated (the rule lets one finger miss).
    """
    from tessera.evaluation.metrics import equal_error_rate

    slaps: dict[tuple[str, int, tuple[int, ...]], int] = {}
    templated = scored.templated
    by_key = {
        (image.person, image.position, image.impression): n
        for n, image in enumerate(scored.images)
        if image.source == "DS1"
    }
    for person, _, impression in by_key:
        positions = sorted(p for (who, p, i) in by_key if who == person and i == impression and p is not None)
        for chosen in itertools.combinations(positions, SLAP_SIZE):
            slaps[(person, impression, chosen)] = sum(1 for p in chosen if templated[by_key[(person, p, impression)]])
    failed = sum(1 for count in slaps.values() if count < SLAP_SIZE - 1)
    genuine = np.array([slap_statistic(p.scores) for p in probes if p.genuine])
    impostor = np.array([slap_statistic(p.scores) for p in probes if not p.genuine])
    people = sorted({person for probe in probes for person in probe.people})
    if genuine.size == 0 or impostor.size == 0:
        return {"slaps": len(slaps), "fta": round(failed / max(len(slaps), 1), 4), "note": "no slap comparisons"}
    eer = equal_error_rate(genuine, impostor)[0]
    owners = [(p.people[0], p.people[1], p.genuine) for p in probes]
    random = np.random.default_rng(0)
    values = []
    for _ in range(SLAP_BOOTSTRAP_RESAMPLES):
        copies = dict(zip(people, np.bincount(random.integers(0, len(people), len(people)), minlength=len(people))))
        weights = np.array([copies[a] if same else copies[a] * copies[b] for a, b, same in owners], dtype=np.float64)
        genuine_weights = weights[[same for _, _, same in owners]]
        impostor_weights = weights[[not same for _, _, same in owners]]
        if genuine_weights.sum() == 0 or impostor_weights.sum() == 0:
            continue
        values.append(equal_error_rate(genuine, impostor, genuine_weights, impostor_weights)[0])
    low, high = np.percentile(values, [2.5, 97.5]) if values else (math.nan, math.nan)
    return {
        "slaps": len(slaps),
        "slaps_failed_to_acquire": failed,
        "fta": round(failed / len(slaps), 4),
        "statistic": "second-lowest finger score of the four (the multi-finger rule lets one finger miss)",
        "genuine_comparisons": int(genuine.size),
        "impostor_comparisons": int(impostor.size),
        "people": len(people),
        "eer": round(float(eer), 5),
        "eer_ci95": [round(float(low), 5), round(float(high), 5)],
        "eer_ci_method": f"people resampled with replacement, {SLAP_BOOTSTRAP_RESAMPLES:,} times",
        "genuine_scores": sorted(round(float(v), 4) for v in genuine),
        "impostor_scores": sorted(round(float(v), 4) for v in impostor),
        "in_sample": "the slaps are the DS1 images the contactless calibration was fitted on",
    }


def per_finger_position(scored: ContactlessScores) -> list[dict]:
    """Per finger position (DS1 gives ISO positions): FTA, genuine and impostor pairs at that position, EER."""
    from tessera.evaluation.metrics import equal_error_rate

    rows = []
    positions = sorted({image.position for image in scored.images if image.position is not None})
    for position in positions:
        mine = [n for n, image in enumerate(scored.images) if image.position == position]
        refused = sum(1 for n in mine if scored.refusals[n])
        chosen = set(mine)
        genuine = scored.pair_scores([(a, b) for a, b in scored.genuine if a in chosen and b in chosen])
        impostor = scored.pair_scores([(a, b) for a, b in scored.impostor if a in chosen and b in chosen])
        row: dict[str, Any] = {
            "position": position,
            "images": len(mine),
            "fta": round(refused / len(mine), 4),
            "genuine_comparisons": int(genuine.size),
            "impostor_comparisons": int(impostor.size),
        }
        if genuine.size and impostor.size:
            row["eer"] = round(float(equal_error_rate(genuine, impostor)[0]), 4)
            row["genuine_median"] = round(float(np.median(genuine)), 4)
            row["impostor_highest"] = round(float(np.max(impostor)), 4)
        rows.append(row)
    return rows


def slap_figure(report: dict, path: Path) -> Path:
    """Genuine and impostor distributions of the slap statistic, with the per-finger threshold of the rule."""
    from tessera.evaluation.figures import plt, save_figure

    slap = report["per_slap"]
    figure, axis = plt.subplots(figsize=(7, 3.5))
    bins = np.linspace(0.0, max(0.3, max(slap.get("genuine_scores", [0.0]), default=0.0) + 0.02), 40).tolist()
    axis.hist(slap.get("impostor_scores", []), bins=bins, alpha=0.6, color="#c0392b", label="impostor slaps")
    axis.hist(slap.get("genuine_scores", []), bins=bins, alpha=0.6, color="#2a6f97", label="genuine slaps")
    threshold = report["four_fingers"]["per_finger_threshold"]
    if threshold is not None:
        axis.axvline(threshold, color="black", linestyle="--", label=f"per-finger threshold ({threshold})")
    low, high = slap.get("eer_ci95", [math.nan, math.nan])
    axis.set_title(f"per slap: EER {slap.get('eer', math.nan):.1%} [{low:.0%}-{high:.0%}], {slap.get('people')} people")
    axis.set_xlabel("second-lowest finger score of a four-finger slap (DS1)")
    axis.set_ylabel("slap comparisons")
    axis.legend(fontsize=8)
    return save_figure(figure, path, dpi=90)


def crossmatch_dependence(data: Path | str, cache_dir: Path | None, workers: int) -> dict | None:
    """How far two fingers of the same two people exceed a threshold together, against independence.

    On CrossMatch (9 people, positions 3-8, 8 impressions), for every pair of people, every pair of positions
    both have, and every impression pair ``(i, j)`` (the same ``i`` for both fingers of one person, as one slap
    captures both): whether both same-position impostor scores are at or above ``t``. The ratio of that joint
    rate to the product of the two single rates is 1 under independence; above 1, fingers fail together.
    None without CrossMatch.
    """
    from tessera.evaluation.finger_lodo import finger_position
    from tessera.evaluation.fvc import extract_all, find_databases, score_matrix

    try:
        databases = [d for d in find_databases(Path(data) / "neurotech_crossmatch") if d.name == "CrossMatch"]
    except FileNotFoundError:
        return None
    if not databases:
        return None
    database = databases[0]
    extractions = extract_all([(p, "contact", 500.0) for p in database.files], cache_dir, workers, False)
    scores = score_matrix(extractions)
    where: dict[tuple[str, int, int], int] = {}
    for number, (path, finger) in enumerate(zip(database.files, database.fingers)):
        person = finger.split(":")[1].rsplit("_", 1)[0]
        position = finger_position(finger)
        impression = int(Path(path).stem.rsplit("_", 1)[1])
        if position is not None and extractions[number].template is not None:
            where[(person, position, impression)] = number
    people = sorted({key[0] for key in where})
    positions_of = {person: {key[1] for key in where if key[0] == person} for person in people}
    first, second = [], []
    for person_a, person_b in itertools.combinations(people, 2):
        shared = sorted(positions_of[person_a] & positions_of[person_b])
        for p, q in itertools.combinations(shared, 2):
            for i, j in itertools.product(range(1, 9), range(1, 9)):
                keys = [(person_a, p, i), (person_b, p, j), (person_a, q, i), (person_b, q, j)]
                if all(key in where for key in keys):
                    a, b, c, d = (where[key] for key in keys)
                    first.append(scores[a, b])
                    second.append(scores[c, d])
    one, two = np.array(first), np.array(second)
    rows = []
    for rate in (0.1, 0.05, 0.02, 0.01):
        threshold = float(np.quantile(np.concatenate([one, two]), 1 - rate))
        p_one, p_two = float(np.mean(one >= threshold)), float(np.mean(two >= threshold))
        joint = int(np.count_nonzero((one >= threshold) & (two >= threshold)))
        expected = p_one * p_two * one.size
        rows.append(
            {
                "single_fmr": rate,
                "threshold": round(threshold, 5),
                "joint_false_matches": joint,
                "expected_if_independent": round(expected, 2),
                "ratio": round(joint / expected, 2) if expected > 0 else None,
            }
        )
    correlation = float(np.corrcoef(one, two)[0, 1]) if one.size > 2 else None
    return {
        "database": "CrossMatch (contact prints)",
        "finger_pairs": int(one.size),
        "score_correlation": None if correlation is None else round(correlation, 3),
        "rows": rows,
    }


def time_extraction(images: list[ContactlessImage], per_source: int = 3) -> dict:
    """CPU seconds of the contactless pipeline per finger image (uncached, in this process), a few per source."""
    from tessera.evaluation.fvc import read_image
    from tessera.finger.minutiae import warm_up_extractor
    from tessera.finger.pipeline import DEFAULT_FINGER_CONFIG, extract_finger

    warm_up_extractor(DEFAULT_FINGER_CONFIG)  # as the service does when it starts
    chosen: list[ContactlessImage] = []
    for source in sorted({image.source for image in images}):
        chosen += [image for image in images if image.source == source][:per_source]
    seconds: dict[str, list[float]] = {}
    for image in chosen:
        pixels = read_image(image.path)
        with as_the_service_runs():
            start = time.process_time()
            extract_finger(pixels, "contactless", extractor_threads=1)
            seconds.setdefault(image.source, []).append(time.process_time() - start)
    every = [value for values in seconds.values() for value in values]
    per_finger = float(np.mean(every)) if every else math.nan
    return {
        "cpu_seconds_per_finger": {source: round(float(np.mean(v)), 3) for source, v in seconds.items()},
        "cpu_seconds_per_finger_mean": round(per_finger, 3),
        "cpu_seconds_per_four_fingers": round(SLAP_SIZE * per_finger, 3),
        "note": "one core, as the service runs (one extractor thread, numpy's BLAS and OpenCV on the calling "
        "thread; CPU time of the process), one image per finger (four single-finger photos; a four-finger photo is "
        "not cut here); decoding not counted",
        "images_timed": len(every),
    }


def time_slap(
    data: Path | str, people: tuple[int, ...] = (1, 3), impressions: tuple[int, ...] = (1, 2), *, pools: bool = False
) -> dict | None:
    """CPU seconds from one four-finger photo to four templates (decode, cut out, four fingers), one core.

    No real slap photo is among the data: each is composed (:mod:`tessera.evaluation.slap_photo`) from a DS1
    person's fingers 2-5, one impression each, on a drawn hand (about 3,000 x 3,400 pixels, JPEG), as a phone's
    full-resolution photo would be sent, and timed by :func:`time_slap_photo`. ``pools``: with the libraries' own
    thread pools instead, as a process that is not the service has them (to compare). None without DS1.
    """
    from PIL import Image

    from tessera.evaluation.slap_photo import compose_slap

    root = Path(data) / "contactless_ds1" / "data" / "DS1_sample"
    rows = []
    for person, impression in itertools.product(people, impressions):
        paths = [root / str(person) / f"SIRE-{person}_{finger}_{impression}.bmp" for finger in (2, 3, 4, 5)]
        if not all(path.exists() for path in paths):
            continue
        photo, landmarks = compose_slap([np.array(Image.open(path).convert("L")) for path in paths], angle_deg=15.0)
        timed = time_slap_photo(jpeg_bytes(photo), landmarks, pools=pools)
        rows.append({"person": person, "impression": impression, **timed})
    if not rows:
        return None
    return {
        "cpu_seconds_per_slap": round(float(np.mean([row["cpu_seconds"] for row in rows])), 3),
        "cpu_seconds_per_slap_max": max(row["cpu_seconds"] for row in rows),
        "target_seconds": 3.0,
        "slaps": rows,
        "note": "one core, as the service runs (one extractor thread, numpy's BLAS and OpenCV on the calling thread; "
        "CPU time of the process), a JPEG slap photo composed from DS1 fingertips on a drawn hand: decode, cut out "
        "four fingers, four through the contactless pipeline",
    }


def jpeg_bytes(photo: np.ndarray, quality: int = 92) -> bytes:
    """``photo`` (RGB or grey) as the JPEG a phone would send."""
    from PIL import Image

    encoded = io.BytesIO()
    Image.fromarray(photo).save(encoded, format="JPEG", quality=quality)
    return encoded.getvalue()


def time_slap_photo(
    encoded: bytes, landmarks: list[dict[str, float]], hand: str = "right", *, pools: bool = False
) -> dict:
    """CPU seconds of one slap photo (its bytes and hand landmarks) to its fingers' templates, as the service runs.

    Decoded, cut into fingers (:func:`tessera.finger.slap.crop_slap`) and each finger through the contactless
    pipeline, with the network loaded and warmed first and :func:`~tessera.workflows.budget.as_the_service_runs`
    (the process's CPU time is then the request thread's); ``pools``: with the libraries' own thread pools.
    ``templates`` counts the fingers that gave one, ``refusals`` the reasons of those that did not.
    """
    from tessera.capture.decode import decode_image
    from tessera.finger.minutiae import warm_up_extractor
    from tessera.finger.pipeline import DEFAULT_FINGER_CONFIG, extract_finger
    from tessera.finger.refusal import FingerRefusal
    from tessera.finger.slap import Slap, crop_slap, parse_landmarks

    warm_up_extractor(DEFAULT_FINGER_CONFIG)  # as the service does when it starts
    with contextlib.nullcontext() if pools else as_the_service_runs():
        start, own_start = time.process_time(), time.thread_time()
        image = decode_image(encoded)
        decoded = time.process_time()
        slap = crop_slap(image, parse_landmarks(landmarks), hand)
        cropped = time.process_time()
        fingers = slap.fingers if isinstance(slap, Slap) else ()
        results = [
            extract_finger(f.crop.image, "contactless", finger_position=f.finger_position, extractor_threads=1)
            for f in fingers
            if f.crop is not None
        ]
        done, own = time.process_time(), time.thread_time() - own_start
    return {
        "pixels": int(image.shape[0] * image.shape[1]),
        "templates": sum(1 for result in results if not isinstance(result, FingerRefusal)),
        "refusals": [result.reason for result in results if isinstance(result, FingerRefusal)],
        "cpu_seconds": round(done - start, 3),
        "calling_thread_seconds": round(own, 3),
        "decode_seconds": round(decoded - start, 3),
        "crop_seconds": round(cropped - decoded, 3),
        "fingers_seconds": round(done - cropped, 3),
    }


def evaluate_contactless(
    data: Path | str, cache_dir: Path | None = None, workers: int = 2, *, calibration: Calibration | None = None
) -> tuple[dict, ContactlessScores, Calibration]:
    """Measure contactless fingers one by one and four at a time (see the module docstring).

    ``calibration``: the one to decide with; default, one fitted here on these comparisons with the position
    allowance measured on CrossMatch (1 without CrossMatch).
    """
    from tessera.evaluation.fvc import pair_error_rates

    started = time.monotonic()
    images = contactless_images(data)
    scored = score_contactless(images, cache_dir, workers)
    position = _position_allowance(data, cache_dir, workers)
    calibration = calibration or fit_contactless_calibration(
        scored, position_allowance=position["factor"], position_record=position
    )
    fingers = [image.finger for image in images]
    rates = pair_error_rates(scored.scores, scored.genuine, scored.impostor, fingers)
    genuine, impostor = scored.pair_scores(scored.genuine), scored.pair_scores(scored.impostor)
    refusals = Counter(refusal for refusal in scored.refusals if refusal)
    per_source = {}
    for source in sorted({image.source for image in images}):
        mine = [n for n, image in enumerate(images) if image.source == source]
        refused = [scored.refusals[n] for n in mine if scored.refusals[n]]
        per_source[source] = {
            "images": len(mine),
            "fingers": len({images[n].finger for n in mine}),
            "fta": round(len(refused) / len(mine), 4),
            "refusals": dict(Counter(refused)),
        }
    slaps = slap_probes(scored)
    decided: list[dict[str, Any]] = []
    for slap in slaps:
        decision = decide_fingers(calibration, slap.scores, VERIFY_TARGET_FMR)
        decided.append({"label": slap.label, "genuine": slap.genuine, **decision.as_dict(), "scores": slap.scores})
    four = [row for row in decided if row["fingers"] == SLAP_SIZE]
    slap_threshold = next((row["threshold"] for row in four if row["threshold"] is not None), None)
    phone = _phone_pairs(scored, calibration, slap_threshold)
    report = {
        "data": {
            "images": len(images),
            "fingers": len(set(fingers)),
            "people": len({image.person for image in images}),
            "by_source": per_source,
        },
        "per_finger": {
            "fta": round(sum(refusals.values()) / len(images), 4),
            "refusals": dict(refusals),
            "genuine_comparisons": int(genuine.size),
            "impostor_comparisons": int(impostor.size),
            "eer": round(rates.eer, 5),
            "eer_ci95": None if rates.eer_ci95 is None else [round(v, 5) for v in rates.eer_ci95],
            "eer_ci_method": "fingers resampled with replacement, 1,000 times (tessera.evaluation.fvc)",
            "lowest_single_finger_fmr": calibration.min_fmr,
            "single_finger_decision_at_1e-3": "none: the data cannot vouch for it"
            if calibration.min_fmr > VERIFY_TARGET_FMR
            else "available",
            "operating_points": calibration.operating_points((1e-1, 1e-2, 5e-3, 1e-3)),
        },
        "four_fingers": {
            "target_fmr": VERIFY_TARGET_FMR,
            "per_finger_threshold": slap_threshold,
            "genuine_probes": sum(1 for row in four if row["genuine"]),
            "genuine_accepted": sum(1 for row in four if row["genuine"] and row["match"]),
            "impostor_probes": sum(1 for row in four if not row["genuine"]),
            "impostor_accepted": sum(1 for row in four if not row["genuine"] and row["match"]),
            "stated_fmr": next((row["fmr"] for row in four if row["fmr"] is not None), None),
            "fmr_basis": "upper_bound",
            "in_sample": True,
            "probes": decided,
        },
        "per_slap": per_slap(scored, slaps),
        "per_finger_position": per_finger_position(scored),
        "phone_iiitd": phone,
        "dependence": crossmatch_dependence(data, cache_dir, workers),
        "timing": time_extraction(images),
        "time_per_slap": time_slap(data),
        "calibration": {
            "n_genuine": calibration.n_genuine,
            "n_impostor": calibration.n_impostor,
            "fmr_allowance": calibration.fmr_allowance,
        },
        "seconds": round(time.monotonic() - started, 1),
        "cpu": os.cpu_count(),
    }
    return report, scored, calibration


def _phone_pairs(scored: ContactlessScores, calibration: Calibration, slap_threshold: float | None) -> dict:
    """The phone photos' genuine and impostor pairs (within the phone set) against the thresholds."""
    phone = [n for n, image in enumerate(scored.images) if image.source == "IIITD" and scored.templated[n]]
    rows: list[dict[str, Any]] = []
    for a, b in itertools.combinations(phone, 2):
        same = scored.images[a].finger == scored.images[b].finger
        rows.append({"pair": f"{scored.images[a].path.name} / {scored.images[b].path.name}", "genuine": same})
        rows[-1]["score"] = round(float(scored.scores[a, b]), 4)
    genuine = [row for row in rows if row["genuine"]]
    impostor = [row for row in rows if not row["genuine"]]
    return {
        "genuine_pairs": len(genuine),
        "impostor_pairs": len(impostor),
        "single_finger_decision": "none at 1e-3: the lowest single-finger rate is "
        f"{calibration.min_fmr:.2g} (rule of three over {calibration.n_impostor:,} comparisons)",
        "per_finger_threshold_of_four_fingers": slap_threshold,
        "genuine_at_or_above_it": None
        if slap_threshold is None
        else sum(1 for row in genuine if row["score"] >= slap_threshold),
        "impostor_at_or_above_it": None
        if slap_threshold is None
        else sum(1 for row in impostor if row["score"] >= slap_threshold),
        "genuine_scores": sorted(row["score"] for row in genuine),
        "highest_impostor_score": max((row["score"] for row in impostor), default=None),
        "note": "each phone subject gave one finger: a four-finger probe cannot be formed from these photos; the "
        "count says how many genuine pairs would pass the per-finger threshold of a four-finger decision",
    }


def contactless_figure(scored: ContactlessScores, report: dict, path: Path) -> Path:
    """Genuine and impostor score histograms per finger, and the four-finger probes' second-lowest finger score."""
    from tessera.evaluation.figures import plt, save_figure

    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    genuine, impostor = scored.pair_scores(scored.genuine), scored.pair_scores(scored.impostor)
    bins = np.linspace(0, max(0.4, float(genuine.max(initial=0.0)) + 0.02), 60)
    left.hist(impostor, bins=bins, density=True, alpha=0.6, label=f"impostor ({impostor.size:,})", color="#c0392b")
    left.hist(genuine, bins=bins, density=True, alpha=0.6, label=f"genuine ({genuine.size})", color="#2a6f97")
    threshold = report["four_fingers"]["per_finger_threshold"]
    if threshold is not None:
        left.axvline(threshold, color="black", linestyle="--", label=f"per-finger threshold, 4 fingers ({threshold})")
    left.set_xlabel("MCC score, one contactless finger")
    left.set_ylabel("density")
    left.set_title(f"per finger: EER {report['per_finger']['eer']:.1%}")
    left.legend(fontsize=8)
    probes = report["four_fingers"]["probes"]
    for genuine_side, colour, name in ((False, "#c0392b", "impostor"), (True, "#2a6f97", "genuine")):
        # The rule accepts when all but one finger reach the threshold: the second-lowest score decides.
        values = [sorted(p["scores"].values())[1] for p in probes if p["genuine"] == genuine_side and p["fingers"] == 4]
        right.hist(values, bins=bins, alpha=0.6, color=colour, label=f"{name} four-finger probes ({len(values)})")
    if threshold is not None:
        right.axvline(threshold, color="black", linestyle="--", label="threshold")
    right.set_xlabel("second-lowest finger score of a four-finger probe")
    right.set_title("four fingers (DS1, in sample)")
    right.legend(fontsize=8)
    return save_figure(figure, path, dpi=90)


def write_contactless_report(data: Path | str, out: Path | str, cache_dir: Path | None, workers: int) -> dict:
    """``tessera eval contactless``: :func:`evaluate_contactless` with the shipped contactless calibration when there
    is one (else one fitted here), ``report.json`` and ``contactless.png`` in ``out``; return the report."""
    import json

    from tessera.match.calibration import load_calibration

    shipped = load_calibration(CONTACTLESS_CALIBRATION_PATH) if CONTACTLESS_CALIBRATION_PATH.is_file() else None
    report, scored, calibration = evaluate_contactless(data, cache_dir, workers, calibration=shipped)
    report["calibration"]["source"] = CONTACTLESS_CALIBRATION_PATH.name if shipped else "fitted in this run"
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report["figure"] = contactless_figure(scored, report, out / "contactless.png").name
    report["slap_figure"] = slap_figure(report, out / "contactless-slap.png").name
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


def calibrate_contactless(
    data: Path | str, out_path: Path | str = CONTACTLESS_CALIBRATION_PATH, cache_dir: Path | None = None, workers=2
) -> Calibration:
    """``tessera calibrate --modality contactless``: fit :func:`fit_contactless_calibration` and save it."""
    scored = score_contactless(contactless_images(data), cache_dir, workers)
    position = _position_allowance(data, cache_dir, workers)
    calibration = fit_contactless_calibration(scored, position_allowance=position["factor"], position_record=position)
    calibration.save(out_path)
    return calibration


def _position_allowance(data: Path | str, cache_dir: Path | None, workers: int) -> dict:
    """The same-position allowance measured on CrossMatch (factor 1, said so, without it)."""
    from tessera.evaluation.finger_lodo import contact_sets, position_allowance

    if not (Path(data) / "neurotech_crossmatch" / "index.csv").is_file():
        return {"factor": 1.0, "rows": [], "note": "CrossMatch not found: no position allowance measured"}
    return position_allowance(contact_sets(data, cache_dir, workers, False, names=("CrossMatch",)))
