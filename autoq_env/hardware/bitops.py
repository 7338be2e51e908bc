"""BitOPs proxy: cost proportional to multiply-accumulates times weight bits times activation bits.

``cycles = batch * macs / c_out * sum(kernel_qbn) * activation_qbn`` (each kernel does ``macs / c_out`` MACs at
its own QBN); ``latency_s = cycles / bitops_per_s`` and ``energy_j = cycles * pj_per_bitop``. No tiling, no memory:
the bound a perfectly utilised bit-serial array would reach. Kernel grouping changes nothing here.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from autoq_env.hardware.base import JOULES_PER_PJ, Accelerator, LayerTerms
from autoq_env.hardware.presets import BITOPS_NOMINAL, BitopsPreset
from autoq_env.workload import LayerSpec


class BitopsAccelerator(Accelerator):
    """Bit-operation count with nominal rate and energy (``presets.BITOPS_NOMINAL``)."""

    name: ClassVar[str] = "bitops"
    preset_type: ClassVar[type] = BitopsPreset
    preset: BitopsPreset

    def __init__(self, preset: BitopsPreset = BITOPS_NOMINAL, group_kernels: bool = True) -> None:
        super().__init__(preset, group_kernels)

    @property
    def cycles_per_s(self) -> float:
        return self.preset.bitops_per_s

    def _layer_terms(self, spec: LayerSpec, kernel_qbn: np.ndarray, activation_qbn: int, output_qbn: int | None,
                     batch: int) -> LayerTerms:
        bitops = float(batch * (spec.macs // spec.c_out) * int(kernel_qbn.sum()) * activation_qbn)
        return bitops, bitops, 0.0, bitops * self.preset.pj_per_bitop * JOULES_PER_PJ, 0.0, 0.0, 0.0
