"""Consent evidence (issue 17, item 7): how the person signified consent, in the kinds the gallery accepts, kept
sealed under the subject's key, erased with them, and every read of the proof audited."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import select

from tessera.settings import Settings
from tessera.store.crypto import SealedDataUnreadable
from tessera.store.models import AuditEntry, Consent, IdempotencyRecord
from tessera.workflows.keys import create_key, revoke_key
from tests.governance.consent.conftest import FACE_ONLY_TEXT, consent_under, create, data_url, register, signature_png


@pytest.fixture
def gallery(api):
    gallery = api.gallery(identification=False)
    register(api, FACE_ONLY_TEXT, version="face-1", gallery_id=gallery)
    return gallery


def accept(api, gallery, *kinds):
    return api.client.put(
        f"/v1/galleries/{gallery}/consent-evidence", json={"accepted": list(kinds)}, headers=api.headers["admin"]
    )


def with_evidence(evidence: dict | None, signed_by="Amina K.") -> dict:
    record = consent_under(FACE_ONLY_TEXT, "face-1", purposes=("verify",), signed_by=signed_by)
    return record | ({"evidence": evidence} if evidence is not None else {})


def test_a_gallery_chooses_the_evidence_it_accepts(api, gallery, instance):
    assert accept(api, gallery, "signature").status_code == 200
    typed = create(api, gallery, with_evidence(None))
    assert typed.status_code == 409 and typed.json()["error"]["code"] == "consent_evidence_not_accepted"
    spoken = create(api, gallery, with_evidence({"kind": "spoken_witnessed", "witness_key": "tsk_x_y"}))
    assert spoken.status_code == 409 and spoken.json()["error"]["code"] == "consent_evidence_not_accepted"
    signed = create(api, gallery, with_evidence({"kind": "signature", "image": data_url(signature_png())}))
    assert signed.status_code == 201, signed.text
    assert accept(api, gallery, "telepathy").status_code == 422
    assert accept(api, gallery).status_code == 422
    assert (
        api.client.put(
            f"/v1/galleries/{gallery}/consent-evidence",
            json={"accepted": ["signature"]},
            headers=api.headers["enroller"],
        ).status_code
        == 403
    )
    with instance.sessions() as session:
        changed = session.scalars(select(AuditEntry).where(AuditEntry.action == "gallery.set_consent_evidence")).all()
    assert len(changed) == 1  # the refused changes changed nothing


def test_each_kind_carries_what_it_needs(api, gallery):
    for evidence in (
        {"kind": "signature"},
        {"kind": "thumbprint_mark", "witness_key": "tsk_a_b"},
        {"kind": "spoken_witnessed"},
        {"kind": "typed_name", "image": data_url(signature_png())},
    ):
        response = create(api, gallery, with_evidence(evidence))
        assert response.status_code == 422, (evidence, response.text)
        assert response.json()["error"]["code"] == "invalid_request"


def test_an_evidence_image_must_be_a_small_png_or_jpeg(api, gallery, instance):
    for bad in (
        "not base64!",
        base64.b64encode(b"GIF89a" + b"\0" * 100).decode(),
        base64.b64encode(b"\x89PNG" + b"x" * 50).decode(),
    ):
        response = create(api, gallery, with_evidence({"kind": "signature", "image": bad}))
        assert response.status_code == 422 and response.json()["error"]["code"] == "evidence_not_an_image", bad


def test_an_evidence_image_over_the_limit_is_refused(tmp_path, fake_algorithms):
    from fastapi.testclient import TestClient

    from tessera.api.app import create_app
    from tessera.workflows.instance import Instance
    from tests.service_fixtures import Api

    small = Settings(data_dir=tmp_path / "var", face_algorithms=("fake-a/1",), consent_evidence_max_bytes=100)
    instance = Instance.open(small)
    try:
        client = TestClient(create_app(instance), raise_server_exceptions=False)
        keys = {
            role: {"Authorization": f"Bearer {create_key(instance, 'test', role).secret}"}
            for role in ("admin", "enroller")
        }
        api = Api(client, keys)
        gallery = api.gallery(identification=False)
        register(api, FACE_ONLY_TEXT, version="face-1", gallery_id=gallery)
        response = create(api, gallery, with_evidence({"kind": "signature", "image": data_url(signature_png())}))
        assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
    finally:
        instance.close()


def test_a_signature_is_sealed_under_the_subjects_key_and_erased_with_it(api, gallery, instance):
    drawn = signature_png()
    subject = create(api, gallery, with_evidence({"kind": "signature", "image": data_url(drawn)})).json()["id"]
    with instance.sessions() as session:
        row = session.get_one(Consent, subject)
        sealed = row.evidence_ciphertext
    assert sealed is not None and drawn not in sealed  # not in clear in the database
    proof = api.client.get(f"/v1/subjects/{subject}/consent", headers=api.headers["enroller"]).json()
    evidence = proof["consent"]["evidence"]
    assert evidence["kind"] == "signature"
    assert base64.b64decode(evidence["image"].split(",", 1)[1]) == drawn
    # The export tells the kind and the hash, not the image.
    export = api.client.get(f"/v1/subjects/{subject}/export", headers=api.headers["enroller"]).json()
    assert (
        export["consent"]["evidence"]["image_sha256"] == evidence["image_sha256"]
        and "image" not in export["consent"]["evidence"]
    )
    assert api.client.delete(f"/v1/subjects/{subject}", headers=api.headers["enroller"]).status_code == 200
    with instance.sessions() as session:
        assert session.get(Consent, subject) is None
    with pytest.raises(SealedDataUnreadable):  # a copy of the row kept elsewhere opens for no one
        instance.vault.open_consent_evidence(subject_id=subject, sealed=sealed)


def test_every_read_of_the_consent_proof_is_audited(api, gallery, instance):
    subject = create(api, gallery, with_evidence(None)).json()["id"]
    for _ in range(2):
        assert api.client.get(f"/v1/subjects/{subject}/consent", headers=api.headers["enroller"]).status_code == 200
    with instance.sessions() as session:
        reads = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "subject.consent_proof", AuditEntry.subject_id == subject)
        ).all()
    assert [r.outcome for r in reads] == ["ok", "ok"] and all(r.actor.startswith("key:") for r in reads)


def test_spoken_consent_is_witnessed_by_a_second_worker_with_their_own_key(api, gallery, instance, headers):
    assert accept(api, gallery, "spoken_witnessed").status_code == 200
    own = headers["enroller"]["Authorization"].removeprefix("Bearer ")
    verifier = headers["verifier"]["Authorization"].removeprefix("Bearer ")
    second = create_key(instance, "test", "enroller")
    other_programme = create_key(
        instance, "test", "enroller", galleries=[api.gallery("Elsewhere", identification=False)]
    )
    revoked = create_key(instance, "test", "enroller")
    revoke_key(instance, "test", revoked.id)
    for witness, code in (
        ("tsk_nothing_here", "witness_key_invalid"),
        # The key's id is no secret (the proof shows it): the witness proves the key is theirs with its secret.
        (f"tsk_{second.id}_not-the-secret", "witness_key_invalid"),
        (revoked.secret, "witness_key_invalid"),
        (own, "witness_is_recorder"),
        (verifier, "witness_not_allowed"),
        (other_programme.secret, "witness_not_allowed"),
    ):
        response = create(api, gallery, with_evidence({"kind": "spoken_witnessed", "witness_key": witness}))
        assert response.status_code == 422 and response.json()["error"]["code"] == code, (code, response.text)
    witnessed = create(api, gallery, with_evidence({"kind": "spoken_witnessed", "witness_key": second.secret}))
    assert witnessed.status_code == 201, witnessed.text
    subject = witnessed.json()["id"]
    proof = api.client.get(f"/v1/subjects/{subject}/consent", headers=api.headers["enroller"]).json()
    assert proof["consent"]["evidence"] == {
        "kind": "spoken_witnessed",
        "witness_key_id": second.id,
        "image_sha256": None,
    }
    assert proof["audit"]["body"]["details"]["witness_key_id"] == second.id
    secret = second.secret.split("_", 2)[2]  # tsk_<id>_<secret>; the secret itself may hold "_"
    with instance.sessions() as session:  # the witness's secret is checked, never kept
        kept = [e.body for e in session.scalars(select(AuditEntry))] + [
            r.response.__repr__() + r.request_sha256 for r in session.scalars(select(IdempotencyRecord))
        ]
    assert not any(secret in text for text in kept)


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels and holds none (what a decompression bomb looks like)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def test_a_truncated_or_oversized_image_is_refused_in_words_never_a_server_error(api, gallery):
    truncated = signature_png()[:60]
    response = create(api, gallery, with_evidence({"kind": "signature", "image": data_url(truncated)}))
    assert response.status_code == 422 and response.json()["error"]["code"] == "evidence_not_an_image"
    bomb = create(api, gallery, with_evidence({"kind": "signature", "image": data_url(png_header(50_000, 50_000))}))
    assert bomb.status_code == 413 and bomb.json()["error"]["code"] == "too_large", bomb.text
