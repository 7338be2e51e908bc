"""Evaluator: the accuracy of a model under a kernel-wise quantization configuration.

The float model is copied once with every BatchNorm folded into the convolution before it (what an
integer inference engine runs). Folding multiplies each output channel by ``gamma / sigma``, a
per-kernel factor, and per-kernel symmetric quantization with a per-kernel clipping search is
invariant to such a factor, so quantizing folded weights picks the same grid points as quantizing the
unfolded ones.

**Integer arithmetic.** A quantized layer computes what an integer engine computes: its input becomes
integer codes (``round(x / step)``, clamped to the QBN's range), its weight is its kernels' integer codes
(gathered from the precomputed (kernel, QBN) table, ``autoq_env.quant.KernelWiseWeights``), the layer sums
code products plus its bias as an integer on the accumulator's grid, and the sums become the float
output as ``sums * (input step x kernel step)`` (``IntegerRescale``). The bias code is
``round(bias / (input step x kernel step))``: the int32 bias of integer-only inference (Jacob et al.,
CVPR 2018, section 2.4), made finer by scaling the sums by ``2^f`` where the bound below leaves room
(``f`` up to ``BIAS_FRACTION_BITS``, ``layer_integers``), so each output moves by at most ``2^-(f+1)``
accumulator steps. The codes are held in float32 and summed by the ordinary float convolution, which is
exact, whatever its summation order and wherever it adds the bias, while every sum of |terms| stays at
most ``2^24``; that bound is checked per layer once, at build time, from the largest per-kernel sum of
|weight codes| over the table's QBNs times the largest activation code, plus the largest bias code
(``accumulation_dtype``), and again for each configuration at its QBNs (``layer_integers``, for the hook
path). A layer whose bound exceeds it sums in float64 instead (exact to ``2^53``), and its sums are
rounded once to float32. So the
result does not depend on the convolution algorithm's summation order, and an ONNX export with integer
convolutions (``autoq_env.deploy.onnx_export``) gives bit for bit the same logits. (On CUDA, cuDNN may
pick Winograd or FFT algorithms whose transforms round; exactness is then not guaranteed, which has not
been checked here.)

``apply(config)`` loads each layer's codes and scales and sets the layer's activation QBN; a forward
pre-hook and a forward hook on each quantizable layer quantize its input and rescale its output (the
reference path, with ``autoq_env.quant``'s arithmetic).

**Fused forward.** The hooks cost about half a float forward on top (passes over every layer input
and output). When the folded model can be traced with ``torch.fx``, the evaluator also keeps a copy
whose graph holds the same quantization as a node before each quantizable layer and the rescale as a
node after it, with the grid step and bounds as tensors, so that one ``torch.compile`` of it serves
every configuration: the compiler fuses each quantizer into the ReLU or residual add producing the
layer's input, and the arithmetic (divide by the step, round half to even, clamp; sum; multiply) is the
same operations in the same order, so the logits are bit for bit those of the hook path
(``tests/test_evaluator.py``). Compiling costs about 20 s, so it is done only once a process has
evaluated ``COMPILE_AFTER_IMAGES`` quantized images (when it pays: a long search), or on request
(``compile_fused``); it works on any device torch compiles for (CPU via C++, CUDA via Triton). Before
that, and for batch shapes other than the one compiled, the hook path runs.
"""

from __future__ import annotations

import copy
import os
import time
import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from autoq_env.quant import ActivationQuantizer, KernelWiseWeights

Batches = Sequence[tuple[torch.Tensor, torch.Tensor]]
# Quantized images evaluated on the hook path before the fused model is compiled (~20 s). At about a
# 25% saving per image this pays back after ~300,000 more images: runs of hundreds of episodes.
# AUTOQ_COMPILE=0 never compiles; AUTOQ_COMPILE=1 compiles at the first quantized evaluation.
COMPILE_AFTER_IMAGES = 100_000
EXACT_FLOAT32_INTEGER = 2 ** 24  # float32 holds every integer up to this magnitude exactly
BIAS_FRACTION_BITS = 8  # the bias rounds to 2^-8 of an accumulator step where the sums leave room


class LayerIntegers(NamedTuple):
    """A quantized layer's integers at one configuration: its output is
    ``(2^fraction_bits * sum(input codes x weight_codes) + bias_codes) * output_scale``."""

    weight_codes: torch.Tensor  # int8, the weight's shape
    weight_steps: torch.Tensor  # float32 (c_out,)
    dtype: torch.dtype  # float32 where this configuration's sums stay within 2^24, else float64
    fraction_bits: int
    bias_codes: torch.Tensor | None  # float64 (c_out,), integer values: round(bias / output_scale)
    output_scale: torch.Tensor  # float32 (c_out,): input step x kernel step / 2^fraction_bits


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


class ActivationCodes(nn.Module):
    """``clamp(round(x / step), low, high)`` with step and bounds in tensors (one graph for every QBN), cast to
    the layer's accumulation dtype.

    The same operations as ``autoq_env.quant.signed_codes``/``unsigned_codes`` (QBN >= 2 signed, any QBN
    unsigned).
    """

    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.dtype = dtype
        for name in ("step", "low", "high"):
            self.register_buffer(name, torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.div(self.step).round().clamp(self.low, self.high).to(self.dtype)


class IntegerRescale(nn.Module):
    """A layer's integer sums (bias code included) to its float output: ``float32(sums) * scale`` per output
    channel, where ``scale`` is the float32 product of the input's step and the kernel's step.

    :param weight_shape: the layer's weight shape (``c_out`` first); the output's channels are on dim 1.
    """

    def __init__(self, weight_shape: torch.Size) -> None:
        super().__init__()
        self.register_buffer("scale", torch.ones((weight_shape[0],) + (1,) * (len(weight_shape) - 2)))

    def forward(self, sums: torch.Tensor) -> torch.Tensor:
        return sums.float().mul_(self.scale)  # in place on the layer's fresh output (a new tensor if float64)


def insert_integer_nodes(model: nn.Module, layer_names: Sequence[str], dtypes: Sequence[torch.dtype],
                         rescales: Sequence[IntegerRescale]) -> tuple[nn.Module, list[ActivationCodes]] | None:
    """A copy of an fx ``GraphModule`` where each named layer convolves integer codes: an ``ActivationCodes``
    before it, the layer itself in its accumulation dtype, then its ``IntegerRescale`` (shared
    with the caller, not copied). ``None`` when ``model`` is not a GraphModule or a layer is not called
    exactly once in its graph."""
    from torch import fx

    if not isinstance(model, fx.GraphModule):
        return None
    fused = copy.deepcopy(model)
    if any(module._forward_pre_hooks or module._forward_hooks for module in fused.modules()):
        raise ValueError("insert_integer_nodes needs a model without forward hooks (they would run twice)")
    calls = {name: [n for n in fused.graph.nodes if n.op == "call_module" and n.target == name] for name in layer_names}
    if any(len(nodes) != 1 or not nodes[0].args for nodes in calls.values()):
        return None
    quantizers = []
    for index, (name, dtype, rescale) in enumerate(zip(layer_names, dtypes, rescales)):
        node = calls[name][0]
        layer = fused.get_submodule(name)
        layer.to(dtype)
        fused.add_submodule(f"autoq_input_codes_{index}", ActivationCodes(dtype).to(layer.weight.device))
        fused.add_submodule(f"autoq_rescale_{index}", rescale)
        quantizers.append(fused.get_submodule(f"autoq_input_codes_{index}"))
        with fused.graph.inserting_before(node):
            codes = fused.graph.call_module(f"autoq_input_codes_{index}", (node.args[0],))
        node.replace_input_with(node.args[0], codes)
        with fused.graph.inserting_after(node):
            rescaled = fused.graph.call_module(f"autoq_rescale_{index}", (node,))
        node.replace_all_uses_with(rescaled, delete_user_cb=lambda user, rescaled=rescaled: user is not rescaled)
    fused.graph.lint()
    fused.recompile()
    return fused, quantizers


def bias_codes(bias: torch.Tensor, output_scale: torch.Tensor) -> torch.Tensor:
    """The bias on the accumulator's grid: ``round(bias / output_scale)`` (float64, integer values)."""
    return torch.round(bias.double() / output_scale.double())


def accumulation_dtype(table: KernelWiseWeights, quantizer: ActivationQuantizer,
                       bias: torch.Tensor | None) -> torch.dtype:
    """float32 when every sum the layer can form (code products plus bias code, any kernel QBN, any
    activation QBN of the table's range) is at most ``2^24`` in magnitude, so float32 holds it and all its
    partial sums exactly, in any summation order; float64 (exact up to ``2^53``) otherwise."""
    qbns = table.qbns
    largest_code = max(abs(code) for code in quantizer.code_range(qbns[-1]))
    bound = table.code_abs_sum.max(0).values.double() * largest_code  # (c_out,) over every QBN
    if bias is not None:  # the largest bias code: the smallest steps, at b_max and each kernel's finest QBN
        smallest_scale = torch.tensor(quantizer.step(qbns[-1]), dtype=torch.float32) * table.steps.min(0).values
        bound = bound + bias_codes(bias.cpu(), smallest_scale).abs() + 1
    return torch.float32 if float(bound.max()) <= EXACT_FLOAT32_INTEGER else torch.float64


def _load(parameter: torch.Tensor, value: torch.Tensor) -> None:
    """Set a parameter's values, and its dtype where it changes (float model against float64 sums)."""
    if parameter.dtype == value.dtype:
        parameter.copy_(value)
    else:
        layout = torch.channels_last if value.ndim == 4 else torch.contiguous_format
        parameter.data = value.to(parameter.device).contiguous(memory_format=layout)


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
        self.float_biases = [None if layer.bias is None else layer.bias.detach().clone() for layer in self.layers]
        self.activation_quantizers = self._calibrate(calibration)
        self.accumulation_dtypes = [accumulation_dtype(table, quantizer, bias) for table, quantizer, bias
                                    in zip(self.weights, self.activation_quantizers, self.float_biases)]
        self._hook_dtypes = list(self.accumulation_dtypes)  # per configuration (``layer_integers``)
        self._rescales = [IntegerRescale(layer.weight.shape).to(self.device) for layer in self.layers]
        self._activation_qbn: list[int | None] = [None] * len(self.layers)
        # before the hooks: the copy must not carry them
        built = insert_integer_nodes(self.model, layer_names, self.accumulation_dtypes, self._rescales)
        for index, layer in enumerate(self.layers):
            layer.register_forward_pre_hook(self._make_input_hook(index))
            layer.register_forward_hook(self._make_output_hook(index))
        self.fisher = self._fisher_information(calibration)
        self.fused, self._fused_quantizers = built if built is not None else (None, [])
        self._fused_layers = [] if self.fused is None else [self.fused.get_submodule(name) for name in layer_names]
        if self.fused is not None:
            self.fused.requires_grad_(False)
        self._compiled: nn.Module | None = None
        self._compiled_shape: tuple[int, ...] | None = None
        self.compile_time_s: float | None = None
        self.hook_images = 0  # quantized images evaluated on the hook path (the compile policy's count)
        self.use_fused = True  # False: every quantized forward on the hook path (the reference), e.g. to time both
        policy = os.environ.get("AUTOQ_COMPILE", "auto")
        self.compile_after_images = {"0": None, "1": 0}.get(policy, COMPILE_AFTER_IMAGES)

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

    def _make_input_hook(self, index: int):
        quantizer = self.activation_quantizers[index]

        def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...] | None:
            qbn = self._activation_qbn[index]
            if qbn is None:
                return None
            return (quantizer.codes(inputs[0], qbn).to(self._hook_dtypes[index]), *inputs[1:])
        return hook

    def _make_output_hook(self, index: int):
        rescale = self._rescales[index]

        def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor | None:
            return None if self._activation_qbn[index] is None else rescale(output)
        return hook

    # -- use ----------------------------------------------------------------------------------------
    def loss_increase_estimate(self, qbn: int) -> list[np.ndarray]:
        """Per kernel: ``0.5 * sum_i F_i (w_q,i - w_i)^2`` at ``qbn`` bits (second-order loss estimate)."""
        out = []
        for weights, fisher in zip(self.weights, self.fisher):
            delta = weights.dequantized(qbn) - weights.float_weight
            out.append((0.5 * (fisher * delta.pow(2)).flatten(1).sum(1)).double().numpy())
        return out

    def layer_integers(self, index: int, activation_qbn: int, kernel_qbn: np.ndarray) -> LayerIntegers:
        """Layer ``index``'s integer form at a configuration (what ``apply`` loads and the exports write).

        The sums are scaled by ``2^f`` (``f = fraction_bits``: the largest in ``0..BIAS_FRACTION_BITS`` for
        which this configuration's bound, sum of |weight codes| x largest input code + |bias code|, times
        ``2^f`` stays within ``2^24``), so that the bias rounds to ``2^-f`` of an accumulator step;
        ``output_scale`` is divided by ``2^f`` (exact in float32). ``dtype`` is float32 when the bound
        (times ``2^f``) is within ``2^24``, else float64: the hook path sums in it, the fused graph in the
        build-time worst case (``accumulation_dtypes``); both are exact, so they agree bit for bit.
        """
        codes, steps = self.weights[index].gather(kernel_qbn)
        quantizer = self.activation_quantizers[index]
        scale = torch.tensor(quantizer.step(activation_qbn), dtype=torch.float32) * steps  # input x kernel step
        rows = torch.as_tensor(np.array(kernel_qbn, dtype=np.int64)) - self.qbns[0]  # a copy: read-only is fine
        bound = (self.weights[index].code_abs_sum[rows, torch.arange(len(steps))].double()
                 * max(abs(code) for code in quantizer.code_range(activation_qbn)))
        bias = self.float_biases[index]
        if bias is not None:
            bound = bound + bias_codes(bias.cpu(), scale).abs() + 1
        largest = float(bound.max())
        fraction_bits = 0
        while fraction_bits < BIAS_FRACTION_BITS and largest * 2 ** (fraction_bits + 1) <= EXACT_FLOAT32_INTEGER:
            fraction_bits += 1
        dtype = torch.float32 if largest * 2 ** fraction_bits <= EXACT_FLOAT32_INTEGER else torch.float64
        scale = scale * 2.0 ** -fraction_bits
        bias_code = None if bias is None else bias_codes(bias.cpu(), scale)
        return LayerIntegers(codes, steps, dtype, fraction_bits, bias_code, scale)

    def apply(self, activation_qbn: Sequence[int] | None, kernel_qbn: Sequence[np.ndarray] | None) -> None:
        """Quantize the model to a configuration; ``None`` for both restores the float model.

        A quantized layer holds its kernels' integer codes and its bias codes (in its accumulation dtype);
        its hooks turn its input into codes and its sums into the float output (``IntegerRescale``).
        """
        if (activation_qbn is None) != (kernel_qbn is None):
            raise ValueError("give both activation_qbn and kernel_qbn (a configuration), or neither (the float model)")
        if activation_qbn is not None and any(not self.qbns[0] <= int(b) <= self.qbns[-1] for b in activation_qbn):
            raise ValueError(f"activation QBNs must be in {self.qbns[0]}..{self.qbns[-1]}, got {list(activation_qbn)}")
        with torch.no_grad():
            for index, (layer, table) in enumerate(zip(self.layers, self.weights)):
                if kernel_qbn is None:
                    _load(layer.weight, table.float_weight.to(self.device))
                    if layer.bias is not None:
                        _load(layer.bias, self.float_biases[index])
                    continue
                integers = self.layer_integers(index, int(activation_qbn[index]), kernel_qbn[index])
                self._hook_dtypes[index] = integers.dtype
                self._rescales[index].scale.copy_(integers.output_scale.view_as(self._rescales[index].scale))
                targets = [layer] + ([] if self.fused is None else [self._fused_layers[index]])
                for target, dtype in zip(targets, (integers.dtype, self.accumulation_dtypes[index])):
                    _load(target.weight, integers.weight_codes.to(self.device, dtype) * 2 ** integers.fraction_bits)
                    if integers.bias_codes is not None:
                        _load(target.bias, integers.bias_codes.to(self.device, dtype))
        self._activation_qbn = [None] * len(self.layers) if activation_qbn is None else [int(b) for b in activation_qbn]
        for quantizer, qbn, calibrated in zip(self._fused_quantizers, self._activation_qbn, self.activation_quantizers):
            if qbn is not None:
                low, high = calibrated.code_range(qbn)
                quantizer.step.fill_(calibrated.step(qbn))
                quantizer.low.fill_(low)
                quantizer.high.fill_(high)

    @property
    def quantized(self) -> bool:
        """Whether a configuration is applied (not the float model)."""
        return all(qbn is not None for qbn in self._activation_qbn)

    def _fused_applies(self) -> bool:
        """The fused graph computes what the hooks do unless a signed input is binary (sign, not a grid)."""
        return self.fused is not None and not any(
            qbn == 1 and quantizer.signed for qbn, quantizer in zip(self._activation_qbn, self.activation_quantizers))

    def compile_fused(self, example: torch.Tensor) -> bool:
        """Compile the fused model for batches shaped like ``example``; ``False`` (with a warning) if torch
        cannot compile here or the model has no fused graph."""
        if self._compiled is not None:
            return True
        if self.fused is None:
            return False
        started = time.perf_counter()
        try:
            compiled = torch.compile(self.fused, dynamic=False)
            with torch.inference_mode():
                compiled(example.to(self.device))
        except Exception as error:  # no C++ compiler or Triton, an unsupported op, ...
            warnings.warn(f"torch.compile of the fused quantized model failed ({type(error).__name__}: {error}); "
                          "evaluating with forward hooks", stacklevel=2)
            self.fused = None
            return False
        self._compiled, self._compiled_shape = compiled, tuple(example.shape)
        self.compile_time_s = time.perf_counter() - started
        return True

    def _forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits of the model as configured: the compiled fused graph where it applies, else the hooks."""
        if self.quantized and self.use_fused and self._fused_applies():
            if self._compiled is None and self.compile_after_images is not None \
                    and self.hook_images >= self.compile_after_images:
                self.compile_fused(images)
            if self._compiled is not None and tuple(images.shape) == self._compiled_shape:
                return self._compiled(images)
        if self.quantized:
            self.hook_images += len(images)
        return self.model(images)

    @torch.inference_mode()
    def correct(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Per image (bool, on the CPU): whether the model as currently configured predicts ``labels``."""
        logits = self._forward(images.to(self.device, non_blocking=True))
        return logits.argmax(1).cpu() == labels

    @torch.inference_mode()
    def accuracy(self, batches: Batches) -> float:
        """Top-1 accuracy (percent) of the model as currently configured."""
        correct = total = 0
        for images, labels in batches:
            correct += int(self.correct(images, labels).sum())
            total += len(labels)
        return 100.0 * correct / total
