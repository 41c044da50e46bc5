"""The secret per-gallery rotation of face templates: orthonormal, cosine-preserving, derived by the vault alone."""

from __future__ import annotations

import numpy as np
import pytest

from tessera.index.rotation import orthonormal_rotation
from tessera.store.vault import KeyMissing, Vault


def open_vault(folder) -> Vault:
    return Vault.open(
        master_key_file=folder / "master.key", subject_key_dir=folder / "keys", case_key_dir=folder / "case-keys"
    )


def test_a_rotation_is_orthonormal_and_preserves_every_cosine():
    rotation = orthonormal_rotation(bytes(range(32)), 128)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(128), atol=1e-12)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 128))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rotated = vectors @ rotation.T
    np.testing.assert_allclose(rotated @ rotated.T, vectors @ vectors.T, atol=1e-12)
    # ... while each rotated template is unlike the template itself (a random rotation moves every vector).
    assert np.max(np.abs(np.sum(rotated * vectors, axis=1))) < 0.5


def test_a_seed_gives_one_rotation_and_another_seed_an_unrelated_one():
    first = orthonormal_rotation(b"\1" * 32, 64)
    np.testing.assert_array_equal(first, orthonormal_rotation(b"\1" * 32, 64))
    other = orthonormal_rotation(b"\2" * 32, 64)
    assert np.max(np.abs(first - other)) > 0.3
    # Unrelated: the same template in two galleries is not linkable by its cosine (about 1/sqrt(d) apart).
    vector = np.ones(64) / 8.0
    assert abs(float((first @ vector) @ (other @ vector))) < 0.5


def test_bad_seeds_and_dimensions_are_refused():
    with pytest.raises(ValueError, match="seed must be 32 bytes; got 16"):
        orthonormal_rotation(b"\0" * 16, 8)
    with pytest.raises(ValueError, match="dimension must be at least 1; got 0"):
        orthonormal_rotation(b"\0" * 32, 0)


def test_the_vault_derives_one_rotation_per_gallery_and_generation_from_the_master_key(tmp_path):
    vault = open_vault(tmp_path / "a")
    same_instance = open_vault(tmp_path / "a")  # another process of the same instance: same master key
    np.testing.assert_array_equal(vault.template_rotation("g1", 32), same_instance.template_rotation("g1", 32))
    assert np.max(np.abs(vault.template_rotation("g1", 32) - vault.template_rotation("g2", 32))) > 0.3
    renewed = vault.template_rotation("g1", 32, generation=2)
    assert np.max(np.abs(vault.template_rotation("g1", 32) - renewed)) > 0.3
    other_instance = open_vault(tmp_path / "b")  # another master key
    assert np.max(np.abs(vault.template_rotation("g1", 32) - other_instance.template_rotation("g1", 32))) > 0.3


def open_vault_with_rotation_keys(folder) -> Vault:
    return Vault.open(
        master_key_file=folder / "master.key",
        subject_key_dir=folder / "keys",
        case_key_dir=folder / "case-keys",
        rotation_key_dir=folder / "rotation-keys",
    )


def test_a_renewal_is_a_random_seed_held_until_destroyed(tmp_path):
    vault = open_vault_with_rotation_keys(tmp_path)
    assert vault.rotation_renewals("g1") == []
    assert vault.new_rotation_renewal("g1") == 1 and vault.new_rotation_renewal("g1") == 2
    assert vault.rotation_renewals("g1") == [1, 2] and vault.rotation_renewals("g2") == []
    first = vault.renewed_template_rotation("g1", 32, 1)
    np.testing.assert_allclose(first @ first.T, np.eye(32), atol=1e-12)
    # Another process of the instance reads the same seed; it is no derivation of the master key.
    np.testing.assert_array_equal(open_vault_with_rotation_keys(tmp_path).renewed_template_rotation("g1", 32, 1), first)
    assert np.max(np.abs(first - vault.template_rotation("g1", 32, generation=1))) > 0.3
    assert vault.destroy_rotation_renewal("g1", 1) is True
    assert vault.rotation_renewals("g1") == [2]
    with pytest.raises(KeyMissing):
        vault.renewed_template_rotation("g1", 32, 1)
    assert vault.destroy_rotation_renewal("g1", 1) is False
    with pytest.raises(ValueError, match="renewal must be at least 1"):
        vault.renewed_template_rotation("g1", 32, 0)


def test_a_vault_without_rotation_keys_renews_nothing(tmp_path):
    vault = open_vault(tmp_path)
    assert vault.rotation_renewals("g1") == []
    with pytest.raises(RuntimeError, match="keeps no rotation keys"):
        vault.new_rotation_renewal("g1")
