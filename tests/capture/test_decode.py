import io
import zlib

import numpy as np
import pytest
from PIL import Image

from tessera.capture.decode import DATASET_FORMATS, DecodeLimits, decode_image
from tessera.errors import NotAnImage, PayloadTooLarge, UnsupportedMediaType


def encode(array: np.ndarray, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.fixture
def gradient() -> np.ndarray:
    rows, cols = np.mgrid[0:60, 0:80]
    return np.dstack([rows * 4, cols * 3, (rows + cols) * 2]).astype(np.uint8)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_lossless_formats_round_trip(gradient, fmt):
    options = {"lossless": True} if fmt == "WEBP" else {}
    decoded = decode_image(encode(gradient, fmt, **options))
    assert decoded.dtype == np.uint8 and decoded.shape == (60, 80, 3)
    np.testing.assert_array_equal(decoded, gradient)


def test_jpeg_decodes_to_rgb(gradient):
    decoded = decode_image(encode(gradient, "JPEG", quality=95))
    assert decoded.shape == (60, 80, 3)
    assert np.abs(decoded.astype(int) - gradient).mean() < 3


def test_grayscale_and_alpha_become_rgb(gradient):
    gray = decode_image(encode(gradient[:, :, 0], "PNG"))
    assert gray.shape == (60, 80, 3)
    rgba = np.dstack([gradient, np.full((60, 80), 255, np.uint8)])
    assert decode_image(encode(rgba, "PNG")).shape == (60, 80, 3)


def test_exif_orientation_is_applied(gradient):
    picture = Image.fromarray(gradient)
    exif = picture.getexif()
    exif[0x0112] = 6  # rotated 90 degrees clockwise for display
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", exif=exif.tobytes(), quality=95)
    assert decode_image(buffer.getvalue()).shape == (80, 60, 3)


def test_empty_upload_is_refused():
    with pytest.raises(NotAnImage, match="empty"):
        decode_image(b"")


def test_text_is_not_an_image():
    with pytest.raises(NotAnImage, match="not an image"):
        decode_image(b"name,score\nalice,1\n" * 20)


def test_truncated_jpeg_is_refused():
    noise = np.random.default_rng(0).integers(0, 256, (400, 400, 3), dtype=np.uint8)
    data = encode(noise, "JPEG")
    with pytest.raises(NotAnImage, match="truncated or corrupt"):
        decode_image(data[: len(data) // 2])


def test_corrupted_png_is_refused(gradient):
    data = bytearray(encode(gradient, "PNG"))
    data[60:90] = b"\x00" * 30
    with pytest.raises(NotAnImage):
        decode_image(bytes(data))


def test_other_formats_are_unsupported(gradient):
    with pytest.raises(UnsupportedMediaType, match="GIF format are not accepted; send JPEG, PNG or WebP"):
        decode_image(encode(gradient, "GIF"))
    with pytest.raises(UnsupportedMediaType, match="BMP"):
        decode_image(encode(gradient, "BMP"))


def test_an_evaluation_reads_bmp_as_the_service_reads_png(gradient):
    from_bmp = decode_image(encode(gradient, "BMP"), formats=DATASET_FORMATS)
    np.testing.assert_array_equal(from_bmp, decode_image(encode(gradient, "PNG")))
    with pytest.raises(UnsupportedMediaType, match="send JPEG, PNG, WebP or BMP"):
        decode_image(encode(gradient, "GIF"), formats=DATASET_FORMATS)


def test_keep_gray_gives_one_channel_of_a_colourless_image_and_leaves_colour_alone(gradient):
    grey = gradient[:, :, 0]
    kept = decode_image(encode(grey, "PNG"), keep_gray=True)
    assert kept.shape == (60, 80) and kept.dtype == np.uint8
    np.testing.assert_array_equal(kept, grey)
    np.testing.assert_array_equal(kept, decode_image(encode(grey, "PNG"))[:, :, 1])  # the pixels the service sees
    # Three equal channels stored as RGB are colourless too; one differing pixel is colour.
    assert decode_image(encode(np.dstack([grey] * 3), "PNG"), keep_gray=True).shape == (60, 80)
    almost = np.dstack([grey] * 3)
    almost[5, 5, 2] ^= 1
    assert decode_image(encode(almost, "PNG"), keep_gray=True).shape == (60, 80, 3)
    assert decode_image(encode(gradient, "PNG"), keep_gray=True).shape == (60, 80, 3)


def test_declared_giant_is_refused_before_decoding():
    # A real 1-pixel-high PNG header rewritten to claim 20000x20000 pixels.
    data = bytearray(encode(np.zeros((1, 1, 3), np.uint8), "PNG"))
    data[16:24] = (20000).to_bytes(4, "big") + (20000).to_bytes(4, "big")
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")  # IHDR checksum
    with pytest.raises(PayloadTooLarge, match="declares more than 40,000,000 pixels"):
        decode_image(bytes(data))


def test_pixel_limit_below_pillows_own(gradient):
    with pytest.raises(PayloadTooLarge, match=r"declares 80x60 pixels; at most 1,000 pixels"):
        decode_image(encode(gradient, "PNG"), DecodeLimits(max_pixels=1000))


def test_byte_limit(gradient):
    data = encode(gradient, "PNG")
    with pytest.raises(PayloadTooLarge, match="bytes"):
        decode_image(data, DecodeLimits(max_bytes=len(data) - 1))


def test_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="expects bytes, got str"):
        decode_image("photo.jpg")


@pytest.mark.parametrize(
    "data, kind",
    [
        (b"PK\x03\x04" + b"\0" * 100, "ZIP archive"),
        (b"\x1f\x8b\x08" + b"\0" * 100, "gzip archive"),
        (b"\0\0\0\x18ftypmp42" + b"\0" * 100, "MP4/QuickTime video"),
        (b"\x1aE\xdf\xa3" + b"\0" * 100, "Matroska/WebM video"),
        (b"RIFF\0\0\0\0AVI LIST" + b"\0" * 100, "AVI video"),
    ],
)
def test_archives_and_videos_are_refused(data, kind):
    with pytest.raises(UnsupportedMediaType, match=kind) as refused:
        decode_image(data)
    assert refused.value.code == "not_a_still_image"


def test_animated_images_are_refused(gradient):
    frames = [Image.fromarray(gradient), Image.fromarray(255 - gradient)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="PNG", save_all=True, append_images=frames[1:])
    with pytest.raises(UnsupportedMediaType, match="animated \\(2 frames\\)"):
        decode_image(buffer.getvalue())
