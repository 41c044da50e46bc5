"""The vault seals templates, kept photos and case probes with real AES-GCM keys, and opens them only where they
belong; destroying a key (erasure, a closed case) makes what it sealed unreadable."""

from __future__ import annotations

import io
import os
import uuid

import numpy as np
import pytest
from PIL import Image

from tessera.capture.decode import decode_image
from tessera.face.codec import embedding_from_bytes, embedding_to_bytes
from tessera.face.pipeline import extract_face
from tessera.finger.template import FingerTemplate
from tessera.store.crypto import load_or_create_master_key, seal
from tessera.store.keystore import FileKeyStore
from tessera.store.models import Template
from tessera.store.vault import (
    DecryptionError,
    KeyMissing,
    SealedDataUnreadable,
    Vault,
    image_associated_data,
    template_associated_data,
)
from tests.face.samples import REFERENCE

FINGER_ALGORITHM = "tessera-finger-1"
PAYLOAD = b"FMR\x00 20\x00" + bytes(range(64))


def new_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def vault(tmp_path) -> Vault:
    return Vault.open(
        master_key_file=tmp_path / "master.key", subject_key_dir=tmp_path / "keys", case_key_dir=tmp_path / "case-keys"
    )


@pytest.fixture
def photo(lfw_image) -> np.ndarray:
    """A real photo, decoded as the service decodes uploads."""
    return decode_image(lfw_image(*REFERENCE))


def row(template_id: str, subject_id: str, algorithm: str, ciphertext: bytes) -> Template:
    return Template(id=template_id, subject_id=subject_id, algorithm=algorithm, ciphertext=ciphertext)


def test_a_sealed_template_opens_only_as_its_own_row(vault):
    subject, other_subject, template_id = new_id(), new_id(), new_id()
    vault.create_subject(subject)
    vault.create_subject(other_subject)
    sealed = vault.seal_template(
        template_id=template_id, subject_id=subject, algorithm=FINGER_ALGORITHM, payload=PAYLOAD
    )
    assert PAYLOAD not in sealed
    assert vault.open_template(row(template_id, subject, FINGER_ALGORITHM, sealed)) == PAYLOAD
    moved = [
        row(new_id(), subject, FINGER_ALGORITHM, sealed),  # another template of the same subject
        row(template_id, other_subject, FINGER_ALGORITHM, sealed),  # another subject (and its key)
        row(template_id, subject, "tessera-finger-2", sealed),  # relabelled as another algorithm
    ]
    for elsewhere in moved:
        with pytest.raises(DecryptionError, match="does not authenticate"):
            vault.open_template(elsewhere)
    tampered = bytearray(sealed)
    tampered[20] ^= 1
    with pytest.raises(DecryptionError, match="does not authenticate"):
        vault.open_template(row(template_id, subject, FINGER_ALGORITHM, bytes(tampered)))


def test_a_subject_needs_its_key_before_anything_is_sealed(vault):
    subject = new_id()
    with pytest.raises(KeyMissing, match=f"no data key for {subject}"):
        vault.seal_template(template_id=new_id(), subject_id=subject, algorithm=FINGER_ALGORITHM, payload=PAYLOAD)
    vault.create_subject(subject)
    assert vault.subjects_with_keys() == {subject}


def test_erasing_a_subject_makes_its_templates_and_photos_unreadable(vault, photo):
    erased, kept = new_id(), new_id()
    sealed = {}
    for subject in (erased, kept):
        vault.create_subject(subject)
        template_id = new_id()
        sealed[subject] = (
            row(
                template_id,
                subject,
                FINGER_ALGORITHM,
                vault.seal_template(
                    template_id=template_id, subject_id=subject, algorithm=FINGER_ALGORITHM, payload=PAYLOAD
                ),
            ),
            vault.seal_image(subject_id=subject, template_id=template_id, image=photo),
        )
    assert vault.erase_subject(erased) is True
    assert vault.erase_subject(erased) is False  # nothing left to destroy
    assert vault.subjects_with_keys() == {kept}
    template, image = sealed[erased]
    with pytest.raises(KeyMissing, match=f"no data key for {erased}"):
        vault.open_template(template)
    with pytest.raises(KeyMissing, match=f"no data key for {erased}"):
        vault.open_image(subject_id=erased, template_id=template.id, sealed=image)
    template, image = sealed[kept]
    assert vault.open_template(template) == PAYLOAD
    assert vault.open_image(subject_id=kept, template_id=template.id, sealed=image).startswith(b"\xff\xd8")


def test_a_kept_photo_is_a_jpeg_with_pixels_only(vault, photo):
    subject, template_id = new_id(), new_id()
    vault.create_subject(subject)
    sealed = vault.seal_image(subject_id=subject, template_id=template_id, image=photo)
    jpeg = vault.open_image(subject_id=subject, template_id=template_id, sealed=sealed)
    assert jpeg not in sealed  # encrypted, not merely wrapped
    picture = Image.open(io.BytesIO(jpeg))
    assert picture.format == "JPEG" and picture.size == (250, 250)
    assert not picture.getexif() and not {"exif", "icc_profile", "comment", "xmp"} & set(picture.info)
    pixels = np.asarray(picture.convert("RGB"), dtype=np.int16)
    assert np.abs(pixels - photo).mean() < 3  # the same photo, re-encoded at quality 90
    with pytest.raises(DecryptionError):
        vault.open_image(subject_id=subject, template_id=new_id(), sealed=sealed)  # moved to another template


def test_a_case_probe_opens_until_its_case_closes(vault, photo):
    search_id, other_search = new_id(), new_id()
    sealed = vault.seal_case_probe(search_id, photo)
    vault.seal_case_probe(other_search, photo)
    assert vault.cases_with_keys() == {search_id, other_search}
    assert vault.subjects_with_keys() == set()  # case keys are not subject keys
    probe = vault.open_case_probe(search_id, sealed)
    assert probe is not None and Image.open(io.BytesIO(probe)).size == (250, 250)
    assert vault.open_case_probe(search_id, None) is None  # no photo kept for this case
    with pytest.raises(DecryptionError):
        vault.open_case_probe(other_search, sealed)  # another case's probe
    assert vault.close_case(search_id) is True
    assert vault.close_case(search_id) is False
    assert vault.open_case_probe(search_id, sealed) is None
    assert vault.cases_with_keys() == {other_search}


def test_what_existing_stores_hold_still_opens(tmp_path, photo):
    """The associated-data formats are part of every stored ciphertext: sealed by an earlier build under the literal
    strings, they open with the vault."""
    master_key = load_or_create_master_key(tmp_path / "master.key")
    subject_keys, case_keys = FileKeyStore(tmp_path / "keys", master_key), FileKeyStore(tmp_path / "cases", master_key)
    vault = Vault(subject_keys, case_keys)
    subject, template_id, search_id = new_id(), new_id(), new_id()
    subject_key, case_key = subject_keys.create(subject), case_keys.create(search_id)
    assert template_associated_data(template_id, subject, "dlib-resnet-v1/5pt-flip/1") == (
        f"tessera-template|{template_id}|{subject}|dlib-resnet-v1/5pt-flip/1".encode()
    )
    assert image_associated_data(subject, template_id) == f"tessera-image|{subject}|{template_id}".encode()
    stored = seal(subject_key, PAYLOAD, f"tessera-template|{template_id}|{subject}|{FINGER_ALGORITHM}".encode())
    assert vault.open_template(row(template_id, subject, FINGER_ALGORITHM, stored)) == PAYLOAD
    stored_image = seal(subject_key, b"jpeg bytes", f"tessera-image|{subject}|{template_id}".encode())
    assert vault.open_image(subject_id=subject, template_id=template_id, sealed=stored_image) == b"jpeg bytes"
    stored_probe = seal(case_key, b"probe jpeg", f"tessera-image|{search_id}|probe".encode())
    assert vault.open_case_probe(search_id, stored_probe) == b"probe jpeg"


def test_a_face_embedding_and_a_finger_record_come_back_through_the_vault(vault, photo, fvc_template):
    face, finger = extract_face(photo), fvc_template("DB2_B", 102, 1)
    assert face and finger
    subject = new_id()
    vault.create_subject(subject)
    rows = {}
    for algorithm, payload in (
        (face.algorithm, embedding_to_bytes(face.embedding)),
        (finger.algorithm, finger.to_bytes()),
    ):
        template_id = new_id()
        ciphertext = vault.seal_template(
            template_id=template_id, subject_id=subject, algorithm=algorithm, payload=payload
        )
        rows[algorithm] = row(template_id, subject, algorithm, ciphertext)
    face_row, finger_row = rows[face.algorithm], rows[finger.algorithm]
    np.testing.assert_array_equal(embedding_from_bytes(vault.open_template(face_row), 128), face.embedding)
    assert FingerTemplate.from_bytes(vault.open_template(finger_row)).to_bytes() == finger.to_bytes()
    with pytest.raises(ValueError, match=r"must be 512 bytes \(128 float32\); got \d+ bytes"):
        embedding_from_bytes(vault.open_template(finger_row), 128)  # a finger record is not an embedding


def test_sweep_destroys_old_orphan_subject_keys_and_never_a_case_key(tmp_path, vault, photo):
    kept, orphan, search_id = new_id(), new_id(), new_id()
    vault.create_subject(kept)
    vault.create_subject(orphan)
    vault.seal_case_probe(search_id, photo)
    for path in (tmp_path / "keys" / f"{orphan}.key", tmp_path / "case-keys" / f"{search_id}.key"):
        os.utime(path, (1, 1))  # as if left long ago
    assert vault.sweep(keep={kept}) == 1
    assert vault.subjects_with_keys() == {kept}
    assert vault.cases_with_keys() == {search_id}


def test_subject_and_case_keys_need_two_folders(tmp_path):
    with pytest.raises(ValueError, match=r"subject_key_dir and case_key_dir must be two folders; both are .*keys"):
        Vault.open(
            master_key_file=tmp_path / "m.key", subject_key_dir=tmp_path / "keys", case_key_dir=tmp_path / "keys"
        )


def test_every_failure_to_open_is_one_kind_of_error():
    assert issubclass(KeyMissing, SealedDataUnreadable) and issubclass(DecryptionError, SealedDataUnreadable)


def test_templates_opened_in_bulk_are_each_what_opening_one_gives_and_unreadable_ones_say_why(vault):
    subjects = [new_id() for _ in range(3)]
    vault.create_subjects(subjects)
    rows = []
    for number, subject in enumerate(subjects):
        for copy in range(2):
            template_id = new_id()
            payload = bytes([number, copy]) * 32
            sealed = vault.seal_template(template_id=template_id, subject_id=subject, algorithm="a/1", payload=payload)
            rows.append((template_id, subject, "a/1", sealed, payload))
    vault.erase_subject(subjects[1])
    moved = rows[4][:3] + (rows[0][3],)  # another row's ciphertext: does not authenticate here
    opened = vault.open_templates([row[:4] for row in rows] + [moved])
    assert opened[0] == rows[0][4] == vault.open_template(row(*rows[0][:2], "a/1", rows[0][3]))
    assert opened[1] == rows[1][4] and opened[4] == rows[4][4] and opened[5] == rows[5][4]
    assert all(isinstance(item, KeyMissing) for item in opened[2:4])  # the erased subject's
    assert isinstance(opened[6], DecryptionError)
    assert vault.subjects_with_keys(subjects) == {subjects[0], subjects[2]}
