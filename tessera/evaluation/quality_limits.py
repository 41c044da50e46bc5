"""What each setting of a face algorithm's quality gate refuses on LFW, and what that costs and buys.

::

    template every image with the gate off (cached) -> every genuine and the highest impostor comparisons, once
      -> per setting: the photos it refuses -> View 2 accuracy, every-pair FNMR (refusals counted; accepted pairs)
      -> limits.json, limits.png

Start at :func:`limits_tradeoff`. The gate (:func:`tessera.face.quality.assess`)
is a pure function of a photo's :class:`~tessera.face.quality.FaceQuality`,
and nothing before it (detection, the choice of face, alignment) or after it
(the embedding) reads its limits. So a photo's outcome under any setting is
its gate-off outcome, refused where :func:`~tessera.face.quality.assess`
says so: one pass of the pipeline measures every setting, and under the
registered setting it gives exactly what ``tessera eval lfw`` gives.

Two views of each setting:

refusals counted
    As every other figure of the evaluation (ISO/IEC 19795-1): a refused
    photo stays in every denominator, a genuine comparison with it is a false
    non-match, a View 2 pair with it an error. What a programme that cannot
    retake a photo (LFW's case) gets.
among accepted pairs
    Only comparisons of two accepted photos, the threshold at each FMR
    measured on them: what the gate buys on the photos it lets through,
    where a programme that retakes refused captures ends up.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from tessera.evaluation.comparisons import ImagePairs, Templates, image_pairs
from tessera.evaluation.datasets.dataset import Dataset, PairList
from tessera.evaluation.metrics import fnmr_at, json_float, threshold_at_fmr
from tessera.evaluation.protocols import fmr_key, view2_folds
from tessera.evaluation.templating import TemplateOutcome
from tessera.face.config import QualityLimitValues
from tessera.face.quality import FaceQuality, assess

TRADEOFF_FMRS = (1e-4, 1e-5, 1e-6)
"""FMRs at which each setting's every-pair FNMR is reported."""
IMPOSTOR_SHARE = 1e-3
"""Share of the impostor comparisons kept, the highest: 41,000 of LFW's 41 million, ten times the 4,100 that FMR 1e-4
admits, so that refusing even a fifth of the photos leaves the threshold at 1e-4 on kept scores (checked: a rate
the kept scores cannot give raises an error)."""
TURN_LIMITS = (20.0, 25.0, 30.0, 35.0, 40.0, 45.0, None)
"""Head-turn limits swept (degrees; None: no limit), with every other limit held."""
ISSUE_TARGETS = {"view2_accuracy": 0.994, "fnmr_at_1e-4": 0.03, "fnmr_at_1e-6": 0.15}
"""Issue 11's targets for a face algorithm on LFW, refusals counted: View 2 accuracy at least, every-pair FNMR at
FMR 1e-4 and 1e-6 at most."""
LIMIT_FIELDS = tuple(f.name for f in fields(QualityLimitValues))
"""The fields of a face config that :func:`~tessera.face.quality.assess` reads."""
NO_LIMIT = {
    "min_inter_eye_px": 0.0,
    "min_brightness": 0.0,
    "max_brightness": 255.0,
    "max_clipped_fraction": 1.0,
    "min_sharpness": 0.0,
    "max_abs_yaw": 90.0,
}
"""Each limit's value where it refuses nothing (a turn estimate is always within 90 degrees)."""


@dataclass(frozen=True, kw_only=True)
class LimitSetting(QualityLimitValues):
    """One setting of the quality gate: a name and the six limits :func:`~tessera.face.quality.assess` reads."""

    name: str

    @classmethod
    def of(cls, name: str, config, **changes: float | None) -> LimitSetting:
        """The limits of ``config`` (any face config), with ``changes``; a change of None lifts that limit."""
        unknown = sorted(set(changes) - set(LIMIT_FIELDS))
        if unknown:
            raise ValueError(f"changes must name quality limits ({', '.join(LIMIT_FIELDS)}); got {unknown}")
        limits = {name: getattr(config, name) for name in LIMIT_FIELDS}
        limits.update({key: NO_LIMIT[key] if value is None else value for key, value in changes.items()})
        return cls(name=name, **limits)

    def limits(self) -> dict[str, float]:
        return {field.name: getattr(self, field.name) for field in fields(self) if field.name != "name"}


def standard_settings(config, other_config, other_name: str) -> tuple[LimitSetting, ...]:
    """The settings :func:`limits_tradeoff` measures by default.

    The registered limits (``config``'s refusal limits) first, then, where
    ``config`` has a retake tier, its retake limits used as refusals; the
    head-turn sweep (:data:`TURN_LIMITS`) with the other limits held at the
    retake limits (or the registered ones), then at ``other_config``'s;
    each other limit on its own set to ``other_config``'s, then lifted; all
    of ``other_config``'s; no gate. Settings whose limits repeat an earlier
    one are left out.
    """
    settings = [LimitSetting.of("registered limits", config)]
    retake = getattr(config, "retake", None)
    if retake is not None:
        settings.append(LimitSetting.of("retake limits as refusals", retake))
    held = retake if retake is not None else config
    for name, base in (("", held), (f", other limits {other_name}'s", other_config)):
        for turn in TURN_LIMITS:
            label = "no turn limit" if turn is None else f"turn {turn:g} deg"
            settings.append(LimitSetting.of(f"{label}{name}", base, max_abs_yaw=turn))
    groups = {
        "eyes": ("min_inter_eye_px",),
        "sharpness": ("min_sharpness",),
        "exposure": ("min_brightness", "max_brightness", "max_clipped_fraction"),
    }
    for group, names in groups.items():
        settings.append(
            LimitSetting.of(f"{group} {other_name}'s", held, **{key: getattr(other_config, key) for key in names})
        )
        settings.append(LimitSetting.of(f"no {group} limit", held, **dict.fromkeys(names)))
    settings.append(LimitSetting.of(f"all {other_name}'s limits", other_config))
    settings.append(LimitSetting.of("no quality gate", config, **dict.fromkeys(LIMIT_FIELDS)))
    unique: dict[tuple, LimitSetting] = {}
    for setting in settings:
        unique.setdefault(tuple(setting.limits().values()), setting)
    return tuple(unique.values())


@dataclass(frozen=True)
class SettingResult:
    """What one :class:`LimitSetting` refuses and what the rest measures.

    Attributes
    ----------
    setting : LimitSetting
    refused : int
        Photos refused, by the gate or before it (no face found).
    refused_by_reason : dict
        Refusal reason to count (the gate's reasons, and ``no_face`` etc. from before it).
    view2_accuracy, view2_accuracy_std : float
        LFW View 2, ten folds, a pair with a refused photo an error; sample std over the folds.
    view2_accuracy_accepted : float
        The same over the pairs of two accepted photos (published figures' way).
    view2_pairs_with_refused : int
    genuine_with_refused : int
        Genuine comparisons (of every pair) with a refused photo.
    fnmr_counted : dict
        FMR to every-pair FNMR, refusals counted (thresholds on every impostor comparison).
    fnmr_accepted : dict
        FMR to FNMR among comparisons of two accepted photos (thresholds on their own impostors).
    """

    setting: LimitSetting
    refused: int
    refused_by_reason: dict[str, int]
    view2_accuracy: float
    view2_accuracy_std: float
    view2_accuracy_accepted: float
    view2_pairs_with_refused: int
    genuine_with_refused: int
    fnmr_counted: dict[float, float]
    fnmr_accepted: dict[float, float]

    def meets(self, targets: dict[str, float] = ISSUE_TARGETS) -> bool:
        """Whether every target of ``targets`` (:data:`ISSUE_TARGETS`' keys) is met, refusals counted."""
        return (
            self.view2_accuracy >= targets["view2_accuracy"]
            and self.fnmr_counted[1e-4] <= targets["fnmr_at_1e-4"]
            and self.fnmr_counted[1e-6] <= targets["fnmr_at_1e-6"]
        )

    def as_dict(self) -> dict:
        return {
            "name": self.setting.name,
            "limits": self.setting.limits(),
            "refused": self.refused,
            "refused_by_reason": self.refused_by_reason,
            "view2_accuracy": json_float(self.view2_accuracy),
            "view2_accuracy_std": json_float(self.view2_accuracy_std),
            "view2_accuracy_accepted_pairs": json_float(self.view2_accuracy_accepted),
            "view2_pairs_with_refused_image": self.view2_pairs_with_refused,
            "genuine_with_refused_image": self.genuine_with_refused,
            "fnmr_refusals_counted": {fmr_key(rate): json_float(value) for rate, value in self.fnmr_counted.items()},
            "fnmr_accepted_pairs": {fmr_key(rate): json_float(value) for rate, value in self.fnmr_accepted.items()},
            "meets_issue_targets": self.meets(),
        }


def accepted_photos(outcomes: Sequence[TemplateOutcome], setting: LimitSetting) -> tuple[np.ndarray, Counter]:
    """Which gate-off outcomes ``setting`` accepts, and why the others are refused.

    Parameters
    ----------
    outcomes : sequence of TemplateOutcome
        Made with every limit lifted (:data:`NO_LIMIT`): a templated one carries its
        :class:`~tessera.face.quality.FaceQuality` as ``detail``; a refused one was refused before the gate.

    Returns
    -------
    accepted : numpy.ndarray, shape (n,), bool
    reasons : collections.Counter
        Refusal reason to count.
    """
    accepted = np.zeros(len(outcomes), dtype=bool)
    reasons: Counter = Counter()
    for number, outcome in enumerate(outcomes):
        if not outcome.templated:
            reasons[str(outcome.refusal)] += 1
            continue
        assert outcome.detail is not None  # a template carries its quality
        refusal = assess(FaceQuality.from_record(outcome.detail), setting)
        if refusal is None:
            accepted[number] = True
        else:
            reasons[refusal.reason] += 1
    return accepted, reasons


def measure_setting(
    setting: LimitSetting,
    outcomes: Sequence[TemplateOutcome],
    templates: Templates,
    pairs: ImagePairs,
    view2: PairList,
    fmrs: Sequence[float] = TRADEOFF_FMRS,
) -> SettingResult:
    """Measure ``setting`` on gate-off ``outcomes`` (their ``templates`` and ``pairs``, :func:`image_pairs`).

    Raises
    ------
    ValueError
        The kept impostor comparisons are too few to place a threshold at one of ``fmrs`` (keep a larger share).
    """
    accepted, reasons = accepted_photos(outcomes, setting)
    view2_scores = templates.pair_scores(view2.a, view2.b)
    view2_scores[~(accepted[view2.a] & accepted[view2.b])] = -math.inf
    folds = view2_folds(view2_scores, view2)
    genuine_kept = accepted[pairs.genuine_a] & accepted[pairs.genuine_b]
    impostor_kept = accepted[pairs.impostor_a] & accepted[pairs.impostor_b]
    genuine_counted = np.sort(np.where(genuine_kept, pairs.genuine, -math.inf))
    genuine_accepted = np.sort(pairs.genuine[genuine_kept])
    impostor_accepted = pairs.impostor[impostor_kept]
    kept_per_subject = np.bincount(templates.subject[accepted], minlength=templates.n_subjects)
    n_accepted = int(accepted.sum())
    n_impostor_accepted = n_accepted * (n_accepted - 1) // 2 - int(
        np.sum(kept_per_subject * (kept_per_subject - 1) // 2)
    )
    fnmr_counted: dict[float, float] = {}
    fnmr_accepted: dict[float, float] = {}
    for rate in fmrs:
        for rates, genuine, total in (
            (fnmr_counted, genuine_counted, pairs.n_impostor),
            (fnmr_accepted, genuine_accepted, n_impostor_accepted),
        ):
            threshold = threshold_at_fmr(impostor_accepted, rate, total=total)
            if math.isnan(threshold):
                raise ValueError(
                    f"setting {setting.name!r}: the {impostor_accepted.size:,} kept impostor comparisons cannot place "
                    f"a threshold at FMR {rate:g}; keep a larger share than {IMPOSTOR_SHARE:g}"
                )
            rates[rate] = fnmr_at(genuine, threshold)
    return SettingResult(
        setting=setting,
        refused=len(outcomes) - n_accepted,
        refused_by_reason=dict(sorted(reasons.items())),
        view2_accuracy=float(folds.accuracy.mean()),
        view2_accuracy_std=float(folds.accuracy.std(ddof=1)) if folds.accuracy.size > 1 else math.nan,
        view2_accuracy_accepted=float(folds.accuracy_refused_dropped.mean()),
        view2_pairs_with_refused=int(folds.refused_pairs.sum()),
        genuine_with_refused=int(np.sum(~genuine_kept)),
        fnmr_counted=fnmr_counted,
        fnmr_accepted=fnmr_accepted,
    )


def gate_off_config(config):
    """``config`` with every quality limit lifted (:data:`NO_LIMIT`), all else as it is."""
    return replace(config, **NO_LIMIT)


def limits_tradeoff(
    dataset: Dataset,
    out_dir: Path | str,
    algorithm: str,
    *,
    settings: Sequence[LimitSetting] | None = None,
    workers: int = 2,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> dict:
    """Measure quality-gate settings of ``algorithm`` on LFW from one gate-off pass; write ``limits.json`` and
    ``limits.png`` into ``out_dir``.

    Parameters
    ----------
    dataset : Dataset
        LFW (:func:`~tessera.evaluation.datasets.lfw.load_lfw`): its ``view2`` pair list is required.
    out_dir : path
        Created if needed.
    algorithm : str
        A registered face algorithm (:mod:`tessera.face.algorithms`).
    settings : sequence of LimitSetting, optional
        Default :func:`standard_settings` of the algorithm's config against dlib's
        :data:`~tessera.face.config.DEFAULT_FACE_CONFIG` (or SFace's, for dlib).
    workers, cache_dir, progress
        As :func:`~tessera.evaluation.templating.template_files`; the gate-off outcomes are cached under their
        own key (:func:`~tessera.evaluation.cache.algorithm_fingerprint` with the gate-off config).

    Returns
    -------
    dict
        The report, as written to ``limits.json``; its first setting is the registered one.

    Raises
    ------
    ValueError
        ``algorithm`` is not registered, the dataset has no ``view2`` pairs, or
        templates of more than one algorithm.
    """
    from tessera.evaluation.cache import TemplateCache, algorithm_fingerprint
    from tessera.evaluation.figures import quality_limits_figure, report_path
    from tessera.evaluation.harness import dataset_templates
    from tessera.evaluation.report import write_json
    from tessera.evaluation.templating import rich_progress, template_files
    from tessera.face.algorithms import DLIB_RESNET, YUNET_SFACE, face_algorithm

    started = time.monotonic()
    spec = face_algorithm(algorithm)
    if "view2" not in dataset.pair_lists:
        raise ValueError(f"dataset {dataset.name!r} has no View 2 pair list (pairs.txt): the trade-off needs it")
    other = YUNET_SFACE if spec.id == DLIB_RESNET.id else DLIB_RESNET
    other_name = "SFace" if other is YUNET_SFACE else "dlib"
    settings = tuple(settings) if settings is not None else standard_settings(spec.config, other.config, other_name)
    config = gate_off_config(spec.config)
    fingerprint = algorithm_fingerprint(spec.id, config)
    cache = TemplateCache(cache_dir, fingerprint["key"]) if cache_dir is not None else None
    run = template_files(
        [sample.path for sample in dataset.samples],
        config,
        workers=workers,
        cache=cache,
        progress=rich_progress(f"Templating {dataset.name} with {spec.id}, gate off") if progress else None,
        algorithm=spec.id,
    )
    if cache is not None:
        cache.close()
    templated_at = time.monotonic()
    templates, _ = dataset_templates(dataset, run.outcomes)
    pairs = image_pairs(templates, IMPOSTOR_SHARE)
    view2 = dataset.pair_lists["view2"]
    results = [measure_setting(setting, run.outcomes, templates, pairs, view2) for setting in settings]
    out_dir = Path(out_dir)
    retake = getattr(spec.config, "retake", None)
    held = {"the retake limits": retake} if retake is not None else {"registered": spec.config}
    sweeps, others = turn_sweeps(results, held | {f"{other_name}'s": other.config})
    figure = quality_limits_figure(sweeps, others, ISSUE_TARGETS, out_dir / "limits.png")
    report = {
        "tessera_eval_limits": {
            "dataset": {"name": dataset.name, "images": len(dataset.samples), "subjects": templates.n_subjects},
            "algorithm": spec.id,
            "created": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
            "gate_off_pipeline": fingerprint,
            "registered_limits": LimitSetting.of("registered limits", spec.config).limits(),
            "retake_limits": None if retake is None else LimitSetting.of("retake limits", retake).limits(),
            "genuine_comparisons": int(pairs.genuine.size),
            "impostor_comparisons": pairs.n_impostor,
            "impostor_comparisons_kept": int(pairs.impostor.size),
            "issue_targets": ISSUE_TARGETS,
            "timing": {
                "templating_seconds": round(templated_at - started, 1),
                "cache_hits": run.cache_hits,
                "measuring_seconds": round(time.monotonic() - templated_at, 1),
            },
            "protocol": (
                "one pass of the pipeline with every quality limit lifted; each setting refuses the photos "
                "tessera.face.quality.assess refuses under it. Refusals counted: a genuine comparison or View 2 pair "
                "with a refused photo is an error, every impostor comparison stays in the denominator. Accepted "
                "pairs: comparisons of two accepted photos only, each FMR's threshold measured on their impostors"
            ),
        },
        "settings": [result.as_dict() for result in results],
        "figures": {"limits": report_path(figure, out_dir)},
    }
    write_json(report, out_dir / "limits.json")
    return report


def turn_sweeps(results: Sequence[SettingResult], bases: dict) -> tuple[dict, list[SettingResult]]:
    """Group ``results`` into head-turn sweeps: for each of ``bases`` (label to config), the settings with that
    config's other limits, ordered by turn limit; and the rest."""
    sweeps: dict[str, list[SettingResult]] = {}
    placed: set[int] = set()
    for label, config in bases.items():
        held = {key: value for key, value in LimitSetting.of("", config).limits().items() if key != "max_abs_yaw"}
        members = [
            (number, result)
            for number, result in enumerate(results)
            if number not in placed and all(getattr(result.setting, key) == value for key, value in held.items())
        ]
        if len(members) > 1:
            sweeps[f"other limits {label}"] = [
                result for _, result in sorted(members, key=lambda m: m[1].setting.max_abs_yaw)
            ]
            placed.update(number for number, _ in members)
    return sweeps, [result for number, result in enumerate(results) if number not in placed]
