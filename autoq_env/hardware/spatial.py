"""Spatial accelerator: BitFusion (Sharma et al., ISCA 2018), preset ``bitfusion-eyeriss``.

``rows x columns`` Fusion Units; each fuses ``16`` 2-bit BitBricks into 16 multiplies of 2b x 2b, 4 of 4b x 4b
(or 8b x 2b) or 1 of 8b x 8b per cycle. Operands round up to 2, 4 or 8 bits ("fused" width) and are stored at that
width. Output channels map to columns; the precision factor ``pf = (8 // a) * (8 // w)`` of the fused widths
multiplies the input channels the rows reduce per cycle. As in the public simulator
(``Accelerator.get_compute_cycles``), a tile of ``columns`` output channels takes, per output pixel and kernel
position, ``ceil(channels / (rows * pf))`` cycles, so a dense layer at uniform QBNs costs
``batch * ceil(c_out / columns) * out_h * out_w * k_h * k_w * ceil(c_in / (rows * pf))`` cycles.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from autoq_env.hardware.base import MAX_QBN, TileCosts, TiledAccelerator, TileShape
from autoq_env.hardware.presets import BITFUSION_EYERISS, BitFusionPreset


class SpatialAccelerator(TiledAccelerator):
    """BitFusion-style bit-level fusible array.

    :param preset: array size, buffers and energies (default: BitFusion's iso-area-with-Eyeriss build).
    :param group_kernels: let the compiler place kernels of equal QBN in the same column tiles.
    """

    name: ClassVar[str] = "spatial"
    preset_type: ClassVar[type] = BitFusionPreset
    preset: BitFusionPreset

    def __init__(self, preset: BitFusionPreset = BITFUSION_EYERISS, group_kernels: bool = True) -> None:
        super().__init__(preset, group_kernels)
        self.lanes = preset.columns
        fused = [0]  # fused[q]: q rounded up to brick_bits times a power of two (2, 4, 8), capped at max_bits
        for qbn in range(1, MAX_QBN + 1):
            width = preset.brick_bits
            while width < min(qbn, preset.max_bits):
                width *= 2
            fused.append(width)
        self._storage_bits = np.array(fused)

    def fused_bits(self, qbn: int) -> int:
        """The width a QBN runs and is stored at: rounded up to 2, 4 or 8 bits."""
        return int(self._storage_bits[qbn])

    def precision_factor(self, weight_qbn: int, activation_qbn: int) -> int:
        """Multiplies per Fusion Unit and cycle: ``(8 // fused a) * (8 // fused w)`` (BitFusion simulator)."""
        max_bits = self.preset.max_bits
        return (max_bits // self.fused_bits(activation_qbn)) * (max_bits // self.fused_bits(weight_qbn))

    def peak_macs_per_cycle(self, weight_qbn: int, activation_qbn: int) -> int:
        """Multiply-accumulates the whole array completes per cycle at these QBNs."""
        return self.preset.rows * self.preset.columns * self.precision_factor(weight_qbn, activation_qbn)

    def _tile_costs(self, tile: TileShape, activation_qbn: int) -> TileCosts:
        cycles = np.zeros(len(self._storage_bits))
        for weight_qbn in range(1, len(cycles)):
            channels_per_cycle = self.preset.rows * self.precision_factor(weight_qbn, activation_qbn)
            cycles[weight_qbn] = tile.pixels * tile.kernel_area * -(-tile.channels // channels_per_cycle)
        # each input is read once per tile and broadcast along the row; each FU reads its weights every cycle,
        # i.e. once per output pixel
        input_read_bits = np.full(len(cycles), float(tile.pixels * tile.reduction * self._storage_bits[activation_qbn]))
        return TileCosts(cycles, input_read_bits, weight_reads=float(tile.pixels))
