"""``tessera eval pad``: the ISO/IEC 30107-3 report of the passive score and the challenge (docs/liveness.md).

Passive score, NUAA test split (``face/spoof_nuaa``, ``labels.csv`` split ``test``): APCER per presentation attack
instrument species at the service's threshold, BPCER, APNRR and BPNRR (no face found: the score is not measured),
the DET curve, and APCER at BPCER <= 5 % read off that curve. The threshold and every setting come from the shipped
calibration (LFW bona fide photos); nothing is chosen on NUAA. The shared NUAA subset holds no training split, so no
classifier is trained on it and scored held out (the issue's "train on the NUAA training split" cannot be done with
this data); the evidence section (:mod:`tessera.evaluation.pad_evidence`) shows each cue alone and two
leave-one-subject-out classifiers fitted on the test split itself, reported as such, never as held-out figures.

Challenge: synthetic photo-replay bursts from single stills (ORL and LFW), every one an attack, and live bursts of
real ORL photos (:mod:`tessera.evaluation.pad_challenge`), made with a seed other than the one the limits were
chosen with; and the server CPU time of the replay bursts and of bursts of real webcam JPEGs that reach every check.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from tessera.evaluation.figures import plt, save_figure
from tessera.evaluation.pad_challenge import (
    evaluate_live,
    evaluate_replays,
    orl_people,
    read_orl_photo,
    summarise,
    time_passing_bursts,
)
from tessera.evaluation.pad_evidence import evidence
from tessera.evaluation.pad_passive import NUAA_ATTACK_SPECIES, ScoredImage, nuaa_faces, score_nuaa
from tessera.liveness.burst import FrameReading, pose_change
from tessera.liveness.config import DEFAULT_LIVENESS_CONFIG
from tessera.liveness.frames import read_frame
from tessera.liveness.geometry import pose, signed_parallax
from tessera.liveness.passive import load_passive_calibration

REPLAY_FRAMES = 8
"""Frames of a synthetic replay burst: more than the 5-7 a challenge needs, so the attacker has spare tries."""
REPORT_SEED = 2026
"""The seed the reported bursts are made with (the limits were chosen on bursts of seed 1 and other stills)."""


def rates(scores: Sequence[ScoredImage], threshold: float) -> dict[str, object]:
    """ISO/IEC 30107-3 rates at ``threshold`` (attack when score >= threshold); non-responses counted apart."""
    live = [item for item in scores if item.label == "live"]
    answer: dict[str, object] = {
        "bona_fide": len(live),
        "bpnrr": _share(sum(item.score is None for item in live), len(live)),
        "bpcer": _share(
            sum(item.score is not None and item.score >= threshold for item in live),
            sum(item.score is not None for item in live),
        ),
        "species": {},
    }
    for label, species in NUAA_ATTACK_SPECIES.items():
        attacks = [item for item in scores if item.label == label]
        answer["species"][species] = {  # type: ignore[index]
            "attacks": len(attacks),
            "apnrr": _share(sum(item.score is None for item in attacks), len(attacks)),
            "apcer": _share(
                sum(item.score is not None and item.score < threshold for item in attacks),
                sum(item.score is not None for item in attacks),
            ),
        }
    return answer


def _share(count: int, total: int) -> float | None:
    return None if total == 0 else round(count / total, 4)


def det(scores: Sequence[ScoredImage]) -> dict[str, object]:
    """APCER against BPCER over every threshold (measured scores only), the EER and APCER at BPCER <= 5 %."""
    live = np.array([item.score for item in scores if item.label == "live" and item.score is not None])
    attack = np.array([item.score for item in scores if item.label != "live" and item.score is not None])
    thresholds = np.unique(np.concatenate([live, attack, [np.inf]]))
    bpcer = np.array([(live >= t).mean() for t in thresholds])
    apcer = np.array([(attack < t).mean() for t in thresholds])
    within = bpcer <= 0.05
    eer_at = int(np.argmin(np.abs(apcer - bpcer)))
    auc = float(np.mean(attack[:, None] > live[None, :]) + 0.5 * np.mean(attack[:, None] == live[None, :]))
    return {
        "bpcer": bpcer.round(4).tolist(),
        "apcer": apcer.round(4).tolist(),
        "eer": round(float((apcer[eer_at] + bpcer[eer_at]) / 2), 4),
        "auc_attack_above_live": round(auc, 4),
        "apcer_at_bpcer_5pct": round(float(apcer[within].min()), 4),
        "note": "read off the NUAA test DET (a threshold chosen on the test split would be optimistic): a figure, "
        "not the service's operating point",
    }


def det_figure(curve: dict, operating: dict, path: Path) -> Path:
    figure, axis = plt.subplots(figsize=(5, 4.5))
    bpcer = np.clip(np.array(curve["bpcer"]), 1e-3, 1)
    apcer = np.clip(np.array(curve["apcer"]), 1e-3, 1)
    axis.plot(bpcer, apcer, label="passive score (NUAA test)")
    species = next(iter(operating["species"].values()))
    if operating["bpcer"] is not None and species["apcer"] is not None:
        axis.plot([max(operating["bpcer"], 1e-3)], [max(species["apcer"], 1e-3)], "o", label="service threshold")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("BPCER (bona fide rejected)")
    axis.set_ylabel("APCER (printed photos accepted)")
    axis.set_title("Passive score, NUAA test split")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(loc="lower left")
    return save_figure(figure, path)


def evidence_figure(curves: dict, service: dict, path: Path) -> Path:
    """The DET of each cue alone and of the leave-one-subject-out classifiers, beside the service's score."""
    figure, axis = plt.subplots(figsize=(6, 5))
    for label, result in {"service score (mean of four cues)": service, **curves}.items():
        bpcer = np.clip(np.array(result["bpcer"]), 1e-3, 1)
        apcer = np.clip(np.array(result["apcer"]), 1e-3, 1)
        style = "--" if label.startswith("LOSO") else "-"
        axis.plot(bpcer, apcer, style, label=f"{label} (EER {result['eer']:.2f})")
    axis.axvline(0.05, color="grey", linewidth=0.8)
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("BPCER (bona fide rejected)")
    axis.set_ylabel("APCER (printed photos accepted)")
    axis.set_title("NUAA test: each cue alone; LOSO (dashed, not held out)")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(loc="lower left", fontsize=7)
    return save_figure(figure, path)


def orl_parallax(root: Path) -> dict[str, object]:
    """The parallax rule on real turns: every ORL photo that turned at least ``yaw_step`` from the person's most
    frontal one, and whether its nose left the plane as the rule asks (the challenge's check on real heads)."""
    config = DEFAULT_LIVENESS_CONFIG
    shown, total = 0, 0
    for paths in orl_people(root).values():
        readings = [r for r in (read_frame(read_orl_photo(path)) for path in paths) if isinstance(r, FrameReading)]
        if len(readings) < 2:
            continue
        poses = [pose(reading.landmarks) for reading in readings]
        start = min(range(len(readings)), key=lambda number: abs(poses[number].yaw))
        for number, reading in enumerate(readings):
            for step in ("turn_left", "turn_right"):
                change = pose_change(step, poses[start], poses[number])
                if number != start and change >= config.yaw_step:
                    total += 1
                    parallax = signed_parallax(
                        readings[start].landmarks, reading.landmarks, ("along", 1.0 if step == "turn_left" else -1.0)
                    )
                    shown += parallax >= config.parallax_min and parallax >= config.parallax_share * change
    return {"real_turns": total, "showing_parallax": shown, "share": _share(shown, total)}


def nuaa_live_photos(root: Path) -> dict[str, list[bytes]]:
    """NUAA's live test photos as uploaded (JPEG bytes), by subject."""
    people: dict[str, list[bytes]] = {}
    for line in (root / "labels.csv").read_text().splitlines()[1:]:
        path, label, split, subject = line.split(",")[:4]
        if label == "live" and split == "test":
            people.setdefault(subject, []).append((root / path).read_bytes())
    return people


def replay_stills(data: Path, lfw_people: int) -> list:
    """Attack sources: photo 1 of each ORL person, and the first photo of LFW people in ``pairsDevTest.txt``."""
    stills: list = [
        (f"orl/{person}", (lambda path=paths[0]: read_orl_photo(path)))
        for person, paths in orl_people(data / "orl").items()
    ]
    names: list[str] = []
    for line in (data / "lfw" / "pairsDevTest.txt").read_text().splitlines()[1:]:
        parts = line.split()
        for name in parts[0::2] if len(parts) == 4 else parts[:1]:
            if name not in names:
                names.append(name)
    for name in names[:lfw_people]:
        path = data / "lfw" / "images" / name / f"{name}_0001.jpg"
        if path.exists():
            stills.append((f"lfw/{name}", (lambda path=path: np.asarray(PILImage.open(path).convert("RGB")))))
    return stills


def evaluate_pad(data: Path, out: Path, seed: int = REPORT_SEED, bursts_per_still: int = 2) -> dict[str, object]:
    """Run the whole PAD evaluation over ``data`` (the folder holding spoof_nuaa, orl and lfw) into ``out``."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    calibration = load_passive_calibration()
    faces = nuaa_faces(data / "spoof_nuaa")
    scored = score_nuaa(data / "spoof_nuaa", calibration, faces=faces)
    operating = rates(scored, calibration.threshold)
    curve = det(scored)
    det_figure(curve, operating, out / "det.png")
    passive_evidence = evidence(faces, calibration)
    curves: dict = passive_evidence.pop("_curves")  # type: ignore[assignment]
    evidence_figure(curves, curve, out / "det_evidence.png")
    replays = evaluate_replays(replay_stills(data, 80), bursts_per_still, seed, frames=REPLAY_FRAMES)
    live = evaluate_live(data / "orl", 5, seed)
    passing = time_passing_bursts(nuaa_live_photos(data / "spoof_nuaa"), seed)
    report = {
        "standard": "ISO/IEC 30107-3 (APCER per PAI species, BPCER, APNRR, BPNRR)",
        "passive": {
            "data": "NUAA Photograph Imposter Database subset, test split (labels.csv); PAI species: printed photo",
            "calibration": calibration.name,
            "calibration_data": calibration.data,
            "threshold": calibration.threshold,
            "operating_point": operating,
            "det": {key: value for key, value in curve.items() if key not in ("apcer", "bpcer")},
            "research_classifier": "none fitted on a training split: the shared NUAA subset holds none; see "
            "evidence.leave_one_subject_out",
            "evidence": passive_evidence,
        },
        "challenge": {
            "seed": seed,
            "replay_attacks": {
                "what": f"synthetic bursts of {REPLAY_FRAMES} frames, each a planar homography of one still (a "
                "picture moved, "
                "rotated and tilted up to 40 degrees) with print or screen degradation; every one an attack",
                **summarise(replays),
            },
            "live_orl": {
                "what": "real ORL photos: per challenge, the person's most frontal photo, then their two photos "
                "furthest in each asked direction; ORL has small turns and almost no nods",
                **summarise(live),
            },
            "orl_real_turns_parallax": orl_parallax(data / "orl"),
            "server_time_passing_bursts": {
                "what": "NUAA live 640x480 webcam JPEGs as uploaded, 1 + 2 per step of one person's usable photos: "
                "decode, read, every check reached with every evidence frame embedded (motion limits at nothing); "
                "CPU of the process, database and audit not counted",
                **passing,
            },
        },
        "machine": platform.machine(),
        "seconds": round(time.perf_counter() - started, 1),
    }
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def summary_lines(report: dict) -> list[str]:
    passive, challenge = report["passive"], report["challenge"]
    operating = passive["operating_point"]
    species = operating["species"]["printed photo"]
    attacks = [challenge["replay_attacks"][kind] for kind in ("print", "screen") if kind in challenge["replay_attacks"]]
    live = challenge["live_orl"].get("live", {})
    turns = challenge["orl_real_turns_parallax"]
    loso = passive["evidence"]["leave_one_subject_out"]
    per_cue = passive["evidence"]["per_cue"]
    passing = {
        key: value["cpu_ms_median"] for key, value in challenge["server_time_passing_bursts"].items() if key != "what"
    }
    return [
        f"Passive (NUAA test): at the service threshold {passive['threshold']}: APCER {species['apcer']}, "
        f"BPCER {operating['bpcer']}, APNRR {species['apnrr']}, BPNRR {operating['bpnrr']}; "
        f"APCER at BPCER <= 5 % {passive['det']['apcer_at_bpcer_5pct']}, EER {passive['det']['eer']}",
        f"Challenge, synthetic replays: {sum(a['accepted'] for a in attacks)} of {sum(a['bursts'] for a in attacks)} "
        f"accepted; server time per {REPLAY_FRAMES}-frame burst, CPU "
        f"{challenge['replay_attacks'].get('server_cpu_ms_per_burst')} ms, wall "
        f"{challenge['replay_attacks'].get('server_wall_ms_per_burst')} ms",
        f"Challenge, live ORL bursts: {live.get('rejected')} of {live.get('bursts')} rejected "
        f"(BPCER {_share(live.get('rejected', 0), live.get('bursts', 0))}), reasons {live.get('reasons')}",
        f"ORL real turns showing parallax: {turns['showing_parallax']} of {turns['real_turns']}",
        "Passive, each cue alone, APCER at BPCER <= 5 %: "
        + ", ".join(f"{cue} {result['apcer_at_bpcer_5pct']}" for cue, result in per_cue.items()),
        f"Passive, leave-one-subject-out on NUAA's test split (NOT held out): four cues "
        f"{loso['logistic_on_the_four_cues']['apcer_at_bpcer_5pct']}, LBP "
        f"{loso['logistic_on_lbp_3x3']['apcer_at_bpcer_5pct']} APCER at BPCER <= 5 %",
        f"Server CPU of a burst reaching every check (NUAA JPEGs), median ms: {passing}",
    ]
