"""Evaluator: the accuracy of a model under a kernel-wise quantization configuration.

The float model is copied once with every BatchNorm folded into the convolution before it (what an
integer inference engine runs). Folding multiplies each output channel by ``gamma / sigma``, a
per-kernel factor, and per-kernel symmetric quantization with a per-kernel clipping search is
invariant to such a factor, so quantizing folded weights picks the same grid points as quantizing the
unfolded ones. Biases stay in float (they live in the 32-bit accumulators).

``apply(config)`` gathers each layer's weight from the precomputed (kernel, QBN) table and sets the
layer's activation QBN; a forward pre-hook on each quantizable layer quantizes its input.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from autoq_env.quant import ActivationQuantizer, KernelWiseWeights

Batches = Sequence[tuple[torch.Tensor, torch.Tensor]]


def fold_batch_norm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (eval mode) with each BatchNorm folded into the convolution before it.

    Uses ``torch.fx``; a model that cannot be traced is returned unfolded (a copy), with a warning.
    """
    model = copy.deepcopy(model).eval()
    try:
        from torch.fx.experimental.optimization import fuse

        return fuse(model)
    except Exception as error:  # untraceable user model: quantize the unfolded weights instead
        warnings.warn(f"BatchNorm folding skipped ({type(error).__name__}: {error}); quantizing unfolded weights",
                      stacklevel=2)
        return model


class QuantizedEvaluator:
    """Accuracy of one model under any configuration of per-kernel and per-layer activation QBNs.

    :param model: the float model.
    :param layer_names: qualified names of its quantizable layers in forward order.
    :param calibration: batches of the calibration split (activation ranges, sensitivities).
    :param qbns: the QBNs a configuration may use.
    :param device: where the forward passes run.
    """

    def __init__(self, model: nn.Module, layer_names: Sequence[str], calibration: Batches, qbns: range,
                 device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = fold_batch_norm(model).to(self.device, memory_format=torch.channels_last)
        self.model.requires_grad_(False)
        modules = dict(self.model.named_modules())
        missing = [name for name in layer_names if name not in modules]
        if missing:
            raise ValueError(f"layers {missing} not found after BatchNorm folding")
        self.layers: list[nn.Module] = [modules[name] for name in layer_names]
        self.qbns = qbns
        self.weights = [KernelWiseWeights(layer.weight.detach().cpu(), qbns) for layer in self.layers]
        self._float_weights = [layer.weight.detach().clone() for layer in self.layers]
        self.activation_quantizers = self._calibrate(calibration)
        self._activation_qbn: list[int | None] = [None] * len(self.layers)
        for index, layer in enumerate(self.layers):
            layer.register_forward_pre_hook(self._make_hook(index))
        self.fisher = self._fisher_information(calibration)

    # -- set-up -------------------------------------------------------------------------------------
    def _calibrate(self, calibration: Batches) -> list[ActivationQuantizer]:
        seen: list[list[torch.Tensor]] = [[] for _ in self.layers]

        def record(index: int):
            def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
                seen[index].append(inputs[0].detach().flatten().cpu())
            return hook

        handles = [layer.register_forward_pre_hook(record(i)) for i, layer in enumerate(self.layers)]
        try:
            with torch.inference_mode():
                for images, _ in calibration:
                    self.model(images.to(self.device))
        finally:
            for handle in handles:
                handle.remove()
        return [ActivationQuantizer.calibrate(torch.cat(values)) for values in seen]

    def _fisher_information(self, calibration: Batches) -> list[torch.Tensor]:
        """Per-weight squared gradients of the loss, averaged over calibration batches of 100 images."""
        weights = [layer.weight for layer in self.layers]
        for weight in weights:
            weight.requires_grad_(True)
        fisher = [torch.zeros_like(weight) for weight in weights]
        count = 0
        try:
            for images, labels in calibration:
                for start in range(0, len(labels), 100):
                    loss = F.cross_entropy(self.model(images[start:start + 100].to(self.device)),
                                           labels[start:start + 100].to(self.device))
                    for total, grad in zip(fisher, torch.autograd.grad(loss, weights)):
                        total += grad.pow(2)
                    count += 1
        finally:
            for weight in weights:
                weight.requires_grad_(False)
        return [(total / max(count, 1)).cpu() for total in fisher]

    def _make_hook(self, index: int):
        quantizer = self.activation_quantizers[index]

        def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...] | None:
            qbn = self._activation_qbn[index]
            if qbn is None:
                return None
            return (quantizer(inputs[0], qbn), *inputs[1:])
        return hook

    # -- use ----------------------------------------------------------------------------------------
    def loss_increase_estimate(self, qbn: int) -> list[np.ndarray]:
        """Per kernel: ``0.5 * sum_i F_i (w_q,i - w_i)^2`` at ``qbn`` bits (second-order loss estimate)."""
        out = []
        for weights, fisher in zip(self.weights, self.fisher):
            delta = weights.table[qbn - self.qbns[0]] - weights.float_weight
            out.append((0.5 * (fisher * delta.pow(2)).flatten(1).sum(1)).double().numpy())
        return out

    def apply(self, activation_qbn: Sequence[int] | None, kernel_qbn: Sequence[np.ndarray] | None) -> None:
        """Quantize the model to a configuration; ``None`` for both restores the float model."""
        with torch.no_grad():
            for index, layer in enumerate(self.layers):
                if kernel_qbn is None:
                    layer.weight.copy_(self._float_weights[index])
                else:
                    layer.weight.copy_(self.weights[index].gather(kernel_qbn[index]).to(self.device))
        self._activation_qbn = [None] * len(self.layers) if activation_qbn is None else [int(b) for b in activation_qbn]

    @torch.inference_mode()
    def accuracy(self, batches: Batches) -> float:
        """Top-1 accuracy (percent) of the model as currently configured."""
        correct = total = 0
        for images, labels in batches:
            logits = self.model(images.to(self.device, non_blocking=True))
            correct += int((logits.argmax(1).cpu() == labels).sum())
            total += len(labels)
        return 100.0 * correct / total
