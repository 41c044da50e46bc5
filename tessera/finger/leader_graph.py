"""LEADER's graph with its layer normalisations and GELUs fused, edited in memory on the bytes of its file.

tf2onnx exported each of LEADER's 24 layer normalisations as the dozen small operators TensorFlow computes it
with (two means over the channels, a reciprocal square root, scale and shift), and each of its 27 GELU activations
(the tanh approximation) as nine more, two of them Transposes that put the cube of the input in channels-last
order and back. ONNX Runtime's own graph optimisations fuse neither: its fusions expect a normalisation over the
last axis, and the Transposes break the GELU pattern. Run as exported, half of the network's time went to those
elementwise operators, each a pass over a feature map of up to 16 x 512 x 512 values.

:func:`fused_leader_graph` rewrites them, with no weight changed:

- each Transpose pair around elementwise operators with scalar constants is dropped (they act value by value,
  in any order of the values: the same values, bit for bit);
- each normalisation over the channels becomes ``Transpose`` to channels-last, the standard
  ``LayerNormalization`` (opset 17) over the last axis with the same scale, shift and epsilon, and ``Transpose``
  back (ONNX Runtime folds those Transposes into the layout reorders it already puts around its convolutions);
  the pattern is matched here, because onnxruntime's ``FusionLayerNormalizationTF`` expects the last axis and
  another arrangement of the shift;
- each GELU becomes com.microsoft ``FastGelu``, found by onnxruntime's own ``FusionFastGelu``
  (``onnxruntime.transformers``).

The fused operators compute the same formulas in another order: outputs differ by float rounding (measured on
real prints by ``tests/finger/measure_leader_graph.py``). The file on disk is never rewritten; its hash is checked
on its bytes before they are edited (:mod:`tessera.model_files`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import onnx
from onnx import NodeProto, helper, numpy_helper

if TYPE_CHECKING:
    from onnxruntime.transformers.onnx_model import OnnxModel

CHANNELS_LAST = (0, 2, 3, 1)
"""Permutation from (batch, channels, rows, cols) to (batch, rows, cols, channels)."""
CHANNELS_FIRST = (0, 3, 1, 2)
"""Its inverse."""
ELEMENTWISE = frozenset({"Add", "Sub", "Mul", "Div", "Pow"})
"""Operators that act value by value when their other input is a scalar constant."""
SHAPE_ONLY = frozenset({"Reshape", "Unsqueeze", "Squeeze"})
"""Operators that change a tensor's shape and not its values (tf2onnx leaves chains of them on a mean)."""


@dataclass(frozen=True)
class LeaderGraphEdits:
    """What :func:`fused_leader_graph` changed: how many of each."""

    transpose_pairs_dropped: int
    layer_norms_fused: int
    gelus_fused: int


def fused_leader_graph(model: bytes) -> tuple[bytes, LeaderGraphEdits]:
    """``model`` (LEADER's ONNX file, already hash-checked) with its layer normalisations and GELUs fused.

    Parameters
    ----------
    model : bytes
        The contents of ``LEADER.onnx`` (``ModelProto``, opset 17).

    Returns
    -------
    bytes
        The edited model, serialised; same input and output.
    LeaderGraphEdits
        The number of each edit made (LEADER as published: 27 pairs, 24 normalisations, 27 GELUs).
    """
    # onnxruntime.transformers appends its own folder to sys.path when imported: only here, when a graph is edited.
    from onnxruntime.transformers.fusion_fastgelu import FusionFastGelu
    from onnxruntime.transformers.onnx_model import OnnxModel

    graph = OnnxModel(onnx.load_from_string(model))
    dropped = _drop_transpose_round_trips(graph)
    normalisations = _fuse_channel_layer_norms(graph)
    gelus = FusionFastGelu(graph)
    gelus.apply()
    fused_gelus = len(graph.get_nodes_by_op_type("FastGelu"))
    if fused_gelus and not any(opset.domain == "com.microsoft" for opset in graph.model.opset_import):
        graph.model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    graph.prune_graph()
    graph.topological_sort()
    return graph.model.SerializeToString(), LeaderGraphEdits(dropped, normalisations, fused_gelus)


def _drop_transpose_round_trips(graph: OnnxModel) -> int:
    """Drop each ``Transpose(p)`` followed, through a chain of single-consumer elementwise operators whose other
    inputs are scalar constants, by ``Transpose(p⁻¹)``; the chain then reads the first Transpose's input."""
    dropped = 0
    for first in list(graph.get_nodes_by_op_type("Transpose")):
        perm = _perm(first)
        consumers = graph.input_name_to_nodes()
        chain: list[NodeProto] = []
        node = first
        while len(children := consumers.get(node.output[0], [])) == 1:
            child = children[0]
            if child.op_type in ELEMENTWISE and all(
                name == node.output[0] or _is_scalar_constant(graph, name) for name in child.input
            ):
                chain.append(child)
                node = child
                continue
            if (
                chain
                and child.op_type == "Transpose"
                and _perm(child) == [perm.index(axis) for axis in range(len(perm))]
            ):
                chain[0].input[list(chain[0].input).index(first.output[0])] = first.input[0]
                graph.replace_input_of_all_nodes(child.output[0], chain[-1].output[0])
                graph.remove_nodes([first, child])
                dropped += 1
            break
    return dropped


def _fuse_channel_layer_norms(graph: OnnxModel) -> int:
    """Replace each TensorFlow layer normalisation over axis 1 of an NCHW tensor ``x``::

        mean = ReduceMean(x, axes=[1]); centred = x - shape-only(mean)
        k = Reciprocal(Sqrt(ReduceMean(centred * centred, axes=[1]) + epsilon)) * gamma
        y = x * k + (Neg(mean) * k + beta)

    by ``Transpose(CHANNELS_LAST)``, ``LayerNormalization(axis=-1, epsilon)`` with gamma and beta flattened, and
    ``Transpose(CHANNELS_FIRST)``. Returns how many were replaced.
    """
    fused = 0
    for mean in list(graph.get_nodes_by_op_type("ReduceMean")):
        consumers, producers = graph.input_name_to_nodes(), graph.output_name_to_node()
        x = mean.input[0]
        negated = _only(consumers.get(mean.output[0], []), "Neg")
        centred = _only([node for node in consumers.get(x, []) if node.input[0] == x], "Sub")
        if not _over_channels(mean) or negated is None or centred is None:
            continue
        reshapes, name = [], centred.input[1]
        while name != mean.output[0] and (producer := producers.get(name)) is not None:
            if producer.op_type not in SHAPE_ONLY:
                break
            reshapes.append(producer)
            name = producer.input[0]
        if name != mean.output[0]:
            continue
        squared = _only(consumers.get(centred.output[0], []), "Mul")
        if squared is None or list(squared.input) != [centred.output[0]] * 2:
            continue
        chain = _chain(consumers, squared, ("ReduceMean", "Add", "Sqrt", "Reciprocal", "Mul"))
        if chain is None or not _over_channels(chain[0]):
            continue
        variance, plus_epsilon, root, reciprocal, scaled = chain
        users = consumers.get(scaled.output[0], [])
        times_x = _only([node for node in users if x in node.input], "Mul")
        times_mean = _only([node for node in users if negated.output[0] in node.input], "Mul")
        if times_x is None or times_mean is None:
            continue
        shift = _only(consumers.get(times_mean.output[0], []), "Add")
        if shift is None:
            continue
        last = _only([node for node in consumers.get(shift.output[0], []) if times_x.output[0] in node.input], "Add")
        if last is None:
            continue
        epsilon = _other_constant(graph, plus_epsilon, variance.output[0])
        gamma = _other_constant(graph, scaled, reciprocal.output[0])
        beta = _other_constant(graph, shift, times_mean.output[0])
        if epsilon is None or gamma is None or beta is None or epsilon.size != 1:
            continue
        channels = gamma.size
        if gamma.shape != (1, channels, 1, 1) or beta.shape != (1, channels, 1, 1):
            continue
        nodes = [mean, negated, *reshapes, centred, squared, variance, plus_epsilon, root, reciprocal, scaled]
        nodes += [times_x, times_mean, shift, last]
        if not graph.is_safe_to_fuse_nodes(nodes, last.output, consumers, producers):
            continue
        base = mean.name.rsplit("/moments", 1)[0]
        scale, bias = f"{base}/LayerNormalization/scale", f"{base}/LayerNormalization/bias"
        graph.add_initializer(numpy_helper.from_array(gamma.reshape(channels).astype(np.float32), scale))
        graph.add_initializer(numpy_helper.from_array(beta.reshape(channels).astype(np.float32), bias))
        to_last = helper.make_node(
            "Transpose", [x], [f"{base}/channels_last"], f"{base}/to_channels_last", perm=list(CHANNELS_LAST)
        )
        normalise = helper.make_node(
            "LayerNormalization",
            [to_last.output[0], scale, bias],
            [f"{base}/normalised"],
            f"{base}/LayerNormalization",
            axis=-1,
            epsilon=float(epsilon.reshape(())),
        )
        to_first = helper.make_node(
            "Transpose",
            [normalise.output[0]],
            list(last.output),
            f"{base}/to_channels_first",
            perm=list(CHANNELS_FIRST),
        )
        graph.remove_nodes(nodes)
        graph.add_nodes([to_last, normalise, to_first])
        fused += 1
    return fused


def _chain(consumers: dict[str, list[NodeProto]], node: NodeProto, op_types: tuple[str, ...]) -> list[NodeProto] | None:
    """The nodes that follow ``node``, each the one consumer of its kind of the one before, of ``op_types`` in turn."""
    chain = []
    for op_type in op_types:
        found = _only(consumers.get(node.output[0], []), op_type)
        if found is None:
            return None
        chain.append(found)
        node = found
    return chain


def _perm(transpose: NodeProto) -> list[int]:
    return [int(axis) for attribute in transpose.attribute if attribute.name == "perm" for axis in attribute.ints]


def _over_channels(reduce_mean: NodeProto) -> bool:
    """A ReduceMean (opset 17: axes as an attribute) over axis 1 alone that keeps the reduced axis."""
    axes = [list(attribute.ints) for attribute in reduce_mean.attribute if attribute.name == "axes"]
    keep = [attribute.i for attribute in reduce_mean.attribute if attribute.name == "keepdims"]
    return axes == [[1]] and keep in ([], [1])


def _only(nodes: list[NodeProto], op_type: str) -> NodeProto | None:
    """The one ``op_type`` node among ``nodes`` (None when there is none or more than one; a node that reads a
    tensor twice is listed twice by ``OnnxModel.input_name_to_nodes``)."""
    matching = list({id(node): node for node in nodes if node.op_type == op_type}.values())
    return matching[0] if len(matching) == 1 else None


def _is_scalar_constant(graph: OnnxModel, name: str) -> bool:
    initializer = graph.get_initializer(name)
    return initializer is not None and numpy_helper.to_array(initializer).size == 1


def _other_constant(graph: OnnxModel, node: NodeProto, known: str) -> np.ndarray | None:
    """The value of the initializer that is ``node``'s input other than ``known`` (None when it is not one)."""
    others = [name for name in node.input if name != known]
    initializer = graph.get_initializer(others[0]) if len(others) == 1 else None
    return None if initializer is None else numpy_helper.to_array(initializer)
