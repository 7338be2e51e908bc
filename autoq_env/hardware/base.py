"""What every accelerator model shares: the ``Cost`` record, argument checks, per-network sums, kernel tiling and
grouping, and the memory and energy model of a tiled array.

A layer (``LayerSpec``) is costed for one weight QBN per kernel (``kernel_qbn``, one per output channel) and one
activation QBN. Subclasses of ``TiledAccelerator`` only say how one tile of output channels maps onto their array
(``_tile_costs``) and at what width they store a QBN; tiling, grouping, buffers, DRAM and energy live here.
See ``docs/hardware.md`` for every formula.
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

# (cycles, compute_cycles, memory_cycles, compute_j, buffer_j, dram_j) of one layer
LayerTerms = tuple[float, float, float, float, float, float]


@dataclass(frozen=True)
class Cost:
    """Latency and energy of a layer or a network.

    ``breakdown`` holds energy in joules under ``"compute"``, ``"buffer"`` and ``"dram"`` and, where the model
    has them, ``"compute_cycles"`` and ``"memory_cycles"``. Costs add with ``+`` and ``sum()``.
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
    def _layer_terms(self, spec: LayerSpec, kernel_qbn: np.ndarray, activation_qbn: int, batch: int) -> LayerTerms:
        """Cost terms of one layer; arguments are already checked."""

    def layer_cost(self, spec: LayerSpec, kernel_qbn: np.ndarray | Sequence[int] | int, activation_qbn: int,
                   batch: int = 1) -> Cost:
        """Cost of one layer.

        :param spec: the layer's shapes.
        :param kernel_qbn: one weight QBN per kernel (output channel), integers in 1..8; an int sets all kernels.
        :param activation_qbn: the QBN of the layer's input activations, 1..8.
        :param batch: images per inference.
        """
        terms = self._layer_terms(spec, _check_kernel_qbn(kernel_qbn, spec),
                                  _check_qbn(activation_qbn, "activation_qbn", spec.name), _check_batch(batch))
        return self._to_cost(terms)

    def network_cost(self, specs: Sequence[LayerSpec], config: Mapping[str, Sequence], batch: int = 1) -> Cost:
        """Cost of a whole network: the sum of its layers' costs (layers run one after another).

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
        terms = [self._layer_terms(spec, _check_kernel_qbn(kernels, spec),
                                   _check_qbn(act, "activation_qbn", spec.name), batch)
                 for spec, kernels, act in zip(specs, kernel_qbn, activation_qbn)]
        return self._to_cost(tuple(sum(column) for column in zip(*terms)))

    def _to_cost(self, terms: LayerTerms) -> Cost:
        cycles, compute_cycles, memory_cycles, compute_j, buffer_j, dram_j = terms
        return Cost(float(cycles), float(cycles) / self.cycles_per_s, float(compute_j + buffer_j + dram_j),
                    {"compute": float(compute_j), "buffer": float(buffer_j), "dram": float(dram_j),
                     "compute_cycles": float(compute_cycles), "memory_cycles": float(memory_cycles)})


@dataclass(frozen=True)
class TileShape:
    """One tile of output channels as the array sees it (what ``TiledAccelerator._tile_costs`` receives).

    :param pixels: output positions streamed through the tile: ``batch * out_h * out_w``.
    :param kernel_area: ``k_h * k_w``.
    :param channels: input channels reduced per kernel position (``c_in / groups``, times the groups packed).
    """

    pixels: int
    kernel_area: int
    channels: int

    @property
    def reduction(self) -> int:
        """Products summed into one output of the tile: ``channels * kernel_area``."""
        return self.channels * self.kernel_area


@dataclass(frozen=True)
class TileCosts:
    """What one tile costs on an array, by the tile's weight QBN (arrays indexed 0..8; index 0 unused).

    :param cycles: compute cycles of one tile.
    :param input_read_bits: input-buffer bits read while the tile runs.
    :param weight_reads: times each stored weight bit is read from the weight buffer.
    """

    cycles: np.ndarray
    input_read_bits: np.ndarray
    weight_reads: float


@dataclass(frozen=True)
class _LayerPlan:
    """Everything about a (layer, batch, activation QBN) that does not depend on the kernel QBNs."""

    group_size: int  # output channels per convolution group
    pack_groups: bool  # several whole groups share one tile (block-diagonal packing)
    rows: int  # independent tile rows: groups when tiles stay inside a group, else 1
    tile_size: int  # units (kernels, or whole groups when packing) per tile
    pad: int  # empty units completing each row's last tile
    tile_starts: np.ndarray  # first unit of each consecutive tile (ungrouped order), flat over rows
    row_offsets: np.ndarray | None  # added to units so one bincount separates rows
    weights_per_kernel: int
    tile_table: np.ndarray  # (QBN slots, 2): compute cycles and input-buffer read bits of one tile, by weight QBN
    weight_reads: float
    input_bits: float
    output_bits: float


class TiledAccelerator(Accelerator):
    """A 2-D array that computes a tile of ``lanes`` output channels in lock-step, fed by weight and input buffers
    from DRAM. The tile runs at the widest weight QBN among its kernels; memory moves each kernel at its own QBN.

    Subclasses set ``lanes`` and ``_storage_bits`` (bits a QBN occupies, indexed by QBN) and implement
    ``_tile_costs``.
    """

    preset: ArrayPreset
    lanes: int
    _storage_bits: np.ndarray

    def __init__(self, preset: ArrayPreset, group_kernels: bool = True) -> None:
        super().__init__(preset, group_kernels)
        self._plans: dict[tuple[LayerSpec, int, int], _LayerPlan] = {}
        # usable tile capacity in bits: half of each buffer, the other half refills (double buffering)
        self._weight_capacity_bits = preset.weight_buffer_bytes * 8 * preset.usable_buffer_fraction
        self._input_capacity_bits = preset.input_buffer_bytes * 8 * preset.usable_buffer_fraction

    @property
    def cycles_per_s(self) -> float:
        return self.preset.frequency_hz

    @abstractmethod
    def _tile_costs(self, tile: TileShape, activation_qbn: int) -> TileCosts:
        """Cycles and buffer reads of one tile of ``lanes`` output channels, for each weight QBN 1..8."""

    def _plan(self, spec: LayerSpec, batch: int, activation_qbn: int) -> _LayerPlan:
        key = (spec, batch, activation_qbn)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._make_plan(spec, batch, activation_qbn)
        return plan

    def _make_plan(self, spec: LayerSpec, batch: int, activation_qbn: int) -> _LayerPlan:
        groups = spec.groups
        group_size = spec.c_out // groups
        # Groups narrower than a tile are packed side by side (block-diagonal weights): `packed` groups share
        # a tile, their input channels stacked on the reduction dimension. Wider groups tile on their own.
        packed = min(groups, self.lanes // group_size) if group_size < self.lanes else 1
        if packed > 1:
            rows, units, tile_size = 1, groups, packed
        else:
            rows, units, tile_size = groups, group_size, self.lanes
        tiles_per_row = -(-units // tile_size)
        starts = np.arange(0, units, tile_size)
        tile_starts = (starts[None, :] + units * np.arange(rows)[:, None]).ravel()
        tile = TileShape(batch * spec.out_h * spec.out_w, spec.kernel_area, packed * (spec.c_in // groups))
        activation_bits = float(self._storage_bits[activation_qbn])
        costs = self._tile_costs(tile, activation_qbn)
        return _LayerPlan(
            group_size=group_size,
            pack_groups=packed > 1,
            rows=rows,
            tile_size=tile_size,
            pad=tiles_per_row * tile_size - units,
            tile_starts=tile_starts,
            row_offsets=(np.arange(rows, dtype=np.intp)[:, None] * _QBN_SLOTS) if rows > 1 else None,
            weights_per_kernel=spec.reduction_size,
            tile_table=np.column_stack([costs.cycles, costs.input_read_bits]).astype(float),
            weight_reads=costs.weight_reads,
            input_bits=float(batch * spec.c_in * spec.in_h * spec.in_w) * activation_bits,
            output_bits=float(batch * spec.c_out * spec.out_h * spec.out_w * self.preset.output_bits),
        )

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

    def _layer_terms(self, spec: LayerSpec, kernel_qbn: np.ndarray, activation_qbn: int, batch: int) -> LayerTerms:
        plan = self._plan(spec, batch, activation_qbn)
        preset = self.preset
        tiles = self._tile_histogram(kernel_qbn, plan)
        compute_cycles, input_read_bits = (tiles @ plan.tile_table).tolist()

        weight_bits = float(plan.weights_per_kernel * self._storage_bits[kernel_qbn].sum())
        input_bits, output_bits = plan.input_bits, plan.output_bits
        # DRAM loop order: either weight blocks outer (each block that fills the weight buffer streams all inputs)
        # or input blocks outer (each input block streams all weights); the cheaper one is taken. A tensor that
        # fits its buffer is fetched once.
        weight_fetch_bits, input_fetch_bits = min(
            (weight_bits, input_bits * math.ceil(weight_bits / self._weight_capacity_bits)),
            (weight_bits * math.ceil(input_bits / self._input_capacity_bits), input_bits),
            key=sum)
        dram_bits = weight_fetch_bits + input_fetch_bits + output_bits
        memory_cycles = float(math.ceil(dram_bits / preset.dram_bits_per_cycle))

        # Buffers: every fetched bit is written once; weights are read `weight_reads` times per stored bit, inputs
        # as the tiles stream them; outputs accumulate in the array (output stationary), then are written to the
        # output buffer once and read once on their way to DRAM.
        buffer_pj = (weight_fetch_bits * preset.weight_buffer_write_pj_per_bit
                     + weight_bits * plan.weight_reads * preset.weight_buffer_read_pj_per_bit
                     + input_fetch_bits * preset.input_buffer_write_pj_per_bit
                     + input_read_bits * preset.input_buffer_read_pj_per_bit
                     + output_bits * (preset.output_buffer_write_pj_per_bit + preset.output_buffer_read_pj_per_bit))
        return (max(compute_cycles, memory_cycles), compute_cycles, memory_cycles,
                compute_cycles * preset.array_pj_per_cycle * JOULES_PER_PJ, buffer_pj * JOULES_PER_PJ,
                dram_bits * preset.dram_pj_per_bit * JOULES_PER_PJ)
