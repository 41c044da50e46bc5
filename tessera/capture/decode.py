"""Decode uploaded bytes into an upright RGB image, once, at the boundary.

Only JPEG, PNG and WebP are accepted: the formats a phone camera or a
browser produces. The declared size is checked before any pixel is decoded,
so a small file that claims 20000x20000 pixels (a decompression bomb) is
refused without allocating it.

Decoding costs bounded memory and time whatever the bytes: the pixels are
checked before decoding, a progressive JPEG's scans are counted before
decoding (:func:`count_jpeg_scans`), and an image larger than a modality
needs is shrunk while it is decoded (``DecodeLimits.shrink_to_pixels``).

The evaluations decode their datasets' files with the same function, so that
they measure what the service makes of the same bytes; they alone also read
BMP (:data:`DATASET_FORMATS`) and keep colourless images grey (``keep_gray``).
"""

from __future__ import annotations

import io
import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from tessera.errors import NotAnImage, PayloadTooLarge, UnsupportedMediaType

ACCEPTED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
"""Formats an upload may have (Pillow's format name: media type)."""

DATASET_FORMATS = {**ACCEPTED_FORMATS, "BMP": "image/bmp"}
"""Formats an evaluation reads: the service's, and BMP, in which some public datasets are stored (the
contactless DS1 set). Lossless, so no pixel differs from what a PNG of the same image would give."""

_FORMAT_NAMES = {"WEBP": "WebP"}


@dataclass(frozen=True)
class DecodeLimits:
    """Limits applied to every upload.

    Attributes
    ----------
    max_bytes : int
        Size of the encoded file.
    max_pixels : int
        Rows x cols declared by the file header; more is refused before decoding (40 MP fits any phone camera).
    max_jpeg_scans : int
        Scans (SOS segments) of a JPEG; more is refused before decoding. A baseline JPEG has one scan per
        frame, libjpeg's progressive script writes 10 (6 for grey) and mozjpeg's up to about 20; each scan
        costs a pass over every block it covers, so a small file that repeats one tiny scan thousands of
        times costs minutes of CPU.
    max_side : int
        Rows or cols of any image: OpenCV's warps (face alignment) fail on a side of 32,767 pixels or more, and no
        camera photo of a face or finger is longer than 16,384 (a 1 x 40,000 PNG is 200 bytes).
    max_raw_bytes : int
        Rows x cols x channels x bytes per channel of the pixel data the header declares (what the decoder
        inflates and unfilters before conversion to RGB): 40 MP of 8-bit RGB, or fewer pixels of 16-bit
        samples, alpha or CMYK. A 40 MP 16-bit RGBA PNG (320 MB of samples) cost 1 s of CPU to decode.
    max_jpeg_scan_pixels : int
        Scans x pixels of a JPEG: each scan is a pass over the blocks it covers, so a 40 MP JPEG of 32 scans
        cost 1 s of CPU to decode; a camera's 10-scan progressive JPEG of 40 MP is within it.
    max_webp_pixels : int
        Rows x cols of a WebP image (at most ``max_pixels`` apply too): WebP costs about three times the CPU per
        pixel of JPEG or PNG to decode, and Pillow cannot decode it at a reduced size.
    shrink_to_pixels : int or None
        An image with more pixels is shrunk (aspect kept, area averaging) to at most this many while it is
        decoded (a JPEG through libjpeg's DCT scaling, so the full-size image is never held). None: never.
    what : str
        What the image is, in the messages (``image``, ``contact finger image``).
    """

    max_bytes: int = 15 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_jpeg_scans: int = 32
    max_side: int = 16_384
    max_raw_bytes: int = 120_000_000
    max_jpeg_scan_pixels: int = 400_000_000
    max_webp_pixels: int = 16_000_000
    shrink_to_pixels: int | None = None
    what: str = "image"


DEFAULT_LIMITS = DecodeLimits()


# Leading bytes of containers that carry video, many images, or both. Tessera takes
# one still photo per request, never a stream or a collection (EU AI Act Art. 5(1)(e)).
_REFUSED_CONTAINERS = (
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\x1aE\xdf\xa3", "a Matroska/WebM video"),
    (b"OggS", "an Ogg stream"),
    (b"FLV", "a Flash video"),
)


_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
"""JPEG markers with no length field (TEM, RST0-7)."""
_JPEG_SOS, _JPEG_EOI = 0xDA, 0xD9
_JPEG_NEXT_MARKER = re.compile(rb"\xff+[^\x00\xd0-\xd7\xff]")
"""Where entropy-coded data ends: 0xFF (and fill bytes) then neither a stuffed zero nor a restart marker."""


def count_jpeg_scans(data: bytes, stop_after: int) -> int:
    """The number of scans (SOS segments) of a JPEG, counted from its markers without decoding it.

    Walks the segments by their lengths and skips each scan's entropy-coded data
    to the next marker (ITU-T T.81, B.1.1); an embedded thumbnail (in APP1) is
    skipped with its segment. Costs one pass over the bytes, in C.

    Parameters
    ----------
    data : bytes
        A file that starts with a JPEG SOI marker.
    stop_after : int
        Stop counting once more than this many scans are found.

    Returns
    -------
    int
        Scans found (at most ``stop_after + 1``); a malformed file is counted as far as it parses (the
        decoder then refuses it).
    """
    view = memoryview(data)
    position, scans = 2, 0
    while position + 4 <= len(view) and scans <= stop_after:
        if view[position] != 0xFF:
            return scans
        marker = view[position + 1]
        if marker == 0xFF:  # a fill byte before a marker
            position += 1
            continue
        if marker == _JPEG_EOI:
            return scans
        if marker in _JPEG_STANDALONE:
            position += 2
            continue
        position += 2 + int.from_bytes(view[position + 2 : position + 4], "big")
        if marker == _JPEG_SOS:
            scans += 1
            found = _JPEG_NEXT_MARKER.search(data, position)
            if found is None:
                return scans
            position = found.end() - 2
    return scans


def _refused_container(data: bytes) -> str | None:
    head = bytes(data[:16])
    for signature, name in _REFUSED_CONTAINERS:
        if head.startswith(signature):
            return name
    if head[4:8] == b"ftyp" and head[8:12] not in (b"avif", b"heic", b"mif1"):
        return "an MP4/QuickTime video"
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"WAVE"):
        return "an AVI video"
    if len(data) > 262 and bytes(data[257:262]) == b"ustar":
        return "a tar archive"
    return None


def decode_image(
    data: bytes,
    limits: DecodeLimits = DEFAULT_LIMITS,
    *,
    formats: Mapping[str, str] = ACCEPTED_FORMATS,
    keep_gray: bool = False,
) -> np.ndarray:
    """Decode ``data`` into a (rows, cols, 3) uint8 RGB array, EXIF orientation applied.

    Parameters
    ----------
    data : bytes
        The encoded image.
    limits : DecodeLimits
        Largest file and image accepted.
    formats : mapping of str to str
        Pillow format names accepted (the service: :data:`ACCEPTED_FORMATS`;
        an evaluation: :data:`DATASET_FORMATS`).
    keep_gray : bool
        Return a colourless image (all three channels equal, as every grey-level
        file gives) as a (rows, cols) array of its one channel, the form the
        finger pipeline also takes. The pixels are those of the RGB array.

    Returns
    -------
    numpy.ndarray, shape (rows, cols, 3), uint8
        Or (rows, cols) with ``keep_gray`` and a colourless image.

    Raises
    ------
    NotAnImage
        ``data`` is empty, not an image, truncated or corrupt.
    UnsupportedMediaType
        an image in a format not in ``formats`` (by default JPEG, PNG and WebP).
    PayloadTooLarge
        more than ``limits.max_bytes`` bytes or ``limits.max_pixels`` pixels.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"decode_image expects bytes, got {type(data).__name__}")
    if len(data) == 0:
        raise NotAnImage("The upload is empty (0 bytes): attach a JPEG, PNG or WebP photo.")
    container = _refused_container(data)
    if container is not None:
        raise UnsupportedMediaType(
            f"The upload is {container}. Tessera takes one still photo per request; archives, videos and "
            "streams are refused.",
            code="not_a_still_image",
        )
    if len(data) > limits.max_bytes:
        raise PayloadTooLarge(
            f"The image is {len(data):,} bytes; at most {limits.max_bytes:,} are accepted.",
            code="too_large",
        )
    with warnings.catch_warnings():
        # Our own pixel limit below is stricter than Pillow's warning level.
        warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
        try:
            picture: PILImage.Image = PILImage.open(io.BytesIO(data))
        except PILImage.DecompressionBombError as error:
            raise PayloadTooLarge(
                f"The image declares more than {limits.max_pixels:,} pixels ({error})", code="too_large"
            ) from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            raise NotAnImage("The upload is not an image that can be read (expected JPEG, PNG or WebP).") from None
        if picture.format not in formats:
            raise UnsupportedMediaType(
                f"Images in {picture.format} format are not accepted; send {_format_list(formats)}.",
            )
        frame_count = getattr(picture, "n_frames", 1)
        if frame_count > 1:
            raise UnsupportedMediaType(
                f"The image is animated ({frame_count} frames); send one still photo.", code="not_a_still_image"
            )
        cols, rows = picture.size
        most = min(limits.max_pixels, limits.max_webp_pixels) if picture.format == "WEBP" else limits.max_pixels
        if rows * cols > most:
            kind = f"{limits.what} (WebP)" if most < limits.max_pixels else limits.what
            raise PayloadTooLarge(
                f"The {kind} declares {cols}x{rows} pixels; at most {most:,} pixels (rows x cols) are accepted.",
                code="too_large",
            )
        if max(rows, cols) > limits.max_side:
            raise PayloadTooLarge(
                f"The {limits.what} declares {cols}x{rows} pixels; its sides may be at most {limits.max_side:,} "
                "pixels long.",
                code="too_large",
            )
        raw = rows * cols * raw_bytes_per_pixel(picture, data)
        if raw > limits.max_raw_bytes:
            raise PayloadTooLarge(
                f"The {limits.what} declares {cols}x{rows} pixels of {raw // (rows * cols)} bytes each "
                f"({picture.mode}); at most {limits.max_raw_bytes:,} bytes of pixel data are accepted (40 MP of "
                "8-bit RGB). Send it as an 8-bit RGB JPEG.",
                code="too_large",
            )
        if picture.format == "JPEG":
            check_jpeg_scans(data, limits, pixels=rows * cols)
        shrunk = _shrunk_size(cols, rows, limits.shrink_to_pixels)
        try:
            if shrunk is not None:
                picture.draft(picture.mode, shrunk)  # JPEG: DCT scaling by 1/2, 1/4 or 1/8, no larger than needed
            picture.load()
            if shrunk is not None and picture.size != shrunk:
                picture = picture.resize(shrunk, PILImage.Resampling.BOX)
            ImageOps.exif_transpose(picture, in_place=True)  # in place: no copy of a photo already upright
            if picture.mode != "RGB":
                picture = picture.convert("RGB")
        except (OSError, ValueError, SyntaxError, EOFError) as error:
            raise NotAnImage(f"The image is truncated or corrupt and cannot be decoded ({error}).") from None
    array = np.asarray(picture, dtype=np.uint8)
    if array.ndim != 3 or array.shape[2] != 3 or min(array.shape[:2]) < 1:
        raise NotAnImage(f"The image has an unusable shape {array.shape}.")
    if keep_gray and _is_colourless(array):
        return np.ascontiguousarray(array[..., 0])
    return np.ascontiguousarray(array)


def check_jpeg_scans(data: bytes, limits: DecodeLimits = DEFAULT_LIMITS, pixels: int = 0) -> None:
    """Refuse (422 ``too_many_scans``) a JPEG with more than ``limits.max_jpeg_scans`` scans, or whose scans
    times its ``pixels`` exceed ``limits.max_jpeg_scan_pixels``, before decoding it."""
    scans = count_jpeg_scans(data, stop_after=limits.max_jpeg_scans)
    if scans > limits.max_jpeg_scans:
        raise NotAnImage(
            f"The {limits.what} is a JPEG of more than {limits.max_jpeg_scans} scans; at most "
            f"{limits.max_jpeg_scans} are accepted (a camera's progressive JPEG has about 10). Send it as the "
            "camera saved it.",
            code="too_many_scans",
        )
    if scans * pixels > limits.max_jpeg_scan_pixels:
        raise NotAnImage(
            f"The {limits.what} is a JPEG of {scans} scans over {pixels:,} pixels; at most "
            f"{limits.max_jpeg_scan_pixels:,} scans x pixels are accepted (10 scans of a 40 MP photo). Send it "
            "as the camera saved it, or as a baseline JPEG.",
            code="too_many_scans",
        )


def raw_bytes_per_pixel(picture: PILImage.Image, data: bytes) -> int:
    """Bytes per pixel of the samples the decoder inflates for ``picture`` (opened from ``data``, not loaded).

    Pillow reads a 16-bit PNG into an 8-bit mode (RGB, RGBA) or a 16-bit one (I;16), so the bit depth is
    read from the PNG header itself (IHDR, byte 24).
    """
    if picture.format == "PNG" and len(data) > 24 and data[24] == 16:
        return 2 * len(picture.getbands())
    return max(1, len(picture.getbands()) * (2 if picture.mode.startswith("I;16") else 1))


def _shrunk_size(cols: int, rows: int, most_pixels: int | None) -> tuple[int, int] | None:
    """(cols, rows) of the largest same-shaped image of at most ``most_pixels`` pixels; None when it fits already."""
    if most_pixels is None or cols * rows <= most_pixels:
        return None
    scale = math.sqrt(most_pixels / (cols * rows))
    return max(1, math.floor(cols * scale)), max(1, math.floor(rows * scale))


def _is_colourless(rgb: np.ndarray) -> bool:
    return bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))


def _format_list(formats: Mapping[str, str]) -> str:
    """``JPEG, PNG or WebP``: the accepted formats, as a person reads them."""
    names = [_FORMAT_NAMES.get(name, name) for name in formats]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
