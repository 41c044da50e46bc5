"""The malicious-image set: files made to cost memory or CPU, to confuse a decoder, or to pass for something else.

Every file is generated here, deterministically and cheaply (the large ones by
a small PNG writer that streams rows of zeros through zlib, never holding the
picture). :func:`malicious_images` returns them by name; the security suite
sends each to every upload route (``test_malicious_images.py``) and
``python -m tests.security.measure_image_cost --all`` measures the CPU and
peak memory of each as the service reads it.

Kinds: decompression bombs and huge dimensions in a tiny file (PNG, JPEG, WebP,
TIFF, GIF), many-scan progressive JPEGs, truncated and corrupt files,
polyglots (an image with an archive or a page appended, or the reverse), EXIF
orientation tricks (an invalid value, a turn of an extreme aspect, an IFD that
points at itself), 16-bit, CMYK, alpha, palette and 1-bit images, and empty or
one-pixel files.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
from PIL import Image

from tests.security.test_image_limits import repeated_scans

_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
"""Samples per pixel of each PNG colour type (grey, RGB, palette, grey + alpha, RGBA)."""


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, body and CRC (PNG specification, section 5.3)."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def blank_png(
    cols: int, rows: int, bit_depth: int = 8, colour: int = 2, row_filter: int = 0, extra: bytes = b""
) -> bytes:
    """A PNG of ``rows`` x ``cols`` zero samples, written without holding the picture.

    Parameters
    ----------
    bit_depth, colour : int
        IHDR bit depth and colour type (0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA).
    row_filter : int
        The filter byte of every row (0 none ... 4 Paeth, the slowest to undo).
    extra : bytes
        Chunks inserted before the image data.
    """
    row_bytes = (cols * _PNG_CHANNELS[colour] * bit_depth + 7) // 8
    row = bytes([row_filter]) + bytes(row_bytes)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(rows)) + compressor.flush()
    header = struct.pack(">IIBBBBB", cols, rows, bit_depth, colour, 0, 0, 0)
    palette = png_chunk(b"PLTE", bytes(range(256)) * 3) if colour == 3 else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + palette
        + extra
        + png_chunk(b"IDAT", data)
        + png_chunk(b"IEND", b"")
    )


def png_declaring(cols: int, rows: int) -> bytes:
    """A PNG of a few hundred bytes whose header declares ``cols`` x ``rows`` pixels (a decompression bomb)."""
    compressed = zlib.compress(bytes(1 + cols) * 4, 9)
    header = struct.pack(">IIBBBBB", cols, rows, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", compressed) + png_chunk(b"IEND", b"")


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def noise(rows: int, cols: int, mode: str = "RGB", seed: int = 0) -> Image.Image:
    bands = len(mode)
    values = np.random.default_rng(seed).integers(0, 256, (rows, cols, bands), dtype=np.uint8)
    return Image.fromarray(values[..., 0] if bands == 1 else values, mode)


def jpeg_declaring(cols: int, rows: int) -> bytes:
    """A small JPEG whose frame header (SOF0) is rewritten to declare ``cols`` x ``rows`` pixels."""
    data = bytearray(encoded(Image.new("RGB", (16, 16), (90, 80, 70)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", rows, cols)
    return bytes(data)


def webp_declaring(cols: int, rows: int) -> bytes:
    """A small lossless WebP whose VP8L header is rewritten to declare ``cols`` x ``rows`` pixels (14 bits each)."""
    data = bytearray(encoded(Image.new("RGB", (16, 16), (90, 80, 70)), "WEBP", lossless=True))
    header = data.index(b"VP8L") + 8
    assert data[header] == 0x2F  # the VP8L signature byte
    fields = int.from_bytes(data[header + 1 : header + 5], "little")
    fields = (fields & ~((1 << 28) - 1)) | (cols - 1) | ((rows - 1) << 14)
    data[header + 1 : header + 5] = fields.to_bytes(4, "little")
    return bytes(data)


def tiff_declaring(cols: int, rows: int) -> bytes:
    """A little-endian TIFF header and one IFD declaring ``cols`` x ``rows`` 8-bit grey pixels, and no data."""
    entries = [(256, 4, 1, cols), (257, 4, 1, rows), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1), (273, 4, 1, 8)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *entry) for entry in entries)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0)


def gif_declaring(cols: int, rows: int) -> bytes:
    """A GIF whose logical screen and one frame declare ``cols`` x ``rows`` pixels, with one byte of data."""
    screen = b"GIF89a" + struct.pack("<HHBBB", cols, rows, 0x80, 0, 0) + bytes(6)
    frame = b"," + struct.pack("<HHHHB", 0, 0, cols, rows, 0) + b"\x02\x02\x44\x01\x00;"
    return screen + frame


def exif_jpeg(orientation: int, size: tuple[int, int] = (64, 48)) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encoded(Image.new("RGB", size, (120, 100, 90)), "JPEG", exif=exif.tobytes())


def exif_loop_jpeg() -> bytes:
    """A JPEG whose EXIF IFD0 names itself as the next IFD (a loop for a naive reader) and an absurd entry count."""
    ifd = struct.pack("<H", 2) + struct.pack("<HHII", 0x0112, 3, 1, 6) + struct.pack("<HHII", 0x8769, 4, 1, 8)
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 8)
    body = b"Exif\x00\x00" + tiff
    app1 = b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    plain = encoded(Image.new("RGB", (64, 48), (120, 100, 90)), "JPEG")
    return plain[:2] + app1 + plain[2:]


def animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (32, 32), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    return encoded(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def zip_of(payload: bytes) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.txt", payload)
    return buffer.getvalue()


def text_bomb_png() -> bytes:
    """A small PNG with a zTXt chunk that inflates to 64 MB."""
    compressor = zlib.compressobj(9)
    bomb = b"".join(compressor.compress(bytes(1 << 20)) for _ in range(64)) + compressor.flush()
    return blank_png(64, 64, extra=png_chunk(b"zTXt", b"Comment\x00\x00" + bomb))


def iccp_bomb_png() -> bytes:
    """A small PNG whose ICC profile chunk (iCCP) inflates to 64 MB."""
    compressor = zlib.compressobj(9)
    bomb = b"".join(compressor.compress(bytes(1 << 20)) for _ in range(64)) + compressor.flush()
    return blank_png(64, 64, extra=png_chunk(b"iCCP", b"icc\x00\x00" + bomb))


def lossless_jpeg() -> bytes:
    """A JPEG whose frame header says lossless (SOF3), which the decoder does not implement."""
    data = bytearray(encoded(Image.new("RGB", (64, 48), (90, 80, 70)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 1] = 0xC3
    return bytes(data)


def corrupt_entropy_jpeg() -> bytes:
    """A JPEG of noise whose entropy-coded data is overwritten with random bytes (no 0xFF: markers stay)."""
    data = bytearray(encoded(noise(480, 640), "JPEG", quality=90))
    start = data.index(b"\xff\xda") + 20
    garbage = np.random.default_rng(1).integers(0, 255, len(data) - start - 2, dtype=np.uint8)
    data[start:-2] = garbage.tobytes()
    return bytes(data)


def ridge_pattern(side: int) -> bytes:
    """A ``side`` x ``side`` PNG of diagonal stripes 19 px apart: ridges over the whole frame, a few KB.

    Sent as a contact scan, the whole frame is segmented as finger and read by the minutiae network,
    whose cost grows with the area it reads.
    """
    rows, cols = np.mgrid[0:side, 0:side]
    return encoded(Image.fromarray((127 + 120 * np.sin((rows + cols) / 3.0)).astype(np.uint8)), "PNG")


def broken_crc_png() -> bytes:
    data = bytearray(encoded(noise(64, 64), "PNG"))
    data[data.index(b"IDAT") + 10] ^= 0xFF
    return bytes(data)


def palette_with_transparency() -> bytes:
    image = noise(64, 64, "L").convert("P")
    return encoded(image, "PNG", transparency=0)


def sixteen_bit_grey() -> bytes:
    values = (np.arange(64 * 64, dtype=np.uint32) * 16).reshape(64, 64).astype(np.uint16)
    return encoded(Image.fromarray(values), "PNG")  # mode I;16


def cmyk_jpeg() -> bytes:
    return encoded(noise(64, 64).convert("CMYK"), "JPEG")


MALICIOUS_IMAGES: dict[str, Callable[[], bytes]] = {
    # decompression bombs and huge dimensions in a tiny file
    "png-declares-400mp": lambda: png_declaring(20_000, 20_000),
    "png-40mp-blank-rgb-paeth": lambda: blank_png(6300, 6300, row_filter=4),
    "png-40mp-16bit-rgba-paeth": lambda: blank_png(6300, 6300, bit_depth=16, colour=6, row_filter=4),
    "png-15mp-16bit-rgba-paeth": lambda: blank_png(3870, 3870, bit_depth=16, colour=6, row_filter=4),
    "png-30mp-rgba-paeth": lambda: blank_png(5470, 5470, colour=6, row_filter=4),
    "png-ridges-1224": lambda: ridge_pattern(1224),
    "png-40mp-palette": lambda: blank_png(6300, 6300, colour=3, row_filter=4),
    "png-1x40000": lambda: blank_png(1, 40_000),
    "png-40000x1": lambda: blank_png(40_000, 1),
    "png-16384x2": lambda: blank_png(16_384, 2),
    "png-16384x1-turned": lambda: blank_png(1, 16_384),
    "png-zero-width": lambda: png_declaring(0, 100),
    "png-text-bomb": text_bomb_png,
    "png-iccp-bomb": iccp_bomb_png,
    "jpeg-declares-4gp": lambda: jpeg_declaring(65_000, 65_000),
    "jpeg-40mp-progressive-32-scans": lambda: repeated_scans(6300, 22),
    "jpeg-40mp-progressive-10-scans": lambda: repeated_scans(6300, 0),
    "jpeg-1000-scans": lambda: repeated_scans(1000, 1000),
    "webp-declares-268mp": lambda: webp_declaring(16_383, 16_383),
    "webp-declares-20mp": lambda: webp_declaring(5000, 4000),
    "webp-16mp-blank": lambda: encoded(Image.new("RGB", (4000, 4000), (128, 128, 128)), "WEBP", quality=10),
    "tiff-declares-10gp": lambda: tiff_declaring(100_000, 100_000),
    "gif-declares-4gp": lambda: gif_declaring(65_535, 65_535),
    # animated and other containers
    "gif-animated": lambda: animated("GIF"),
    "png-animated": lambda: animated("PNG"),
    "webp-animated": lambda: animated("WEBP"),
    "bmp": lambda: encoded(noise(64, 64), "BMP"),
    # empty, truncated and corrupt
    "empty": lambda: b"",
    "random-bytes": lambda: np.random.default_rng(2).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
    "jpeg-truncated": lambda: encoded(noise(480, 640), "JPEG", quality=90)[:20_000],
    "png-truncated": lambda: encoded(noise(480, 640), "PNG")[:20_000],
    "png-broken-crc": broken_crc_png,
    "jpeg-corrupt-entropy": corrupt_entropy_jpeg,
    "jpeg-lossless-sof3": lossless_jpeg,
    "jpeg-only-soi": lambda: b"\xff\xd8",
    # polyglots
    "jpeg-then-zip": lambda: encoded(noise(64, 64), "JPEG") + zip_of(b"hello"),
    "zip-then-jpeg": lambda: zip_of(b"hello") + encoded(noise(64, 64), "JPEG"),
    "png-then-html": lambda: encoded(noise(64, 64), "PNG") + b"<html><script>alert(1)</script></html>",
    "pdf-then-jpeg": lambda: b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + encoded(noise(64, 64), "JPEG"),
    "svg-with-script": lambda: b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "html": lambda: b"<!doctype html><html><body>not an image</body></html>",
    # EXIF orientation tricks
    "exif-orientation-9": lambda: exif_jpeg(9),
    "exif-orientation-65535": lambda: exif_jpeg(65_535),
    "exif-turned-1x20000": lambda: exif_jpeg(6, size=(1, 20_000)),
    "exif-ifd-loop": exif_loop_jpeg,
    # modes
    "png-16bit-grey": sixteen_bit_grey,
    "png-16bit-rgb": lambda: blank_png(64, 64, bit_depth=16, colour=2),
    "png-rgba": lambda: encoded(noise(64, 64, "RGBA"), "PNG"),
    "png-grey-alpha": lambda: encoded(noise(64, 64, "LA"), "PNG"),
    "png-palette-transparency": palette_with_transparency,
    "png-1bit": lambda: blank_png(64, 64, bit_depth=1, colour=0),
    "jpeg-cmyk": cmyk_jpeg,
    "webp-rgba": lambda: encoded(noise(64, 64, "RGBA"), "WEBP"),
    "png-1x1": lambda: encoded(Image.new("RGB", (1, 1)), "PNG"),
}
"""Every malicious image, by name, as a function that makes it."""


@functools.cache
def malicious_image(name: str) -> bytes:
    """The bytes of malicious image ``name`` (made once per process)."""
    return MALICIOUS_IMAGES[name]()
