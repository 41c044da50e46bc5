"""YuNet and SFace as loaded against the published graphs as OpenCV and onnxruntime run them unedited: how far the
outputs differ, and what each costs, side by side in one process.

Run from the repository, with the shared data beside it:

``python -m tests.face.measure_onnx_models equal``
    YuNet against OpenCV's ``FaceDetectorYN`` on every NUAA frame, every ORL photo (enlarged as the challenge
    evaluation enlarges them) and 200 LFW pairsDevTrain photos: faces found, largest landmark, box and score
    differences; SFace against its published graph on the chips of those 200 LFW photos: largest embedding
    difference.
``python -m tests.face.measure_onnx_models stages [ROUNDS]``
    CPU ms per 640x480 frame of each YuNet and per chip of each SFace, on 30 NUAA live frames, alternating.
``python -m tests.face.measure_onnx_models bursts [ROUNDS]``
    The challenge evaluation's own ``time_passing_bursts`` and ``evaluate_replays`` (seed 2026; the 22 replay
    bursts of every fifth still), read once with the models as published (YuNet in OpenCV, SFace's graph as in its
    file) and once as loaded, alternating: CPU medians and outcomes.

CPU is the process's; the machine is shared, so only figures printed by the same run compare.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numpy as np
import onnxruntime

import tessera.liveness.frames as frames_module
from tessera.capture.decode import decode_image
from tessera.evaluation.pad_challenge import evaluate_replays, read_orl_photo, summarise, time_passing_bursts
from tessera.evaluation.pad_report import REPLAY_FRAMES, REPORT_SEED, nuaa_live_photos, replay_stills
from tessera.face.detect import shrink_to
from tessera.face.sface import SFaceEmbedder, align_sface
from tessera.face.sface_config import DEFAULT_SFACE_CONFIG, SFaceConfig
from tessera.face.sface_models import SFACE_FILE, SFaceModels, load_sface_models, sface_model_path
from tessera.face.yunet import YuNetFace, _face, detect_faces_yunet, yunet_rows
from tessera.primitives import NO_TRACE, Image, Trace, unit_vector
from tests.conftest import SHARED_DATA
from tests.face.test_onnx_equivalence import by_score, lfw_pair_list_photos, opencv_rows

FACE_DATA = SHARED_DATA / "face"


def published_sface() -> onnxruntime.InferenceSession:
    """SFace's graph as its file declares it, on one thread as the service runs it."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads, options.log_severity_level = 1, 1, 3
    return onnxruntime.InferenceSession(str(sface_model_path(SFACE_FILE)), options, providers=["CPUExecutionProvider"])


def opencv_detect(
    image: Image, config: SFaceConfig, models: SFaceModels, trace: Trace = NO_TRACE
) -> tuple[YuNetFace, ...]:
    """:func:`~tessera.face.yunet.detect_faces_yunet` with YuNet read by OpenCV's ``FaceDetectorYN``."""
    small, scale = shrink_to(image, config.detection_max_side)
    rows = [row for row in opencv_rows(small) if np.isfinite(row).all()]
    return tuple(sorted((_face(row, scale) for row in rows), key=lambda face: face.detection.score, reverse=True))


def blob(chip: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(chip.transpose(2, 0, 1)[None], dtype=np.float32)


def equal() -> None:
    config, models = DEFAULT_SFACE_CONFIG, load_sface_models()
    lfw = lfw_pair_list_photos(FACE_DATA / "lfw", 200)
    kinds = {
        "NUAA": [decode_image(path.read_bytes()) for path in sorted((FACE_DATA / "spoof_nuaa").rglob("*.jpg"))],
        "ORL": [read_orl_photo(path) for path in sorted((FACE_DATA / "orl").rglob("*.png"))],
        "LFW": lfw,
    }
    for kind, images in kinds.items():
        landmark_iod = pixels = score = 0.0
        faces = differing = 0
        for image in images:
            small, _ = shrink_to(image, config.detection_max_side)
            expected = by_score(opencv_rows(small))
            found = by_score(yunet_rows(models.detector, small, config.min_detection_score, config.nms_threshold))
            if found.shape != expected.shape:
                differing += 1
                continue
            if not len(found):
                continue
            interocular = np.linalg.norm(expected[:, 4:6] - expected[:, 6:8], axis=1, keepdims=True)
            difference = np.abs(found - expected)
            landmark_iod = max(landmark_iod, float((difference[:, 4:14] / interocular).max()))
            pixels, score = max(pixels, float(difference[:, :14].max())), max(score, float(difference[:, 14].max()))
            faces += len(found)
        print(
            f"YuNet, {kind}: {len(images)} frames, {faces} faces, face count differs in {differing}; largest "
            f"difference: landmarks {landmark_iod:.2g} interocular distances, box or landmark {pixels:.2g} px, "
            f"score {score:.2g}"
        )
    published, largest, cosine = published_sface(), 0.0, 0.0
    for image in lfw:
        chip = align_sface(image, detect_faces_yunet(image, config, models)[0].landmarks)
        expected = unit_vector(published.run(None, {"data": blob(chip)})[0])
        embedding = SFaceEmbedder(models).embed(chip)
        largest = max(largest, float(np.abs(embedding - expected).max()))
        cosine = max(cosine, abs(1.0 - float(embedding @ expected)))
    print(f"SFace, {len(lfw)} LFW faces: largest embedding difference {largest:.2g}, largest |1 - cos| {cosine:.2g}")


def stages(rounds: int) -> None:
    config, models, published = DEFAULT_SFACE_CONFIG, load_sface_models(), published_sface()
    live = sorted((FACE_DATA / "spoof_nuaa" / "ClientRaw").rglob("*.jpg"))[::3][:30]
    images = [decode_image(path.read_bytes()) for path in live]
    chips = [blob(align_sface(image, detect_faces_yunet(image, config, models)[0].landmarks)) for image in images]
    limits = (config.min_detection_score, config.nms_threshold)
    runs: dict[str, Callable[[], object]] = {
        "YuNet in OpenCV": lambda: [opencv_rows(image) for image in images],
        "YuNet in onnxruntime": lambda: [yunet_rows(models.detector, image, *limits) for image in images],
        "SFace as published": lambda: [published.run(None, {"data": chip}) for chip in chips],
        "SFace as loaded": lambda: [models.recognizer.run(None, {"data": chip}) for chip in chips],
    }
    for _ in range(rounds):
        cpu = {}
        for name, run in runs.items():
            started = time.process_time()
            run()
            cpu[name] = round(1000 * (time.process_time() - started) / len(images), 1)
        print(f"CPU ms per 640x480 frame or chip ({len(images)} NUAA live frames): {cpu}", flush=True)


def bursts(rounds: int) -> None:
    as_loaded = load_sface_models()
    as_published = SFaceModels(detector=as_loaded.detector, recognizer=published_sface())
    variants = {
        "as published (YuNet in OpenCV, SFace's graph as in its file)": (opencv_detect, as_published),
        "as loaded": (detect_faces_yunet, as_loaded),
    }
    people, stills = nuaa_live_photos(FACE_DATA / "spoof_nuaa"), replay_stills(FACE_DATA, 80)[::5]
    for _ in range(rounds):
        for name, (detect, models) in variants.items():
            frames_module.detect_faces_yunet = detect
            frames_module.load_sface_models = lambda models=models: models
            passing = time_passing_bursts(people, REPORT_SEED)
            replays = summarise(evaluate_replays(stills, 1, REPORT_SEED, frames=REPLAY_FRAMES))
            print(
                f"{name}: passing bursts CPU ms median "
                f"{ {size: figures['cpu_ms_median'] for size, figures in passing.items()} }, outcomes "
                f"{ {size: figures['outcomes'] for size, figures in passing.items()} }; {len(stills)} replay bursts "
                f"CPU ms median {replays['server_cpu_ms_per_burst']['median']}, "
                f"accepted {sum(kind['accepted'] for kind in replays.values() if 'accepted' in kind)}",
                flush=True,
            )


def main(arguments: list[str]) -> None:
    if not FACE_DATA.exists():
        sys.exit(f"the shared face data is not at {FACE_DATA}: set TESSERA_SHARED_DATA")
    commands: dict[str, Callable[[int], None]] = {"equal": lambda _rounds: equal(), "stages": stages, "bursts": bursts}
    if not arguments or arguments[0] not in commands:
        sys.exit(f"usage: python -m tests.face.measure_onnx_models {{{'|'.join(commands)}}} [ROUNDS]")
    commands[arguments[0]](int(arguments[1]) if len(arguments) > 1 else 2)


if __name__ == "__main__":
    main(sys.argv[1:])
