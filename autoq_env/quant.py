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

Every (kernel, QBN) pair is quantized once, in ``KernelWiseWeights``; applying a configuration is a
gather from that table, not a recomputation.

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
    top = signed_levels(qbn)
    if qbn == 1:
        scale = torch.as_tensor(scale, dtype=x.dtype, device=x.device)
        return torch.where(x >= 0, scale, -scale)
    return x.div(scale).round_().clamp_(-top, top).mul_(scale)  # one new tensor, then in place


def quantize_unsigned(x: torch.Tensor, scale: torch.Tensor | float, qbn: int) -> torch.Tensor:
    """Quantize-dequantize ``x`` on the unsigned grid ``{0, ..., 2^qbn - 1}`` with step ``scale``."""
    return x.div(scale).round_().clamp_(0, 2 ** qbn - 1).mul_(scale)


def quantize_kernels(weight: torch.Tensor, qbn: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize every kernel (row of ``weight.flatten(1)``) to ``qbn`` bits with MSE-optimal clipping.

    :return: the dequantized weight (same shape as ``weight``) and the per-kernel step sizes.
    """
    check_qbn(qbn)
    flat = weight.detach().flatten(1).double()
    max_abs = flat.abs().amax(dim=1, keepdim=True).clamp_min(1e-12)
    if qbn == 1:  # binary: the MSE-optimal scale of sign(w) is mean |w| (XNOR-Net)
        scale = flat.abs().mean(dim=1, keepdim=True).clamp_min(1e-12)
        return quantize_signed(flat, scale, 1).to(weight.dtype).view_as(weight), scale.flatten().float()
    best_error = torch.full((flat.shape[0], 1), float("inf"), dtype=flat.dtype)
    best_scale = max_abs / signed_levels(qbn)
    for ratio in CLIP_RATIOS.tolist():
        scale = ratio * max_abs / signed_levels(qbn)
        error = (quantize_signed(flat, scale, qbn) - flat).pow(2).sum(dim=1, keepdim=True)
        better = error < best_error
        best_error = torch.where(better, error, best_error)
        best_scale = torch.where(better, scale, best_scale)
    quantized = quantize_signed(flat, best_scale, qbn)
    return quantized.to(weight.dtype).view_as(weight), best_scale.flatten().float()


class KernelWiseWeights:
    """Every kernel of one layer quantized at every QBN in ``qbns``, computed once.

    :param weight: float weight of shape ``(c_out, ...)``; row ``k`` is kernel ``k``.
    :param qbns: the QBNs to tabulate (consecutive integers within 1..8).
    """

    def __init__(self, weight: torch.Tensor, qbns: range) -> None:
        if len(qbns) == 0 or qbns.step != 1:
            raise ValueError(f"qbns must be a non-empty range of consecutive QBNs, got {qbns!r}")
        check_qbn(qbns[0], "smallest QBN")
        check_qbn(qbns[-1], "largest QBN")
        self.qbns = qbns
        self.float_weight = weight.detach().clone()
        tables = [quantize_kernels(self.float_weight, qbn) for qbn in qbns]
        self.table = torch.stack([dequantized for dequantized, _ in tables])  # (n_qbn, c_out, ...)
        self.scales = torch.stack([scale for _, scale in tables])  # (n_qbn, c_out)
        error = (self.table - self.float_weight.unsqueeze(0)).flatten(2).pow(2).sum(-1)
        energy = self.float_weight.flatten(1).pow(2).sum(-1).clamp_min(1e-24)
        self.relative_error = (error / energy).float()  # (n_qbn, c_out): ||w_q - w||^2 / ||w||^2
        self._kernel_index = torch.arange(weight.shape[0])

    @property
    def num_kernels(self) -> int:
        return self.float_weight.shape[0]

    def gather(self, kernel_qbn: np.ndarray | torch.Tensor) -> torch.Tensor:
        """The layer's weight with kernel ``k`` quantized to ``kernel_qbn[k]`` bits."""
        qbn = torch.as_tensor(np.array(kernel_qbn), dtype=torch.int64)  # a copy: read-only arrays are fine
        if qbn.shape != (self.num_kernels,):
            raise ValueError(f"kernel_qbn must have one entry per kernel ({self.num_kernels}), got shape "
                             f"{tuple(qbn.shape)}")
        if int(qbn.min()) < self.qbns[0] or int(qbn.max()) > self.qbns[-1]:
            raise ValueError(f"kernel QBNs must be in {self.qbns[0]}..{self.qbns[-1]}, got "
                             f"{int(qbn.min())}..{int(qbn.max())}")
        return self.table[qbn - self.qbns[0], self._kernel_index]


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

    def __call__(self, x: torch.Tensor, qbn: int) -> torch.Tensor:
        step = self.step(qbn)
        return quantize_signed(x, step, qbn) if self.signed else quantize_unsigned(x, step, qbn)

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
