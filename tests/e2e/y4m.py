"""Camera files for Chromium's fake capture device, written at test time.

Chromium's ``--use-file-for-fake-video-capture=FILE.y4m`` plays a YUV4MPEG2
file in a loop as if it were a webcam. The format is simple enough to write by
hand: a one-line header, then for each frame the line ``FRAME`` followed by
the Y plane at full size and the U and V planes at half size (4:2:0).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def rgb_to_yuv420(image: Image.Image) -> bytes:
    """The Y, U and V planes (BT.601, video range 16-235) of an RGB image with even sides."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    luma = 0.299 * r + 0.587 * g + 0.114 * b
    y = 16 + 219 * luma
    u = 128 + 224 * (b - luma) / 1.772
    v = 128 + 224 * (r - luma) / 1.402
    # 4:2:0: one chroma sample per 2x2 block, the block's mean.
    rows, cols = y.shape
    u = u.reshape(rows // 2, 2, cols // 2, 2).mean(axis=(1, 3))
    v = v.reshape(rows // 2, 2, cols // 2, 2).mean(axis=(1, 3))
    planes = (np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in (y, u, v))
    return b"".join(p.tobytes() for p in planes)


def framed(
    photo: Image.Image, size: tuple[int, int] = (640, 480), background: int = 128, height: float = 1.0
) -> Image.Image:
    """``photo`` scaled to ``height`` times the frame's height, centred on a plain background, as a webcam would frame
    it."""
    cols, rows = size
    scale = rows * height / photo.height
    scaled = photo.convert("RGB").resize(
        (round(photo.width * scale), round(photo.height * scale)), Image.Resampling.LANCZOS
    )
    frame = Image.new("RGB", size, (background,) * 3)
    frame.paste(scaled, ((cols - scaled.width) // 2, (rows - scaled.height) // 2))
    return frame


def side_by_side(left: Image.Image, right: Image.Image, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """Two photos next to each other in one frame: two people in view."""
    cols, rows = size
    frame = Image.new("RGB", size, (128, 128, 128))
    for index, photo in enumerate((left, right)):
        scaled = photo.convert("RGB").resize((cols // 2, cols // 2), Image.Resampling.LANCZOS)
        frame.paste(scaled, (index * cols // 2, (rows - scaled.height) // 2))
    return frame


def darkened(frame: Image.Image, factor: float = 0.15) -> Image.Image:
    """``frame`` with every value scaled by ``factor``: a face in a dark room."""
    return frame.point(lambda value: round(value * factor))


def write_y4m(path: Path, frame: Image.Image, frames: int = 2, fps: int = 15) -> Path:
    """Write ``frame`` repeated ``frames`` times as a 4:2:0 YUV4MPEG2 file."""
    if frame.width % 2 or frame.height % 2:
        raise ValueError(f"a 4:2:0 frame needs even sides; got {frame.width}x{frame.height}")
    planes = rgb_to_yuv420(frame)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{frame.width} H{frame.height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for _ in range(frames):
            out.write(b"FRAME\n")
            out.write(planes)
    return path


def plain_wall(size: tuple[int, int] = (640, 480), seed: int = 7) -> Image.Image:
    """A lit, faintly textured wall: no face, but not a black frame either."""
    cols, rows = size
    rng = np.random.default_rng(seed)
    shade = np.linspace(150, 190, cols, dtype=np.float32)[None, :].repeat(rows, axis=0)
    texture = rng.normal(0, 4, (rows, cols)).astype(np.float32)
    gray = np.clip(shade + texture, 0, 255).astype(np.uint8)
    return Image.merge(
        "RGB", [Image.fromarray(gray), Image.fromarray(gray), Image.fromarray((gray * 0.93).astype(np.uint8))]
    )


def write_y4m_sequence(path: Path, frames: list[Image.Image], repeat: int = 8, fps: int = 10) -> Path:
    """Write ``frames`` in order, each shown ``repeat`` times, as one 4:2:0 YUV4MPEG2 file (Chromium loops it)."""
    sizes = {frame.size for frame in frames}
    if len(sizes) != 1 or any(side % 2 for side in frames[0].size):
        raise ValueError(f"all frames need one size with even sides; got {sorted(sizes)}")
    cols, rows = frames[0].size
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{cols} H{rows} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for frame in frames:
            planes = rgb_to_yuv420(frame)
            for _ in range(repeat):
                out.write(b"FRAME\n")
                out.write(planes)
    return path
