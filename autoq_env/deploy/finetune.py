"""Quantization-aware fine-tuning at exactly a configuration's QBNs (``autoq finetune``).

What is trained is the BatchNorm-folded model, the one the evaluator quantizes: every quantizable
layer's weight is fake-quantized per kernel at the configuration's QBN and its input at the layer's
activation QBN, on the very grids of ``autoq_env.quant`` (``quantize_signed`` for weights and the
evaluator's ``ActivationQuantizer``), with the straight-through estimator (Bengio et al., 2013;
as in Jacob et al., CVPR 2018): the forward pass sees grid values, the backward pass the identity
(for activations, only inside the grid's range; outside it the clamp's gradient is zero).

* **Weight scales** are re-chosen as the weights move: each kernel's MSE-optimal step
  (``kernel_codes``, the evaluator's rule) is recomputed every ``scale_every_steps`` optimizer steps
  and at the start of each epoch; in between the codes are re-rounded at every step on the current steps.
* **Activation ranges** are kept, not learned: at the start of each epoch they are re-calibrated by the
  evaluator's own rule (99.9th percentile on the calibration split, float weights). A learned range
  (PACT, LSQ) would not survive: the env re-calibrates the ranges whenever it loads a checkpoint, so the
  model it scores, and the export, would not be the one trained.
* **Data**: the ``train`` split (``autoq_env.data``), never seen by the search (which uses the
  calibration and search splits) nor by the test report; random crops and flips as in
  ``autoq_env.models.train``; SGD with Nesterov momentum, the learning rate falling from ``lr`` to 0
  along a cosine within each epoch (warm restarts, Loshchilov & Hutter, ICLR 2017), so a run resumed
  with more epochs is the run it would have been had it asked for them from the start.
* **Output**: ``model.pt``, a state dict of the *unfolded* architecture that ``gym.make(...,
  checkpoint="DIR/model.pt")`` loads: each convolution holds its folded weight and each BatchNorm is the
  identity (weight 1, mean 0, variance ``1 - eps``, bias the folded bias), so folding it again gives the
  trained weights bit for bit. ``checkpoint.pt`` after every epoch (``resume=True`` continues from it)
  and ``report.json`` (test accuracy before and after each epoch, settings, wall time).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.nn.utils import parametrize
from tqdm import tqdm

from autoq_env import atomic_io
from autoq_env.data import as_tensors, load_splits
from autoq_env.deploy.config import load_config
from autoq_env.evaluator import Batches, QuantizedEvaluator, fold_batch_norm
from autoq_env.models import build_model
from autoq_env.models.train import augment
from autoq_env.quant import ActivationQuantizer, kernel_codes, quantize_signed

CHECKPOINT_FILE = "checkpoint.pt"
MODEL_FILE = "model.pt"
REPORT_FILE = "report.json"
_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_FOLDABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


@dataclass(frozen=True)
class FinetuneSettings:
    """What defines a fine-tuning run (recorded in its checkpoint; a resume must agree).

    :param epochs: passes over the training images.
    :param lr: peak learning rate (cosine decay to 0 within each epoch).
    :param batch_size: images per step.
    :param train_samples: use the first ``train_samples`` images of the train split (``None``: all).
    :param seed: data order and augmentation.
    :param scale_every_steps: how often each kernel's MSE-optimal step is re-chosen.
    :param momentum: SGD (Nesterov) momentum.
    :param weight_decay: L2 on the folded weights and biases.
    """

    epochs: int = 1
    lr: float = 0.005
    batch_size: int = 128
    train_samples: int | None = None
    seed: int = 0
    scale_every_steps: int = 10
    momentum: float = 0.9
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "scale_every_steps"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {getattr(self, name)!r}")
        if self.train_samples is not None and (not isinstance(self.train_samples, int) or self.train_samples < 1):
            raise ValueError(f"train_samples must be None or an integer >= 1, got {self.train_samples!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")


class KernelFakeQuant(nn.Module):
    """Parametrization: a layer's weight on its per-kernel grids, straight-through in the backward pass."""

    def __init__(self, kernel_qbn: np.ndarray) -> None:
        super().__init__()
        qbn = torch.as_tensor(np.asarray(kernel_qbn), dtype=torch.int64)
        self.groups = {int(b): torch.nonzero(qbn == b).flatten() for b in torch.unique(qbn)}
        self.register_buffer("scale", torch.zeros(len(qbn)))

    @torch.no_grad()
    def choose_scales(self, weight: torch.Tensor) -> None:
        """Re-choose every kernel's MSE-optimal step for ``weight`` (the evaluator's rule)."""
        for qbn, index in self.groups.items():
            self.scale[index] = kernel_codes(weight[index], qbn)[1].to(self.scale)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            quantized = torch.empty_like(weight)
            shape = (-1,) + (1,) * (weight.ndim - 1)
            for qbn, index in self.groups.items():
                quantized[index] = quantize_signed(weight[index], self.scale[index].view(shape), qbn)
        return weight + (quantized - weight).detach()


def _activation_ste(quantizer: ActivationQuantizer, qbn: int):
    step = quantizer.step(qbn)
    low, high = (code * step for code in quantizer.code_range(qbn))

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        x = inputs[0]
        inside = ((x >= low) & (x <= high)).to(x.dtype)
        return (quantizer(x.detach(), qbn) + (x - x.detach()) * inside, *inputs[1:])
    return hook


def _fold_pairs(model: nn.Module) -> dict[str, str]:
    """``{layer: batch norm}`` for every BatchNorm that ``fold_batch_norm`` folds (torch.fx's ``fuse`` rule)."""
    traced = fx.symbolic_trace(model)
    modules = dict(traced.named_modules())
    pairs = {}
    for node in traced.graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], _BATCH_NORMS) or not node.args:
            continue
        source = node.args[0]
        if isinstance(source, fx.Node) and source.op == "call_module" \
                and isinstance(modules[source.target], _FOLDABLE) and len(source.users) == 1 \
                and modules[node.target].track_running_stats:
            pairs[source.target] = node.target
    return pairs


def unfolded_state_dict(float_model: nn.Module, folded_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict of ``float_model``'s architecture whose BatchNorm folding gives ``folded_state`` exactly."""
    state = {key: value.detach().clone() for key, value in float_model.state_dict().items()}
    modules = dict(float_model.named_modules())
    pairs = _fold_pairs(float_model)
    for key, value in folded_state.items():
        layer, _, kind = key.rpartition(".")
        if layer in pairs and kind == "bias" and modules[layer].bias is None:
            state[f"{pairs[layer]}.bias"] = value.detach().clone()
        else:
            state[key] = value.detach().clone()
    for layer, norm in pairs.items():
        bn = modules[norm]
        state[f"{norm}.weight"] = torch.ones_like(state[f"{norm}.weight"])
        state[f"{norm}.running_mean"] = torch.zeros_like(state[f"{norm}.running_mean"])
        # (1 - eps) + eps == 1 in float32, so the folding factor weight * rsqrt(var + eps) is exactly 1
        state[f"{norm}.running_var"] = torch.ones_like(state[f"{norm}.running_var"]) - bn.eps
        if modules[layer].bias is not None:
            state[f"{norm}.bias"] = torch.zeros_like(state[f"{norm}.bias"])
    return state


def training_images(env: gym.Env, train_samples: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The fine-tuning images and labels: the first ``train_samples`` of the env's train split."""
    settings = env.unwrapped.signature
    images, labels = as_tensors(load_splits(settings["dataset"], settings["data_root"]).train)
    if train_samples is not None:
        images, labels = images[:train_samples], labels[:train_samples]
    return images, labels


class _QatModel:
    """The folded model with fake-quant parametrizations and activation hooks for one configuration."""

    def __init__(self, folded: nn.Module, layer_names: list[str], config: dict) -> None:
        self.model = folded.train()
        modules = dict(self.model.named_modules())
        self.layers = [modules[name] for name in layer_names]
        self.config = config
        self.fake_quant = []
        for layer, kernel_qbn in zip(self.layers, config["kernel_qbn"]):
            fake_quant = KernelFakeQuant(np.asarray(kernel_qbn))
            parametrize.register_parametrization(layer, "weight", fake_quant)
            self.fake_quant.append(fake_quant)
        self._hooks: list = []

    def latent_state(self) -> dict[str, torch.Tensor]:
        """The float (latent) weights and biases under the folded model's own names."""
        state = {}
        for name, module in self.model.named_modules():
            if parametrize.is_parametrized(module, "weight"):
                state[f"{name}.weight"] = module.parametrizations.weight.original.detach().clone()
            elif hasattr(module, "weight") and isinstance(module.weight, nn.Parameter):
                state[f"{name}.weight"] = module.weight.detach().clone()
            if getattr(module, "bias", None) is not None and isinstance(module.bias, nn.Parameter):
                state[f"{name}.bias"] = module.bias.detach().clone()
        return state

    def load_latent_state(self, state: dict[str, torch.Tensor]) -> None:
        modules = dict(self.model.named_modules())
        with torch.no_grad():
            for key, value in state.items():
                layer, _, kind = key.rpartition(".")
                module = modules[layer]
                target = module.parametrizations.weight.original if kind == "weight" and \
                    parametrize.is_parametrized(module, "weight") else getattr(module, kind)
                target.copy_(value)

    def choose_scales(self) -> None:
        for layer, fake_quant in zip(self.layers, self.fake_quant):
            fake_quant.choose_scales(layer.parametrizations.weight.original)

    def set_activation_ranges(self, quantizers: list[ActivationQuantizer]) -> None:
        for handle in self._hooks:
            handle.remove()
        self._hooks = [layer.register_forward_pre_hook(_activation_ste(quantizer, qbn))
                       for layer, quantizer, qbn in zip(self.layers, quantizers, self.config["activation_qbn"])]


def _score(env: gym.Env, float_model: nn.Module, state: dict[str, torch.Tensor], config: dict,
           batches: Batches) -> tuple[float, list[ActivationQuantizer]]:
    """Accuracy of ``state`` at ``config`` by the env's evaluator, and the activation ranges it calibrates."""
    problem = env.unwrapped.problem
    model = build_model(env.unwrapped.signature["model"], problem.info, None)
    model.load_state_dict(unfolded_state_dict(float_model, state))
    evaluator = QuantizedEvaluator(model, [spec.name for spec in problem.specs], problem.calibration_batches,
                                   problem.qbns)
    evaluator.apply(config["activation_qbn"], config["kernel_qbn"])
    return evaluator.accuracy(batches), evaluator.activation_quantizers


def finetune(env: gym.Env, config: Any, out: str | Path, settings: FinetuneSettings = FinetuneSettings(),
             resume: bool = False, progress_bar: bool = True, report_batches: Batches | None = None) -> dict:
    """Fine-tune ``env``'s model at ``config`` and write ``model.pt``, ``checkpoint.pt`` and ``report.json``.

    :param config: a configuration dict or file; refused with the reason when it does not fit ``env``.
    :param out: the run's folder (refused if it holds a run, unless ``resume``).
    :param resume: continue the run in ``out`` from its last finished epoch (same config and settings).
    :param report_batches: where accuracy is reported before and after each epoch (default: the test split).
    :return: the report (also ``out/report.json``).
    """
    config = load_config(env, config)
    out = Path(out)
    core = env.unwrapped
    problem = core.problem
    signature = core.signature
    batches = problem.test_batches if report_batches is None else report_batches
    checkpoint_path = out / CHECKPOINT_FILE
    started = time.perf_counter()
    float_model = build_model(signature["model"], problem.info, signature["checkpoint"])
    qat = _QatModel(fold_batch_norm(float_model), [spec.name for spec in problem.specs], config)
    optimizer = torch.optim.SGD(qat.model.parameters(), lr=settings.lr, momentum=settings.momentum, nesterov=True,
                                weight_decay=settings.weight_decay)
    env_record = {key: signature[key] for key in ("model", "dataset", "checkpoint", "bits", "num_kernels")}
    if resume:
        saved = atomic_io.read_torch(checkpoint_path, "fine-tuning checkpoint", weights_only=False)
        mine = {"config": config, "settings": {**asdict(settings), "epochs": None}, "env": env_record}
        theirs = {**saved, "settings": {**saved["settings"], "epochs": None}}
        for what in mine:
            if theirs[what] != mine[what]:
                raise ValueError(f"resume: {checkpoint_path} was made with another {what}; give the same one "
                                 "(only the number of epochs may grow), or start a new run in another folder")
        qat.load_latent_state(saved["state"])
        optimizer.load_state_dict(saved["optimizer"])
        history, wall_s = saved["history"], saved["wall_s"]
        quantizers = [ActivationQuantizer(range_max, signed) for range_max, signed in saved["activation_ranges"]]
    else:
        if checkpoint_path.exists():
            raise FileExistsError(f"{out} holds a fine-tuning run; continue it with resume (--resume) or use "
                                  "another folder")
        history, wall_s = [], 0.0
    images, labels = training_images(env, settings.train_samples)
    steps_per_epoch = max(1, len(labels) // settings.batch_size)
    padding = 2 if problem.info.image_size <= 32 else 16
    float_accuracy = problem.float_accuracy("test") if report_batches is None else None
    report: dict[str, Any] = {}
    if not history:
        accuracy, quantizers = _score(env, float_model, qat.latent_state(), config, batches)
        history.append({"epoch": 0, "accuracy": accuracy})
    for epoch in range(len(history) - 1, settings.epochs):
        epoch_started = time.perf_counter()
        qat.set_activation_ranges(quantizers)
        qat.choose_scales()
        generator = torch.Generator().manual_seed(settings.seed * 100_003 + epoch)
        order = torch.randperm(len(labels), generator=generator)
        loss_sum = 0.0
        with tqdm(range(steps_per_epoch), desc=f"fine-tune epoch {epoch + 1}/{settings.epochs}",
                  disable=not progress_bar, leave=False) as bar:
            for step in bar:
                for group in optimizer.param_groups:  # cosine within each epoch (warm restarts)
                    group["lr"] = 0.5 * settings.lr * (1 + math.cos(math.pi * step / steps_per_epoch))
                if step > 0 and step % settings.scale_every_steps == 0:
                    qat.choose_scales()
                index = order[step * settings.batch_size:(step + 1) * settings.batch_size]
                loss = F.cross_entropy(qat.model(augment(images[index], padding, generator)), labels[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += loss.item()
                bar.set_postfix(loss=f"{loss.item():.3f}")
        accuracy, quantizers = _score(env, float_model, qat.latent_state(), config, batches)
        wall_s += time.perf_counter() - epoch_started
        history.append({"epoch": epoch + 1, "accuracy": accuracy, "loss": loss_sum / steps_per_epoch})
        report = _write(out, float_model, qat, optimizer, quantizers, config, settings, env_record, history,
                        wall_s, len(labels), float_accuracy)
    if not report:  # resumed a finished run
        report = atomic_io.read_json(out / REPORT_FILE)
    report["elapsed_this_call_s"] = time.perf_counter() - started
    return report


def _write(out: Path, float_model: nn.Module, qat: _QatModel, optimizer: torch.optim.Optimizer,
           quantizers: list[ActivationQuantizer], config: dict, settings: FinetuneSettings, env_record: dict,
           history: list[dict], wall_s: float, train_images: int, float_accuracy: float | None) -> dict:
    """Write the model, the checkpoint and the report after an epoch (each file atomically)."""
    state = qat.latent_state()
    atomic_io.torch_save(out / MODEL_FILE, unfolded_state_dict(float_model, state))
    atomic_io.torch_save(out / CHECKPOINT_FILE, {"config": config, "settings": asdict(settings), "env": env_record,
                                                 "state": state, "optimizer": optimizer.state_dict(),
                                                 "history": history, "wall_s": wall_s,
                                                 "activation_ranges": [(q.range_max, q.signed) for q in quantizers]})
    report = {"settings": asdict(settings), "env": env_record, "train_images": train_images,
              "report_split": "test" if float_accuracy is not None else "given batches",
              "float_accuracy": float_accuracy, "accuracy_before": history[0]["accuracy"],
              "accuracy_after": history[-1]["accuracy"], "epochs_done": history[-1]["epoch"], "history": history,
              "train_wall_s": wall_s, "model": str(out / MODEL_FILE)}
    atomic_io.write_json(out / REPORT_FILE, report)
    return report
