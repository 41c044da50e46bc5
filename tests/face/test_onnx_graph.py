"""The in-memory edits of YuNet's and SFace's graphs: what they drop, what they keep, and bad bytes refused."""

from __future__ import annotations

import onnxruntime
import pytest

from tessera.face.onnx_graph import without_shapes, without_weight_inputs
from tessera.face.sface_models import SFACE_FILE, YUNET_FILE, load_sface_models, sface_model_path


def published_session(file_name: str) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # the published SFace warns once per weight listed among its inputs
    return onnxruntime.InferenceSession(str(sface_model_path(file_name)), options, providers=["CPUExecutionProvider"])


def test_sface_loads_with_no_replaceable_weight_where_the_file_lists_every_weight_among_its_inputs():
    published = published_session(SFACE_FILE)
    assert len(published.get_overridable_initializers()) == 174
    recognizer = load_sface_models().recognizer
    assert recognizer.get_overridable_initializers() == []
    inputs = [(i.name, i.shape) for session in (published, recognizer) for i in session.get_inputs()]
    assert inputs == [("data", [1, 3, 112, 112])] * 2


def test_yunet_loads_with_its_input_size_free_where_the_file_declares_640_by_640():
    assert published_session(YUNET_FILE).get_inputs()[0].shape == [1, 3, 640, 640]
    detector = load_sface_models().detector
    assert [(i.name, i.type, i.shape) for i in detector.get_inputs()] == [("input", "tensor(float)", [])]
    assert {o.name: o.type for o in detector.get_outputs()} == {
        f"{head}_{stride}": "tensor(float)" for head in ("cls", "obj", "bbox", "kps") for stride in (8, 16, 32)
    }


def test_an_edit_with_nothing_to_drop_returns_the_same_bytes():
    yunet = sface_model_path(YUNET_FILE).read_bytes()
    assert without_weight_inputs(yunet) == yunet  # YuNet lists no weight among its inputs
    edited = without_shapes(yunet)
    assert len(edited) < len(yunet) and without_shapes(edited) == edited


def test_the_sface_edit_drops_only_the_weight_declarations():
    sface = sface_model_path(SFACE_FILE).read_bytes()
    edited = without_weight_inputs(sface)
    # 174 declarations of a few dozen bytes each, out of 38.7 MB of weights and nodes left as they were.
    assert 0 < len(sface) - len(edited) < 174 * 100
    assert without_weight_inputs(edited) == edited


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x3a\xff\xff\xff\x0f", r"field 7 at byte 0 is not a valid field or runs past the end"),
        (b"\x3a", r"a varint runs past the end of the bytes"),
        (b"\x0b\x00", r"field 1 at byte 0 has wire type 3; allowed 0, 1, 2, 5"),
        (b"\x3a\x02\x5a\x80", r"a varint runs past the end of the bytes"),
        (b"\x08" + b"\xff" * 11, r"a varint longer than 10 bytes"),
    ],
)
def test_bytes_that_are_not_an_onnx_model_are_refused_with_where(data, message):
    for edit in (without_weight_inputs, without_shapes):
        with pytest.raises(ValueError, match=rf"ONNX model: {message}"):
            edit(data)


def test_a_truncated_model_file_is_refused():
    with pytest.raises(ValueError, match=r"runs past the end"):
        without_weight_inputs(sface_model_path(SFACE_FILE).read_bytes()[:100_000])
