"""What decoding a burst's ten frames costs, before and after the frame's own pixel limit, side by side in one process.

Run from the repository: ``python -m tests.security.measure_burst_frames [ROUNDS]``

Ten frames are decoded, as the service decodes a burst (every library on the calling thread), three ways in turn,
``ROUNDS`` times (default 3): a 30 MP RGBA PNG of Paeth-filtered rows (40 KB, the costliest image the malicious set
holds) under a face upload's limits, as frames were read before ``LivenessConfig.frame_max_upload_pixels``; the
largest frame now accepted (2560 x 1440, the same kind of PNG) under the frame limits; and the 30 MP PNG under the
frame limits (refused from its header). Prints the CPU time of the ten frames each way.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace

from tessera.capture.decode import DecodeLimits, decode_image
from tessera.errors import TesseraError
from tessera.liveness.config import DEFAULT_LIVENESS_CONFIG
from tessera.liveness.frames import frame_limits
from tessera.workflows.budget import as_the_service_runs
from tests.security.malicious_images import blank_png

FRAMES = 10


def main(rounds: int = 3) -> None:
    config = DEFAULT_LIVENESS_CONFIG
    before = replace(DecodeLimits(), shrink_to_pixels=config.frame_max_pixels, what="burst frame")
    now = frame_limits(DecodeLimits(), config.frame_max_pixels, config.frame_max_upload_pixels)
    large = blank_png(6000, 5000, colour=6, row_filter=4)
    live = blank_png(2560, 1440, colour=6, row_filter=4)
    ways = (
        ("30 MP PNG, a face upload's limits (before)", large, before),
        ("2560 x 1440 PNG, the frame limits (now)", live, now),
        ("30 MP PNG, the frame limits (now)", large, now),
    )
    with as_the_service_runs():
        for _ in range(rounds):
            for name, frame, limits in ways:
                start, refused = time.thread_time(), 0
                for _ in range(FRAMES):
                    try:
                        decode_image(frame, limits)
                    except TesseraError:
                        refused += 1
                print(
                    f"{name:44} {FRAMES} frames: {time.thread_time() - start:.2f} s CPU, {refused} refused", flush=True
                )


if __name__ == "__main__":
    main(*(int(argument) for argument in sys.argv[1:]))
