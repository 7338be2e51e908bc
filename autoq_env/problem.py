"""The quantization problem behind an env: data splits, the float model, its workload and evaluator.

Building one loads the data, calibrates activation ranges, tabulates every (kernel, QBN) pair and
measures the float accuracy: a few seconds for ResNet-20. ``get_problem`` caches problems per
process, so many envs on the same model (vectorised envs, tests, benchmarks) share one.

A problem's ``signature`` is a content hash of everything an accuracy depends on (the model's
weights, the images and labels of every split, the QBN range, the device): the evaluation cache's
key, so that two problems never share an entry.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from autoq_env.data import DatasetInfo, load_splits, materialise
from autoq_env.evaluator import Batches, QuantizedEvaluator
from autoq_env.models import build_model
from autoq_env.workload import LayerSpec, extract_layers

EVAL_BATCH_SIZE = 500  # fastest batch size for ResNet-20 on a 2-core CPU (GUIDE section 8)


@dataclass
class KernelStatistics:
    """Static per-kernel statistics of one layer, all arrays of length ``c_out``."""

    std: np.ndarray
    max_abs: np.ndarray
    relative_error_min_qbn: np.ndarray  # ||w_q - w||^2 / ||w||^2 at b_min
    relative_error_max_qbn: np.ndarray  # the same at b_max
    loss_increase_min_qbn: np.ndarray  # 0.5 sum_i F_i (w_q,i - w_i)^2 at b_min (Fisher estimate)


@dataclass(eq=False)  # compared and hashed by identity: one problem per cache entry
class QuantizationProblem:
    """Everything an env needs that does not depend on the accelerator or the reward."""

    info: DatasetInfo
    specs: list[LayerSpec]
    evaluator: QuantizedEvaluator
    calibration_batches: Batches
    search_batches: Batches
    test_batches: Batches
    qbns: range
    kernel_stats: list[KernelStatistics]
    signature: str = ""  # content hash (see the module docstring)
    _float_correct: dict[str, list[torch.Tensor]] = field(default_factory=dict)

    @property
    def num_kernels(self) -> list[int]:
        return [spec.c_out for spec in self.specs]

    def batches(self, split: str) -> Batches:
        """The ``(images, labels)`` batches of ``"search"`` or ``"test"``, in their fixed order."""
        return {"search": self.search_batches, "test": self.test_batches}[split]

    def accuracy(self, activation_qbn: list[int] | None, kernel_qbn: list[np.ndarray] | None,
                 split: str = "search") -> float:
        """Top-1 accuracy (percent) of a configuration (``None, None``: the float model) on a whole split,
        uncached (``autoq_env.evaluation`` adds sequential evaluation and the cache)."""
        self.evaluator.apply(activation_qbn, kernel_qbn)
        return self.evaluator.accuracy(self.batches(split))

    def float_correct(self, split: str = "search") -> list[torch.Tensor]:
        """Per batch of ``split``: whether the float model classifies each image right, computed once."""
        if split not in self._float_correct:
            self.evaluator.apply(None, None)
            self._float_correct[split] = [self.evaluator.correct(images, labels) for images, labels in
                                          self.batches(split)]
        return self._float_correct[split]

    def float_accuracy(self, split: str = "search") -> float:
        """Top-1 accuracy (percent) of the float model on a split, measured once."""
        correct = self.float_correct(split)
        return 100.0 * sum(int(c.sum()) for c in correct) / sum(len(c) for c in correct)


def _kernel_statistics(evaluator: QuantizedEvaluator, qbns: range) -> list[KernelStatistics]:
    loss_increase = evaluator.loss_increase_estimate(qbns[0])
    stats = []
    for weights, increase in zip(evaluator.weights, loss_increase):
        flat = weights.float_weight.flatten(1).double()
        stats.append(KernelStatistics(
            std=flat.std(dim=1, unbiased=False).numpy(),
            max_abs=flat.abs().amax(dim=1).numpy(),
            relative_error_min_qbn=weights.relative_error[0].double().numpy(),
            relative_error_max_qbn=weights.relative_error[-1].double().numpy(),
            loss_increase_min_qbn=increase,
        ))
    return stats


def _content_signature(settings: tuple, model: torch.nn.Module, splits: list[Batches]) -> str:
    """SHA-256 of the settings, the model's weights and every split's images and labels."""
    hasher = hashlib.sha256(repr(settings).encode())
    for name, tensor in model.state_dict().items():
        hasher.update(name.encode())
        hasher.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    for batches in splits:
        hasher.update(b"split")
        for images, labels in batches:
            hasher.update(images.contiguous().numpy().tobytes())
            hasher.update(labels.contiguous().numpy().tobytes())
    return hasher.hexdigest()


def _channels_last(batches: Batches) -> Batches:
    """Images in channels-last layout: about 10% faster CPU convolutions (GUIDE section 8)."""
    return [(images.contiguous(memory_format=torch.channels_last), labels) for images, labels in batches]


def _images_on(batches: Batches, device: torch.device) -> Batches:
    """The batches with their images on ``device`` (labels stay on the CPU, where predictions are compared).
    The search split is evaluated at every episode's end: on a GPU its images stay there instead of
    crossing the bus at each evaluation (5,000 ImageNet images are 3 GB). On the CPU nothing moves."""
    return [(images.to(device), labels) for images, labels in batches]


@functools.lru_cache(maxsize=4)
def get_problem(model: str, dataset: str, data_root: str | None, checkpoint: str | None, qbns: range,
                search_samples: int, device: str) -> QuantizationProblem:
    """Build (or fetch from the per-process cache) the problem for these settings."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} asked for, but torch sees no CUDA device; use device='cpu'")
    splits = load_splits(dataset, data_root, search_samples)
    float_model = build_model(model, splits.info, checkpoint)
    specs = extract_layers(float_model, (splits.info.in_channels, splits.info.image_size, splits.info.image_size))
    calibration_batches = _channels_last(materialise(splits.calibration, EVAL_BATCH_SIZE))
    evaluator = QuantizedEvaluator(float_model, [spec.name for spec in specs], calibration_batches, qbns, device)
    search_batches = materialise(splits.search, EVAL_BATCH_SIZE)
    test_batches = materialise(splits.test, EVAL_BATCH_SIZE)
    signature = _content_signature((model, dataset, qbns.start, qbns.stop, search_samples, str(torch.device(device))),
                                   float_model, [calibration_batches, search_batches, test_batches])
    problem = QuantizationProblem(
        info=splits.info, specs=specs, evaluator=evaluator, calibration_batches=calibration_batches,
        search_batches=_images_on(_channels_last(search_batches), evaluator.device),
        test_batches=_channels_last(test_batches), qbns=qbns,
        kernel_stats=_kernel_statistics(evaluator, qbns), signature=signature,
    )
    problem.float_accuracy("search")
    return problem


def normalise_path(path: str | os.PathLike | None) -> str | None:
    """A hashable, absolute form of an optional path (cache key)."""
    return None if path is None else str(Path(path).expanduser().resolve())
