"""Quantizer: kernel-wise weights and layer-wise activations on exact integer grids.

All arithmetic is real torch arithmetic: a value is mapped to an integer on the grid, clamped, and
mapped back (quantize, then dequantize), so a quantized tensor holds only grid values.

**Weights** are quantized per kernel (per output channel), symmetric. For QBN ``b >= 2`` the grid is
``scale * {-(2^(b-1) - 1), ..., 2^(b-1) - 1}`` (the "narrow" symmetric range of Krishnamoorthi,
2018, so zero is exact and the grid is symmetric): at most ``2^b - 1`` values. For ``b = 1`` the grid
is ``scale * {-1, +1}`` (binary weights as in XNOR-Net). The clipping threshold of each kernel and QBN
minimises the kernel's squared quantization error, searched over ``CLIP_RATIOS`` of its largest
magnitude: at low QBNs clipping a few outliers lowers the error of all other weights (Banner et al.,
2019; Choukroun et al., 2019), at 8 bits the search keeps the full range.

Every (kernel, QBN) pair is quantized once, in ``KernelWiseWeights``, and stored as int8 codes with one
float32 step per kernel; applying a configuration is a gather from that table, not a recomputation.
The quantized weight is ``code * step`` in float32 (``dequantize``), but the evaluator never forms it:
it convolves the integer codes (``autoq_env.evaluator``).

**Activations** are quantized per layer at the input of every quantizable layer, to the range seen
on the calibration split (the 99.9th percentile of ``|x|``, robust to rare outliers). Inputs that are
never negative in calibration (after a ReLU) use the unsigned grid ``scale * {0, ..., 2^b - 1}``;
others (the network's input image) the signed symmetric grid above.
"""

from __future__ import annotations

import numpy as np
import torch

QBN_LIMITS = (1, 8)
CLIP_RATIOS = torch.linspace(0.05, 1.0, 96)
ACTIVATION_PERCENTILE = 99.9
# Weights per chunk of the clipping search (whole kernels; float64): bounds its temporary memory to a few
# times 8 MiB whatever the layer's size.
CLIP_SEARCH_CHUNK_ELEMENTS = 1 << 20


def check_qbn(qbn: int, what: str = "QBN") -> int:
    """Return ``qbn`` as ``int`` or raise ``ValueError`` unless it is an integer in 1..8."""
    if isinstance(qbn, (bool, np.bool_)) or not isinstance(qbn, (int, np.integer)):
        raise TypeError(f"{what} must be an integer in {QBN_LIMITS[0]}..{QBN_LIMITS[1]}, got {qbn!r}")
    if not QBN_LIMITS[0] <= int(qbn) <= QBN_LIMITS[1]:
        raise ValueError(f"{what} must be in {QBN_LIMITS[0]}..{QBN_LIMITS[1]}, got {qbn}")
    return int(qbn)


def signed_levels(qbn: int) -> int:
    """Largest integer of the signed symmetric grid of ``qbn`` bits (1 for binary)."""
    return 1 if qbn == 1 else 2 ** (qbn - 1) - 1


def quantize_signed(x: torch.Tensor, scale: torch.Tensor | float, qbn: int) -> torch.Tensor:
    """Quantize-dequantize ``x`` on the signed symmetric grid of ``qbn`` bits with step ``scale``."""
    return signed_codes(x, scale, qbn).mul_(scale)


def signed_codes(x: torch.Tensor, scale: torch.Tensor | float, qbn: int) -> torch.Tensor:
    """The integer codes (in ``x``'s float dtype) of ``x`` on the signed grid of ``qbn`` bits with step ``scale``:
    ``clamp(round(x / scale), -top, top)``, or ``sign`` (``x >= 0``: +1) at one bit."""
    if qbn == 1:
        return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)
    top = signed_levels(qbn)
    return x.div(scale).round_().clamp_(-top, top)  # one new tensor, then in place


def unsigned_codes(x: torch.Tensor, scale: torch.Tensor | float, qbn: int) -> torch.Tensor:
    """The integer codes (in ``x``'s float dtype) of ``x`` on the unsigned grid ``{0, ..., 2^qbn - 1}``."""
    return x.div(scale).round_().clamp_(0, 2 ** qbn - 1)


def _mse_codes(flat: torch.Tensor, qbn: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Codes (int8) and float64 steps ``(rows, 1)`` of the float64 kernels ``flat`` (one per row)."""
    if qbn == 1:  # binary: the MSE-optimal scale of sign(w) is mean |w| (XNOR-Net)
        return signed_codes(flat, 1.0, 1).to(torch.int8), flat.abs().mean(dim=1, keepdim=True).clamp_min(1e-12)
    max_abs = flat.abs().amax(dim=1, keepdim=True).clamp_min(1e-12)
    best_error = torch.full((flat.shape[0], 1), float("inf"), dtype=flat.dtype)
    best_scale = max_abs / signed_levels(qbn)
    for ratio in CLIP_RATIOS.tolist():
        scale = ratio * max_abs / signed_levels(qbn)
        error = quantize_signed(flat, scale, qbn).sub_(flat).pow_(2).sum(dim=1, keepdim=True)
        better = error < best_error
        best_error = torch.where(better, error, best_error)
        best_scale = torch.where(better, scale, best_scale)
    return signed_codes(flat, best_scale, qbn).to(torch.int8), best_scale


def kernel_codes(weight: torch.Tensor, qbn: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every kernel (row of ``weight.flatten(1)``) on its ``qbn``-bit grid with MSE-optimal clipping.

    The search runs in float64 over chunks of ``CLIP_SEARCH_CHUNK_ELEMENTS`` weights (whole kernels), so
    its temporary memory is a few chunk-sized tensors whatever the layer's size; each kernel's result does
    not depend on the chunking (every operation is per weight or a sum over one kernel).

    :return: the integer codes (int8, shape of ``weight``) and the per-kernel steps (float32, ``(c_out,)``);
        the quantized weight is ``codes * step`` (``dequantize``).
    """
    check_qbn(qbn)
    flat = weight.detach().flatten(1)
    codes = torch.empty(flat.shape, dtype=torch.int8)
    steps = torch.empty(flat.shape[0], dtype=torch.float32)
    rows = max(1, CLIP_SEARCH_CHUNK_ELEMENTS // max(flat.shape[1], 1))
    for start in range(0, flat.shape[0], rows):
        chunk_codes, chunk_steps = _mse_codes(flat[start:start + rows].double(), qbn)
        codes[start:start + rows] = chunk_codes
        steps[start:start + rows] = chunk_steps.flatten()
    return codes.view(weight.shape), steps


def dequantize(codes: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """``codes * step`` per kernel, in float32 (what ONNX's ``DequantizeLinear`` computes)."""
    return codes.float() * steps.view((-1,) + (1,) * (codes.ndim - 1))


def quantize_kernels(weight: torch.Tensor, qbn: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize-dequantize every kernel of ``weight`` to ``qbn`` bits (``kernel_codes``, then ``dequantize``).

    :return: the dequantized weight (float32, same shape as ``weight``) and the per-kernel steps.
    """
    codes, steps = kernel_codes(weight, qbn)
    return dequantize(codes, steps), steps


class KernelWiseWeights:
    """Every kernel of one layer quantized at every QBN in ``qbns``, computed once, stored as integer codes.

    :param weight: float weight of shape ``(c_out, ...)``; row ``k`` is kernel ``k``.
    :param qbns: the QBNs to tabulate (consecutive integers within 1..8).

    ``codes`` is int8 ``(n_qbn, c_out, ...)`` and ``steps`` float32 ``(n_qbn, c_out)``: a quarter of one
    float copy of the layer per QBN, against a float copy per QBN.
    """

    def __init__(self, weight: torch.Tensor, qbns: range) -> None:
        if len(qbns) == 0 or qbns.step != 1:
            raise ValueError(f"qbns must be a non-empty range of consecutive QBNs, got {qbns!r}")
        check_qbn(qbns[0], "smallest QBN")
        check_qbn(qbns[-1], "largest QBN")
        self.qbns = qbns
        self.float_weight = weight.detach().float().clone()
        self.codes = torch.empty((len(qbns), *weight.shape), dtype=torch.int8)
        self.steps = torch.empty((len(qbns), weight.shape[0]), dtype=torch.float32)
        for index, qbn in enumerate(qbns):
            self.codes[index], self.steps[index] = kernel_codes(self.float_weight, qbn)
        energy = self.float_weight.flatten(1).pow(2).sum(-1).clamp_min(1e-24)
        error = torch.stack([(self.dequantized(qbn) - self.float_weight).flatten(1).pow(2).sum(-1) for qbn in qbns])
        self.relative_error = error / energy  # (n_qbn, c_out): ||w_q - w||^2 / ||w||^2
        # (n_qbn, c_out): sum of |code| over each kernel, which bounds its dot products (QuantizedEvaluator)
        self.code_abs_sum = torch.stack([c.flatten(1).abs().sum(-1, dtype=torch.int64) for c in self.codes])
        self._kernel_index = torch.arange(weight.shape[0])

    @property
    def num_kernels(self) -> int:
        return self.float_weight.shape[0]

    def dequantized(self, qbn: int) -> torch.Tensor:
        """The whole layer quantized at ``qbn`` bits (float32)."""
        index = check_qbn(qbn) - self.qbns[0]
        if not 0 <= index < len(self.qbns):
            raise ValueError(f"QBN must be in {self.qbns[0]}..{self.qbns[-1]}, got {qbn}")
        return dequantize(self.codes[index], self.steps[index])

    def gather(self, kernel_qbn: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The layer with kernel ``k`` at ``kernel_qbn[k]`` bits: its codes (int8, shape of the weight) and
        per-kernel steps (float32); the weight is ``dequantize(codes, steps)``."""
        qbn = torch.as_tensor(np.array(kernel_qbn), dtype=torch.int64)  # a copy: read-only arrays are fine
        if qbn.shape != (self.num_kernels,):
            raise ValueError(f"kernel_qbn must have one entry per kernel ({self.num_kernels}), got shape "
                             f"{tuple(qbn.shape)}")
        if int(qbn.min()) < self.qbns[0] or int(qbn.max()) > self.qbns[-1]:
            raise ValueError(f"kernel QBNs must be in {self.qbns[0]}..{self.qbns[-1]}, got "
                             f"{int(qbn.min())}..{int(qbn.max())}")
        rows = qbn - self.qbns[0]
        return self.codes[rows, self._kernel_index], self.steps[rows, self._kernel_index]


class ActivationQuantizer:
    """Layer-wise activation quantizer with a range calibrated once.

    :param range_max: the calibrated clipping range (99.9th percentile of ``|x|``).
    :param signed: whether the calibration data held negative values.
    """

    def __init__(self, range_max: float, signed: bool) -> None:
        if not np.isfinite(range_max) or range_max <= 0:
            raise ValueError(f"activation range must be a positive finite number, got {range_max}")
        self.range_max = float(range_max)
        self.signed = bool(signed)

    def step(self, qbn: int) -> float:
        """Grid step of ``qbn`` bits."""
        return self.range_max / (signed_levels(qbn) if self.signed else 2 ** qbn - 1)

    def code_range(self, qbn: int) -> tuple[int, int]:
        """Smallest and largest integer code of the ``qbn``-bit grid."""
        return (-signed_levels(qbn), signed_levels(qbn)) if self.signed else (0, 2 ** qbn - 1)

    def codes(self, x: torch.Tensor, qbn: int) -> torch.Tensor:
        """The integer codes of ``x`` on the ``qbn``-bit grid (in ``x``'s float dtype)."""
        step = self.step(qbn)
        return signed_codes(x, step, qbn) if self.signed else unsigned_codes(x, step, qbn)

    def __call__(self, x: torch.Tensor, qbn: int) -> torch.Tensor:
        """``x`` quantized and dequantized: ``codes(x, qbn) * step(qbn)``."""
        return self.codes(x, qbn).mul_(self.step(qbn))

    @classmethod
    def calibrate(cls, samples: torch.Tensor) -> ActivationQuantizer:
        """Fit the range to ``samples`` (a flat tensor of activations seen on the calibration split)."""
        values = samples.detach().flatten().float()
        if values.numel() > 2_000_000:  # quantile() limits its input size; a strided subsample suffices
            values = values[:: values.numel() // 2_000_000 + 1]
        range_max = float(torch.quantile(values.abs(), ACTIVATION_PERCENTILE / 100.0))
        if range_max <= 0:
            range_max = float(values.abs().max().clamp_min(1e-8))
        return cls(range_max, signed=bool((values < 0).any()))
