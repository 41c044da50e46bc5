"""LEADER's graph as loaded: its normalisations and GELUs fused (tessera/finger/leader_graph.py), the same maps to
float rounding and the same minutiae on real prints."""

from __future__ import annotations

import collections

import numpy as np
import onnx
import pytest

import tessera.finger.minutiae as minutiae
from tessera.finger.config import DEFAULT_FINGER_CONFIG
from tessera.finger.leader_graph import LeaderGraphEdits, fused_leader_graph
from tessera.finger.minutiae import LeaderNetwork, leader_model_path
from tessera.finger.pipeline import extract_finger

PUBLISHED_EDITS = LeaderGraphEdits(transpose_pairs_dropped=27, layer_norms_fused=24, gelus_fused=27)
MAP_TOLERANCE = (1e-4, 1e-4, 1e-4, 5e-3)
"""Largest difference allowed per map: likelihood, direction (radians, at the minutiae: elsewhere, where no ridge
points anywhere, it is not an angle anyone reads), type, suppressed likelihood. Measured on the 252 windows of 253
real prints (``python -m tests.finger.measure_leader_graph equal``): 2.7e-5, 3e-6, 2.4e-5, 8.4e-4."""


def op_counts(model: bytes) -> collections.Counter:
    return collections.Counter(node.op_type for node in onnx.load_from_string(model).graph.node)


def test_the_loaded_graph_runs_fused_layer_norms_and_gelus():
    published = leader_model_path().read_bytes()
    fused, edits = fused_leader_graph(published)
    before, after = op_counts(published), op_counts(fused)
    assert edits == PUBLISHED_EDITS
    assert (after["LayerNormalization"], after["FastGelu"]) == (24, 27)
    assert before["LayerNormalization"] == before["FastGelu"] == 0
    # Nothing of the unfused subgraphs is left, and the layout round trips of the GELUs are gone.
    assert after["ReduceMean"] == after["Tanh"] == after["Pow"] == after["Reciprocal"] == 0
    assert sum(after.values()) < sum(before.values()) - 500
    assert minutiae.load_leader().edits == PUBLISHED_EDITS


class Recording:
    """The network the finger pipeline runs, keeping each window it reads and the maps it returns."""

    def __init__(self, network: LeaderNetwork) -> None:
        self.network, self.calls = network, []

    def maps(self, image: np.ndarray) -> np.ndarray:
        output = self.network.maps(image)
        self.calls.append((image.copy(), output))
        return output


@pytest.fixture(scope="module")
def as_exported() -> LeaderNetwork:
    return LeaderNetwork(1, fused=False)


@pytest.mark.parametrize(
    ("reader", "name", "capture"),
    [
        ("fvc_print", ("DB1_B", 101, 1), "contact"),
        ("fvc_print", ("DB2_B", 104, 3), "contact"),
        ("contactless_print", (1, 3, 1), "contactless"),
        ("phone_photo", ("9_o_1_n_1",), "contactless"),
    ],
)
def test_the_fused_graph_gives_the_maps_and_minutiae_of_the_exported_one(
    request, monkeypatch, as_exported, reader, name, capture
):
    image = request.getfixturevalue(reader)(*name)
    recordings, templates = [], []
    for network in (as_exported, minutiae.load_leader()):
        recording = Recording(network)
        monkeypatch.setattr(minutiae, "load_leader", lambda threads=1, recording=recording: recording)
        templates.append(extract_finger(image, capture, ppi=512.0 if name[0] == "DB3_B" else None))
        recordings.append(recording)
    ((window, exported),) = recordings[0].calls
    ((same_window, fused),) = recordings[1].calls
    assert np.array_equal(window, same_window) and window.size >= 200 * 200
    difference = np.abs(fused - exported).max(axis=(0, 1))
    found = exported[..., 3] >= DEFAULT_FINGER_CONFIG.min_minutia_quality
    turn = np.angle(np.exp(1j * (fused[found, 1].astype(np.float64) - exported[found, 1])))
    difference[1] = np.abs(turn).max()
    assert (difference <= MAP_TOLERANCE).all(), difference
    before, after = templates
    assert before and after and len(before.minutiae) >= 12
    assert before.to_bytes() == after.to_bytes()
