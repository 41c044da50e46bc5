"""The passive score measured: its bona fide calibration, and ISO/IEC 30107-3 figures on NUAA's test split.

The calibration (:func:`fit_calibration`) is measured on bona fide photos only: the cues' means and deviations
and the threshold that rejects ``target_bpcer`` of them. The shared NUAA subset holds only NUAA's *test* split
(its training images are absent), so no NUAA image is used to set anything: the calibration is measured on LFW
photos of the people in ``pairsDevTrain.txt`` (the development split the face calibrations are fitted on), and
NUAA's test split is only ever scored (:func:`score_nuaa`).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from tessera.evaluation.pad_evidence import FaceEvidence, band_energy, lbp_histograms
from tessera.liveness.frames import read_still
from tessera.liveness.passive import CUES, PassiveCalibration, face_crop, measure_cues

NUAA_ATTACK_SPECIES = {"spoof_print_photo": "printed photo"}
"""NUAA's attack label and the presentation attack instrument species it stands for."""


def read_rgb(path: Path) -> np.ndarray:
    return np.asarray(PILImage.open(path).convert("RGB"))


def cues_of(path: Path) -> dict[str, float] | None:
    """The cues of the face in one photo, or None when no face is found."""
    image = read_rgb(path)
    face = read_still(image)
    crop = None if face.box is None else face_crop(image, face.box)
    return None if crop is None else measure_cues(crop)


def lfw_dev_train_images(lfw: Path, most: int) -> list[Path]:
    """Up to ``most`` LFW images of the people named in ``pairsDevTrain.txt``, in file order."""
    names: list[str] = []
    for line in (lfw / "pairsDevTrain.txt").read_text().splitlines()[1:]:
        parts = line.split()
        names.extend(parts[0::2] if len(parts) == 4 else parts[:1])
    seen, paths = set(), []
    for name in names:
        if name in seen:
            continue
        seen.add(name)
        paths.extend(sorted((lfw / "images" / name).glob("*.jpg"))[:2])
        if len(paths) >= most:
            break
    return paths[:most]


def fit_calibration(paths: list[Path], target_bpcer: float = 0.05) -> dict[str, object]:
    """Cue means and deviations, and the threshold rejecting ``target_bpcer`` of these bona fide photos."""
    measured = [cues for cues in (cues_of(path) for path in paths) if cues is not None]
    if len(measured) < 50:
        raise ValueError(f"only {len(measured)} bona fide faces were found: need at least 50 to calibrate")
    table = {cue: np.array([cues[cue] for cues in measured]) for cue in CUES}
    means = {cue: float(values.mean()) for cue, values in table.items()}
    deviations = {cue: float(values.std() + 1e-9) for cue, values in table.items()}
    calibration = PassiveCalibration("pad-passive-v1", means, deviations, 0.0, target_bpcer, "")
    scores = np.array([calibration.score(cues) for cues in measured])
    threshold = float(np.quantile(scores, 1 - target_bpcer))
    return {
        "name": "pad-passive-v1",
        "rule": "score = mean over cues of (cue - mean) / deviation; attack suspected when score >= threshold",
        "data": f"LFW deep-funneled, {len(measured)} bona fide photos of people in pairsDevTrain.txt (<= 2 per "
        "person); no attack and no NUAA image used (the shared NUAA subset has no training split)",
        "cues": {cue: {"mean": round(means[cue], 6), "deviation": round(deviations[cue], 6)} for cue in CUES},
        "threshold": round(threshold, 6),
        "bpcer_at_threshold": target_bpcer,
        "bona_fide_scores": len(measured),
    }


@dataclass(frozen=True)
class ScoredImage:
    path: str
    label: str
    """``live`` or an attack label (NUAA: ``spoof_print_photo``)."""
    subject: str
    score: float | None
    """None when no face was found (counted as a non-response: APNRR / BPNRR)."""


def nuaa_faces(root: Path, split: str = "test") -> list[FaceEvidence]:
    """Read every image of NUAA's ``split`` listed in ``labels.csv`` once: its face's cues, size, moiré-band energy
    and LBP histograms (:mod:`tessera.evaluation.pad_evidence`)."""
    with (root / "labels.csv").open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["split"] == split]
    if not rows:
        raise ValueError(f"no {split!r} rows in {root / 'labels.csv'}")
    faces = []
    for row in rows:
        image = read_rgb(root / row["path"])
        box = read_still(image).box
        crop = None if box is None else face_crop(image, box)
        faces.append(
            FaceEvidence(
                path=row["path"],
                label=row["label"],
                subject=row["subject_id"],
                cues=None if crop is None else measure_cues(crop),
                face_width=None if box is None else box.width,
                band_energy=None if crop is None else band_energy(crop),
                lbp=None if crop is None else lbp_histograms(crop),
            )
        )
    return faces


def score_nuaa(
    root: Path, calibration: PassiveCalibration, split: str = "test", faces: list[FaceEvidence] | None = None
) -> list[ScoredImage]:
    """Score every image of NUAA's ``split`` in ``labels.csv`` (``faces``: already read by :func:`nuaa_faces`)."""
    faces = nuaa_faces(root, split) if faces is None else faces
    return [
        ScoredImage(face.path, face.label, face.subject, None if face.cues is None else calibration.score(face.cues))
        for face in faces
    ]


def main() -> None:  # pragma: no cover - run by hand to refit the shipped calibration
    import argparse

    parser = argparse.ArgumentParser(description="Fit the passive score's bona fide calibration on LFW.")
    parser.add_argument("--lfw", type=Path, required=True)
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--out", type=Path, required=True)
    arguments = parser.parse_args()
    fitted = fit_calibration(lfw_dev_train_images(arguments.lfw, arguments.images))
    arguments.out.write_text(json.dumps(fitted, indent=1) + "\n")


if __name__ == "__main__":  # pragma: no cover
    main()
