"""What is kept of a finger capture, and its bytes: an ISO/IEC 19794-2:2005 finger minutiae record.

:meth:`FingerTemplate.to_bytes` writes a standard record (the store encrypts
those bytes); :meth:`FingerTemplate.from_bytes` reads it back. Layout, all
integers big-endian (ISO/IEC 19794-2:2005, clause 7):

=========  =====  ==========================================================
offset     bytes  field
=========  =====  ==========================================================
0          4      format identifier ``"FMR\\0"``
4          4      version ``" 20\\0"``
8          4      total record length, bytes
12         2      capture equipment certification (4 bits) and id (12 bits): 0
14         2      image width (x), pixels at 500 ppi
16         2      image height (y), pixels
18         2      x resolution, pixels per centimetre: 197 (500 ppi)
20         2      y resolution: 197
22         1      number of finger views: 1
23         1      reserved: 0
24         1      finger position (ISO/IEC 19794-2 table 2: 0 unknown, 1-10)
25         1      view number (high 4 bits): 0; impression type (low 4 bits):
                  0 live-scan plain for ``contact``; 15 for ``contactless``
                  (the 2005 code list has none; 15 is unassigned, so a reader
                  that knows only contact codes cannot take it for one)
26         1      finger quality, 0-100 (:attr:`FingerQuality.score`)
27         1      number of minutiae ``n``
28         6n     per minutia: type (2 bits: 01 ending, 10 bifurcation,
                  00 other) and x (14 bits); 2 reserved bits and y (14 bits);
                  angle in units of 360/256 degrees, counter-clockwise from
                  +x; quality 1-100
28+6n      2      extended data length ``e`` (bytes after this field)
30+6n      e      one vendor block: type id ``0x5453`` ("TS"), length
                  (2 bytes, the block's whole length), then UTF-8 JSON:
                  ``{"format": 1, "capture", "algorithm", "quality"}``
=========  =====  ==========================================================

x is the column and y the row, from the top-left corner. Positions are
whole pixels and angles are quantised to 1.4 degrees, well below what the
matcher resolves; capture kind, algorithm and quality figures travel in the
vendor block so that a Tessera template is self-describing, and contact and
contactless templates stay distinguishable (NIST SP 500-334r1) even to a
reader that ignores the block.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, fields

import numpy as np

from tessera.finger.config import CAPTURES, TARGET_PPI
from tessera.finger.positions import check_finger_position
from tessera.finger.quality import FingerQuality
from tessera.match.minutiae import KIND_BIFURCATION, KIND_ENDING, KIND_OTHER, Minutiae

FORMAT_IDENTIFIER = b"FMR\x00"
VERSION = b" 20\x00"
HEADER = struct.Struct(">4s4sIHHHHHBB")
VIEW = struct.Struct(">BBBB")
MINUTIA = struct.Struct(">HHBB")
EXTENDED_LENGTH = struct.Struct(">H")
BLOCK_HEADER = struct.Struct(">HH")
TESSERA_BLOCK = 0x5453
"""Vendor-defined extended data type (0x0100-0xFFFF are for vendors)."""
BLOCK_FORMAT = 1
IMPRESSION_TYPES = {"contact": 0, "contactless": 15}
_KIND_BITS = {KIND_OTHER: 0, KIND_ENDING: 1, KIND_BIFURCATION: 2}
_BITS_KIND = {bits: kind for kind, bits in _KIND_BITS.items()}
PIXELS_PER_CM = round(TARGET_PPI / 2.54)


@dataclass(frozen=True, eq=False)
class FingerTemplate:
    """What is kept of a usable finger capture.

    Attributes
    ----------
    minutiae : Minutiae
        In pixels of the 500 ppi normalised print, (row, col); see :mod:`tessera.match.minutiae`.
    capture : str
        ``"contact"`` or ``"contactless"``.
    algorithm : str
        The pipeline and extractor that found the minutiae; templates of
        different algorithms may not be comparable.
    quality : FingerQuality
        The measurements the capture passed.
    image_size : (int, int)
        (rows, cols) of the normalised print the positions refer to.
    resolution_ppi : float
        Resolution of that print: always 500.
    finger_position : int
        ISO/IEC 19794-2 finger position, 0 (unknown) or 1-10 (right thumb ... left little): see
        :mod:`tessera.finger.positions`.
    """

    minutiae: Minutiae
    capture: str
    algorithm: str
    quality: FingerQuality
    image_size: tuple[int, int]
    resolution_ppi: float = TARGET_PPI
    finger_position: int = 0

    def __post_init__(self) -> None:
        if self.capture not in CAPTURES:
            raise ValueError(f"capture must be one of {CAPTURES}; got {self.capture!r}")
        check_finger_position(self.finger_position, allow_unknown=True)
        if len(self.minutiae) > 255:
            raise ValueError(f"a record holds at most 255 minutiae; got {len(self.minutiae)}")

    def to_bytes(self) -> bytes:
        """The template as an ISO/IEC 19794-2:2005 record (see the module docstring)."""
        return encode_template(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> FingerTemplate:
        """Read a record written by :meth:`to_bytes`."""
        return decode_template(data)


def encode_template(template: FingerTemplate) -> bytes:
    """Write ``template`` as an ISO/IEC 19794-2:2005 record with Tessera's extended data block."""
    rows, cols = template.image_size
    minutiae = template.minutiae
    body = bytearray()
    for (row, col), angle, kind, quality in zip(minutiae.points, minutiae.angles, minutiae.kinds, minutiae.qualities):
        x = min(max(int(round(float(col))), 0), 0x3FFF)
        y = min(max(int(round(float(row))), 0), 0x3FFF)
        angle_units = int(round(float(angle) / (2.0 * math.pi) * 256.0)) % 256
        body += MINUTIA.pack(
            (_KIND_BITS[int(kind)] << 14) | x, y, angle_units, max(1, min(100, int(round(float(quality) * 100.0))))
        )
    payload = json.dumps(
        {
            "format": BLOCK_FORMAT,
            "capture": template.capture,
            "algorithm": template.algorithm,
            "quality": template.quality.as_dict(),
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode("utf-8")
    block = BLOCK_HEADER.pack(TESSERA_BLOCK, BLOCK_HEADER.size + len(payload)) + payload
    view = VIEW.pack(
        template.finger_position, IMPRESSION_TYPES[template.capture], template.quality.score, len(minutiae)
    )
    extended = EXTENDED_LENGTH.pack(len(block)) + block
    total = HEADER.size + len(view) + len(body) + len(extended)
    header = HEADER.pack(FORMAT_IDENTIFIER, VERSION, total, 0, cols, rows, PIXELS_PER_CM, PIXELS_PER_CM, 1, 0)
    return bytes(header + view + body + extended)


def decode_template(data: bytes) -> FingerTemplate:
    """Read a record written by :func:`encode_template`.

    Raises
    ------
    ValueError
        ``data`` is not such a record (wrong identifier, version or length,
        more than one finger view, or no Tessera extended data block).
    """
    data = bytes(data)
    if len(data) < HEADER.size + VIEW.size + EXTENDED_LENGTH.size:
        raise ValueError(
            f"a finger template record is at least {HEADER.size + VIEW.size + EXTENDED_LENGTH.size} bytes; got "
            f"{len(data)}"
        )
    identifier, version, total, _, cols, rows, _, _, views, _ = HEADER.unpack_from(data, 0)
    if identifier != FORMAT_IDENTIFIER or version != VERSION:
        raise ValueError(f"not an ISO/IEC 19794-2:2005 record: identifier {identifier!r}, version {version!r}")
    if total != len(data):
        raise ValueError(f"the record says it is {total} bytes long but {len(data)} bytes were given")
    if views != 1:
        raise ValueError(f"Tessera templates hold exactly one finger view; this record has {views}")
    position, view_and_impression, _, count = VIEW.unpack_from(data, HEADER.size)
    offset = HEADER.size + VIEW.size
    if offset + count * MINUTIA.size + EXTENDED_LENGTH.size > len(data):
        raise ValueError(f"the record is truncated: {count} minutiae do not fit in {len(data)} bytes")
    raw = (
        np.frombuffer(data, dtype=">u2", count=count * 3, offset=offset).reshape(count, 3)
        if count
        else np.zeros((0, 3), ">u2")
    )
    packed = np.array(raw, dtype=np.int64)
    kinds = np.array([_BITS_KIND.get(int(bits), KIND_OTHER) for bits in packed[:, 0] >> 14], np.uint8)
    x = packed[:, 0] & 0x3FFF
    y = packed[:, 1] & 0x3FFF
    angle_units = packed[:, 2] >> 8
    quality = packed[:, 2] & 0xFF
    offset += count * MINUTIA.size
    (extended_length,) = EXTENDED_LENGTH.unpack_from(data, offset)
    offset += EXTENDED_LENGTH.size
    block = _tessera_block(data[offset : offset + extended_length])
    capture = block["capture"]
    if IMPRESSION_TYPES.get(capture) != view_and_impression & 0x0F:
        raise ValueError(
            f"impression type {view_and_impression & 0x0F} does not match capture {capture!r} in the extended data"
        )
    quality_fields = {item.name for item in fields(FingerQuality)}
    return FingerTemplate(
        minutiae=Minutiae(
            points=np.stack([y, x], axis=1).astype(np.float32),
            angles=angle_units.astype(np.float64) * (2.0 * math.pi / 256.0),
            kinds=kinds,
            qualities=quality.astype(np.float32) / 100.0,
        ),
        capture=capture,
        algorithm=str(block["algorithm"]),
        quality=FingerQuality(**{key: value for key, value in block["quality"].items() if key in quality_fields}),
        image_size=(int(rows), int(cols)),
        resolution_ppi=TARGET_PPI,
        finger_position=int(position),
    )


def _tessera_block(extended: bytes) -> dict:
    offset = 0
    while offset + BLOCK_HEADER.size <= len(extended):
        kind, length = BLOCK_HEADER.unpack_from(extended, offset)
        if length < BLOCK_HEADER.size or offset + length > len(extended):
            break
        if kind == TESSERA_BLOCK:
            content = json.loads(extended[offset + BLOCK_HEADER.size : offset + length].decode("utf-8"))
            if content.get("format") != BLOCK_FORMAT:
                raise ValueError(
                    f"unknown Tessera extended data format {content.get('format')!r}; this version reads {BLOCK_FORMAT}"
                )
            return content
        offset += length
    raise ValueError(
        "the record has no Tessera extended data block (type 0x5453): capture kind and algorithm are unknown"
    )
