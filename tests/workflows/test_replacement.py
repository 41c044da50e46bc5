"""A face capture replaced by a better one leaves the store and every index, in this process and in another one.

Two fake algorithms, so that a capture has two templates (one per algorithm) and the replacement erases both; a
second instance on the same database stands for another process (it learns of changes through the outbox only).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tessera.settings import Settings
from tessera.store.crypto import SealedDataUnreadable
from tessera.store.models import IndexOutboxEntry, Template
from tessera.workflows.indexing import drain, pending
from tessera.workflows.instance import Instance
from tests.fakes import face_image, register_fakes
from tests.service_fixtures import png
from tests.workflows.test_algorithms import open_api

ALGORITHMS = ("fake-a/1", "fake-b/1")


@pytest.fixture(scope="module")
def fakes(tmp_path_factory):
    return register_fakes(tmp_path_factory.mktemp("fake-calibrations"))


def templates(instance: Instance, subject_id: str) -> dict[str, bytes]:
    """The subject's stored templates: id -> ciphertext."""
    with instance.sessions() as session:
        rows = session.execute(select(Template.id, Template.ciphertext).where(Template.subject_id == subject_id))
        return {str(template_id): bytes(ciphertext) for template_id, ciphertext in rows.tuples()}


def opened(instance: Instance, template_ids) -> dict[str, tuple[str, bytes]]:
    """Stored templates opened: id -> (its matcher's key, its payload in clear)."""
    found = {}
    with instance.sessions() as session:
        for template_id in template_ids:
            row = session.get_one(Template, template_id)
            matcher = instance.matchers.of_template(row.modality, row.algorithm, row.capture)
            (payload,) = instance.vault.open_templates([(row.id, row.subject_id, row.algorithm, row.ciphertext)])
            assert matcher is not None and not isinstance(payload, SealedDataUnreadable)
            found[template_id] = (matcher.key, payload)
    return found


def found_templates(instance: Instance, gallery_id: str, subject_id: str, probe: tuple[str, bytes]) -> set[str]:
    """The subject's best template when its matcher's index is searched with ``probe`` (a template's own features:
    the template itself while the index holds it)."""
    key, payload = probe
    (matcher,) = [each for each in instance.matchers if each.key == key]
    found = matcher.index.search(
        matcher.features(payload),
        gallery_id=gallery_id,
        part=0,
        purpose="deduplicate",
        now=instance.clock(),
        limit=10,
    )
    return {hit.template_id for hit in found if hit.subject_id == subject_id}


def test_a_replaced_capture_leaves_the_store_and_the_indexes_of_every_process(fakes, tmp_path):
    instance, api = open_api(tmp_path / "var", ALGORITHMS)
    gallery = api.gallery()
    subject, other = api.subject(gallery), api.subject(gallery)
    first = api.enrol(subject, png(face_image(0)))
    assert first.status_code == 201 and api.enrol(other, png(face_image(1))).status_code == 201
    old = templates(instance, subject)
    assert len(old) == 2 and first.json()["template_id"] in old  # one per algorithm
    elsewhere = Instance.open(Settings(data_dir=tmp_path / "var", face_algorithms=ALGORITHMS))  # another process
    probes = opened(instance, old)
    assert all(found_templates(elsewhere, gallery, subject, probes[t]) == {t} for t in old)
    seq_before = elsewhere.outbox.seq

    better = api.client.post(
        f"/v1/subjects/{subject}/faces",
        files={"image": ("face.png", png(face_image(0, photo=1)), "image/png")},
        data={"replaces": first.json()["template_id"]},
        headers=api.headers["enroller"],
    )
    assert better.status_code == 201, better.text
    assert sorted(better.json()["replaced"]) == sorted(old)
    new = templates(instance, subject)
    assert len(new) == 2 and not set(new) & set(old) and better.json()["template_id"] in new
    assert len(templates(instance, other)) == 2  # no one else's template moved

    # This process's indexes: the old templates are gone, the new ones searched in their place.
    assert instance.matchers.indexed() == 4
    for template_id in old:
        assert len(found_templates(instance, gallery, subject, probes[template_id]) & set(new)) == 1

    # The other process learns it through the outbox: the new templates added, each replaced one removed by its id
    # (never the subject as a whole, which would leave a moment when a search finds none of theirs).
    with instance.sessions() as session:
        rows = session.execute(
            select(IndexOutboxEntry.operation, IndexOutboxEntry.template_id)
            .where(IndexOutboxEntry.seq > seq_before)
            .order_by(IndexOutboxEntry.seq)
        ).all()
    by_operation = {operation: {t for o, t in rows if o == operation} for operation, _ in rows}
    assert by_operation == {"upsert": set(new), "remove_template": set(old)}
    assert pending(elsewhere) == len(rows)
    for template_id in old:  # not yet applied there: the old template is still what it finds
        assert found_templates(elsewhere, gallery, subject, probes[template_id]) == {template_id}
    drain(elsewhere)
    assert elsewhere.matchers.indexed() == 4
    for template_id in old:
        assert len(found_templates(elsewhere, gallery, subject, probes[template_id]) & set(new)) == 1
    elsewhere.close()

    # A start rebuilds the same: only the new templates.
    instance.close()
    restarted, _ = open_api(tmp_path / "var", ALGORITHMS)
    assert restarted.matchers.indexed() == 4
    for template_id, probe in opened(restarted, new).items():
        assert found_templates(restarted, gallery, subject, probe) == {template_id}
    restarted.close()


def captures(instance: Instance, subject_id: str) -> dict[str, set[str]]:
    """The subject's stored face captures: capture sha256 -> its template ids."""
    with instance.sessions() as session:
        rows = session.execute(select(Template.capture_sha256, Template.id).where(Template.subject_id == subject_id))
        found: dict[str, set[str]] = {}
        for capture, template_id in rows:
            found.setdefault(capture, set()).add(template_id)
        return found


def test_naming_any_algorithms_template_of_a_capture_erases_the_whole_capture(fakes, tmp_path):
    instance, api = open_api(tmp_path / "var", ALGORITHMS)
    gallery = api.gallery()
    subject = api.subject(gallery)
    first = api.enrol(subject, png(face_image(2)))
    second = api.enrol(subject, png(face_image(2, photo=3)))
    assert first.status_code == second.status_code == 201
    before = captures(instance, subject)
    (named,) = [ids for ids in before.values() if first.json()["template_id"] in ids]
    (stays,) = [ids for ids in before.values() if second.json()["template_id"] in ids]
    assert len(named) == len(stays) == 2
    (the_other,) = named - {first.json()["template_id"]}  # the second algorithm's, not the id the answer gave
    better = api.client.post(
        f"/v1/subjects/{subject}/faces",
        files={"image": ("face.png", png(face_image(2, photo=4)), "image/png")},
        data={"replaces": the_other},
        headers=api.headers["enroller"],
    )
    assert better.status_code == 201, better.text
    assert sorted(better.json()["replaced"]) == sorted(named)
    after = captures(instance, subject)
    assert len(after) == 2 and stays in after.values() and not any(named & ids for ids in after.values())
    instance.close()
