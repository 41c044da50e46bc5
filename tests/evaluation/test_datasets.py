"""Dataset adapters (folder per identity, LFW) and group labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from tessera.evaluation.datasets import ADAPTERS, load_folder, load_lfw
from tessera.evaluation.datasets.labels import read_labels


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / "people"
    for subject, files in {"Ann": ["b.jpg", "a.JPG"], "Bob": ["x.png"], "Cid": ["y.webp", "notes.txt"]}.items():
        (root / subject).mkdir(parents=True)
        for name in files:
            (root / subject / name).write_bytes(name.encode())
    (root / "stray.jpg").write_bytes(b"not in a subject folder")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "z.jpg").write_bytes(b"z")
    return root


def test_folder_adapter_reads_one_folder_per_person(tmp_path):
    dataset = load_folder(_folder(tmp_path))
    assert [sample.key for sample in dataset.samples] == ["Ann/a.JPG", "Ann/b.jpg", "Bob/x.png", "Cid/y.webp"]
    assert dataset.subjects == ["Ann", "Bob", "Cid"]
    subject, names = dataset.subject_index()
    assert subject.tolist() == [0, 0, 1, 2] and names == ["Ann", "Bob", "Cid"]
    assert dataset.pair_lists == {} and dataset.held_out_from_calibration == ()
    assert "4 images of 3 people" in dataset.description
    assert set(ADAPTERS) >= {"lfw", "folder"}


def test_folder_adapter_errors_name_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"dataset folder .*missing does not exist"):
        load_folder(tmp_path / "missing")
    (tmp_path / "empty" / "Ann").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"no images found in .*empty: expected one folder per person"):
        load_folder(tmp_path / "empty")


def test_labels_by_subject_and_by_file(tmp_path):
    dataset = load_folder(_folder(tmp_path))
    by_subject = tmp_path / "subjects.csv"
    by_subject.write_text("subject,site,age_band\nAnn,north,18-30\nBob,south,\n")
    groups = read_labels(by_subject, dataset)
    assert groups["site"] == ["north", "north", "south", None]
    assert groups["age_band"] == ["18-30", "18-30", None, None]
    by_file = tmp_path / "files.csv"
    by_file.write_text("file,lighting\nAnn/a.JPG,dim\ny.webp,bright\n")
    assert read_labels(by_file, dataset)["lighting"] == ["dim", None, None, "bright"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,site\nAnn,north\n", r"header must be 'subject' or 'file' followed by at least one attribute column"),
        ("subject\nAnn\n", r"header must be 'subject' or 'file'"),
        ("subject,site\nAnn,north\nZed,south\n", r"labels.csv:3: subject 'Zed' is not in dataset 'folder'"),
    ],
)
def test_bad_label_files_are_refused_with_the_line(tmp_path, text, message):
    dataset = load_folder(_folder(tmp_path))
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_labels(path, dataset)


def test_lfw_adapter_needs_pairs_txt(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(FileNotFoundError, match=r"has no pairs.txt"):
        load_lfw(tmp_path)


@pytest.mark.lfw
def test_lfw_adapter_maps_every_pair_to_a_sample(lfw_dir):
    dataset = load_lfw(lfw_dir)
    assert len(dataset.samples) == 9056
    view2 = dataset.pair_lists["view2"]
    assert len(view2) == 6000 and view2.folds == 10 and int(view2.same.sum()) == 3000
    first = dataset.samples[view2.a[0]]
    assert first.key == "Abel_Pacheco/Abel_Pacheco_0001.jpg" and first.subject == "Abel_Pacheco"
    assert len(dataset.pair_lists["calibration_fit"]) == 2200 and len(dataset.pair_lists["dev_test"]) == 1000
    # Nobody whose images the calibration was fitted on counts as held out.
    fitted = {dataset.samples[i].subject for i in dataset.pair_lists["calibration_fit"].a}
    assert fitted.isdisjoint(dataset.held_out_from_calibration)
    assert len(dataset.held_out_from_calibration) == 2779
