"""What the passive cues can and cannot see on NUAA's test split, for an auditor (docs/liveness.md).

Three pieces of evidence beside the service's score (:mod:`tessera.evaluation.pad_report`):

``per_cue``
    Each of the four unlearned cues alone (:mod:`tessera.liveness.passive`), standardised as the service does, as
    an attack score: its DET (APCER against BPCER), EER, AUC, APCER at BPCER <= 5 % and its median on live
    photos and on attacks. Shows which cue carries anything and which sees nothing in these photos.
``faces``
    What the photos give a recapture cue to look at: the face box's width in pixels and the share of the face
    crop's spectral energy in the moiré band, live against attack.
``leave_one_subject_out``
    Two classifiers *trained on NUAA's test split*, each scored on the subjects it was not trained on
    (leave-one-subject-out: every subject's live and attack photos held out together): an L2-regularised
    logistic regression on the four standardised cues, and one on uniform LBP(8, 1) histograms of the face in
    3 x 3 blocks (Määttä, Hadid & Pietikäinen, IJCB 2011, the texture baseline published on NUAA). The
    regularisation is fixed (1.0 on standardised features), not tuned. **These are not held-out figures**: the
    shared subset holds NUAA's test split only, its subjects share the same webcam, rooms, printer and paper, so
    a model fitted on 15 subjects has seen the very conditions of the 16th; the figures say what a texture model
    could reach on this kind of data, not what a model shipped to phones would. Nothing fitted here ships.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from tessera.liveness.passive import CUES, PassiveCalibration
from tessera.primitives import Image

LBP_SIDE = 64
"""The face crop is resized to this many pixels a side (grey) before its LBP histograms."""
LBP_BLOCKS = 3
"""Blocks per side whose histograms are concatenated."""
REGULARISATION = 1.0
"""L2 penalty of both logistic regressions, on standardised features; fixed, never tuned on NUAA."""
MOIRE_BAND = (0.25, 0.45)
"""The passive score's moiré band, cycles per pixel (:data:`tessera.liveness.passive._MOIRE_BAND`)."""


@dataclass(frozen=True)
class FaceEvidence:
    """One NUAA photo's face as the passive evidence sees it (None fields: no face found)."""

    path: str
    label: str
    """``live`` or an attack label."""
    subject: str
    cues: dict[str, float] | None
    face_width: int | None
    """Width of the face box, in pixels of the 640x480 photo."""
    band_energy: float | None
    """Share of the face crop's spectral energy (DC removed) in :data:`MOIRE_BAND`."""
    lbp: np.ndarray | None
    """Concatenated uniform LBP(8, 1) histograms, shape (59 x LBP_BLOCKS**2,)."""

    @property
    def is_attack(self) -> bool:
        return self.label != "live"


def _uniform_lookup() -> np.ndarray:
    """Map each 8-bit LBP code to its uniform-pattern bin (58 uniform patterns, then one bin for all others)."""
    lookup = np.full(256, 58, dtype=np.int64)
    uniform = 0
    for code in range(256):
        bits = [(code >> k) & 1 for k in range(8)]
        if sum(bits[k] != bits[(k + 1) % 8] for k in range(8)) <= 2:
            lookup[code] = uniform
            uniform += 1
    return lookup


_UNIFORM = _uniform_lookup()


def lbp_histograms(face: Image, side: int = LBP_SIDE, blocks: int = LBP_BLOCKS) -> np.ndarray:
    """Uniform LBP(8, 1) histograms of ``face`` (rows, cols, 3) uint8 RGB in ``blocks`` x ``blocks`` blocks.

    Ojala, Pietikäinen & Mäenpää, "Multiresolution gray-scale and rotation invariant texture classification with
    local binary patterns", IEEE TPAMI 24(7), 2002 (the uniform patterns, sec. 2.3), as Määttä et al. apply them
    to face spoofing. Each block's histogram sums to 1.
    """
    grey = cv2.resize(cv2.cvtColor(face, cv2.COLOR_RGB2GRAY), (side, side), interpolation=cv2.INTER_AREA)
    grey = grey.astype(np.int16)
    centre = grey[1:-1, 1:-1]
    offsets = [(-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1)]
    codes = np.zeros(centre.shape, dtype=np.int64)
    for bit, (row, col) in enumerate(offsets):
        neighbour = grey[1 + row : side - 1 + row, 1 + col : side - 1 + col]
        codes |= (neighbour >= centre).astype(np.int64) << bit
    bins = _UNIFORM[codes]
    step = bins.shape[0] / blocks
    histograms = []
    for block_row in range(blocks):
        for block_col in range(blocks):
            block = bins[round(block_row * step) : round((block_row + 1) * step)]
            block = block[:, round(block_col * step) : round((block_col + 1) * step)]
            histogram = np.bincount(block.ravel(), minlength=59).astype(np.float64)
            histograms.append(histogram / max(1.0, histogram.sum()))
    return np.concatenate(histograms)


def band_energy(face: Image, band: tuple[float, float] = MOIRE_BAND) -> float:
    """Share of ``face``'s grey spectral energy (mean removed, Hann window) at radii within ``band`` cycles/pixel."""
    grey = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY).astype(np.float64)
    windowed = (grey - grey.mean()) * np.outer(np.hanning(grey.shape[0]), np.hanning(grey.shape[1]))
    power = np.abs(np.fft.fft2(windowed)) ** 2
    radius = np.hypot(np.fft.fftfreq(grey.shape[0])[:, None], np.fft.fftfreq(grey.shape[1])[None, :])
    return float(power[(radius >= band[0]) & (radius <= band[1])].sum() / (power.sum() + 1e-12))


def curve(live: np.ndarray, attack: np.ndarray) -> dict[str, object]:
    """DET of an attack score (attack when score >= threshold): EER, AUC, APCER at BPCER <= 5 %, the curve."""
    thresholds = np.unique(np.concatenate([live, attack, [np.inf]]))
    bpcer = np.array([(live >= t).mean() for t in thresholds])
    apcer = np.array([(attack < t).mean() for t in thresholds])
    eer_at = int(np.argmin(np.abs(apcer - bpcer)))
    return {
        "eer": round(float((apcer[eer_at] + bpcer[eer_at]) / 2), 4),
        "auc_attack_above_live": round(
            float(np.mean(attack[:, None] > live[None, :]) + 0.5 * np.mean(attack[:, None] == live[None, :])), 4
        ),
        "apcer_at_bpcer_5pct": round(float(apcer[bpcer <= 0.05].min()), 4),
        "bpcer": bpcer.round(4).tolist(),
        "apcer": apcer.round(4).tolist(),
    }


def per_cue(faces: Sequence[FaceEvidence], calibration: PassiveCalibration) -> dict[str, dict[str, object]]:
    """Each cue alone, standardised by the calibration's bona fide mean and deviation, as an attack score."""
    measured = [face for face in faces if face.cues is not None]
    answer = {}
    for cue in CUES:

        def standard(face: FaceEvidence, cue: str = cue) -> float:
            assert face.cues is not None
            return (face.cues[cue] - calibration.means[cue]) / calibration.deviations[cue]

        live = np.array([standard(face) for face in measured if not face.is_attack])
        attack = np.array([standard(face) for face in measured if face.is_attack])
        answer[cue] = {
            **curve(live, attack),
            "median_live": round(float(np.median(live)), 3),
            "median_attack": round(float(np.median(attack)), 3),
        }
    return answer


def face_sizes(faces: Sequence[FaceEvidence]) -> dict[str, object]:
    """Face widths and moiré-band energy, live against attack (medians and 5-95 % ranges)."""
    answer: dict[str, object] = {}
    for kind, attack in (("live", False), ("attack", True)):
        widths = np.array([face.face_width for face in faces if face.is_attack == attack and face.face_width])
        energy = np.array([face.band_energy for face in faces if face.is_attack == attack and face.band_energy])
        answer[kind] = {
            "faces": int(widths.size),
            "face_width_px": {
                "median": float(np.median(widths)),
                "p5": float(np.percentile(widths, 5)),
                "p95": float(np.percentile(widths, 95)),
            },
            "moire_band_energy_share": {
                "median": round(float(np.median(energy)), 5),
                "p95": round(float(np.percentile(energy, 95)), 5),
            },
        }
    return answer


def fit_logistic(features: np.ndarray, labels: np.ndarray, penalty: float = REGULARISATION) -> np.ndarray:
    """L2-regularised logistic regression by Newton's method; returns the weights with the intercept last.

    ``features`` (n, d) should be standardised; the intercept is not penalised.
    """
    design = np.column_stack([features, np.ones(len(features))])
    weights = np.zeros(design.shape[1])
    ridge = penalty * np.eye(design.shape[1])
    ridge[-1, -1] = 0.0
    for _ in range(50):
        probability = 1 / (1 + np.exp(-np.clip(design @ weights, -30, 30)))
        gradient = design.T @ (probability - labels) + ridge @ weights
        hessian = (design * (probability * (1 - probability))[:, None]).T @ design + ridge
        step = np.linalg.solve(hessian + 1e-9 * np.eye(len(weights)), gradient)
        weights -= step
        if np.abs(step).max() < 1e-8:
            break
    return weights


def leave_one_subject_out(
    faces: Sequence[FaceEvidence], features: Callable[[FaceEvidence], np.ndarray]
) -> dict[str, object]:
    """Score every face by a logistic regression fitted on the other subjects' faces; the DET of those scores."""
    measured = [face for face in faces if face.cues is not None and face.lbp is not None]
    table = np.array([features(face) for face in measured])
    labels = np.array([face.is_attack for face in measured], dtype=np.float64)
    subjects = np.array([face.subject for face in measured])
    scores = np.zeros(len(measured))
    for subject in np.unique(subjects):
        train, test = subjects != subject, subjects == subject
        mean, deviation = table[train].mean(axis=0), table[train].std(axis=0) + 1e-9
        weights = fit_logistic((table[train] - mean) / deviation, labels[train])
        scores[test] = np.column_stack([(table[test] - mean) / deviation, np.ones(test.sum())]) @ weights
    result = curve(scores[labels == 0], scores[labels == 1])
    return {"subjects": int(np.unique(subjects).size), "faces": len(measured), **result}


def cue_vector(face: FaceEvidence) -> np.ndarray:
    assert face.cues is not None
    return np.array([face.cues[cue] for cue in CUES])


def lbp_vector(face: FaceEvidence) -> np.ndarray:
    assert face.lbp is not None
    return face.lbp


def evidence(faces: Sequence[FaceEvidence], calibration: PassiveCalibration) -> dict[str, object]:
    """The whole section of the report (module docstring); DET curves are left out (they are in the figure)."""

    def short(result: dict[str, object]) -> dict[str, object]:
        return {key: value for key, value in result.items() if key not in ("apcer", "bpcer")}

    cues = per_cue(faces, calibration)
    loso_cues = leave_one_subject_out(faces, cue_vector)
    loso_lbp = leave_one_subject_out(faces, lbp_vector)
    return {
        "per_cue": {cue: short(result) for cue, result in cues.items()},
        "faces": face_sizes(faces),
        "leave_one_subject_out": {
            "note": "trained on NUAA's test split, each subject scored by a model fitted on the other subjects: "
            "NOT a held-out figure (same webcam, rooms, printer and paper across subjects); nothing fitted ships",
            "regularisation": REGULARISATION,
            "logistic_on_the_four_cues": short(loso_cues),
            "logistic_on_lbp_3x3": short(loso_lbp),
        },
        "_curves": {
            **{f"cue {cue}": cues[cue] for cue in CUES},
            "LOSO logistic, four cues": loso_cues,
            "LOSO logistic, LBP 3x3": loso_lbp,
        },
    }
