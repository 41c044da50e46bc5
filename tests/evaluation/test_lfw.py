"""The LFW pair files: typed pairs, the right counts, and clear errors on a broken file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tessera.evaluation.datasets.lfw import (
    DEV_TEST_PAIRS,
    DEV_TRAIN_PAIRS,
    VIEW2_PAIRS,
    LfwImage,
    LfwPair,
    image_path,
    read_pairs,
    unique_images,
)

# --- the real files ------------------------------------------------------------------------------


@pytest.mark.lfw
def test_view2_has_ten_folds_of_300_matched_and_300_mismatched(lfw_dir):
    pairs = read_pairs(lfw_dir / VIEW2_PAIRS)
    assert len(pairs) == 6000
    assert sum(pair.same for pair in pairs) == 3000
    for fold in range(10):
        in_fold = [pair for pair in pairs if pair.fold == fold]
        assert len(in_fold) == 600
        assert [pair.same for pair in in_fold] == [True] * 300 + [False] * 300
    assert pairs[0] == LfwPair("Abel_Pacheco", 1, "Abel_Pacheco", 4, same=True, fold=0)


@pytest.mark.lfw
@pytest.mark.parametrize(("file_name", "per_class"), [(DEV_TRAIN_PAIRS, 1100), (DEV_TEST_PAIRS, 500)])
def test_view1_files_have_one_fold(lfw_dir, file_name, per_class):
    pairs = read_pairs(lfw_dir / file_name)
    assert len(pairs) == 2 * per_class
    assert sum(pair.same for pair in pairs) == per_class
    assert {pair.fold for pair in pairs} == {0}
    assert all(pair.name_a == pair.name_b for pair in pairs if pair.same)
    assert all(pair.name_a != pair.name_b for pair in pairs if not pair.same)


@pytest.mark.lfw
def test_every_dev_train_image_exists(lfw_dir):
    images = unique_images(read_pairs(lfw_dir / DEV_TRAIN_PAIRS))
    assert len(images) == 3443
    assert len({image.name for image in images}) == 2132
    assert all(image_path(lfw_dir, image).is_file() for image in images)


# --- the format, on small files ------------------------------------------------------------------

SMALL_FILE = """2\t2
Ann_Able\t1\t2
Bob_Baker\t1\t3
Ann_Able\t1\tBob_Baker\t2
Cid_Cole\t1\tDee_Dunn\t1
Cid_Cole\t1\t2
Dee_Dunn\t2\t3
Ann_Able\t2\tDee_Dunn\t3
Bob_Baker\t1\tCid_Cole\t2
"""


def _pair_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pairs.txt"
    path.write_text(text)
    return path


def test_a_small_two_fold_file_is_read_in_order(tmp_path):
    pairs = read_pairs(_pair_file(tmp_path, SMALL_FILE))
    assert [(pair.fold, pair.same) for pair in pairs] == [
        (0, True),
        (0, True),
        (0, False),
        (0, False),
        (1, True),
        (1, True),
        (1, False),
        (1, False),
    ]
    assert pairs[2] == LfwPair("Ann_Able", 1, "Bob_Baker", 2, same=False, fold=0)
    assert pairs[4].image_a == LfwImage("Cid_Cole", 1) and pairs[4].image_b == LfwImage("Cid_Cole", 2)


def test_a_single_number_header_and_spaces_and_trailing_blank_lines(tmp_path):
    text = "1\nAnn_Able 1 2\nAnn_Able 1 Bob_Baker 1\n\n\n"
    assert read_pairs(_pair_file(tmp_path, text)) == [
        LfwPair("Ann_Able", 1, "Ann_Able", 2, same=True, fold=0),
        LfwPair("Ann_Able", 1, "Bob_Baker", 1, same=False, fold=0),
    ]


def test_unique_images_are_deduplicated_and_sorted(tmp_path):
    images = unique_images(read_pairs(_pair_file(tmp_path, SMALL_FILE)))
    assert images[:3] == [LfwImage("Ann_Able", 1), LfwImage("Ann_Able", 2), LfwImage("Bob_Baker", 1)]
    assert len(images) == len(set(images)) == 10


def test_image_path_pads_the_number_to_four_digits():
    assert image_path("/data/lfw", LfwImage("George_W_Bush", 10)) == Path(
        "/data/lfw/images/George_W_Bush/George_W_Bush_0010.jpg"
    )


def test_image_path_refuses_a_zero_index():
    with pytest.raises(ValueError, match=r"image.index must be a 1-based image number \(>= 1\); got 0 for 'Ann_Able'"):
        image_path("/data/lfw", LfwImage("Ann_Able", 0))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"pairs.txt: the file is empty"),
        ("ten\nAnn_Able 1 2\n", r"pairs.txt:1: the header must be 'folds pairs_per_class' .* got 'ten'"),
        ("1 0\n", r"pairs.txt:1: the header must be .*positive integers; got '1 0'"),
        (
            "1\nAnn_Able 1 2\n",
            r"pairs.txt: the header announces 1 fold\(s\) of 1 matched and 1 mismatched pairs \(2 lines\), but "
            r"1 pair lines follow",
        ),
        (
            "1\nAnn_Able 1\nAnn_Able 1 Bob_Baker 1\n",
            r"pairs.txt:2: a matched pair line must be 'name i j' \(3 fields\); got 2 in 'Ann_Able 1'",
        ),
        (
            "1\nAnn_Able 1 2\nAnn_Able 1 Bob_Baker\n",
            r"pairs.txt:3: a mismatched pair line must be 'name1 i name2 j' \(4 fields\); got 3",
        ),
        (
            "1\nAnn_Able 1 x\nAnn_Able 1 Bob_Baker 1\n",
            r"pairs.txt:2: image numbers must be positive integers \(1-based\); got 'x'",
        ),
        (
            "1\nAnn_Able 1 2\nAnn_Able 0 Bob_Baker 1\n",
            r"pairs.txt:3: image numbers must be positive integers \(1-based\); got '0'",
        ),
        (
            "1\nAnn_Able 2 2\nAnn_Able 1 Bob_Baker 1\n",
            r"pairs.txt:2: a matched pair must name two different images; got image 2 twice",
        ),
        (
            "1\nAnn_Able 1 2\nAnn_Able 1 Ann_Able 3\n",
            r"pairs.txt:3: a mismatched pair must name two different people; got 'Ann_Able' twice",
        ),
        ("1\nAnn_Able 1 2\n\nAnn_Able 1 Bob_Baker 1\n", r"but 3 pair lines follow"),
    ],
)
def test_a_malformed_file_names_the_file_and_line(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        read_pairs(_pair_file(tmp_path, text))
