"""Edit the declarations of an ONNX model's graph in memory, on the bytes of its file, with the ``onnx`` package.

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

Each parses the bytes it is given (``onnx.load_from_string``, which reads no external data and nothing from disk)
and returns the edited model serialised; a model with nothing to drop comes back byte for byte. Bytes that are not
an ONNX model raise :class:`ValueError`.
"""

from __future__ import annotations

import onnx
from google.protobuf.message import DecodeError


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

    Raises
    ------
    ValueError
        ``model`` is not an encoded ONNX model with a graph.
    """
    parsed = _parsed(model)
    graph = parsed.graph
    weights = {tensor.name for tensor in graph.initializer}
    fed = [value for value in graph.input if value.name not in weights]
    del graph.input[:]
    graph.input.extend(fed)
    return parsed.SerializeToString()


def without_shapes(model: bytes) -> bytes:
    """``model`` with the declared shapes of its graph's inputs and outputs (element types kept) and its
    intermediate shape hints dropped.

    Parameters
    ----------
    model : bytes
        An ONNX file's contents (``ModelProto``).

    Returns
    -------
    bytes
        The same model; onnxruntime takes the shape of whatever array is fed and infers the rest.

    Raises
    ------
    ValueError
        ``model`` is not an encoded ONNX model with a graph.
    """
    parsed = _parsed(model)
    graph = parsed.graph
    del graph.value_info[:]
    for value in (*graph.input, *graph.output):
        # Only a tensor declares a shape; touching tensor_type on another kind of value would make it a tensor.
        if value.type.HasField("tensor_type"):
            value.type.tensor_type.ClearField("shape")
    return parsed.SerializeToString()


def _parsed(model: bytes) -> onnx.ModelProto:
    """``model`` decoded as an ONNX ``ModelProto`` that holds a graph."""
    try:
        parsed = onnx.load_from_string(model)
    except DecodeError as error:
        raise ValueError(f"ONNX model: {len(model):,} bytes that do not decode as an ONNX model ({error})") from error
    if not parsed.HasField("graph"):
        raise ValueError(f"ONNX model: {len(model):,} bytes that decode to a model with no graph")
    return parsed
