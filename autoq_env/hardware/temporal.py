"""Temporal (bit-serial) accelerator: BISMO (Umuroglu et al., FPL 2018 / TRETS 2019), preset ``bismo-pynq``.

A layer is lowered to a matrix product: ``m = batch * out_h * out_w`` rows of activations (left-hand side),
``k = c_in / groups * k_h * k_w`` reduction, ``n = c_out`` weight columns. The ``dm x dk x dn`` dot-product array
computes one binary (1-bit x 1-bit) ``dm x dk`` by ``dk x dn`` product per cycle, and a ``b_w``-bit by ``b_a``-bit
product is the sum of ``b_w * b_a`` binary products of bit-planes, so a dense layer at uniform QBNs costs
``ceil(m / dm) * ceil(n / dn) * ceil(k / dk) * b_w * b_a`` cycles. Operands are stored as bit-planes, at exactly
their QBN.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from autoq_env.hardware.base import MAX_QBN, TileCosts, TiledAccelerator, TileShape
from autoq_env.hardware.presets import BISMO_PYNQ_Z1, BismoPreset


class TemporalAccelerator(TiledAccelerator):
    """BISMO-style bit-serial matrix-multiplication overlay.

    :param preset: array size, clock, buffers and energies (default: the PYNQ-Z1 build, 8x256x8 at 200 MHz).
    :param group_kernels: let the compiler place kernels of equal QBN in the same ``dn``-wide tiles.
    """

    name: ClassVar[str] = "temporal"
    preset_type: ClassVar[type] = BismoPreset
    preset: BismoPreset

    def __init__(self, preset: BismoPreset = BISMO_PYNQ_Z1, group_kernels: bool = True) -> None:
        super().__init__(preset, group_kernels)
        self.lanes = preset.dn
        self._storage_bits = np.arange(MAX_QBN + 1)

    @property
    def peak_binary_ops_per_cycle(self) -> int:
        """``2 * dm * dk * dn``: one AND and one popcount-add per bit pair (BISMO's way of counting)."""
        return 2 * self.preset.dm * self.preset.dk * self.preset.dn

    @property
    def peak_binary_ops_per_s(self) -> float:
        return self.peak_binary_ops_per_cycle * self.preset.frequency_hz

    def _tile_costs(self, tile: TileShape, activation_qbn: int) -> TileCosts:
        row_blocks = -(-tile.pixels // self.preset.dm)
        binary_products = row_blocks * -(-tile.reduction // self.preset.dk)  # per pair of bit-planes
        weight_bits = self._storage_bits.astype(float)  # by weight QBN
        # every activation bit-plane is re-read for each weight bit-plane, every weight bit-plane for each block
        # of dm rows and each activation bit-plane
        return TileCosts(cycles=binary_products * weight_bits * activation_qbn,
                         input_read_bits=tile.pixels * tile.reduction * activation_qbn * weight_bits,
                         weight_reads=float(row_blocks * activation_qbn))
