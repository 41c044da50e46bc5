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


@pytest.fixture(params=["lite", pytest.param("server", marks=pytest.mark.slow)])
def index_setting(request, tmp_path):
    if request.param == "lite":
        request.getfixturevalue("milvus_lite")  # skips when pymilvus is missing
        return f"milvus-lite:{tmp_path / 'milvus.db'}"
    server = request.getfixturevalue("milvus_server")
    return f"milvus://{server.uri.removeprefix('http://')}/{server.new_prefix()}"


def synthetic_entries(index: MilvusIndex, gallery: str, count: int, now) -> tuple[list[IndexEntry], np.ndarray]:
    """Extra templates of the index's dimension in ``gallery``, so that scores can be compared number by number."""
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


def scores(index: MilvusIndex, gallery: str, probes: np.ndarray, now) -> list[list[tuple[str, float]]]:
    return [
        [
            (hit.template_id, hit.score)
            for hit in index.search(p, gallery_id=gallery, part=0, purpose="deduplicate", now=now, limit=10)
        ]
        for p in probes
    ]


def renewals_audited(instance) -> list[dict]:
    with instance.sessions() as session:
        bodies = session.scalars(
            select(AuditEntry.body)
            .where(AuditEntry.action == "gallery.renew_template_rotation")
            .order_by(AuditEntry.seq)
        ).all()
    return [json.loads(body) for body in bodies]


def test_a_renewal_re_rotates_the_gallery_destroys_the_old_seed_and_changes_no_answer(fakes, tmp_path, index_setting):
    instance, api = open_api(tmp_path / "var", index_setting)
    index = instance.matchers.default_face.index
    assert isinstance(index, MilvusIndex)
    gallery, other = api.gallery(), api.gallery(name="Another programme")
    people = [api.subject(gallery) for _ in range(3)]
    for number, subject in enumerate(people):
        assert api.enrol(subject, png(face_image(number))).status_code == 201
    elsewhere = api.subject(other)
    assert api.enrol(elsewhere, png(face_image(1))).status_code == 201
    now = instance.clock()
    entries, rows = synthetic_entries(index, gallery, 40, now)
    index.upsert(entries)
    probes = rows[::8]
    before = scores(index, gallery, probes, now)
    # Another process of the instance, already serving when the renewals happen.
    serving, serving_api = open_api(tmp_path / "var", index_setting)
    serving_index = serving.matchers.default_face.index
    assert isinstance(serving_index, MilvusIndex)
    assert scores(serving_index, gallery, probes, now) == before

    first = renew_gallery_rotation(instance, "test", gallery, "yearly renewal")
    assert (first.from_renewal, first.to_renewal) == (0, 1)
    assert first.rows_moved == {index.matcher: 43} and first.seeds_destroyed == 0  # renewal 0 is derived
    after = scores(index, gallery, probes, now)
    assert [[t for t, _ in a] for a in after] == [[t for t, _ in a] for a in before]
    np.testing.assert_allclose([[s for _, s in a] for a in after], [[s for _, s in a] for a in before], atol=1e-5)
    assert found(api, gallery, 1) == [people[1]]  # the service's own search path
    assert found(api, other, 1) == [elsewhere]  # the other gallery is not touched

    second = renew_gallery_rotation(instance, "test", gallery, "suspected copy of the engine's disks")
    assert (second.from_renewal, second.to_renewal, second.seeds_destroyed) == (1, 2, 1)
    assert instance.vault.rotation_renewals(gallery) == [2]
    with pytest.raises(KeyMissing):  # the seed of renewal 1 is gone for good
        instance.vault.renewed_template_rotation(gallery, index.dimension, 1)
    assert [
        (entry["details"]["from_renewal"], entry["details"]["to_renewal"]) for entry in renewals_audited(instance)
    ] == [
        (0, 1),
        (1, 2),
    ]
    assert renewals_audited(instance)[1]["details"]["reason"] == "suspected copy of the engine's disks"

    # The process that was already serving follows the renewals at once: same answers, under the new rotation.
    assert found(serving_api, gallery, 2) == [people[2]]
    np.testing.assert_allclose(
        [[s for _, s in a] for a in scores(serving_index, gallery, probes, now)],
        [[s for _, s in a] for a in before],
        atol=1e-5,
    )


def test_a_renewal_needs_a_gallery_a_reason_and_an_external_index(fakes, tmp_path, index_setting):
    instance, api = open_api(tmp_path / "var", index_setting)
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
