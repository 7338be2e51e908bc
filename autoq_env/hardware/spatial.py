"""Spatial accelerator: BitFusion (Sharma et al., ISCA 2018), as its public simulator models it.

``rows x columns`` Fusion Units; each fuses 16 2-bit BitBricks into 16 multiplies of 2b x 2b, 4 of 4b x 4b (or
8b x 2b) or 1 of 8b x 8b per cycle, so operands compute at their fused width (2, 4 or 8 bits) with precision factor
``pf = (8 // fused a) * (8 // fused w)`` on the reduction (input-channel) dimension; output channels map to columns.
A layer's schedule (loop order, power-of-two tiles in half of each buffer, stationarity) and its cycles, stalls and
traffic come from the simulator's search (``bitfusion_schedule.search``); a layer reading the network input is lowered
with im2col. Formulas: ``docs/hardware.md`` section 3.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from autoq_env.hardware.base import JOULES_PER_PJ, MAX_QBN, LayerTerms, Lowering, TiledAccelerator
from autoq_env.hardware.bitfusion_schedule import BitFusionArray, LoweredLayer, NoScheduleError, Schedule, search_writes
from autoq_env.hardware.presets import BITFUSION_EYERISS, BitFusionPreset
from autoq_env.workload import LayerSpec


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
        self._fused_bits = np.array(fused)
        self._storage_bits = self._fused_bits if preset.store_at_fused_width else np.arange(MAX_QBN + 1)
        self._array = BitFusionArray(
            rows=preset.rows, columns=preset.columns, max_bits=preset.max_bits, min_bits=preset.brick_bits,
            weight_buffer_bits=preset.weight_buffer_bytes * 8, input_buffer_bits=preset.input_buffer_bytes * 8,
            output_buffer_bits=preset.output_buffer_bytes * 8, dram_bits_per_cycle=preset.dram_bits_per_cycle,
            core_pj_per_cycle=preset.array_pj_per_cycle,
            buffer_pj_per_bit=(preset.weight_buffer_read_pj_per_bit, preset.weight_buffer_write_pj_per_bit,
                               preset.input_buffer_read_pj_per_bit, preset.input_buffer_write_pj_per_bit,
                               preset.output_buffer_read_pj_per_bit, preset.output_buffer_write_pj_per_bit),
            dram_pj_per_bit=preset.dram_pj_per_bit)

    def fused_bits(self, qbn: int) -> int:
        """The width a QBN computes at: rounded up to 2, 4 or 8 bits."""
        return int(self._fused_bits[qbn])

    def precision_factor(self, weight_qbn: int, activation_qbn: int) -> int:
        """Multiplies per Fusion Unit and cycle: ``(8 // fused a) * (8 // fused w)`` (BitFusion simulator)."""
        max_bits = self.preset.max_bits
        return (max_bits // self.fused_bits(activation_qbn)) * (max_bits // self.fused_bits(weight_qbn))

    def peak_macs_per_cycle(self, weight_qbn: int, activation_qbn: int) -> int:
        """Multiply-accumulates the whole array completes per cycle at these QBNs."""
        return self.preset.rows * self.preset.columns * self.precision_factor(weight_qbn, activation_qbn)

    def lower(self, spec: LayerSpec, lowering: Lowering, batch: int) -> LoweredLayer:
        """One pass of ``spec`` as the simulator sees it (a ``Linear`` layer: ``rows`` output positions)."""
        return LoweredLayer(batch=batch, in_channels=lowering.in_channels, out_channels=lowering.out_channels,
                            kernel_h=spec.kernel_size[0], kernel_w=spec.kernel_size[1], stride=spec.stride,
                            out_h=spec.out_h, out_w=spec.out_w, im2col=spec.reads_network_input)

    def schedule(self, spec: LayerSpec, weight_qbn: int, activation_qbn: int, batch: int = 1,
                 output_qbn: int | None = None) -> Schedule:
        """The simulator's schedule of one pass of ``spec`` with every kernel at ``weight_qbn`` (no widening): its
        cycles, stalls and buffer and DRAM traffic, as the public simulator reports them."""
        lowering = self._plan(spec).lowering
        return self._search(spec, lowering, batch, int(self._storage_bits[activation_qbn]),
                            int(self._storage_bits[weight_qbn]), (self.write_bits(output_qbn),))[0]

    def _search(self, spec: LayerSpec, lowering: Lowering, batch: int, act_bits: int, weight_bits: int,
                write_bits: tuple[int, ...]) -> tuple[Schedule, ...]:
        try:
            return search_writes(self.lower(spec, lowering, batch), self._array, act_bits, weight_bits, write_bits)
        except NoScheduleError as error:
            raise ValueError(f"SpatialAccelerator cannot lower layer {spec.name} on preset {self.preset.name!r}: "
                             f"{error}; allowed: layers whose smallest tile fits half of each buffer "
                             "(raise the preset's buffer sizes)") from None

    def _uniform_terms(self, spec: LayerSpec, lowering: Lowering, batch: int, act_bits: int, weight_bits: int,
                       write_bits: tuple[int, ...]) -> list[LayerTerms]:
        return [self._terms(schedule, lowering.passes)
                for schedule in self._search(spec, lowering, batch, act_bits, weight_bits, write_bits)]

    def _terms(self, schedule: Schedule, passes: int) -> LayerTerms:
        preset = self.preset
        busy = schedule.cycles - schedule.stall_cycles
        buffer_pj = schedule.energy_pj(self._array) - busy * preset.array_pj_per_cycle \
            - (schedule.dram_read_bits + schedule.dram_write_bits) * preset.dram_pj_per_bit
        dram_bits = schedule.dram_read_bits + schedule.dram_write_bits
        return (passes * schedule.cycles, passes * schedule.compute_cycles, passes * schedule.stall_cycles,
                passes * busy * preset.array_pj_per_cycle * JOULES_PER_PJ, passes * buffer_pj * JOULES_PER_PJ,
                passes * dram_bits * preset.dram_pj_per_bit * JOULES_PER_PJ, passes * dram_bits)
