"""Temporal (bit-serial) accelerator: BISMO (Umuroglu et al., FPL 2018 / TRETS 2019) as its public code runs a layer.

A layer is lowered to a matrix product: the weights are the left-hand side (``m = c_out`` rows, as in BISMO's
``bismo_inference``), the activations the right-hand side (``n = batch * out_h * out_w`` columns), with
``k = c_in / groups * k_h * k_w`` the reduction. Three stages overlap (fetch, execute, result), each with its own
instruction stream (``hls/FetchInstrGen.cpp``, ``ExecInstrGen.cpp``, ``ResultInstrGen.cpp``):

- fetch: per right-hand tile, ``bits_r * tiles_k`` entries of ``dn * dk`` bits; per left-hand tile ``bits_l *
  tiles_k`` entries of ``dm * dk`` bits, i.e. ``rhs bytes + lhs bytes * tiles_n`` over the 64-bit port (weights are
  fetched once when all of them fit one region of the left-hand memories);
- execute: one instruction of ``tiles_k`` cycles per bit-plane pair and result tile, plus a fixed issue overhead
  each, and the pipeline drain before each result tile is written:
  ``tiles_m * tiles_n * (bits_l * bits_r * (tiles_k + overhead) + drain)`` cycles;
- result: each ``dm x dn`` result tile written back at the output width.

Each memory is split into two regions (fetch fills one while execute reads the other); a reduction too long for a
region is split into chunks whose 32-bit partial sums are written back and added. Formulas:
``docs/hardware.md`` section 4.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from autoq_env.hardware.base import JOULES_PER_PJ, MAX_QBN, PARTIAL_SUM_BITS, LayerTerms, Lowering, TiledAccelerator
from autoq_env.hardware.presets import BISMO_PYNQ_Z1, BismoPreset
from autoq_env.workload import LayerSpec


def _ceil_div(a, b):
    return -(-a // b)


class TemporalAccelerator(TiledAccelerator):
    """BISMO bit-serial matrix-multiplication overlay.

    :param preset: array size, clock, memories and energies (default: the PYNQ-Z1 build, 8x256x8 at 200 MHz).
    :param group_kernels: let the compiler place kernels of equal QBN in the same ``dm``-row tiles.
    """

    name: ClassVar[str] = "temporal"
    preset_type: ClassVar[type] = BismoPreset
    preset: BismoPreset

    def __init__(self, preset: BismoPreset = BISMO_PYNQ_Z1, group_kernels: bool = True) -> None:
        super().__init__(preset, group_kernels)
        self.lanes = preset.dm
        self._storage_bits = np.arange(MAX_QBN + 1)  # bit-planes: exactly the QBN

    @property
    def peak_binary_ops_per_cycle(self) -> int:
        """``2 * dm * dk * dn``: one AND and one popcount-add per bit pair (BISMO's way of counting)."""
        return 2 * self.preset.dm * self.preset.dk * self.preset.dn

    @property
    def peak_binary_ops_per_s(self) -> float:
        return self.peak_binary_ops_per_cycle * self.preset.frequency_hz

    def _uniform_terms(self, spec: LayerSpec, lowering: Lowering, batch: int, act_bits: int, weight_bits: int,
                       write_bits: tuple[int, ...]) -> list[LayerTerms]:
        return [self._write_terms(spec, lowering, batch, act_bits, weight_bits, bits) for bits in write_bits]

    def _write_terms(self, spec: LayerSpec, lowering: Lowering, batch: int, act_bits: int, weight_bits: int,
                     write_bits: int) -> LayerTerms:
        p = self.preset
        tiles_m = _ceil_div(lowering.out_channels, p.dm)
        tiles_n = _ceil_div(batch * spec.out_h * spec.out_w, p.dn)
        tiles_k = _ceil_div(lowering.in_channels * spec.kernel_area, p.dk)
        lhs_region, rhs_region = p.lmem_entries // 2, p.rmem_entries // 2
        longest = min(tiles_k, lhs_region // weight_bits, rhs_region // act_bits)
        if longest < 1:
            raise ValueError(f"TemporalAccelerator cannot lower layer {spec.name} on preset {p.name!r}: one "
                             f"bit-plane tile needs {weight_bits} and {act_bits} entries, a memory region holds "
                             f"{lhs_region} and {rhs_region}; allowed: lmem_entries >= 2 * {weight_bits} and "
                             f"rmem_entries >= 2 * {act_bits}")
        # the compiler's choice: the reduction chunk (in dk-bit tiles) that gives the fewest cycles, then least energy
        chunk = np.arange(1, longest + 1)
        chunks = _ceil_div(tiles_k, chunk)
        resident = tiles_m * weight_bits * chunk <= lhs_region  # all weights of a chunk stay on chip
        lhs_tile_bits = weight_bits * p.dm * p.dk  # one left-hand tile, per dk-bit tile of the reduction
        rhs_tile_bits = act_bits * p.dn * p.dk
        fetch_bits = tiles_k * (tiles_n * rhs_tile_bits + tiles_m * lhs_tile_bits * np.where(resident, 1, tiles_n))
        busy = tiles_m * tiles_n * weight_bits * act_bits * tiles_k
        execute = busy + tiles_m * tiles_n * chunks * (weight_bits * act_bits * p.exec_overhead_cycles
                                                       + p.exec_drain_cycles)
        result_width = np.where(chunks == 1, write_bits, PARTIAL_SUM_BITS)
        result_bits = chunks * tiles_m * tiles_n * p.dm * p.dn * result_width
        port = p.dram_bits_per_cycle
        # pipeline fill (the first tiles' fetch) and drain (the last result tile) of each chunk
        fill = _ceil_div(np.minimum(chunk, tiles_k) * (rhs_tile_bits + lhs_tile_bits), port)
        drain = _ceil_div(p.dm * p.dn * result_width, port)
        cycles = np.maximum(np.maximum(_ceil_div(fetch_bits, port), execute), _ceil_div(result_bits, port)) \
            + chunks * (fill + drain)
        lhs_fetched = fetch_bits - tiles_k * tiles_n * rhs_tile_bits
        buffer_pj = (lhs_fetched * p.weight_buffer_write_pj_per_bit
                     + (fetch_bits - lhs_fetched) * p.input_buffer_write_pj_per_bit
                     + busy * p.dk * (p.dm * p.weight_buffer_read_pj_per_bit + p.dn * p.input_buffer_read_pj_per_bit)
                     + result_bits * (p.output_buffer_write_pj_per_bit + p.output_buffer_read_pj_per_bit))
        dram_bits = fetch_bits + result_bits
        energy_pj = busy * p.array_pj_per_cycle + buffer_pj + dram_bits * p.dram_pj_per_bit
        best = np.lexsort((energy_pj, cycles))[0]
        passes = lowering.passes
        return (passes * float(cycles[best]), passes * float(busy), passes * float(cycles[best] - busy),
                passes * busy * p.array_pj_per_cycle * JOULES_PER_PJ, passes * float(buffer_pj[best]) * JOULES_PER_PJ,
                passes * float(dram_bits[best]) * p.dram_pj_per_bit * JOULES_PER_PJ, passes * float(dram_bits[best]))
