"""The programme accuracy summary as a page: Markdown for the docs, HTML for the console, one figure.

The numbers come from :func:`tessera.evaluation.programme.programme_summary`; this module only
words and draws them. The HTML holds no inline style or script (the console's content security
policy allows neither): it links ``programme-accuracy.css`` beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tessera.evaluation.html import escape

FIGURE_NAME = "programme-accuracy.png"
STYLESHEET_NAME = "programme-accuracy.css"
COMMAND = (
    "tessera report programme --markdown docs/programme-accuracy.md --html tessera/web/static/programme-accuracy.html"
)
TITLE = "What Tessera's accuracy means for your programme"

STYLESHEET = """\
body { font-family: system-ui, sans-serif; max-width: 48rem; margin: 0 auto; padding: 0.8rem; color: #222;
       line-height: 1.45; overflow-wrap: anywhere; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 1.8rem; border-bottom: 1px solid #ccc; }
.card { border: 1px solid #ccc; border-radius: 0.4rem; padding: 0.2rem 0.9rem; margin: 0.8rem 0; }
.card ul { padding-left: 1.1rem; } .card li { margin: 0.35rem 0; }
.not-measured { color: #8a4b00; }
img { max-width: 100%; height: auto; } figure { margin: 0.8rem 0; }
code { background: #f3f3f3; padding: 0 0.2rem; overflow-wrap: anywhere; }
.small { font-size: 0.85rem; color: #555; }
"""


def _count(value: float | None) -> str:
    """A count out of 100 in words a manager reads at a glance: whole numbers, "under 1" near zero."""
    if value is None:
        return "not measured"
    if 0 < value < 0.5:
        return "under 1"
    return f"{value:.0f}"


def _times(value: float | None) -> str:
    count = _count(value)
    return f"{count} time" if count in ("1", "under 1") else f"{count} times"


def _one_in(value: int) -> str:
    return f"about 1 in {value:,}"


def _sentences(modality: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(plain sentences, where each number comes from) for one modality."""
    verification = modality["verification"]
    counted_on = f" ({verification['counted_on_words']})" if verification.get("counted_on_words") else ""
    lines = [
        f"Checking a person against their own record (1:1): the right person is wrongly refused "
        f"**{_times(verification['wrongly_refused_per_100'])} in 100**{counted_on}; a stranger presenting "
        f"someone else's number is wrongly accepted {_one_in(verification['stranger_accepted_one_in'])} times."
    ]
    for row in modality["duplicates"]:
        size = f"{row['gallery_size']:,}"
        if row["missed_per_100"] is None:
            lines.append(f"Duplicate check among {size} people enrolled: **not measured** ({row['note']}).")
            continue
        line = (
            f"Duplicate check among {size} people enrolled: out of 100 people who enrol a second time, "
            f"**{_count(row['found_per_100'])} are found and {_count(row['missed_per_100'])} missed**; "
            f"about {_count(row['wrongly_flagged_per_100'])} in 100 new people is wrongly flagged as a possible "
            f"duplicate (sent to review)."
        )
        if row.get("counted_on_words"):
            line += f" ({row['counted_on_words']}.)"
        if row["note"]:
            line += f" ({row['note']}.)"
        searched = row.get("searched")
        if searched:
            line += (
                f" Checked by real searches on galleries of {size}: {searched['missed_per_100']:.1f} of 100 missed "
                f"({searched['mated_searches']:,} searches), {searched['wrongly_flagged_per_100']:.1f} of 100 "
                f"wrongly flagged."
            )
        lines.append(line)
    if modality.get("caveat"):
        lines.append(modality["caveat"])
    sources = [
        f"`{modality['source']}` ({modality['algorithm']}; {modality['data']})",
        f"measure again: `{modality['command']}`",
    ]
    if modality.get("held_out_source"):
        sources.append(
            f"{' and '.join(modality['held_out_figures'])}, on people the calibration never saw: the "
            f"calibration check in "
            f"`{modality['held_out_source']}` (one definition for every page: `tessera.evaluation.duplicates`)"
        )
    sources += [
        f"real searches: `{row['searched']['source']}`" for row in modality["duplicates"] if row.get("searched")
    ][:1]
    return lines, sources


def _intro(summary: dict[str, Any]) -> list[str]:
    settings = summary["settings"]
    return [
        "These are the error rates at the thresholds the service itself uses: a 1:1 check is set so that a "
        f"stranger passes {_one_in(round(1 / settings['verify_target_fmr']))} times; a duplicate search is set "
        f"so that on average {settings['identify_expected_false_candidates']:g} wrong candidates come up per "
        "search, so the bar rises as more people are enrolled, and more true duplicates fall below it.",
        "Figures are from public test photos (LFW press photos, FVC and CrossMatch fingerprints), one photo or "
        "print per person. Your own people, cameras and field conditions will differ: measure on your own "
        "consented data before relying on them.",
        "A candidate from a duplicate search is a lead for a trained person to review, never an identification.",
    ]


def render_markdown(summary: dict[str, Any]) -> str:
    """The summary as a Markdown page (``docs/programme-accuracy.md``)."""
    parts = [
        f"# {TITLE}",
        "",
        f"<!-- Generated by `{COMMAND}`; do not edit by hand. -->",
        "",
        *[f"{paragraph}\n" for paragraph in _intro(summary)],
        f"![Duplicates missed out of 100, by gallery size]({FIGURE_NAME})",
        "",
    ]
    for modality in summary["modalities"]:
        lines, sources = _sentences(modality)
        parts += [f"## {modality['name']}", "", *[f"- {line}" for line in lines], "", "Where these numbers come from:"]
        parts += [f"- {source}" for source in sources] + [""]
    parts += [
        "## Behind every number",
        "",
        f"This page is regenerated with `{COMMAND}`. Fuller measurements: [accuracy.md](accuracy.md) (faces) and "
        "[fingerprints.md](fingerprints.md) (fingers, fusion).",
        "",
    ]
    return "\n".join(parts)


def render_html(summary: dict[str, Any]) -> str:
    """The summary as a phone-readable HTML page for the console (no inline style or script)."""
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(TITLE)}</title>",
        f'<link rel="stylesheet" href="{STYLESHEET_NAME}"></head><body>',
        '<p class=small><a href="/">Back to the console</a></p>',
        f"<h1>{escape(TITLE)}</h1>",
        *[f"<p>{_inline(paragraph)}</p>" for paragraph in _intro(summary)],
        f'<figure><img src="{FIGURE_NAME}" alt="Duplicates missed out of 100 people, by gallery size, for face, '
        'fingers and both" width="720" height="648"></figure>',
    ]
    for modality in summary["modalities"]:
        lines, sources = _sentences(modality)
        parts.append(f"<section class=card><h2>{escape(modality['name'])}</h2><ul>")
        parts += [f"<li{_not_measured_class(line)}>{_inline(line)}</li>" for line in lines]
        parts.append("</ul><p class=small>Where these numbers come from:</p><ul class=small>")
        parts += [f"<li>{_inline(source)}</li>" for source in sources]
        parts.append("</ul></section>")
    parts += [f"<p class=small>Regenerated with <code>{escape(COMMAND)}</code>.</p>", "</body></html>", ""]
    return "\n".join(parts)


def _not_measured_class(line: str) -> str:
    return " class=not-measured" if "**not measured**" in line else ""


def _inline(text: str) -> str:
    """Markdown's ``**bold**`` and ``code`` spans as HTML; everything else escaped."""
    out = []
    for index, piece in enumerate(text.split("`")):
        if index % 2:
            out.append(f"<code>{escape(piece)}</code>")
            continue
        bold = piece.split("**")
        out.append("".join(f"<strong>{escape(b)}</strong>" if i % 2 else escape(b) for i, b in enumerate(bold)))
    return "".join(out)


def draw_figure(summary: dict[str, Any], path: Path) -> Path:
    """One bar chart: duplicates missed out of 100, by gallery size, one bar per modality; gaps say "not measured"."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = summary["gallery_sizes"]
    modalities = summary["modalities"]
    width = 0.8 / len(modalities)
    figure, axes = plt.subplots(figsize=(6, 5.4), dpi=120)
    for index, modality in enumerate(modalities):
        for position, row in enumerate(modality["duplicates"]):
            x = position + (index - (len(modalities) - 1) / 2) * width
            value = row["missed_per_100"]
            if value is None:
                axes.text(x, 1, "not measured", ha="center", va="bottom", rotation=90, fontsize=10, color="#8a4b00")
                continue
            axes.bar(x, value, width, color=f"C{index}", label=modality["name"] if position == 0 else None)
            axes.text(x, value + 1, f"{value:.0f}", ha="center", va="bottom", fontsize=11)
    axes.set_xticks(range(len(sizes)), [f"{size:,}\npeople enrolled" for size in sizes])
    axes.set_ylabel("duplicates missed, out of 100")
    axes.set_ylim(0, 100)
    axes.set_xlim(-0.5, len(sizes) - 0.5)
    axes.set_title("Out of 100 people who enrol twice,\nhow many the duplicate check misses")
    axes.legend(loc="upper left", fontsize=10)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def write_pages(summary: dict[str, Any], markdown: Path | None, html_page: Path | None) -> list[Path]:
    """Write the Markdown and/or HTML page, each with the figure (and the HTML with its stylesheet) beside it."""
    written: list[Path] = []
    if markdown is not None:
        markdown.write_text(render_markdown(summary), encoding="utf-8")
        written += [markdown, draw_figure(summary, markdown.parent / FIGURE_NAME)]
    if html_page is not None:
        html_page.write_text(render_html(summary), encoding="utf-8")
        stylesheet = html_page.parent / STYLESHEET_NAME
        stylesheet.write_text(STYLESHEET, encoding="utf-8")
        written += [html_page, stylesheet, draw_figure(summary, html_page.parent / FIGURE_NAME)]
    return written
