"""Data: the three disjoint splits, user-given roots, and clear errors for missing or broken data."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest

from autoq_env import data


def test_splits_are_disjoint_fixed_and_sized() -> None:
    train, calibration, search = data.held_out_indices(60_000)
    assert len(calibration) == data.CALIBRATION_SAMPLES and len(search) == data.SEARCH_POOL_SAMPLES
    assert len(train) + len(calibration) + len(search) == 60_000
    assert not set(train) & set(calibration) and not set(train) & set(search) and not set(calibration) & set(search)
    again = data.held_out_indices(60_000)
    np.testing.assert_array_equal(search, again[2])


def test_fashion_mnist_from_a_user_root(tmp_path) -> None:
    for path in data.DEBIAN_FASHION_MNIST_ROOT.glob("*.gz"):
        shutil.copy(path, tmp_path / path.name)
    splits = data.load_splits("fashion-mnist", tmp_path, search_samples=100)
    assert (len(splits.train), len(splits.calibration), len(splits.search), len(splits.test)) == (54_000, 1_000, 100,
                                                                                                    10_000)
    images, labels = data.as_tensors(splits.search)
    assert images.shape == (100, 1, 28, 28) and labels.max() <= 9


def test_missing_root_names_the_three_ways(tmp_path) -> None:
    with pytest.raises(data.DataNotFoundError) as error:
        data.load_splits("fashion-mnist", tmp_path / "nowhere")
    cause = str(error.value.__cause__)
    assert "is not a folder" in str(error.value)
    assert "data_root=DIR" in cause and "apt-get install dataset-fashion-mnist" in cause and "download" in cause


def test_truncated_idx_file_is_refused(tmp_path) -> None:
    source = data.DEBIAN_FASHION_MNIST_ROOT / "t10k-labels-idx1-ubyte.gz"
    with gzip.open(source) as handle:
        raw = handle.read()
    (tmp_path / "labels-idx1-ubyte").write_bytes(raw[:100])
    with pytest.raises(ValueError, match="truncated"):
        data._read_idx(tmp_path / "labels-idx1-ubyte")


def test_image_folder_and_bad_names(tmp_path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", 20), ("val", 4)):
        for label in ("cat", "dog"):
            folder = tmp_path / split / label
            folder.mkdir(parents=True)
            for index in range(count):
                Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(folder / f"{index}.png")
    splits = data.load_splits("imagenet-folder", tmp_path, search_samples=8)
    assert splits.info.num_classes == 2 and len(splits.test) == 8
    assert data.as_tensors(splits.search)[0].shape == (8, 3, 224, 224)
    with pytest.raises(ValueError, match="holds out only 8 search images"):
        data.load_splits("imagenet-folder", tmp_path, search_samples=9)
    with pytest.raises(ValueError, match="allowed: fashion-mnist, cifar10, imagenet-folder"):
        data.load_splits("mnist")
    with pytest.raises(data.DataNotFoundError, match="needs data_root"):
        data.load_splits("cifar10")
