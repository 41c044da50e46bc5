"""Turn an aligned face chip into a unit embedding.

An :class:`Embedder` is anything with an ``algorithm`` id, a ``dim`` and an
``embed(chip)`` method; :data:`EMBEDDERS` names the ones available, so that
another network (e.g. an ArcFace ONNX model with its own chip geometry) can be
added beside dlib's without touching the pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tessera.face.models import FaceModels, load_face_models
from tessera.primitives import unit_vector

DLIB_RESNET_V1 = "dlib-resnet-v1/5pt/1"
"""Template algorithm id of :class:`DlibResNetEmbedder` without flip augmentation: the network, the
landmark model its chips are aligned with, and a version bumped whenever the output changes for the
same image."""
DLIB_RESNET_V1_FLIP = "dlib-resnet-v1/5pt-flip/1"
"""Template algorithm id of :class:`DlibResNetEmbedder` with flip augmentation. Its embeddings lie in
the same space, but their scores are distributed differently (averaging two views pulls templates of
one person together, and of two people too), so they need their own calibration and must not be
compared with unaugmented templates under it."""


class Embedder(Protocol):
    """Maps an aligned face chip to a unit vector; faces of one person map close together."""

    @property
    def algorithm(self) -> str:
        """Stored with every template; only templates with the same id are compared."""
        ...

    @property
    def dim(self) -> int:
        """Length of the embedding."""
        ...

    def embed(self, chip: np.ndarray) -> np.ndarray:
        """(size, size, 3) uint8 RGB chip -> (dim,) float32 unit vector."""
        ...


@dataclass(frozen=True)
class DlibResNetEmbedder:
    """dlib's ResNet face descriptor (King, "High Quality Face Recognition with Deep Metric
    Learning", dlib blog, 2017): a 29-layer ResNet trained with a pair-wise hinge loss on
    ~3 million faces, 99.38 % on LFW's standard protocol.

    Parameters
    ----------
    models : FaceModels
        Holder of the loaded network and its lock.
    flip_augment : bool
        Also embed the mirrored chip and average the two. The network is
        not exactly symmetric; averaging cancels some of the asymmetry at the
        cost of a second pass. The algorithm id says which was done
        (:data:`DLIB_RESNET_V1` or :data:`DLIB_RESNET_V1_FLIP`).
    """

    models: FaceModels
    flip_augment: bool = False
    dim: int = 128
    chip_size: int = 150

    @property
    def algorithm(self) -> str:
        return algorithm_id("dlib-resnet-v1", self.flip_augment)

    def embed(self, chip: np.ndarray) -> np.ndarray:
        """Embed a chip cut by :func:`tessera.face.align.align_face` with size 150 and padding 0.25.

        Returns
        -------
        numpy.ndarray, shape (128,), float32
            Unit L2 norm.
        """
        if chip.shape != (self.chip_size, self.chip_size, 3) or chip.dtype != np.uint8:
            raise ValueError(
                f"chip must be a ({self.chip_size}, {self.chip_size}, 3) uint8 RGB array as dlib.get_face_chip "
                f"cuts it; got shape {chip.shape} and dtype {chip.dtype}"
            )
        chips = [chip, np.ascontiguousarray(chip[:, ::-1])] if self.flip_augment else [chip]
        with self.models.descriptor as net:
            descriptors = net.compute_face_descriptor(chips)
        # Sum unit vectors so each view counts equally whatever its raw norm.
        return unit_vector(np.sum([unit_vector(np.asarray(d)) for d in descriptors], axis=0))


EMBEDDERS: dict[str, Callable[[bool], Embedder]] = {
    "dlib-resnet-v1": lambda flip_augment: DlibResNetEmbedder(load_face_models(), flip_augment=flip_augment),
}
"""Embedder factories by name (``FaceConfig.embedder``); each takes ``flip_augment``."""

ALGORITHM_IDS: dict[tuple[str, bool], str] = {
    ("dlib-resnet-v1", False): DLIB_RESNET_V1,
    ("dlib-resnet-v1", True): DLIB_RESNET_V1_FLIP,
}
"""Template algorithm id of each (embedder name, flip_augment), known without loading a model."""


def algorithm_id(embedder: str, flip_augment: bool) -> str:
    """The algorithm id of the templates ``EMBEDDERS[embedder](flip_augment)`` makes."""
    return ALGORITHM_IDS[(embedder, bool(flip_augment))]
