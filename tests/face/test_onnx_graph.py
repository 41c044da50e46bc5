"""The in-memory edits of YuNet's and SFace's graphs: what they drop, what they keep, and bad bytes refused."""

from __future__ import annotations

import onnx
import onnxruntime
import pytest

from tessera.face.onnx_graph import without_shapes, without_weight_inputs
from tessera.face.sface_models import SFACE_FILE, YUNET_FILE, load_sface_models, sface_model_path


def published_session(file_name: str) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # the published SFace warns once per weight listed among its inputs
    return onnxruntime.InferenceSession(str(sface_model_path(file_name)), options, providers=["CPUExecutionProvider"])


def without_graph_field(model: onnx.ModelProto, *fields: str) -> onnx.ModelProto:
    """A copy of ``model`` with ``fields`` of its graph cleared, to compare everything else."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for field in fields:
        copy.graph.ClearField(field)
    return copy


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


def test_the_sface_edit_drops_the_weight_declarations_and_nothing_else():
    sface = sface_model_path(SFACE_FILE).read_bytes()
    published = onnx.load_from_string(sface)
    edited = onnx.load_from_string(without_weight_inputs(sface))
    weights = {tensor.name for tensor in published.graph.initializer}
    assert len(weights) == 174 and {value.name for value in published.graph.input} == weights | {"data"}
    assert [value.name for value in edited.graph.input] == ["data"]
    assert edited.graph.input[0] == next(value for value in published.graph.input if value.name == "data")
    # Weights, nodes, outputs, opsets and metadata as they were.
    assert without_graph_field(edited, "input") == without_graph_field(published, "input")
    assert without_weight_inputs(without_weight_inputs(sface)) == without_weight_inputs(sface)


def test_the_yunet_edit_drops_the_declared_shapes_and_nothing_else():
    yunet = sface_model_path(YUNET_FILE).read_bytes()
    published = onnx.load_from_string(yunet)
    edited = onnx.load_from_string(without_shapes(yunet))
    assert len(published.graph.value_info) > 0 and len(edited.graph.value_info) == 0
    for before, after in zip(
        (*published.graph.input, *published.graph.output), (*edited.graph.input, *edited.graph.output)
    ):
        assert before.type.tensor_type.HasField("shape") and not after.type.tensor_type.HasField("shape")
        assert (after.name, after.type.tensor_type.elem_type) == (before.name, before.type.tensor_type.elem_type)
    assert len(edited.graph.input) == 1 and len(edited.graph.output) == 12
    unshaped = ("input", "output", "value_info")
    assert without_graph_field(edited, *unshaped) == without_graph_field(published, *unshaped)
    assert without_shapes(without_shapes(yunet)) == without_shapes(yunet)


def test_an_edit_with_nothing_to_drop_returns_the_same_bytes():
    yunet = sface_model_path(YUNET_FILE).read_bytes()
    assert without_weight_inputs(yunet) == yunet  # YuNet lists no weight among its inputs


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x3a\xff\xff\xff\x0f", r"5 bytes that do not decode as an ONNX model"),  # a graph longer than the bytes
        (b"\x3a", r"1 bytes that do not decode as an ONNX model"),
        (b"\x0b\x00", r"2 bytes that do not decode as an ONNX model"),  # wire type 3 (a group)
        (b"\x08" + b"\xff" * 11, r"12 bytes that do not decode as an ONNX model"),  # a varint of 11 bytes
        (b"\xff\xd8\xff\xe0" + bytes(16), r"20 bytes that do not decode as an ONNX model"),  # a JPEG's start
        (b"", r"0 bytes that decode to a model with no graph"),
        (b"\x08\x06", r"2 bytes that decode to a model with no graph"),  # ir_version 6 alone
    ],
)
def test_bytes_that_are_not_an_onnx_model_are_refused(data, message):
    for edit in (without_weight_inputs, without_shapes):
        with pytest.raises(ValueError, match=rf"^ONNX model: {message}"):
            edit(data)


def test_a_truncated_model_file_is_refused():
    with pytest.raises(ValueError, match=r"^ONNX model: 100,000 bytes that do not decode as an ONNX model"):
        without_weight_inputs(sface_model_path(SFACE_FILE).read_bytes()[:100_000])
