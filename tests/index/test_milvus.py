"""The Milvus index meets the index contract, on Milvus Lite and on a real local Milvus server."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import replace

import pytest

from tessera.index.milvus import MilvusConfig, MilvusIndex
from tessera.index.rotation import GalleryRotation, orthonormal_rotation
from tests.index.contract import IndexContract
from tests.index.test_exact import COSINE, FACE_MATCHER


@functools.lru_cache(maxsize=64)
def test_rotation(gallery_id: str, dimension: int) -> GalleryRotation:
    """A rotation per gallery from a fixed seed (the service derives it from the vault's master key)."""
    return GalleryRotation(0, orthonormal_rotation(hashlib.sha256(f"test|{gallery_id}".encode()).digest(), dimension))


test_rotation.__test__ = False  # type: ignore[attr-defined]


def milvus_backend(milvus, **options):
    def new_index() -> MilvusIndex:
        config = MilvusConfig(uri=milvus.uri, collection_prefix=milvus.new_prefix(), **options)
        return MilvusIndex(FACE_MATCHER, milvus.client, test_rotation, config)

    return replace(COSINE, new_index=new_index)


class TestMilvusLite(IndexContract):
    @pytest.fixture
    def backend(self, milvus_lite):
        return milvus_backend(milvus_lite)


@pytest.mark.slow
class TestMilvusServer(IndexContract):
    @pytest.fixture
    def backend(self, milvus_server):
        return milvus_backend(milvus_server)
