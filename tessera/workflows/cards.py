"""A printable card for a subject: the short number, written large, and a QR code holding only that number.

No name, no programme id, no photo, no biometric data: a lost card gives
its finder a number and nothing else. The card is credit-card sized (ISO/IEC
7810 ID-1, 85.6 x 54 mm) so it fits a wallet, printed from the browser
with its print CSS; the QR code (segno, error correction level M) scans
with any phone and decodes to the number exactly as the API writes it.
Each card made is audited (``subject.card``).
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass

import segno

from tessera.workflows.instance import Actor, Instance
from tessera.workflows.reads import record_read
from tessera.workflows.scope import check_subject
from tessera.workflows.subjects import load_subject

CARD_WIDTH_MM = 85.6
CARD_HEIGHT_MM = 54.0
QR_ERROR_LEVEL = "m"
"""QR error correction: level M restores up to about 15 % of a worn or creased code."""


@dataclass(frozen=True)
class Card:
    content: str
    media_type: str


def qr_svg(number: str) -> str:
    """The QR code of ``number`` as an inline SVG element (black modules, 4-module quiet zone)."""
    buffer = io.BytesIO()
    segno.make(number, error=QR_ERROR_LEVEL, micro=False).save(
        buffer, kind="svg", xmldecl=False, svgns=True, nl=False, border=4, scale=1, omitsize=True
    )
    return buffer.getvalue().decode()


def qr_png(number: str, scale: int = 8) -> bytes:
    """The same QR code as a PNG (for tests and for printers that want a bitmap)."""
    buffer = io.BytesIO()
    segno.make(number, error=QR_ERROR_LEVEL, micro=False).save(buffer, kind="png", border=4, scale=scale)
    return buffer.getvalue()


def card_svg(number: str) -> str:
    """The card alone, as an SVG document 85.6 x 54 mm: the QR code on the left, the number on the right."""
    groups = number.split("-")
    qr = qr_svg(number).replace("<svg ", '<svg x="4" y="7" width="40" height="40" ', 1)
    lines = "".join(
        f'<text x="48" y="{20 + 9 * i}" font-family="monospace" font-size="7.5" font-weight="bold">'
        f"{html.escape(group)}</text>"
        for i, group in enumerate(groups)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CARD_WIDTH_MM}mm" height="{CARD_HEIGHT_MM}mm" '
        f'viewBox="0 0 {CARD_WIDTH_MM} {CARD_HEIGHT_MM}" role="img" aria-label="Subject number {html.escape(number)}">'
        f'<rect x="0.5" y="0.5" width="{CARD_WIDTH_MM - 1}" height="{CARD_HEIGHT_MM - 1}" rx="3" fill="#fff" '
        'stroke="#000" stroke-width="0.3"/>'
        f'<text x="48" y="10" font-family="sans-serif" font-size="3.6">Subject number</text>{lines}'
        f'<text x="4" y="{CARD_HEIGHT_MM - 3}" font-family="sans-serif" font-size="2.6">Show this card when you '
        "are asked for your number.</text>"
        f"{qr}</svg>"
    )


def card_html(number: str) -> str:
    """A page holding the card, sized for printing on a card or cut from A4 (print CSS: the card only)."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Card {html.escape(number)}</title>
<style>
  @page {{ size: {CARD_WIDTH_MM}mm {CARD_HEIGHT_MM}mm; margin: 0; }}
  body {{ margin: 0; padding: 1rem; font-family: sans-serif; }}
  .card {{ width: {CARD_WIDTH_MM}mm; max-width: 100%; }}
  .card svg {{ width: 100%; height: auto; display: block; }}
  .hint {{ color: #444; }}
  @media print {{ body {{ padding: 0; }} .hint, button {{ display: none; }} .card {{ width: {CARD_WIDTH_MM}mm; }} }}
</style></head>
<body>
<div class="card" id="card" data-number="{html.escape(number)}">{card_svg(number)}</div>
<p class="hint">Print on a card ({CARD_WIDTH_MM} x {CARD_HEIGHT_MM} mm) or cut along the border. The QR code holds
only the number.</p>
<button type="button" onclick="window.print()">Print</button>
</body></html>
"""


def subject_card(instance: Instance, actor: Actor | str, subject_id: str, format: str = "html") -> Card:
    """The subject's card as an HTML page (``html``) or an SVG image (``svg``); audited ``subject.card``."""
    check_subject(instance, actor, subject_id, "subject.card")
    with instance.sessions() as session:
        subject = load_subject(session, subject_id)
        number, gallery_id = subject.number, subject.gallery_id
    record_read(instance, actor, "subject.card", subject_id=subject_id, gallery_id=gallery_id)
    if format == "svg":
        return Card(card_svg(number), "image/svg+xml")
    return Card(card_html(number), "text/html; charset=utf-8")
