"""Renewing a gallery's template rotation in Milvus: audited, the old seed destroyed, every answer unchanged.

On Milvus Lite and on a real local Milvus server (slow), through the workflow
and the command ``tessera gallery renew-rotation``.
"""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tessera.cli import app
from tessera.errors import InvalidRequest, NotFound
from tessera.index.base import IndexEntry
from tessera.index.milvus import MilvusIndex
from tessera.store.models import AuditEntry
from tessera.store.vault import KeyMissing
from tessera.workflows.rotation_renewal import renew_gallery_rotation
from tests.fakes import face_image, register_fakes
from tests.service_fixtures import png
from tests.workflows.test_milvus_backend import found, open_api

runner = CliRunner()


@pytest.fixture(scope="module")
def fakes(tmp_path_factory):
    return register_fakes(tmp_path_factory.mktemp("fake-calibrations"))


def synthetic_entries(index: MilvusIndex, gallery: str, count: int, now) -> tuple[list[IndexEntry], np.ndarray]:
    """Index rows of the index's dimension in ``gallery`` whose templates the store does not hold."""
    assert index.dimension is not None
    rows = np.random.default_rng(5).normal(size=(count, index.dimension))
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    entries = [
        IndexEntry(
            f"synthetic-{k}",
            f"synthetic-{k // 2}",
            gallery,
            index.matcher,
            0,
            row,
            frozenset({"deduplicate"}),
            now + timedelta(days=30),
        )
        for k, row in enumerate(rows)
    ]
    return entries, rows


def stored_vectors(index: MilvusIndex, stored_gallery: str) -> dict[str, np.ndarray]:
    """The vectors the engine holds under one rotation of a gallery, by template id."""
    rows = index._client.query(
        index.collection,
        filter=f'gallery_id == "{stored_gallery}"',
        output_fields=["template_id", "vector"],
        consistency_level="Strong",
    )
    return {row["template_id"]: np.asarray(row["vector"], dtype=np.float64) for row in rows}


def renewals_audited(instance) -> list[dict]:
    with instance.sessions() as session:
        bodies = session.scalars(
            select(AuditEntry.body)
            .where(AuditEntry.action == "gallery.renew_template_rotation")
            .order_by(AuditEntry.seq)
        ).all()
    return [json.loads(body) for body in bodies]


def test_a_renewal_re_rotates_the_gallery_destroys_the_old_seed_and_changes_no_answer(
    fakes, tmp_path, milvus_index_setting
):
    instance, api = open_api(tmp_path / "var", milvus_index_setting)
    index = instance.matchers.default_face.index
    assert isinstance(index, MilvusIndex)
    gallery, other = api.gallery(), api.gallery(name="Another programme")
    people = [api.subject(gallery) for _ in range(3)]
    for number, subject in enumerate(people):
        assert api.enrol(subject, png(face_image(number))).status_code == 201
    elsewhere = api.subject(other)
    assert api.enrol(elsewhere, png(face_image(1))).status_code == 201
    # Rows of templates the store no longer holds (as if erased while the renewal ran): not carried over.
    entries, _ = synthetic_entries(index, gallery, 6, instance.clock())
    index.upsert(entries)
    dimension = index.dimension
    assert dimension is not None
    first_rotation = instance.vault.template_rotation(gallery, dimension, index.config.rotation_generation)
    before = stored_vectors(index, gallery)
    assert len(before) == 9
    other_before = stored_vectors(index, other)
    # Another process of the instance, already serving when the renewals happen.
    serving, serving_api = open_api(tmp_path / "var", milvus_index_setting)
    assert found(serving_api, gallery, 1) == [people[1]]

    first = renew_gallery_rotation(instance, "test", gallery, "yearly renewal")
    assert (first.from_renewal, first.to_renewal) == (0, 1)
    assert first.rows_moved == {index.matcher: 3} and first.seeds_destroyed == 0  # renewal 0 is derived
    moved = stored_vectors(index, f"{gallery}#1")
    assert stored_vectors(index, gallery) == {} and sorted(moved) == sorted(t for t in before if "synthetic" not in t)
    # Each stored vector is the template under the new rotation: R1 R0^T (R0 v); cosines are therefore unchanged.
    change = instance.vault.renewed_template_rotation(gallery, dimension, 1) @ first_rotation.T
    for template_id, vector in moved.items():
        np.testing.assert_allclose(vector, change @ before[template_id], atol=1e-5)
    assert found(api, gallery, 1) == [people[1]]  # the service's own search path
    assert found(serving_api, gallery, 2) == [people[2]]  # the other process follows the new rotation at once
    other_after = stored_vectors(index, other)
    assert other_after.keys() == other_before.keys()
    assert all(np.array_equal(other_after[t], other_before[t]) for t in other_before)  # other galleries untouched

    second = renew_gallery_rotation(instance, "test", gallery, "suspected copy of the engine's disks")
    assert (second.from_renewal, second.to_renewal, second.seeds_destroyed) == (1, 2, 1)
    assert instance.vault.rotation_renewals(gallery) == [2]
    with pytest.raises(KeyMissing):  # the seed of renewal 1 is gone for good
        instance.vault.renewed_template_rotation(gallery, dimension, 1)
    assert sorted(stored_vectors(index, f"{gallery}#2")) == sorted(moved)
    audited = [entry["details"] for entry in renewals_audited(instance)]
    assert [(entry["from_renewal"], entry["to_renewal"]) for entry in audited] == [(0, 1), (1, 2)]
    assert audited[1]["reason"] == "suspected copy of the engine's disks"
    assert audited[1]["rows_moved"] == {index.matcher: 3}
    assert found(serving_api, gallery, 0) == [people[0]] and found(serving_api, other, 1) == [elsewhere]


def test_a_renewal_needs_a_gallery_a_reason_and_an_external_index(fakes, tmp_path, milvus_index_setting):
    instance, api = open_api(tmp_path / "var", milvus_index_setting)
    gallery = api.gallery()
    with pytest.raises(NotFound, match="No gallery with id 'no-such-gallery'"):
        renew_gallery_rotation(instance, "test", "no-such-gallery", "renewal")
    with pytest.raises(InvalidRequest, match="reason must say why") as refused:
        renew_gallery_rotation(instance, "test", gallery, "  ")
    assert refused.value.code == "reason_required"
    assert renewals_audited(instance) == []


def test_the_command_renews_a_gallery_and_refuses_the_in_process_index(fakes, tmp_path, monkeypatch):
    monkeypatch.setenv("TESSERA_FACE_ALGORITHMS", json.dumps(["fake-a/1"]))
    data_dir = str(tmp_path / "var")
    gallery = runner.invoke(app, ["gallery", "create", "Clinic", "--purpose", "visits", "--data-dir", data_dir])
    assert gallery.exit_code == 0, gallery.output
    gallery_id = gallery.stdout.strip().splitlines()[-1]
    refused = runner.invoke(app, ["gallery", "renew-rotation", gallery_id, "--reason", "x", "--data-dir", data_dir])
    assert refused.exit_code == 1 and "index_not_external" in refused.output

    pytest.importorskip("pymilvus")
    monkeypatch.setenv("TESSERA_INDEX", f"milvus-lite:{tmp_path / 'milvus.db'}")
    renewed = runner.invoke(app, ["gallery", "renew-rotation", gallery_id, "--reason", "x", "--data-dir", data_dir])
    assert renewed.exit_code == 0, renewed.output
    assert f"Rotation of {gallery_id} renewed (0 -> 1): 0 templates re-rotated" in " ".join(renewed.stdout.split())
