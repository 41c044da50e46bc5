"""Edit the declarations of an ONNX model's graph in memory, on the bytes of its file.

Two edits, each of which only drops declarations: no weight, node or attribute is touched, so the network computes
the same function.

- :func:`without_weight_inputs`: the graph no longer lists its weights among its inputs. A file exported for IR
  version 4 or later that does so (SFace's lists all 174) declares that each weight may be replaced at run time,
  which keeps onnxruntime from folding it into the operators around it (batch normalisation into convolution, for
  one). The inputs a caller feeds are unchanged.
- :func:`without_shapes`: the graph's inputs and outputs keep their element type but lose their declared shape,
  and the shapes it records for its intermediate values (``value_info``, hints computed for one input size) are
  dropped, so that a fully convolutional network (YuNet) takes an image of any size, as OpenCV's DNN module lets
  it, and onnxruntime infers every shape from the image it is given.

Both work on the protobuf encoding (https://protobuf.dev/programming-guides/encoding/) with the field numbers of
``onnx.proto``: every field not edited is copied byte for byte, so no ``onnx`` package is needed to read the
file that was hashed. Bad input raises :class:`ValueError`; nothing is read past the end of the bytes given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

MODEL_GRAPH = 7
"""``ModelProto.graph``."""
GRAPH_INITIALIZER = 5
"""``GraphProto.initializer`` (repeated ``TensorProto``)."""
GRAPH_INPUT = 11
"""``GraphProto.input`` (repeated ``ValueInfoProto``)."""
GRAPH_OUTPUT = 12
"""``GraphProto.output`` (repeated ``ValueInfoProto``)."""
GRAPH_VALUE_INFO = 13
"""``GraphProto.value_info`` (repeated ``ValueInfoProto``): optional shape hints for intermediate values."""
TENSOR_NAME = 8
"""``TensorProto.name``."""
VALUE_INFO_NAME = 1
"""``ValueInfoProto.name``."""
VALUE_INFO_TYPE = 2
"""``ValueInfoProto.type`` (``TypeProto``)."""
TYPE_TENSOR = 1
"""``TypeProto.tensor_type`` (``TypeProto.Tensor``)."""
TENSOR_TYPE_SHAPE = 2
"""``TypeProto.Tensor.shape``."""

VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5
"""The protobuf wire types ONNX files use (groups, types 3 and 4, are not)."""


@dataclass(frozen=True)
class _Field:
    """One field of an encoded message: its number and wire type, where its tag starts, where its value starts
    (after the length, for a length-delimited field) and where it ends."""

    number: int
    wire_type: int
    start: int
    value: int
    end: int


def without_weight_inputs(model: bytes) -> bytes:
    """``model`` with every graph input that names one of its initializers (a weight) dropped from the inputs.

    Parameters
    ----------
    model : bytes
        An ONNX file's contents (``ModelProto``).

    Returns
    -------
    bytes
        The same model; its graph declares only the inputs a caller feeds.
    """

    def graph(encoded: memoryview) -> bytes:
        weights = {_string(tensor, TENSOR_NAME) for tensor in _values(encoded, GRAPH_INITIALIZER)}
        return _rewrite(
            encoded,
            GRAPH_INPUT,
            lambda value_info: _drop_if(_string(value_info, VALUE_INFO_NAME) in weights, value_info),
        )

    return _rewrite(memoryview(model), MODEL_GRAPH, graph)


def without_shapes(model: bytes) -> bytes:
    """``model`` with the declared shapes of its graph's inputs and outputs (element types kept) and its
    intermediate shape hints dropped.

    Returns
    -------
    bytes
        The same model; onnxruntime takes the shape of whatever array is fed and infers the rest.
    """

    def tensor_type(encoded: memoryview) -> bytes:
        return _rewrite(encoded, TENSOR_TYPE_SHAPE, lambda _shape: None)

    def value_info(encoded: memoryview) -> bytes:
        return _rewrite(encoded, VALUE_INFO_TYPE, lambda type_: _rewrite(type_, TYPE_TENSOR, tensor_type))

    def graph(encoded: memoryview) -> bytes:
        without_hints = memoryview(_rewrite(encoded, GRAPH_VALUE_INFO, lambda _hint: None))
        inputs_free = memoryview(_rewrite(without_hints, GRAPH_INPUT, value_info))
        return _rewrite(inputs_free, GRAPH_OUTPUT, value_info)

    return _rewrite(memoryview(model), MODEL_GRAPH, graph)


def _drop_if(condition: bool, encoded: memoryview) -> bytes | None:
    return None if condition else bytes(encoded)


def _rewrite(message: memoryview, number: int, edit: Callable[[memoryview], bytes | None]) -> bytes:
    """``message`` with the value of each length-delimited field ``number`` replaced by ``edit(value)``, or the
    field dropped where ``edit`` returns None; every other field copied as it is, in place."""
    parts: list[bytes | memoryview] = []
    for field in _fields(message):
        if field.number != number or field.wire_type != LENGTH_DELIMITED:
            parts.append(message[field.start : field.end])
            continue
        edited = edit(message[field.value : field.end])
        if edited is not None:
            parts += [_varint((number << 3) | LENGTH_DELIMITED), _varint(len(edited)), edited]
    return b"".join(parts)


def _values(message: memoryview, number: int) -> list[memoryview]:
    """The values of every length-delimited field ``number`` of ``message``, in order."""
    return [
        message[field.value : field.end]
        for field in _fields(message)
        if field.number == number and field.wire_type == LENGTH_DELIMITED
    ]


def _string(message: memoryview, number: int) -> str:
    """The string field ``number`` of ``message`` (the last one, as protobuf reads it), or "" when absent."""
    found = _values(message, number)
    return bytes(found[-1]).decode("utf-8") if found else ""


def _fields(message: memoryview) -> list[_Field]:
    """Every field of an encoded message, in order."""
    fields, position = [], 0
    while position < len(message):
        start = position
        tag, position = _read_varint(message, position)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == VARINT:
            value, (_, end) = position, _read_varint(message, position)
        elif wire_type == LENGTH_DELIMITED:
            length, value = _read_varint(message, position)
            end = value + length
        elif wire_type in (FIXED64, FIXED32):
            value, end = position, position + (8 if wire_type == FIXED64 else 4)
        else:
            raise ValueError(
                f"ONNX model: field {number} at byte {start} has wire type {wire_type}; allowed 0, 1, 2, 5"
            )
        if number == 0 or end > len(message):
            raise ValueError(f"ONNX model: field {number} at byte {start} is not a valid field or runs past the end")
        fields.append(_Field(number, wire_type, start, value, end))
        position = end
    return fields


def _read_varint(message: memoryview, position: int) -> tuple[int, int]:
    """The varint starting at ``position``, and the position after it."""
    value = 0
    for shift in range(0, 70, 7):
        if position >= len(message):
            raise ValueError("ONNX model: a varint runs past the end of the bytes")
        byte = message[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
    raise ValueError(f"ONNX model: a varint longer than 10 bytes ends at byte {position}")


def _varint(value: int) -> bytes:
    encoded = bytearray()
    while value >= 0x80:
        encoded.append((value & 0x7F) | 0x80)
        value >>= 7
    encoded.append(value)
    return bytes(encoded)
