"""The schedule search of the public BitFusion simulator, re-implemented and vectorised.

For one layer at one (activation, weight) precision the simulator (github.com/hsharma35/bitfusion, commit 04ec1c8,
``bitfusion/src/optimizer/optimizer.py``: ``optimize_for_order`` / ``get_stats_fast``) tries every order of the five
tiled loops (batch, output width, output height, input channels, output channels) and every power-of-two tile size,
skips tilings whose tiles overflow half of a buffer (double buffering), counts buffer and DRAM traffic by "promoting"
each buffer's fetch outwards through the loops it does not depend on while it still fits, picks the input-, output- or
weight-stationary inner loop with the least traffic, and keeps the schedule with the fewest cycles (ties: least
energy). This module does the same for every candidate at once with numpy; ``docs/hardware.md`` section 3 has the
formulas. Facts carry over from the simulator, code does not: this is our own implementation.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

PARTIAL_SUM_BITS = 32  # the simulator's oprec: partial sums in the output buffer
LOOPS = ("batch", "out_w", "out_h", "in_channels", "out_channels")
# which buffer's tile index each tiled loop changes (simulator's tile_deps): act, wgt, out
_DEPENDS = {"act": np.array([1, 1, 1, 1, 0], bool), "wgt": np.array([0, 0, 0, 1, 1], bool),
            "out": np.array([1, 1, 1, 0, 1], bool)}
_ORDERS = np.array(list(itertools.permutations(range(5))))[:, ::-1]  # each row: loops from innermost outwards


@dataclass(frozen=True)
class LoweredLayer:
    """A layer as the simulator sees it (kernel ``kernel_h x kernel_w``, no padding, square-tiled output)."""

    batch: int
    in_channels: int
    out_channels: int
    kernel_h: int
    kernel_w: int
    stride: int
    out_h: int
    out_w: int
    im2col: bool  # the layer reads the network input: kernel positions fold into the reduction


@dataclass(frozen=True)
class BitFusionArray:
    """What the search needs of the array: ``rows x columns`` Fusion Units, buffers in bits, DRAM width."""

    rows: int  # N: reduction side
    columns: int  # M: output-channel side
    max_bits: int
    min_bits: int
    weight_buffer_bits: int
    input_buffer_bits: int
    output_buffer_bits: int
    dram_bits_per_cycle: int
    # energies, used only to break ties between schedules of equal cycles (pJ per cycle or per bit)
    core_pj_per_cycle: float
    buffer_pj_per_bit: tuple[float, float, float, float, float, float]  # w read/write, i read/write, o read/write
    dram_pj_per_bit: float


@dataclass(frozen=True)
class Schedule:
    """Counts of the chosen schedule over the whole layer (bits and cycles), as the simulator reports them."""

    cycles: int
    stall_cycles: int
    compute_cycles: int
    weight_read_bits: int
    weight_write_bits: int
    input_read_bits: int
    input_write_bits: int
    output_read_bits: int
    output_write_bits: int
    dram_read_bits: int
    dram_write_bits: int

    def energy_pj(self, array: BitFusionArray) -> float:
        """The simulator's energy: busy cycles times core energy plus every buffer and DRAM bit."""
        w_r, w_w, i_r, i_w, o_r, o_w = array.buffer_pj_per_bit
        return float((self.cycles - self.stall_cycles) * array.core_pj_per_cycle
                     + self.weight_read_bits * w_r + self.weight_write_bits * w_w
                     + self.input_read_bits * i_r + self.input_write_bits * i_w
                     + self.output_read_bits * o_r + self.output_write_bits * o_w
                     + (self.dram_read_bits + self.dram_write_bits) * array.dram_pj_per_bit)


class NoScheduleError(ValueError):
    """No tiling of the layer fits the buffers."""


def _ceil_div(a, b):
    return -(-a // b)


def _power_of_two_tiles(size: int, unit: int = 1) -> np.ndarray:
    """Tile sizes ``min(2^i * unit, size)`` for ``i = 0 .. ceil(log2(ceil(size / unit)))``."""
    count = int(np.ceil(np.log2(_ceil_div(size, unit)))) + 1 if size > unit else 1
    return np.minimum(unit << np.arange(count, dtype=np.int64), size)


def _candidates(layer: LoweredLayer, columns: int) -> dict[str, np.ndarray]:
    """Every tiling of the search space, flattened: tile size and tile count of each loop."""
    batch = _power_of_two_tiles(layer.batch)
    spatial = _power_of_two_tiles(max(layer.out_h, layer.out_w))  # one tile edge for both output dimensions
    in_channels = _power_of_two_tiles(layer.in_channels)
    out_channels = _power_of_two_tiles(layer.out_channels, 1 if layer.im2col else columns)
    b, t, ic, oc = (a.ravel() for a in np.meshgrid(batch, spatial, in_channels, out_channels, indexing="ij"))
    ow, oh = np.minimum(t, layer.out_w), np.minimum(t, layer.out_h)
    sizes = np.stack([b, ow, oh, ic, oc])
    totals = np.array([layer.batch, layer.out_w, layer.out_h, layer.in_channels, layer.out_channels])[:, None]
    return {"size": sizes, "count": _ceil_div(totals, sizes)}


def _promote(base: np.ndarray, capacity: float, depends: np.ndarray, counts: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Traffic into one buffer for every (order, tiling): a fetch moves outwards through loops it does not depend on
    (reuse) while its footprint fits half the buffer; once it overflows, every outer loop repeats it.

    :returns: total bits moved and the largest footprint that fitted (the first fetch), shape ``(orders, tilings)``.
    """
    orders = _ORDERS.shape[0]
    moved = np.broadcast_to(base, (orders, base.size)).copy()
    largest = moved.copy()
    promoting = np.ones_like(moved, bool)
    for position in range(5):
        loop = _ORDERS[:, position]
        count = counts[loop]  # (orders, tilings)
        dep = depends[loop][:, None]
        moved *= np.where(promoting & ~dep, 1, count)
        grows = promoting & dep
        overflow = grows & (moved > capacity)
        largest = np.where(grows & ~overflow, moved, largest)
        promoting &= ~overflow
    return moved, largest


def search(layer: LoweredLayer, array: BitFusionArray, act_bits: int, weight_bits: int,
           write_bits: int = PARTIAL_SUM_BITS) -> Schedule:
    """The simulator's best schedule for ``layer`` at these operand widths.

    :param act_bits: stored width of the input activations (traffic); compute runs at ``max(act_bits, min_bits)``.
    :param weight_bits: likewise for the weights.
    :param write_bits: width of the final write-back of each output to DRAM: 32 (the simulator) or the consumer's
        activation width (requantized on chip). Partial sums spilled before the reduction ends stay 32-bit.
    :raises NoScheduleError: when no tiling fits the buffers.
    """
    return search_writes(layer, array, act_bits, weight_bits, (write_bits,))[0]


@functools.cache  # arguments are frozen dataclasses, ints and tuples: shared by every model instance
def search_writes(layer: LoweredLayer, array: BitFusionArray, act_bits: int, weight_bits: int,
                  write_bits: tuple[int, ...]) -> tuple[Schedule, ...]:
    """``search`` for several write-back widths at once (the tiling candidates and their traffic are shared)."""
    n, m = array.rows, array.columns
    pf = (array.max_bits // max(act_bits, array.min_bits)) * (array.max_bits // max(weight_bits, array.min_bits))
    lanes = n * pf  # reduction elements per cycle
    tiles = _candidates(layer, m)
    b, ow, oh, ic, oc = tiles["size"]
    counts = tiles["count"]
    kernel_area = layer.kernel_h * layer.kernel_w
    oc_padded = _ceil_div(oc, m) * m
    weight_tile = _ceil_div(kernel_area * ic, lanes) * lanes * oc * weight_bits
    if layer.im2col:
        input_tile = ow * oh * kernel_area * ic * b * act_bits
    else:
        input_tile = ((ow - 1) * layer.stride + layer.kernel_w) * ((oh - 1) * layer.stride + layer.kernel_h) \
            * ic * b * act_bits
    output_tile = ow * oh * oc_padded * b * PARTIAL_SUM_BITS
    half = {"wgt": array.weight_buffer_bits / 2, "act": array.input_buffer_bits / 2,
            "out": array.output_buffer_bits / 2}
    fits = (weight_tile <= half["wgt"]) & (input_tile <= half["act"]) & (output_tile <= half["out"])
    if not fits.any():
        raise NoScheduleError(
            f"no tiling fits the buffers: the smallest tiles need {int(weight_tile.min())} weight bits, "
            f"{int(input_tile.min())} input bits and {int(output_tile.min())} output bits, half of each buffer holds "
            f"{int(half['wgt'])}, {int(half['act'])} and {int(half['out'])}")
    keep = np.flatnonzero(fits)
    b, ow, oh, ic, oc, oc_padded = b[keep], ow[keep], oh[keep], ic[keep], oc[keep], oc_padded[keep]
    counts = counts[:, keep]
    weight_tile, input_tile, output_tile = weight_tile[keep], input_tile[keep], output_tile[keep]

    act_moved, act_first = _promote(input_tile, half["act"], _DEPENDS["act"], counts)
    wgt_moved, wgt_first = _promote(weight_tile, half["wgt"], _DEPENDS["wgt"], counts)
    out_moved, out_first = _promote(output_tile, half["out"], _DEPENDS["out"], counts)  # loads = write-backs

    # inner loop: input-, output- or weight-stationary, whichever moves fewer bits through the buffers
    ws_loop = b * oh * ow
    is_loop = oc_padded
    os_loop = _ceil_div(ic * kernel_area, lanes) * lanes if layer.im2col else _ceil_div(ic, lanes) * lanes * kernel_area
    a_b, w_b, o_b = act_bits, weight_bits, PARTIAL_SUM_BITS
    is_cost = os_loop * ws_loop * (a_b + is_loop * (w_b + o_b))
    os_cost = is_loop * ws_loop * (o_b + os_loop * (a_b + w_b))
    ws_cost = os_loop * is_loop * (w_b + ws_loop * (a_b + o_b))
    best = np.minimum(np.minimum(is_cost, os_cost), ws_cost)
    stationary = np.where(is_cost == best, 0, np.where(os_cost == best, 1, 2))
    num_tiles = counts.prod(axis=0)
    reduction = kernel_area * ic * oh * ow * b
    products = oc * oh * ow * b * kernel_area * ic
    act_inner = num_tiles * np.select([stationary == 0, stationary == 1], [reduction, products], products) * a_b
    wgt_inner = num_tiles * np.select([stationary == 0, stationary == 1], [reduction * oc, products],
                                      kernel_area * ic * oc) * w_b
    out_inner = num_tiles * np.select([stationary == 0, stationary == 1],
                                      [reduction * oc, oc * oh * ow * b], products) * o_b

    # requantized write-back: the last of the `passes` write-backs of each output leaves at write_bits
    output_elements = (num_tiles // counts[3]) * ow * oh * oc_padded * b  # every tile but the input-channel ones
    passes = out_moved // (output_elements * PARTIAL_SUM_BITS)
    dram_read = act_moved + wgt_moved + out_moved
    initial_read = act_first + wgt_first + out_first
    width = array.dram_bits_per_cycle
    if layer.im2col:
        compute = num_tiles * b * oh * ow * _ceil_div(oc, m) * _ceil_div(kernel_area * ic, lanes)
    else:
        compute = num_tiles * b * _ceil_div(oc, m) * ow * oh * kernel_area * _ceil_div(ic, lanes)
    w_r, w_w, i_r, i_w, o_r, o_w = array.buffer_pj_per_bit
    fixed_energy = (compute * array.core_pj_per_cycle + wgt_inner * w_r + wgt_moved * w_w + act_inner * i_r
                    + act_moved * i_w + (out_moved + out_inner) * (o_r + o_w) + dram_read * array.dram_pj_per_bit)
    schedules = []
    for bits in write_bits:
        dram_write = output_elements * (PARTIAL_SUM_BITS * (passes - 1) + bits)
        final_write = out_first * bits // PARTIAL_SUM_BITS
        middle = dram_read + dram_write - initial_read - final_write
        stalls = np.maximum(0, _ceil_div(middle, width) - compute) + _ceil_div(initial_read, width) \
            + _ceil_div(final_write, width)
        cycles = compute + stalls
        energy = fixed_energy + dram_write * array.dram_pj_per_bit
        o, t = np.unravel_index(np.lexsort((energy.ravel(), cycles.ravel()))[0], cycles.shape)
        schedules.append(Schedule(
            cycles=int(cycles[o, t]), stall_cycles=int(stalls[o, t]), compute_cycles=int(compute[t]),
            weight_read_bits=int(wgt_inner[t]), weight_write_bits=int(wgt_moved[o, t]),
            input_read_bits=int(act_inner[t]), input_write_bits=int(act_moved[o, t]),
            output_read_bits=int(out_moved[o, t] + out_inner[t]),
            output_write_bits=int(out_moved[o, t] + out_inner[t]),
            dram_read_bits=int(dram_read[o, t]), dram_write_bits=int(dram_write[o, t])))
    return tuple(schedules)
