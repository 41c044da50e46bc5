"""``tessera eval``: run the real face pipeline over a dataset and measure it.

::

    dataset -> template every image (cached, in parallel) -> protocols -> report.json, figures, report.html

Start at :func:`evaluate`. The images go through exactly what an upload goes
through (decode, quality gate, detect, align, embed); the comparisons use
the service's score (the cosine of two templates), and its thresholds come
from the calibration file the service loads.
"""

from __future__ import annotations

import platform
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

import tessera
from tessera.evaluation import figures, protocols
from tessera.evaluation.cache import TemplateCache, algorithm_fingerprint, default_cache_dir, pipeline_fingerprint
from tessera.evaluation.comparisons import Templates
from tessera.evaluation.datasets.dataset import Dataset
from tessera.evaluation.datasets.label_errors import LabelErrors
from tessera.evaluation.datasets.labels import read_labels
from tessera.evaluation.report import plain_language, write_html, write_json
from tessera.evaluation.templating import TemplateOutcome, rich_progress, template_algorithms, template_files


@dataclass(frozen=True)
class EvaluationOptions:
    """How to run an evaluation.

    Attributes
    ----------
    workers : int
        Processes running the face pipeline.
    cache_dir : Path or None
        Template cache folder; None turns the cache off.
    labels : Path or None
        CSV of group labels (see :mod:`tessera.evaluation.datasets.labels`).
    replicates : int
        Bootstrap replicates for the 1:1 intervals.
    seed : int
        Seed of the bootstrap and of the 1:N gallery split.
    progress : bool
        Show a progress bar while templating.
    label_errors : LabelErrors or None
        Identity pairs that are one person (:mod:`tessera.evaluation.datasets.label_errors`), left out of the
        impostors of the calibration check (reported there), and the every-pair FNMR measured again without them
        (``verification.without_label_errors``, beside the every-pair figures); None: every pair of two subjects is
        an impostor.
    """

    workers: int = 2
    cache_dir: Path | None = default_cache_dir()
    labels: Path | None = None
    replicates: int = 500
    seed: int = 0
    progress: bool = True
    label_errors: LabelErrors | None = None


def evaluate(
    dataset: Dataset,
    out_dir: Path | str,
    options: EvaluationOptions = EvaluationOptions(),
    config=None,
    settings=None,
    algorithm: str | None = None,
) -> dict:
    """Evaluate a face algorithm's pipeline on ``dataset``; write ``report.json``, ``report.html`` and
    its figures (beside them) to ``out_dir``.

    Parameters
    ----------
    dataset : Dataset
        From an adapter of :data:`tessera.evaluation.datasets.ADAPTERS`.
    out_dir : path
        Created if needed; existing report files are replaced.
    options : EvaluationOptions
    config : FaceConfig, optional
        dlib's algorithm only: its configuration. Default: the shipped
        :data:`~tessera.face.config.DEFAULT_FACE_CONFIG`.
    settings : Settings, optional
        The service's target rates and face algorithms; default the
        environment's :class:`~tessera.settings.Settings`.
    algorithm : str, optional
        The registered face algorithm (:mod:`tessera.face.algorithms`) to
        evaluate: its pipeline makes the templates (cached under its own
        key), and its ``calibration_file`` gives the operating threshold and
        is checked on the held-out people. Default: the first of
        ``settings.face_algorithms``.

    Returns
    -------
    dict
        The report, as written to ``report.json``.

    Raises
    ------
    ValueError
        ``algorithm`` is not registered (the message names those that are), ``config`` is given with an
        algorithm other than dlib's, templates of more than one algorithm, or fewer than two subjects templated.
    """
    from tessera.face.algorithms import DLIB_RESNET, face_algorithm
    from tessera.face.config import DEFAULT_FACE_CONFIG
    from tessera.match.calibration import load_calibration
    from tessera.settings import Settings

    started = time.monotonic()
    settings = Settings() if settings is None else settings
    spec = face_algorithm(settings.face_algorithms[0] if algorithm is None else algorithm)
    out_dir = Path(out_dir)
    if spec is DLIB_RESNET:
        # dlib's pipeline runs with ``config`` (a configuration under study, or the registered one).
        config = DEFAULT_FACE_CONFIG if config is None else config
        fingerprint = pipeline_fingerprint(config)
        pipeline_algorithm = None
    elif config is not None:
        raise ValueError(f"config is for dlib's pipeline only; got a config with algorithm {spec.id!r}")
    else:
        fingerprint = algorithm_fingerprint(spec.id)
        pipeline_algorithm = spec.id
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = TemplateCache(options.cache_dir, fingerprint["key"]) if options.cache_dir is not None else None
    run = template_files(
        [sample.path for sample in dataset.samples],
        config,
        workers=options.workers,
        cache=cache,
        progress=rich_progress(f"Templating {dataset.name} images with {spec.id}") if options.progress else None,
        algorithm=pipeline_algorithm,
    )
    templated_at = time.monotonic()
    templates, algorithm = dataset_templates(dataset, run.outcomes)
    calibration_file = spec.calibration_file
    calibration = load_calibration(calibration_file)
    usable_calibration = calibration if calibration.algorithm == algorithm else None
    if usable_calibration is not None:
        operating = usable_calibration.threshold_for_fmr(settings.verify_target_fmr)
        source = (
            f"the service's 1:1 threshold: calibration {calibration_file.name} at target FMR "
            f"{settings.verify_target_fmr:g}"
        )
    else:
        operating = None
        source = (
            f"no calibration for algorithm {algorithm} (the shipped one is for {calibration.algorithm}): the threshold "
            f"at FMR {settings.verify_target_fmr:g} measured on these comparisons"
        )
    report: dict = {
        "tessera_eval": {
            "dataset": {
                "name": dataset.name,
                "root": str(dataset.root),
                "description": dataset.description,
                "images": len(dataset.samples),
                "subjects": templates.n_subjects,
            },
            "created": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
            "algorithm": spec.id,
            "command": " ".join(["tessera", *sys.argv[1:]]) if Path(sys.argv[0]).name == "tessera" else None,
            "tessera_version": tessera.__version__,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pipeline": dict(fingerprint.items()),
            "settings": {
                "verify_target_fmr": settings.verify_target_fmr,
                "identify_expected_false_candidates": settings.identify_expected_false_candidates,
                "identify_max_candidates": settings.identify_max_candidates,
                "face_calibration": _shipped_name(calibration_file),
            },
            "bootstrap_replicates": options.replicates,
            "seed": options.seed,
        },
        "refusals": _refusals(dataset, run.outcomes),
    }
    view2 = None
    if "view2" in dataset.pair_lists:
        view2 = protocols.view2_accuracy(
            templates,
            dataset.pair_lists["view2"],
            replicates=options.replicates,
            seed=options.seed,
            operating_threshold=operating,
        )
        report["lfw_view2"] = view2.as_dict()
    verification = protocols.verification(
        templates, operating, source, settings.verify_target_fmr, replicates=options.replicates, seed=options.seed
    )
    report["verification"] = verification.as_dict()
    if options.label_errors is not None:
        report["verification"]["without_label_errors"] = protocols.without_label_errors(
            verification.scores, dataset.subject_index()[1], options.label_errors
        )
    identification = protocols.identification(
        templates,
        calibration=usable_calibration,
        verify_threshold=verification.operating_threshold,
        expected_false_candidates=settings.identify_expected_false_candidates,
        max_candidates=settings.identify_max_candidates,
        verification_genuine=verification.scores.genuine,
        seed=options.seed,
    )
    report["identification"] = identification.as_dict()
    held_out, held_out_note = _held_out(dataset, calibration)
    check = protocols.calibration_check(
        templates,
        held_out,
        calibration,
        algorithm,
        held_out_note,
        subject_names=dataset.subject_index()[1],
        label_errors=options.label_errors,
    )
    report["calibration_check"] = check.as_dict()
    figure_paths = {
        "det": figures.det_figure(verification, view2, identification, out_dir / "det.png"),
        "histograms": figures.histogram_figure(verification, out_dir / "histograms.png"),
        "fpir_vs_gallery_size": figures.gallery_size_figure(identification, out_dir / "fpir-gallery-size.png"),
        "projection": figures.projection_figure(identification, out_dir / "projection.png"),
        "calibration": figures.calibration_figure(check, out_dir / "calibration.png"),
    }
    if options.labels is not None:
        groups = protocols.group_rates(
            templates, read_labels(options.labels, dataset), verification.operating_threshold
        )
        report["groups"] = {
            "labels": str(options.labels),
            "threshold": verification.operating_threshold,
            "by_attribute": groups,
        }
        for attribute, table in groups.items():
            figure_paths[f"groups_{attribute}"] = figures.group_figure(
                attribute, table, out_dir / f"groups-{_slug(attribute)}.png"
            )
    else:
        report["groups"] = {
            "labels": None,
            "note": (
                f"{dataset.name} comes with no group labels, so no per-group figures are given. Tessera never infers "
                "groups (sex, age, skin tone, ethnicity) from faces; pass --labels CSV with labels that the data's "
                "holders recorded to get them."
            ),
        }
    report["figures"] = {name: figures.report_path(path, out_dir) for name, path in figure_paths.items()}
    report["tessera_eval"]["timing"] = {
        "templating_seconds": round(templated_at - started, 1),
        "cache_hits": run.cache_hits,
        "templated_now": len(dataset.samples) - run.cache_hits,
        "workers": run.workers,
        "images_per_second_templated_now": (
            round((len(dataset.samples) - run.cache_hits) / max(templated_at - started, 1e-9), 2)
            if run.cache_hits < len(dataset.samples)
            else None
        ),
        "pipeline_cpu_seconds_per_image": _cpu_summary(run.outcomes),
        "protocols_and_report_seconds": round(time.monotonic() - templated_at, 1),
        "total_seconds": round(time.monotonic() - started, 1),
    }
    report["what_these_numbers_mean"] = plain_language(report)
    write_json(report, out_dir / "report.json")
    write_html(report, out_dir / "report.html")
    if cache is not None:
        cache.close()
    return report


def dataset_templates(dataset: Dataset, outcomes: list[TemplateOutcome]) -> tuple[Templates, str]:
    subject, subjects = dataset.subject_index()
    templated = np.array([outcome.templated for outcome in outcomes], dtype=bool)
    algorithms = template_algorithms(outcomes)
    if len(algorithms) != 1:
        raise ValueError(f"templates must all come from one algorithm to be compared; got {algorithms}")
    if len(set(subject[templated].tolist())) < 2:
        raise ValueError("at least two people must be templated to form impostor comparisons")
    dim = next(outcome.embedding.size for outcome in outcomes if outcome.embedding is not None)
    embeddings = np.zeros((len(outcomes), dim), dtype=np.float32)
    for number, outcome in enumerate(outcomes):
        if outcome.templated:
            embeddings[number] = outcome.embedding
    return Templates(embeddings, templated, subject, len(subjects)), algorithms[0]


def _refusals(dataset: Dataset, outcomes: list[TemplateOutcome]) -> dict:
    refused = [
        (sample.key, outcome.refusal) for sample, outcome in zip(dataset.samples, outcomes) if not outcome.templated
    ]
    detectors = Counter(outcome.detail.get("detector") for outcome in outcomes if outcome.templated and outcome.detail)
    return {
        "images": len(outcomes),
        "templated": len(outcomes) - len(refused),
        "refused": len(refused),
        "refused_rate": round(len(refused) / max(len(outcomes), 1), 6),
        "by_reason": dict(sorted(Counter(reason for _, reason in refused).items())),
        "templated_by_detector": dict(sorted(detectors.items())),
        "refused_images": [{"image": key, "reason": reason} for key, reason in refused],
        "note": (
            "Every refused image stays in every protocol's denominator: a refused image in a genuine comparison is a "
            "false non-match, a refused probe of an enrolled person is not found (ISO/IEC 19795-1 FTA), a refused "
            "enrolment is a failure to enrol (FTE)."
        ),
    }


def _held_out(dataset: Dataset, calibration=None) -> tuple[np.ndarray, str]:
    """The images the calibration check may use: people the calibration saw neither in its fit nor in its
    held-out allowance (``data.tail_allowance.pairs_file``, :func:`tessera.evaluation.calibrate.tail_allowance`)."""
    if dataset.held_out_from_calibration:
        kept = set(dataset.held_out_from_calibration)
        fitted = dataset.pair_lists.get("calibration_fit")
        name = fitted.name if fitted is not None else "the calibration's data"
        allowance = (calibration.data.get("tail_allowance") or {}) if calibration is not None else {}
        seen = [entry for entry in dataset.pair_lists.values() if entry.name == allowance.get("pairs_file")]
        if seen:
            used = set(np.concatenate([seen[0].a, seen[0].b]).tolist())
            kept -= {dataset.samples[index].subject for index in used}
            name = (
                f"{name} or {seen[0].name} (the data the calibration was fitted on and its tail allowance measured on)"
            )
        else:
            name = f"{name} (the data the calibration was fitted on)"
        mask = np.array([sample.subject in kept for sample in dataset.samples], dtype=bool)
        return mask, f"images of the {len(kept):,} people who appear nowhere in {name}"
    return np.ones(len(dataset.samples), dtype=bool), (
        "every image: whether any was used to fit the calibration is not known to this adapter (the shipped "
        "calibration was fitted on LFW pairsDevTrain.txt)"
    )


def _cpu_summary(outcomes: list[TemplateOutcome]) -> dict:
    seconds = np.array([outcome.cpu_seconds for outcome in outcomes], dtype=np.float64)
    if seconds.size == 0:
        return {}
    return {
        "median": round(float(np.median(seconds)), 4),
        "p90": round(float(np.percentile(seconds, 90)), 4),
        "mean": round(float(seconds.mean()), 4),
        "note": "CPU time of decode + extract_face per image, measured when each template was made",
    }


def _slug(text: str) -> str:
    return "".join(character if character.isalnum() else "-" for character in text.lower()).strip("-") or "attribute"


def _shipped_name(path: Path) -> str:
    """A calibration file as the report names it: its path inside the package (no folder of the machine it ran on)."""
    package = Path(tessera.__file__).resolve().parent
    try:
        return str(Path("tessera") / Path(path).resolve().relative_to(package))
    except ValueError:
        return Path(path).name
