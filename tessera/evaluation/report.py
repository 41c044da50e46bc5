"""Write the evaluation report: ``report.json`` for machines, ``report.html`` for people.

The HTML report opens with "What these numbers mean", written for a
programme manager rather than a biometrics engineer, then gives every table
and figure. Every sentence there is computed from the report's own numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

from tessera.evaluation.html import RESPONSIVE_STYLE, VIEWPORT
from tessera.evaluation.html import escape as _e
from tessera.evaluation.html import interval as _ci
from tessera.evaluation.html import percent as _pct
from tessera.evaluation.html import scientific as _sci
from tessera.evaluation.html import table as _table

LFW_PUBLISHED_ACCURACY = {
    "dlib-resnet-v1/5pt-flip/1": 0.9938,
    "yunet-sface-2021dec/1": 0.9940,
}
"""Published LFW accuracy of each face algorithm's network, by template algorithm id: dlib's ResNet
(King 2017; dlib's model card) and SFace 2021dec (OpenCV Zoo's model card, its tools/eval)."""

PIPELINE_RECORD_KEYS = ("algorithm", "face_config", "models", "source", "key")
"""Keys of a report's ``pipeline`` record that are not the version of a library it ran on."""

LFW_REPRESENTATION_NOTE = (
    "LFW holds press photos of public figures collected from the web. Its own documentation warns that many groups "
    "are not well represented: very few children, no babies, very few people over 80, a relatively small proportion "
    "of women, and many ethnicities with very minor representation or none. Error rates on your programme's people "
    "and cameras may differ; measure them with this command on consented data of your own."
)


def write_json(report: dict, path: Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(report, indent=1, allow_nan=False, default=_json_default) + "\n", encoding="utf-8")
    return path


def _json_default(value):
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"report value of type {type(value).__name__} is not JSON-serialisable")


def _per_thousand(rate: float | None) -> str:
    if rate is None:
        return "an unknown number"
    value = rate * 1000
    if value == 0:
        return "none"
    if value < 1:
        return f"fewer than 1 ({value:.2g})"
    return f"about {value:.0f}" if value >= 10 else f"about {value:.1f}"


def _one_in(rate: float) -> str:
    if rate <= 0:
        return "never"
    every = 1 / rate
    return f"about one in every {every:,.0f}" if every >= 10 else f"about {rate:.2g} per search"


def plain_language(report: dict) -> list[str]:
    """Short sentences for a programme manager, each computed from ``report``."""
    sentences = []
    refusals = report["refusals"]
    sentences.append(
        f"The quality gate refused {refusals['refused']:,} of {refusals['images']:,} photos "
        f"({refusals['refused_rate']:.2%}) and asked for a retake. Every refusal is counted below as a failure, "
        "not left out."
    )
    verification = report["verification"]
    operating = verification["operating_threshold"]
    sentences.append(
        f"Checking a person against their own enrolment (1:1): out of 1,000 such checks, "
        f"{_per_thousand(operating['fnmr'])} are wrongly rejected at the service's threshold "
        f"(refused photos included). Comparing two different people: {_per_thousand(operating['fmr'])} in 1,000 are "
        "wrongly accepted."
    )
    identification = report["identification"]
    at_service = identification.get("at_service_threshold", {})
    if at_service.get("fnir") is not None:
        sentences.append(
            f"Searching (1:N) a gallery of {identification['gallery_size']:,} people: out of 1,000 people who "
            "are really "
            f"enrolled, {_per_thousand(at_service['fnir'])} will not be found. For people who are not enrolled, "
            f"{at_service['fpir']:.1%} of searches showed a wrong candidate (the service aims at "
            f"{report['tessera_eval']['settings']['identify_expected_false_candidates']:g} per search)."
        )
    for row in identification.get("projection", []):
        if row["gallery_size"] != 100_000:
            continue
        service = row.get("at_service_threshold", {})
        if service.get("threshold") is not None:
            sentences.append(
                "In a gallery of 100,000 people, the service raises its threshold so that each search is expected to "
                f"show {service['expected_false_candidates_per_search']:.2g} wrong candidates "
                f"({_one_in(service['expected_false_candidates_per_search'])} searches shows one); the price is that "
                f"{_per_thousand(service['projected_fnir'])} in 1,000 enrolled people would not be found."
            )
        else:
            sentences.append(
                "A gallery of 100,000 people needs a false-match rate the calibration cannot vouch for; the service "
                "refuses such searches rather than guess."
            )
        fixed = row.get("at_fixed_1to1_threshold")
        if fixed:
            sentences.append(
                "Had it kept the 1:1 threshold instead, each search of 100,000 people would show about "
                f"{fixed['expected_false_candidates_per_search']:,.0f} wrong candidates: why the 1:N threshold must "
                "rise with the gallery."
            )
    check = report["calibration_check"]
    if check.get("levels_checked"):
        verdict = "within" if check["passed"] else "NOT within"
        sentences.append(
            f"The error rates the service states were checked on {check['n_impostor']:,} comparisons it was not "
            f"fitted on: at {check['levels_checked']} operating points the measured rate was {verdict} a factor "
            f"{check['tolerance_factor']:g} of the stated one."
        )
        exclusions = check.get("impostor_exclusions")
        if exclusions is not None:
            sentences.append(
                f"{exclusions['impostor_comparisons_left_out']:,} comparisons between two names that are one person "
                f"(known label errors of the data set, {exclusions['identity_pairs_present']} name pairs) were left "
                "out of that check's impostors."
            )
    else:
        sentences.append(f"The service's stated error rates could not be checked on this data: {check.get('note', '')}")
    if "lfw_view2" in report:
        view2 = report["lfw_view2"]
        published = _published_lfw_accuracy(report)
        sentences.append(
            f"On the standard LFW benchmark (6,000 pairs of photos, same person or not), the pipeline answers "
            f"{view2['accuracy_mean']:.2%} correctly (± {view2['accuracy_std']:.2%} across 10 folds), counting the "
            f"{view2['pairs_with_refused_image']} pairs with a refused photo as wrong"
            + (f"; the model's published figure is {published:.2%}." if published is not None else ".")
        )
        sentences.append(LFW_REPRESENTATION_NOTE)
    groups = report.get("groups", {})
    if groups.get("labels") is None:
        sentences.append(groups.get("note", ""))
    return [sentence for sentence in sentences if sentence]


# --- HTML ----------------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
td, th { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.meaning { background: #f5f9ff; border-left: 4px solid #3a7bd5; padding: 0.6rem 1.2rem; }
.meaning li { margin: 0.4rem 0; } img { max-width: 100%; } code { background: #f3f3f3; padding: 0 0.2rem; }
.small { font-size: 0.85rem; color: #555; }
"""


def write_html(report: dict, path: Path) -> Path:
    """The HTML report; figures are linked by the paths ``report["figures"]`` names (beside it)."""
    meta = report["tessera_eval"]
    parts = [
        f"<!doctype html><html lang=en><meta charset=utf-8>{VIEWPORT}",
        f"<title>Tessera accuracy report: {_e(meta['dataset']['name'])}</title>",
        f"<style>{_STYLE}{RESPONSIVE_STYLE}</style>",
        f"<h1>Tessera accuracy report: {_e(meta['dataset']['name'])}</h1>",
        f"<p class=small>{_e(meta['dataset']['description'])}. {meta['dataset']['images']:,} images of "
        f"{meta['dataset']['subjects']:,} people. Created {_e(meta['created'])}; template algorithm "
        f"<code>{_e(meta['pipeline']['algorithm'])}</code>.</p>",
        "<h2>What these numbers mean</h2><div class=meaning><ul>",
        *[f"<li>{_e(sentence)}</li>" for sentence in report["what_these_numbers_mean"]],
        "</ul></div>",
    ]
    parts += _view2_section(report)
    parts += _verification_section(report)
    parts += _identification_section(report)
    parts += _calibration_section(report)
    parts += _refusal_section(report)
    parts += _group_section(report)
    parts += _reproduce_section(report)
    Path(path).write_text("\n".join(parts) + "\n", encoding="utf-8")
    return Path(path)


def _published_lfw_accuracy(report: dict) -> float | None:
    """The published LFW accuracy of the report's template algorithm, or None when none is known."""
    return LFW_PUBLISHED_ACCURACY.get(report["tessera_eval"]["pipeline"]["algorithm"])


def _view2_section(report: dict) -> list[str]:
    if "lfw_view2" not in report:
        return []
    view2 = report["lfw_view2"]
    rows = [
        (
            "accuracy, refused pairs counted as errors",
            f"{_pct(view2['accuracy_mean'])} ± {_pct(view2['accuracy_std'])}",
        ),
        (
            "accuracy, refused pairs left out (as usually published)",
            f"{_pct(view2['accuracy_refused_pairs_dropped_mean'])} ± "
            f"{_pct(view2['accuracy_refused_pairs_dropped_std'])}",
        ),
        ("pairs with a refused image", f"{view2['pairs_with_refused_image']} of {view2['pairs']:,}"),
    ]
    published = _published_lfw_accuracy(report)
    if published is not None:
        rows.append(("published figure for this model", _pct(published)))
    parts = [
        "<h2>LFW View 2 (the standard benchmark)</h2>",
        f"<p class=small>{_e(view2['protocol'])}.</p>",
        _table(("", "value"), rows),
    ]
    parts += _rates_table("FNMR at fixed FMR over the 6,000 listed pairs", view2)
    if "fnmr_at_operating_threshold" in view2:
        point = view2["fnmr_at_operating_threshold"]
        parts.append(
            f"<p>At the service's 1:1 threshold ({point['threshold']:.4f}), FNMR over the {point['genuine_pairs']:,} "
            f"genuine pairs: <b>{_pct(point['fnmr'])}</b> (95 % CI "
            f"{_pct(point['ci95'][0])}–{_pct(point['ci95'][1])}).</p>"
        )
    return parts


def _verification_section(report: dict) -> list[str]:
    verification = report["verification"]
    operating = verification["operating_threshold"]
    parts = [
        "<h2>1:1 verification, every pair of images</h2>",
        f"<p class=small>{_e(verification['protocol'])}. {verification['n_genuine']:,} genuine and "
        f"{verification['n_impostor']:,} impostor comparisons; {verification['genuine_with_refused_image']:,} genuine "
        f"comparisons involve a refused image.</p>",
    ]
    parts += _rates_table("Rates", verification)
    parts.append(
        f"<p>Operating threshold <b>{operating['threshold']:.4f}</b> ({_e(operating['source'])}): FNMR "
        f"{_pct(operating['fnmr'])}, FMR {_sci(operating['fmr'])}.</p>"
    )
    parts.append(_figure(report, "det", "DET curve"))
    parts.append(_figure(report, "histograms", "Score histograms with the operating threshold"))
    return parts


def _rates_table(title: str, block: dict) -> list[str]:
    rows = [("EER", f"{_pct(block['eer'])}", _ci(block["eer_ci95"]), f"{block['eer_threshold']:.4f}")]
    for key, value in block["fnmr_at_fmr"].items():
        if value is None:
            rows.append((f"FNMR at FMR {key}", "not measurable", block.get("not_supported", {}).get(key, ""), ""))
        else:
            rows.append(
                (
                    f"FNMR at FMR {key}",
                    _pct(value),
                    _ci(block["fnmr_at_fmr_ci95"][key]),
                    f"{block['threshold_at_fmr'][key]:.4f}",
                )
            )
    return [
        f"<h3>{_e(title)}</h3>",
        _table(("rate", "value", "95 % CI", "threshold"), rows),
        f"<p class=small>Intervals: {_e(block['ci_method'])}.</p>",
    ]


def _identification_section(report: dict) -> list[str]:
    identification = report["identification"]
    parts = [
        "<h2>1:N identification (open set)</h2>",
        f"<p class=small>{_e(identification['protocol'])}</p>",
        _table(
            ("", "value"),
            [
                ("gallery size", f"{identification['gallery_size']:,}"),
                (
                    "failed enrolments (FTE)",
                    f"{identification['failed_enrolments']} of {identification['enrolments_attempted']:,}",
                ),
                (
                    "mated searches (refused probe)",
                    f"{identification['mated_searches']:,} ({identification['mated_searches_refused_probe']})",
                ),
                (
                    "non-mated searches (refused probe)",
                    f"{identification['nonmated_searches']:,} ({identification['nonmated_searches_refused_probe']})",
                ),
                (
                    "rank-1 identification rate",
                    f"{_pct(identification['rank1_identification_rate'])} {_ci(identification['rank1_ci95'])}",
                ),
            ],
        ),
    ]
    rows = []
    for key, value in identification["fnir_at_fpir"].items():
        if value.get("fnir") is None:
            rows.append((f"FNIR at FPIR {key}", "not measurable", value.get("note", ""), ""))
        else:
            rows.append((f"FNIR at FPIR {key}", _pct(value["fnir"]), _ci(value["ci95"]), f"{value['threshold']:.4f}"))
    at_service = identification["at_service_threshold"]
    if at_service.get("threshold") is not None:
        rows.append(
            (
                "FNIR at the service's threshold",
                _pct(at_service["fnir"]),
                _ci(at_service["fnir_ci95"]),
                f"{at_service['threshold']:.4f}",
            )
        )
        rows.append(
            (
                "FPIR at the service's threshold",
                _pct(at_service["fpir"]),
                _ci(at_service["fpir_ci95"]),
                f"{at_service['threshold']:.4f}",
            )
        )
    parts.append(_table(("rate", "value", "95 % CI", "threshold"), rows))
    size_rows = []
    for row in identification["by_gallery_size"]:
        service, fixed = row.get("service"), row.get("fixed")
        size_rows.append(
            (
                f"{row['gallery_size']:,}",
                "—" if not service else f"{service['threshold']:.4f}",
                "—" if not service else f"{_pct(service['fpir'])} (claimed {_pct(service['expected_fpir'])})",
                "—" if not service or service["fnir"] is None else _pct(service["fnir"]),
                "—" if not fixed else f"{_pct(fixed['fpir'])}",
            )
        )
    parts += [
        "<h3>FPIR against gallery size</h3>",
        "<p class=small>Random sub-galleries (up to 10 draws per size below the full gallery); a probe whose "
        "person is not "
        "in the sub-gallery is a non-mated search.</p>",
        _table(
            ("gallery size", "service threshold", "FPIR there", "FNIR there", "FPIR at fixed 1:1 threshold"), size_rows
        ),
        _figure(report, "fpir_vs_gallery_size", "FPIR against gallery size"),
    ]
    projection_rows = []
    for row in identification["projection"]:
        service = row["at_service_threshold"]
        fixed = row.get("at_fixed_1to1_threshold", {})
        if service.get("threshold") is None:
            cells = ("beyond the calibration: searches refused", "", "")
        else:
            cells = (
                f"{service['threshold']:.4f} ({service['fmr_basis']})",
                f"{service['expected_false_candidates_per_search']:.2g}",
                _pct(service["projected_fnir"]),
            )
        projection_rows.append(
            (
                f"{row['gallery_size']:.0e}",
                *cells,
                f"{fixed.get('expected_false_candidates_per_search', float('nan')):,.3g}",
            )
        )
    parts += [
        "<h3>Projection to large galleries</h3>",
        _table(
            (
                "N",
                "service threshold (FMR basis)",
                "expected wrong candidates per search",
                "projected FNIR",
                "wrong candidates at the fixed 1:1 threshold",
            ),
            projection_rows,
        ),
        _figure(report, "projection", "Expected wrong candidates per search"),
    ]
    return parts


def _calibration_section(report: dict) -> list[str]:
    check = report["calibration_check"]
    parts = ["<h2>Calibration check: do the stated error rates hold?</h2>"]
    if not check.get("levels"):
        return parts + [f"<p>{_e(check.get('note', 'not run'))}</p>"]
    parts.append(
        f"<p class=small>Held out: {_e(check['held_out'])}: {check['held_out_images']:,} images, "
        f"{check['n_impostor']:,} impostor comparisons. Calibration fitted on {_e(check['calibration_fitted_on'])} "
        f"({_e(check['calibration_created'])}). Result: <b>{'passed' if check['passed'] else 'FAILED'}</b> "
        f"(measured within ×{check['tolerance_factor']:g} of claimed at every level that predicts at least 10 "
        "false matches).</p>"
    )
    exclusions = check.get("impostor_exclusions")
    parts.append(
        "<p class=small>Every pair of two names counted as an impostor comparison (known label errors of the data "
        "set included).</p>"
        if exclusions is None
        else f"<p class=small>Left out of the impostors: {exclusions['impostor_comparisons_left_out']:,} comparisons "
        f"of {exclusions['identity_pairs_present']} of the {exclusions['identity_pairs_listed']} identity pairs "
        f"listed in {_e(exclusions['label_errors_file'])}: {_e(exclusions['why'])}.</p>"
    )
    rows = []
    for row in check["levels"]:
        if row.get("threshold") is None:
            rows.append((f"{row['target_fmr']:g}", "—", "beyond the calibration", "", "", "", ""))
            continue
        rows.append(
            (
                f"{row['target_fmr']:g}",
                f"{row['threshold']:.4f}",
                _sci(row["claimed_fmr"]) + f" ({row['claimed_basis']})",
                f"{row['false_matches']:,} (expected {row['expected_false_matches']:.3g})",
                f"{_sci(row['measured_fmr'])} [{_sci(row['measured_fmr_ci95'][0])}, "
                f"{_sci(row['measured_fmr_ci95'][1])}]",
                f"{row['ratio_measured_to_claimed']:.2f}",
                "—" if row["within_tolerance"] is None else ("yes" if row["within_tolerance"] else "NO"),
            )
        )
    parts.append(
        _table(
            ("target FMR", "threshold", "claimed FMR", "false matches", "measured FMR [95 % CI]", "ratio", "within ×2"),
            rows,
        )
    )
    parts.append(_figure(report, "calibration", "Claimed against measured FMR"))
    return parts


def _refusal_section(report: dict) -> list[str]:
    refusals = report["refusals"]
    rows = [(reason, f"{count:,}") for reason, count in refusals["by_reason"].items()]
    detectors = [(name, f"{count:,}") for name, count in refusals["templated_by_detector"].items()]
    listed = ", ".join(f"{item['image']} ({item['reason']})" for item in refusals["refused_images"][:200])
    more = len(refusals["refused_images"]) - 200
    return [
        "<h2>Refused images (FTE/FTA)</h2>",
        f"<p>{refusals['refused']:,} of {refusals['images']:,} images refused ({_pct(refusals['refused_rate'])}). "
        f"{_e(refusals['note'])}</p>",
        _table(("reason", "images"), rows or [("none", "0")]),
        "<p>Templated images by the detector stage that found the face:</p>",
        _table(("detector", "images"), detectors),
        f"<p class=small>{_e(listed)}{f' … and {more} more (see report.json)' if more > 0 else ''}</p>",
    ]


def _group_section(report: dict) -> list[str]:
    groups = report.get("groups", {})
    parts = ["<h2>Per-group rates</h2>"]
    if groups.get("labels") is None:
        return parts + [f"<p>{_e(groups.get('note', ''))}</p>"]
    parts.append(
        f"<p class=small>Labels from {_e(groups['labels'])}; threshold {groups['threshold']:.4f}. Intervals "
        "treat comparisons as independent, so they are too narrow when groups are small.</p>"
    )
    for attribute, table in groups["by_attribute"].items():
        rows = [
            (
                group,
                f"{v['images']:,}",
                f"{v['subjects']:,}",
                _pct(v["refused_rate"]),
                f"{_pct(v['fnmr'])} {_ci(v['fnmr_ci95'])} of {v['n_genuine']:,}",
                f"{_sci(v['fmr'])} {_ci(v['fmr_ci95'], as_scientific=True)} of {v['n_impostor']:,}",
            )
            for group, v in table.items()
        ]
        parts += [
            f"<h3>{_e(attribute)}</h3>",
            _table(("group", "images", "people", "refused", "FNMR", "FMR (within group)"), rows),
            _figure(report, f"groups_{attribute}", f"Rates by {attribute}"),
        ]
    return parts


def _reproduce_section(report: dict) -> list[str]:
    meta = report["tessera_eval"]
    timing = meta.get("timing", {})
    command = (
        meta.get("command") or f"tessera eval {meta['dataset']['name']} --data {meta['dataset']['root']} --out DIR"
    )
    return [
        "<h2>Reproduce</h2>",
        f"<p><code>{_e(command)}</code></p>",
        f"<p class=small>Pipeline key <code>{_e(meta['pipeline']['key'][:16])}</code>, "
        + "".join(
            f"{_e(name)} {_e(str(version))}, "
            for name, version in meta["pipeline"].items()
            if name not in PIPELINE_RECORD_KEYS
        )
        + f"tessera {_e(meta['tessera_version'])}, Python {_e(meta['python'])}. Templating "
        f"{timing.get('templating_seconds')} s "
        f"({timing.get('cache_hits')} from the cache, {timing.get('templated_now')} templated now on "
        f"{timing.get('workers')} processes); protocols and report {timing.get('protocols_and_report_seconds')} s.</p>",
    ]


# --- small helpers -------------------------------------------------------------------------------


def _figure(report: dict, name: str, caption: str) -> str:
    path = report.get("figures", {}).get(name)
    if path is None:
        return ""
    return (
        f'<figure><img src="{_e(path)}" alt="{_e(caption)}"><figcaption class=small>{_e(caption)}</figcaption></figure>'
    )
