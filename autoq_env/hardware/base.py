"""What every accelerator model shares: the ``Cost`` record, argument checks, per-network sums with each layer's
output width taken from its consumers, and the kernel tiling and grouping of a tiled array.

A layer (``LayerSpec``) is costed for one weight QBN per kernel (``kernel_qbn``, one per output channel), one
activation QBN and the QBN its output is written at (``output_qbn``: the activation QBN of the layer(s) reading it;
``None`` for 32 bits). Subclasses of ``TiledAccelerator`` cost the whole layer at one weight width
(``_uniform_terms``: their schedule, memory and energy model); tiling of output channels, grouping and mixing of
kernel QBNs live here. See ``docs/hardware.md`` for every formula.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral
from typing import ClassVar

import numpy as np

from autoq_env.hardware.presets import ArrayPreset
from autoq_env.workload import LayerSpec

MIN_QBN = 1
MAX_QBN = 8
_QBN_SLOTS = MAX_QBN + 1  # arrays indexed by QBN; slot 0 is never used by a kernel
JOULES_PER_PJ = 1e-12

PARTIAL_SUM_BITS = 32  # accumulators, and the width of a network output

# (cycles, compute_cycles, stall_cycles, compute_j, buffer_j, dram_j, dram_bits) of one layer
LayerTerms = tuple[float, float, float, float, float, float, float]
_TERMS = 7


@dataclass(frozen=True)
class Cost:
    """Latency and energy of a layer or a network.

    ``breakdown`` holds energy in joules under ``"compute"``, ``"buffer"`` and ``"dram"``, and ``"compute_cycles"``,
    ``"stall_cycles"`` (cycles the array waits for memory) and ``"dram_bits"``. Costs add with ``+`` and ``sum()``.
    """

    cycles: float
    latency_s: float
    energy_j: float
    breakdown: dict[str, float] = field(default_factory=dict)

    @classmethod
    def zero(cls) -> Cost:
        return cls(0.0, 0.0, 0.0, {})

    def __add__(self, other: Cost) -> Cost:
        if not isinstance(other, Cost):
            return NotImplemented
        breakdown = dict(self.breakdown)
        for key, value in other.breakdown.items():
            breakdown[key] = breakdown.get(key, 0.0) + value
        return Cost(self.cycles + other.cycles, self.latency_s + other.latency_s, self.energy_j + other.energy_j,
                     breakdown)

    def __radd__(self, other: object) -> Cost:
        if isinstance(other, Integral) and other == 0:  # the start value of sum()
            return self
        return NotImplemented


def uniform_config(specs: Sequence[LayerSpec], weight_qbn: int, activation_qbn: int) -> dict[str, list]:
    """A ``network_cost`` config with every kernel at ``weight_qbn`` and every activation at ``activation_qbn``."""
    return {"activation_qbn": [activation_qbn] * len(specs),
            "kernel_qbn": [np.full(spec.c_out, weight_qbn, dtype=np.intp) for spec in specs]}


def _check_qbn(value: object, name: str, layer: str) -> int:
    """One QBN: an integer (or a whole float) in ``MIN_QBN..MAX_QBN``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (Integral, float, np.floating)):
        raise TypeError(f"{name} of layer {layer} must be an integer in {MIN_QBN}..{MAX_QBN}, "
                        f"got {type(value).__name__} {value!r}")
    if not (math.isfinite(value) and value == int(value) and MIN_QBN <= value <= MAX_QBN):
        raise ValueError(f"{name} of layer {layer} must be an integer in {MIN_QBN}..{MAX_QBN}, got {value!r}")
    return int(value)


def _kernel_qbn_error(spec: LayerSpec, got: str) -> str:
    return (f"kernel_qbn of layer {spec.name} must hold one integer QBN in {MIN_QBN}..{MAX_QBN} per kernel "
            f"({spec.c_out} values), got {got}")


def _check_kernel_qbn(value: object, spec: LayerSpec) -> np.ndarray:
    """``kernel_qbn`` as an ``intp`` array of ``spec.c_out`` values in ``MIN_QBN..MAX_QBN``; an int means all."""
    if isinstance(value, Integral) and not isinstance(value, (bool, np.bool_)):
        return np.full(spec.c_out, _check_qbn(value, "kernel_qbn", spec.name), dtype=np.intp)
    qbn = np.asarray(value)
    if qbn.dtype.kind not in "iuf":
        raise TypeError(_kernel_qbn_error(spec, f"dtype {qbn.dtype}"))
    if qbn.shape != (spec.c_out,):
        raise ValueError(_kernel_qbn_error(spec, f"shape {qbn.shape}"))
    if qbn.dtype.kind == "f" and not np.array_equal(qbn, np.floor(qbn)):
        raise ValueError(_kernel_qbn_error(spec, "fractional or non-finite values"))
    low, high = qbn.min(), qbn.max()
    if low < MIN_QBN or high > MAX_QBN:
        raise ValueError(_kernel_qbn_error(spec, f"values from {low} to {high}"))
    return qbn if qbn.dtype == np.intp else qbn.astype(np.intp)


def output_qbns(specs: Sequence[LayerSpec], activation_qbn: Sequence[int]) -> list[int | None]:
    """The QBN each layer's output is written at: the largest activation QBN among its consumers, ``None`` (32 bits)
    for a layer whose output leaves the network."""
    result: list[int | None] = []
    for spec in specs:
        if any(not 0 <= consumer < len(specs) for consumer in spec.consumers):
            raise ValueError(f"layer {spec.name} names consumers {spec.consumers}, but the network has {len(specs)} "
                             f"layers (indices 0..{len(specs) - 1})")
        result.append(max(activation_qbn[c] for c in spec.consumers) if spec.consumers else None)
    return result


def _check_output_qbn(value: object, spec: LayerSpec) -> int | None:
    return None if value is None else _check_qbn(value, "output_qbn", spec.name)


def _check_batch(batch: object) -> int:
    if isinstance(batch, bool) or not isinstance(batch, Integral) or batch < 1:
        raise ValueError(f"batch must be an integer >= 1, got {batch!r}")
    return int(batch)


class Accelerator(ABC):
    """An analytical latency/energy model. Subclasses implement ``_layer_terms`` on checked arguments.

    :param preset: the hardware description (a frozen dataclass from ``autoq_env.hardware.presets``).
    :param group_kernels: let the compiler permute output channels so kernels of equal QBN share tiles.
    """

    name: ClassVar[str]
    preset_type: ClassVar[type]

    def __init__(self, preset: object, group_kernels: bool = True) -> None:
        if not isinstance(preset, self.preset_type):
            raise TypeError(f"{type(self).__name__} needs a {self.preset_type.__name__} preset, "
                            f"got {type(preset).__name__}")
        self.preset = preset
        self.group_kernels = bool(group_kernels)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(preset={self.preset.name!r}, group_kernels={self.group_kernels})"

    @property
    @abstractmethod
    def cycles_per_s(self) -> float:
        """Rate at which ``Cost.cycles`` elapse (the clock frequency for the array models)."""

    @abstractmethod
    def _layer_terms(self, spec: LayerSpec, kernel_qbn: np.ndarray, activation_qbn: int, output_qbn: int | None,
                     batch: int) -> LayerTerms:
        """Cost terms of one layer; arguments are already checked."""

    def layer_cost(self, spec: LayerSpec, kernel_qbn: np.ndarray | Sequence[int] | int, activation_qbn: int,
                   batch: int = 1, output_qbn: int | None = None) -> Cost:
        """Cost of one layer.

        :param spec: the layer's shapes.
        :param kernel_qbn: one weight QBN per kernel (output channel), integers in 1..8; an int sets all kernels.
        :param activation_qbn: the QBN of the layer's input activations, 1..8.
        :param batch: images per inference.
        :param output_qbn: the QBN the layer's consumers read its output at (1..8), or ``None``: a network output,
            written at 32 bits. Ignored (32 bits) by presets with ``requantize_outputs=False``.
        """
        terms = self._layer_terms(spec, _check_kernel_qbn(kernel_qbn, spec),
                                  _check_qbn(activation_qbn, "activation_qbn", spec.name),
                                  _check_output_qbn(output_qbn, spec), _check_batch(batch))
        return self._to_cost(terms)

    def network_cost(self, specs: Sequence[LayerSpec], config: Mapping[str, Sequence], batch: int = 1) -> Cost:
        """Cost of a whole network: the sum of its layers' costs (layers run one after another), each layer's output
        written at the largest activation QBN of its consumers (``LayerSpec.consumers``; 32 bits if none).

        :param specs: the layers, as ``extract_layers`` returns them.
        :param config: ``{"activation_qbn": [int per layer], "kernel_qbn": [array of ints per kernel, per layer]}``.
        :param batch: images per inference.
        """
        if not isinstance(config, Mapping) or not {"activation_qbn", "kernel_qbn"} <= config.keys():
            raise ValueError("config must be a mapping with keys 'activation_qbn' (one int per layer) and "
                             "'kernel_qbn' (one array of per-kernel ints per layer)")
        activation_qbn, kernel_qbn = config["activation_qbn"], config["kernel_qbn"]
        if len(activation_qbn) != len(specs) or len(kernel_qbn) != len(specs):
            raise ValueError(f"config must have one entry per layer ({len(specs)}) in 'activation_qbn' and "
                             f"'kernel_qbn', got {len(activation_qbn)} and {len(kernel_qbn)}")
        batch = _check_batch(batch)
        activation_qbn = [_check_qbn(act, "activation_qbn", spec.name) for spec, act in zip(specs, activation_qbn)]
        terms = [self._layer_terms(spec, _check_kernel_qbn(kernels, spec), act, output, batch)
                 for spec, kernels, act, output in zip(specs, kernel_qbn, activation_qbn,
                                                       output_qbns(specs, activation_qbn))]
        return self._to_cost(tuple(sum(column) for column in zip(*terms)))

    def _to_cost(self, terms: LayerTerms) -> Cost:
        cycles, compute_cycles, stall_cycles, compute_j, buffer_j, dram_j, dram_bits = terms
        return Cost(float(cycles), float(cycles) / self.cycles_per_s, float(compute_j + buffer_j + dram_j),
                    {"compute": float(compute_j), "buffer": float(buffer_j), "dram": float(dram_j),
                     "compute_cycles": float(compute_cycles), "stall_cycles": float(stall_cycles),
                     "dram_bits": float(dram_bits)})


# (model class, preset, layer, batch) -> grid: shared by every instance (presets and specs are frozen, hashable)
_GRIDS: dict[tuple[type, ArrayPreset, LayerSpec, int], np.ndarray] = {}


def _dominated(grid: np.ndarray) -> np.ndarray:
    """Each point's terms when it may use any point at or above it on every axis: time terms (cycles, compute, stall)
    from the fastest such point (ties: least energy), energy terms from the least-energy one."""
    energy = grid[..., 3:6].sum(axis=-1)
    time_key = np.stack([grid[..., 0], energy], axis=-1)
    result = grid.copy()
    for terms, order in ((slice(0, 3), time_key), (slice(3, _TERMS), energy[..., None])):
        best = order.copy()
        chosen = grid[..., terms].copy()
        for axis in range(3):
            for index in reversed(range(grid.shape[axis] - 1)):
                here = [slice(None)] * 3
                above = [slice(None)] * 3
                here[axis], above[axis] = index, index + 1
                here, above = tuple(here), tuple(above)
                # lexicographic comparison of the keys
                better = np.zeros(best[here].shape[:-1], bool)
                decided = np.zeros_like(better)
                for column in range(best.shape[-1]):
                    a, b = best[above][..., column], best[here][..., column]
                    better |= ~decided & (a < b)
                    decided |= a != b
                best[here] = np.where(better[..., None], best[above], best[here])
                chosen[here] = np.where(better[..., None], chosen[above], chosen[here])
        result[..., terms] = chosen
    return result


@dataclass(frozen=True)
class Lowering:
    """How a layer runs on an array: ``passes`` identical dense layers of ``in_channels -> out_channels`` each.

    A dense layer is one pass. A grouped convolution whose groups are at least a tile wide runs its ``G`` groups one
    after another; narrower groups are packed ``P`` per tile side by side (block-diagonal weights, their input
    channels stacked on the reduction), ``ceil(G / P)`` passes.
    """

    passes: int
    in_channels: int
    out_channels: int


@dataclass(frozen=True)
class _LayerPlan:
    """Everything about a layer that does not depend on any QBN or the batch: lowering and tiling of output channels."""

    lowering: Lowering
    group_size: int  # output channels per convolution group
    pack_groups: bool  # several whole groups share one tile (block-diagonal packing)
    rows: int  # independent tile rows: groups when tiles stay inside a group, else 1
    tile_size: int  # units (kernels, or whole groups when packing) per tile
    pad: int  # empty units completing each row's last tile
    tile_starts: np.ndarray  # first unit of each consecutive tile (ungrouped order), flat over rows
    row_offsets: np.ndarray | None  # added to units so one bincount separates rows
    tiles: int  # tiles in the whole layer


class TiledAccelerator(Accelerator):
    """A 2-D array that computes a tile of ``lanes`` output channels in lock-step: a tile runs, is stored and is moved
    at the widest weight QBN among its kernels. A layer whose tiles run at several widths costs the tile-weighted mix
    of the layer run at each width: ``sum_w tiles(w) / tiles * uniform(w)`` (exact for a uniform layer).

    Subclasses set ``lanes`` and ``_storage_bits`` (the width a QBN is stored and moved at, indexed by QBN) and
    implement ``_uniform_terms`` (the whole layer at one weight width).
    """

    preset: ArrayPreset
    lanes: int
    _storage_bits: np.ndarray

    def __init__(self, preset: ArrayPreset, group_kernels: bool = True) -> None:
        super().__init__(preset, group_kernels)
        self._plans: dict[LayerSpec, _LayerPlan] = {}
        self._tables: dict[tuple[LayerSpec, int, int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._representative_slots: np.ndarray | None = None  # set on first use: subclasses set _storage_bits last

    @property
    def cycles_per_s(self) -> float:
        return self.preset.frequency_hz

    @abstractmethod
    def _uniform_terms(self, spec: LayerSpec, lowering: Lowering, batch: int, act_bits: int, weight_bits: int,
                       write_bits: tuple[int, ...]) -> list[LayerTerms]:
        """Terms of the whole layer with every operand at these stored widths, for each output write-back width."""

    def write_bits(self, output_qbn: int | None) -> int:
        """Width at which a layer's output leaves the chip for consumers reading it at ``output_qbn``."""
        if output_qbn is None or not self.preset.requantize_outputs:
            return PARTIAL_SUM_BITS
        return int(self._storage_bits[output_qbn])

    def _plan(self, spec: LayerSpec) -> _LayerPlan:
        plan = self._plans.get(spec)
        if plan is None:
            plan = self._plans[spec] = self._make_plan(spec)
        return plan

    def _make_plan(self, spec: LayerSpec) -> _LayerPlan:
        groups = spec.groups
        if min(spec.c_in, spec.c_out, groups, spec.out_h, spec.out_w, spec.stride, *spec.kernel_size) < 1 \
                or spec.c_in % groups or spec.c_out % groups:
            raise ValueError(f"{type(self).__name__} cannot lower layer {spec.name}: it needs positive sizes and "
                             f"c_in and c_out divisible by groups, got c_in={spec.c_in}, c_out={spec.c_out}, "
                             f"groups={groups}, kernel {spec.kernel_size}, stride {spec.stride}, "
                             f"output {spec.out_h}x{spec.out_w}")
        group_size = spec.c_out // groups
        packed = min(groups, self.lanes // group_size) if group_size < self.lanes else 1
        if packed > 1:
            rows, units, tile_size = 1, groups, packed
        else:
            rows, units, tile_size = groups, group_size, self.lanes
        tiles_per_row = -(-units // tile_size)
        starts = np.arange(0, units, tile_size)
        return _LayerPlan(
            lowering=Lowering(-(-groups // packed), packed * (spec.c_in // groups), packed * group_size),
            group_size=group_size,
            pack_groups=packed > 1,
            rows=rows,
            tile_size=tile_size,
            pad=tiles_per_row * tile_size - units,
            tile_starts=(starts[None, :] + units * np.arange(rows)[:, None]).ravel(),
            row_offsets=(np.arange(rows, dtype=np.intp)[:, None] * _QBN_SLOTS) if rows > 1 else None,
            tiles=rows * tiles_per_row,
        )

    def _widths(self) -> tuple[list[int], list[int]]:
        """Distinct stored operand widths and distinct output write-back widths, ascending."""
        operand = sorted({int(b) for b in self._storage_bits[MIN_QBN:]})
        written = sorted({self.write_bits(q) for q in range(MIN_QBN, MAX_QBN + 1)} | {self.write_bits(None)})
        return operand, written

    def _grid(self, spec: LayerSpec, plan: _LayerPlan, batch: int) -> np.ndarray:
        """``(activation width, weight width, write width, terms)``: the whole layer at every width combination.

        With ``widen_when_cheaper``, a point may run any wider operand or write-back width (zero-extended: always
        correct): its time terms come from the fastest point at or above it (ties: least energy), its energy terms
        from the least-energy choice at or above it. This keeps the cost monotone in every QBN where the schedule
        search alone is not (padding of the reduction to ``rows * pf`` makes some tiny layers cost more at fewer
        bits).
        """
        key = (type(self), self.preset, spec, batch)
        grid = _GRIDS.get(key)
        if grid is None:
            operand, written = self._widths()
            grid = np.array([[self._uniform_terms(spec, plan.lowering, batch, a, w, tuple(written)) for w in operand]
                             for a in operand], float)
            if self.preset.widen_when_cheaper:
                grid = _dominated(grid)
            grid.flags.writeable = False
            _GRIDS[key] = grid
        return grid

    def _table(self, spec: LayerSpec, plan: _LayerPlan, batch: int, activation_qbn: int, output_qbn: int | None,
               tiles: np.ndarray) -> np.ndarray:
        """``(QBN slots, terms)``: the layer's terms per tile with every kernel at each weight QBN; rows are filled
        for (at least) the weight QBNs that ``tiles`` uses. Without widening, only those rows are ever searched."""
        act_bits, write_bits = int(self._storage_bits[activation_qbn]), self.write_bits(output_qbn)
        key = (spec, batch, act_bits, write_bits)
        entry = self._tables.get(key)
        if entry is None:
            table, filled = np.zeros((_QBN_SLOTS, _TERMS)), np.zeros(_QBN_SLOTS, bool)
            if self.preset.widen_when_cheaper:
                operand, written = self._widths()
                grid = self._grid(spec, plan, batch)[operand.index(act_bits), :, written.index(write_bits)]
                for qbn in range(MIN_QBN, MAX_QBN + 1):
                    table[qbn] = grid[operand.index(int(self._storage_bits[qbn]))] / plan.tiles
                filled[MIN_QBN:] = True
            entry = self._tables[key] = (table, filled)
        table, filled = entry
        for qbn in np.flatnonzero(tiles):
            if not filled[qbn]:
                width = int(self._storage_bits[qbn])
                same = self._storage_bits == width
                table[same] = np.array(self._uniform_terms(spec, plan.lowering, batch, act_bits, width,
                                                           (write_bits,))[0], float) / plan.tiles
                filled[same] = True
        return table

    def _tile_histogram(self, kernel_qbn: np.ndarray, plan: _LayerPlan) -> np.ndarray:
        """Number of tiles running at each weight QBN (index = QBN).

        A tile runs at its widest unit. Ungrouped, tiles take consecutive units in the given order. Grouped, the
        units of each row are sorted (a free permutation of output channels) and the row's partial tile takes the
        narrowest ones; a tile's width is then the sorted unit at its last position, so the number of tiles no
        wider than ``b`` is ``(number of units <= b, plus pad) // tile_size``, read off a ``bincount``: no sort.
        """
        units = kernel_qbn
        if plan.pack_groups and plan.group_size > 1:
            units = kernel_qbn.reshape(-1, plan.group_size).max(axis=1)
        if not self.group_kernels:
            return np.bincount(np.maximum.reduceat(units, plan.tile_starts), minlength=_QBN_SLOTS)
        if plan.row_offsets is None:
            at_most = (np.bincount(units, minlength=_QBN_SLOTS).cumsum() + plan.pad) // plan.tile_size
        else:
            counts = np.bincount((units.reshape(plan.rows, -1) + plan.row_offsets).ravel(),
                                 minlength=plan.rows * _QBN_SLOTS)
            at_most = ((counts.reshape(plan.rows, _QBN_SLOTS).cumsum(axis=1) + plan.pad) // plan.tile_size).sum(axis=0)
        histogram = at_most.copy()
        histogram[1:] -= at_most[:-1]
        return histogram

    def _layer_terms(self, spec: LayerSpec, kernel_qbn: np.ndarray, activation_qbn: int, output_qbn: int | None,
                     batch: int) -> LayerTerms:
        plan = self._plan(spec)
        # tiles per stored width, counted on the width's smallest QBN: QBNs stored alike then cost exactly the same
        tiles = np.bincount(self._representative(), weights=self._tile_histogram(kernel_qbn, plan),
                            minlength=_QBN_SLOTS)
        table = self._table(spec, plan, batch, activation_qbn, output_qbn, tiles)
        return tuple((tiles @ table).tolist())

    def _representative(self) -> np.ndarray:
        """For each QBN slot, the smallest QBN stored at the same width (slot 0 maps to itself)."""
        representative = self._representative_slots
        if representative is None:
            bits = self._storage_bits
            representative = np.array([0] + [int(np.flatnonzero(bits == bits[q])[0]) for q in range(1, _QBN_SLOTS)])
            self._representative_slots = representative
        return representative
