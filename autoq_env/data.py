"""Data sets and the three disjoint splits the search uses.

Every data set is cut the same way, with a fixed seed, so that results are comparable across runs:

* **calibration** split: ``CALIBRATION_SAMPLES`` images drawn from the *training* set and never used
  to train the shipped model. Activation ranges and kernel sensitivities are measured on it.
* **search** split: up to ``SEARCH_POOL_SAMPLES`` further held-out training images. The reward's
  accuracy is measured on its first ``search_samples`` images.
* **test** split: the data set's official test split. Only final reports use it; the search never
  sees it.

The remaining training images (``train`` split) are what ``autoq_env.models.train`` trains on.

Fashion-MNIST is looked up, in order, in a user-given root, in ``/usr/share/datasets/fashion-mnist``
(Debian's ``dataset-fashion-mnist`` package) and, when the network allows, through torchvision's
download. CIFAR-10 (torchvision layout) and ImageNet-style folders (``train/`` and ``val/`` class
folders) need a user-given root.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Subset, TensorDataset

DATASETS = ("fashion-mnist", "cifar10", "imagenet-folder")
DEBIAN_FASHION_MNIST_ROOT = Path("/usr/share/datasets/fashion-mnist")
SPLIT_SEED = 20190101
CALIBRATION_SAMPLES = 1_000
SEARCH_POOL_SAMPLES = 5_000

_FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# Per-channel mean and std of the training images (standard published values).
_NORMALISATION = {
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "imagenet-folder": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


class DataNotFoundError(FileNotFoundError):
    """Raised when a data set cannot be found; the message names every way to provide it."""


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a data set."""

    name: str
    in_channels: int
    num_classes: int
    image_size: int


@dataclass
class Splits:
    """The train, calibration, search and test splits of one data set (normalised tensors)."""

    info: DatasetInfo
    train: Dataset
    calibration: Dataset
    search: Dataset
    test: Dataset


def _missing_fashion_mnist(root: str | os.PathLike | None) -> DataNotFoundError:
    tried = f"'{root}', " if root else ""
    return DataNotFoundError(
        f"Fashion-MNIST not found (looked in {tried}'{DEBIAN_FASHION_MNIST_ROOT}' and tried "
        "torchvision's download). Provide it in one of three ways: (1) pass data_root=DIR holding "
        "train-images-idx3-ubyte[.gz] and the three other idx files; (2) install Debian's package: "
        "'apt-get install dataset-fashion-mnist' (what 'make setup' does); (3) allow network "
        "access so torchvision can download it to ~/.cache/autoq/fashion-mnist."
    )


def _read_idx(path: Path) -> np.ndarray:
    """Read one idx file (optionally gzipped) into a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte idx file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path} is truncated: expected {int(np.prod(dims))} values, got {data.size}")
    return data.reshape(dims)


def _find_idx(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz", folder / "raw" / stem, folder / "raw" / f"{stem}.gz",
                      folder / "FashionMNIST" / "raw" / stem, folder / "FashionMNIST" / "raw" / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _fashion_mnist_folder(root: str | os.PathLike | None) -> Path:
    if root is not None and not Path(root).is_dir():
        raise DataNotFoundError(f"data_root '{root}' is not a folder") from _missing_fashion_mnist(root)
    candidates = [Path(root)] if root else []
    candidates.append(DEBIAN_FASHION_MNIST_ROOT)
    for folder in candidates:
        if all(_find_idx(folder, stem) for pair in _FASHION_MNIST_FILES.values() for stem in pair):
            return folder
    cache = Path.home() / ".cache" / "autoq" / "fashion-mnist"
    try:
        from torchvision.datasets import FashionMNIST

        FashionMNIST(str(cache), train=True, download=True)
        FashionMNIST(str(cache), train=False, download=True)
    except Exception as error:  # no network: report every way to provide the data
        raise _missing_fashion_mnist(root) from error
    return cache


def _normalise(images_uint8: torch.Tensor, dataset: str) -> torch.Tensor:
    mean, std = _NORMALISATION[dataset]
    images = images_uint8.float().div_(255.0)
    mean_t = torch.tensor(mean).view(1, -1, 1, 1)
    std_t = torch.tensor(std).view(1, -1, 1, 1)
    return (images - mean_t) / std_t


def _load_fashion_mnist(root: str | os.PathLike | None) -> tuple[DatasetInfo, TensorDataset, TensorDataset]:
    folder = _fashion_mnist_folder(root)
    tensors = {}
    for split, (images_stem, labels_stem) in _FASHION_MNIST_FILES.items():
        images = torch.from_numpy(_read_idx(_find_idx(folder, images_stem)).copy()).unsqueeze(1)
        labels = torch.from_numpy(_read_idx(_find_idx(folder, labels_stem)).astype(np.int64))
        if images.shape[0] != labels.shape[0]:
            raise ValueError(f"Fashion-MNIST {split} split in '{folder}' has {images.shape[0]} images "
                             f"but {labels.shape[0]} labels")
        tensors[split] = TensorDataset(_normalise(images, "fashion-mnist"), labels)
    return DatasetInfo("fashion-mnist", 1, 10, 28), tensors["train"], tensors["test"]


def _load_cifar10(root: str | os.PathLike | None) -> tuple[DatasetInfo, TensorDataset, TensorDataset]:
    from torchvision.datasets import CIFAR10

    if root is None:
        raise DataNotFoundError("dataset='cifar10' needs data_root=DIR, a folder holding torchvision's "
                                "'cifar-10-batches-py' (as made by torchvision.datasets.CIFAR10)")
    try:
        parts = {train: CIFAR10(str(root), train=train, download=False) for train in (True, False)}
    except RuntimeError as error:
        raise DataNotFoundError(f"CIFAR-10 not found under '{root}': expected torchvision's "
                                "'cifar-10-batches-py' folder there") from error
    tensors = []
    for train in (True, False):
        images = torch.from_numpy(parts[train].data).permute(0, 3, 1, 2).contiguous()
        labels = torch.tensor(parts[train].targets, dtype=torch.int64)
        tensors.append(TensorDataset(_normalise(images, "cifar10"), labels))
    return DatasetInfo("cifar10", 3, 10, 32), tensors[0], tensors[1]


def _load_image_folder(root: str | os.PathLike | None) -> tuple[DatasetInfo, Dataset, Dataset]:
    from torchvision import datasets, transforms

    if root is None or not (Path(root) / "train").is_dir() or not (Path(root) / "val").is_dir():
        raise DataNotFoundError("dataset='imagenet-folder' needs data_root=DIR with 'train/' and 'val/' "
                                f"folders of one sub-folder per class (got {root!r})")
    mean, std = _NORMALISATION["imagenet-folder"]
    transform = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                                    transforms.Normalize(mean, std)])
    train = datasets.ImageFolder(str(Path(root) / "train"), transform=transform)
    test = datasets.ImageFolder(str(Path(root) / "val"), transform=transform)
    if train.classes != test.classes:
        raise ValueError(f"'{root}/train' and '{root}/val' hold different class folders")
    return DatasetInfo("imagenet-folder", 3, len(train.classes), 224), train, test


def held_out_sizes(train_size: int) -> tuple[int, int]:
    """(calibration, search-pool) sizes held out of a training set of ``train_size`` images.

    ``CALIBRATION_SAMPLES`` and ``SEARCH_POOL_SAMPLES``, scaled down to 10% and 20% of small data sets.
    """
    if train_size < 10:
        raise ValueError(f"the training set has {train_size} images; at least 10 are needed to hold out "
                         "calibration and search images")
    return min(CALIBRATION_SAMPLES, train_size // 10), min(SEARCH_POOL_SAMPLES, train_size // 5)


def held_out_indices(train_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split ``range(train_size)`` into (train, calibration, search-pool) indices with a fixed seed."""
    calibration_size, search_size = held_out_sizes(train_size)
    held_out = calibration_size + search_size
    order = np.random.default_rng(SPLIT_SEED).permutation(train_size)
    calibration = np.sort(order[:calibration_size])
    search_pool = order[calibration_size:held_out]  # kept in random order: a prefix is a random sample
    return np.sort(order[held_out:]), calibration, search_pool


def load_splits(dataset: str = "fashion-mnist", data_root: str | os.PathLike | None = None,
                search_samples: int = SEARCH_POOL_SAMPLES) -> Splits:
    """Load ``dataset`` and cut it into the train, calibration, search and test splits.

    :param dataset: one of ``DATASETS``.
    :param data_root: folder holding the data set (required for CIFAR-10 and image folders).
    :param search_samples: how many held-out images the search split keeps (1 to ``SEARCH_POOL_SAMPLES``).
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; allowed: {', '.join(DATASETS)}")
    if isinstance(search_samples, bool) or not isinstance(search_samples, (int, np.integer)) \
            or not 1 <= search_samples <= SEARCH_POOL_SAMPLES:
        raise ValueError(f"search_samples must be an integer in 1..{SEARCH_POOL_SAMPLES}, got {search_samples!r}")
    loader = {"fashion-mnist": _load_fashion_mnist, "cifar10": _load_cifar10,
              "imagenet-folder": _load_image_folder}[dataset]
    info, train_full, test = loader(data_root)
    train_idx, calibration_idx, search_idx = held_out_indices(len(train_full))
    if search_samples > len(search_idx):
        raise ValueError(f"search_samples={search_samples} but {dataset} holds out only {len(search_idx)} search "
                         f"images; use at most {len(search_idx)}")
    return Splits(
        info=info,
        train=Subset(train_full, train_idx.tolist()),
        calibration=Subset(train_full, calibration_idx.tolist()),
        search=Subset(train_full, search_idx[:search_samples].tolist()),
        test=test,
    )


def as_tensors(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Return all ``(images, labels)`` of ``dataset`` as two tensors (fast path for in-memory splits)."""
    if isinstance(dataset, Subset) and isinstance(dataset.dataset, TensorDataset):
        index = torch.as_tensor(dataset.indices, dtype=torch.int64)
        images, labels = dataset.dataset.tensors
        return images[index], labels[index]
    if isinstance(dataset, TensorDataset):
        return dataset.tensors[0], dataset.tensors[1]
    loader = torch.utils.data.DataLoader(dataset, batch_size=256, shuffle=False)
    batches = list(loader)
    return torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])


def materialise(dataset: Dataset, batch_size: int = 500) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Collect ``dataset`` into a list of ``(images, labels)`` batches held in memory."""
    images, labels = as_tensors(dataset)
    return [(images[i:i + batch_size], labels[i:i + batch_size]) for i in range(0, len(labels), batch_size)]
