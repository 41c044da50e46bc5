"""Small HTML helpers shared by the evaluation reports (faces: :mod:`report`; fingers: :mod:`fvc_report`)."""

from __future__ import annotations

import html
import math

# Phones: lay the page out at the device's width, and let a wide table scroll inside its own box
# instead of widening the whole page (a report read on a 360 px phone must not scroll sideways).
VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'
RESPONSIVE_STYLE = (
    "body{overflow-wrap:anywhere}.table-scroll{overflow-x:auto;max-width:100%}"
    "img{max-width:100%;height:auto}figure{margin:1rem 0}"
    "@media (max-width:40rem){body{margin:0.6rem auto;padding:0 0.6rem}td,th{padding:0.2rem 0.35rem}}"
)


def escape(text) -> str:
    return html.escape(str(text))


def percent(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value * 100:.2f} %"


def scientific(value) -> str:
    if value is None:
        return "—"
    return "0" if value == 0 else f"{value:.2e}"


def interval(bounds, as_scientific: bool = False) -> str:
    if not bounds or bounds[0] is None or bounds[1] is None:
        return ""
    show = scientific if as_scientific else percent
    return f"[{show(bounds[0])}, {show(bounds[1])}]"


def table(header, rows) -> str:
    head = "".join(f"<th>{escape(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<div class=table-scroll><table><tr>{head}</tr>{body}</table></div>"
