"""Properties and hand-checked figures of the accelerator models."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoq_env.hardware import (
    BISMO_PYNQ_Z1,
    BITFUSION_EYERISS,
    Cost,
    SpatialAccelerator,
    TemporalAccelerator,
    get_accelerator,
    simulator_view,
    uniform_config,
)
from tests.hardware.layers import ALL_MODELS, ARRAY_MODELS, conv_spec, kernel_qbns, layer_specs, linear_spec, model_id

SETTINGS = settings(max_examples=20, deadline=None)
RELATIVE = 1e-12  # float sums taken in different orders


def no_more(lower: Cost, higher: Cost) -> bool:
    return (lower.latency_s <= higher.latency_s * (1 + RELATIVE)
            and lower.energy_j <= higher.energy_j * (1 + RELATIVE))


def draw_layer(data: st.DataObject) -> tuple:
    """A layer, its kernel QBNs and its activation QBN."""
    spec = data.draw(layer_specs())
    return spec, kernel_qbns(data.draw, spec), data.draw(st.integers(1, 8))


@pytest.mark.parametrize("model", ALL_MODELS, ids=model_id)
@SETTINGS
@given(data=st.data())
def test_lowering_one_kernel_qbn_never_costs_more(model, data):
    spec, kernel_qbn, activation_qbn = draw_layer(data)
    kernel = data.draw(st.integers(0, spec.c_out - 1))
    lowered = kernel_qbn.copy()
    lowered[kernel] = data.draw(st.integers(1, int(kernel_qbn[kernel])))
    assert no_more(model.layer_cost(spec, lowered, activation_qbn), model.layer_cost(spec, kernel_qbn, activation_qbn))


@pytest.mark.parametrize("model", ALL_MODELS, ids=model_id)
@SETTINGS
@given(data=st.data())
def test_lowering_activation_qbn_never_costs_more(model, data):
    spec, kernel_qbn, activation_qbn = draw_layer(data)
    lowered = data.draw(st.integers(1, activation_qbn))
    assert no_more(model.layer_cost(spec, kernel_qbn, lowered), model.layer_cost(spec, kernel_qbn, activation_qbn))


@pytest.mark.parametrize("model", ALL_MODELS, ids=model_id)
@SETTINGS
@given(data=st.data())
def test_lowering_the_output_qbn_never_costs_more(model, data):
    """The output is written at the consumers' QBN: fewer bits never cost more; a network output (None) is 32 bits."""
    spec, kernel_qbn, activation_qbn = draw_layer(data)
    output_qbn = data.draw(st.integers(1, 8))
    lowered = data.draw(st.integers(1, output_qbn))
    written = model.layer_cost(spec, kernel_qbn, activation_qbn, output_qbn=output_qbn)
    assert no_more(model.layer_cost(spec, kernel_qbn, activation_qbn, output_qbn=lowered), written)
    assert no_more(written, model.layer_cost(spec, kernel_qbn, activation_qbn, output_qbn=None))


@pytest.mark.parametrize("model", ALL_MODELS, ids=model_id)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_network_cost_is_the_sum_of_layer_costs(model, data):
    """Layers in a chain (each read by the next): layer l's output is written at layer l+1's activation QBN."""
    specs = data.draw(st.lists(layer_specs(), min_size=1, max_size=4))
    specs = [dataclasses.replace(spec, consumers=(i + 1,) if i + 1 < len(specs) else ())
             for i, spec in enumerate(specs)]
    config = {"activation_qbn": [data.draw(st.integers(1, 8)) for _ in specs],
              "kernel_qbn": [kernel_qbns(data.draw, spec) for spec in specs]}
    batch = data.draw(st.integers(1, 4))
    total = model.network_cost(specs, config, batch=batch)
    outputs = [*config["activation_qbn"][1:], None]
    layers = sum(model.layer_cost(spec, kernels, act, batch=batch, output_qbn=output)
                 for spec, kernels, act, output in zip(specs, config["kernel_qbn"], config["activation_qbn"], outputs))
    assert total.cycles == pytest.approx(layers.cycles, rel=RELATIVE)
    assert total.latency_s == pytest.approx(layers.latency_s, rel=RELATIVE)
    assert total.energy_j == pytest.approx(layers.energy_j, rel=RELATIVE)
    assert total.breakdown == pytest.approx(layers.breakdown, rel=RELATIVE)
    assert total.energy_j == pytest.approx(sum(total.breakdown[key] for key in ("compute", "buffer", "dram")))


@pytest.mark.parametrize("model", ALL_MODELS, ids=model_id)
@SETTINGS
@given(spec=layer_specs(), weight_qbn=st.integers(1, 8), activation_qbn=st.integers(1, 8))
def test_all_kernels_at_one_qbn_cost_the_layer_wise_cost(model, spec, weight_qbn, activation_qbn):
    layer_wise = model.layer_cost(spec, weight_qbn, activation_qbn)
    assert model.layer_cost(spec, np.full(spec.c_out, weight_qbn), activation_qbn) == layer_wise
    other = get_accelerator(model.name, group_kernels=not model.group_kernels)
    assert other.layer_cost(spec, weight_qbn, activation_qbn) == layer_wise  # grouping is moot at one QBN


@pytest.mark.parametrize("grouped", [True, False])
@SETTINGS
@given(data=st.data())
def test_spatial_qbns_of_one_fusion_class_cost_the_same(grouped, data):
    """BitFusion rounds operands up to 2, 4 or 8 bits: 1-2, 3-4 and 5-8 are one class each."""
    fusion_class = {1: (1, 2), 2: (1, 2), 3: (3, 4), 4: (3, 4), 5: (5, 6, 7, 8), 6: (5, 6, 7, 8),
                    7: (5, 6, 7, 8), 8: (5, 6, 7, 8)}
    model = SpatialAccelerator(group_kernels=grouped)
    spec, kernel_qbn, activation_qbn = draw_layer(data)
    output_qbn = data.draw(st.integers(1, 8))
    swapped = np.array([data.draw(st.sampled_from(fusion_class[int(q)])) for q in kernel_qbn])
    swapped_activation = data.draw(st.sampled_from(fusion_class[activation_qbn]))
    swapped_output = data.draw(st.sampled_from(fusion_class[output_qbn]))
    swapped_cost = model.layer_cost(spec, swapped, swapped_activation, output_qbn=swapped_output)
    cost = model.layer_cost(spec, kernel_qbn, activation_qbn, output_qbn=output_qbn)
    assert swapped_cost.cycles == cost.cycles and swapped_cost.breakdown["dram_bits"] == cost.breakdown["dram_bits"]
    assert swapped_cost.energy_j == pytest.approx(cost.energy_j, rel=RELATIVE)  # summed in another order


SIMULATOR = SpatialAccelerator(simulator_view(BITFUSION_EYERISS))


@SETTINGS
@given(c_in=st.integers(1, 64), c_out=st.integers(1, 64), kernel=st.sampled_from([1, 3]), size=st.integers(1, 4),
       weight_qbn=st.integers(1, 8), activation_qbn=st.integers(1, 8), linear=st.booleans())
def test_spatial_compute_cycles_match_the_bitfusion_formula(c_in, c_out, kernel, size, weight_qbn, activation_qbn,
                                                            linear):
    """Layers small enough for one tile of every buffer: the simulator's compute formula, no padding."""
    spec = linear_spec(c_in, c_out) if linear else conv_spec(c_in, c_out, kernel, size)
    fused = {1: 2, 2: 2, 3: 4, 4: 4, 5: 8, 6: 8, 7: 8, 8: 8}
    pf = (8 // fused[activation_qbn]) * (8 // fused[weight_qbn])
    expected = math.ceil(c_out / 32) * spec.out_h * spec.out_w * spec.kernel_area * math.ceil(c_in / (16 * pf))
    assert SIMULATOR.schedule(spec, weight_qbn, activation_qbn).compute_cycles == expected


def test_spatial_compute_cycles_by_hand():
    # 64 -> 128 channels, 3x3, 4x4 output, batch 2, w4 a2: pf = 4 * 2 = 8, ceil(64 / 128) = 1
    spec = conv_spec(64, 128, 3, 4)
    assert SIMULATOR.schedule(spec, 4, 2, batch=2).compute_cycles == 2 * 4 * 4 * 4 * 9 * 1
    # same at w8 a8: pf = 1, ceil(64 / 16) = 4
    assert SIMULATOR.schedule(spec, 8, 8, batch=2).compute_cycles == 2 * 4 * 4 * 4 * 9 * 4


def test_im2col_folds_kernel_positions_into_the_reduction():
    """A first layer (reads the network input) with 3 channels: ceil(3 * 9 / (16 pf)) instead of 9 ceil(3 / (16 pf))
    per output pixel and column tile; the simulator lowers such layers with im2col."""
    plain = conv_spec(3, 32, 3, 4)
    first = dataclasses.replace(plain, reads_network_input=True)
    for qbn, pf in ((8, 1), (2, 16)):
        assert SIMULATOR.schedule(plain, qbn, qbn).compute_cycles == 16 * 9
        assert SIMULATOR.schedule(first, qbn, qbn).compute_cycles == 16 * math.ceil(27 / (16 * pf))
    # im2col inputs: every output pixel reads its own kernel window (no reuse between pixels)
    assert SIMULATOR.schedule(first, 8, 8).input_write_bits == 4 * 4 * 27 * 8


def test_stall_formula_by_hand():
    """A 16 -> 32 fully connected layer at 8 bits on config 1 fits one tile: no transfer overlaps compute, so the
    stalls are the initial reads and the final write over the 192-bit interface."""
    spec = linear_spec(16, 32)
    schedule = SIMULATOR.schedule(spec, 8, 8)
    weights, inputs, outputs = 16 * 32 * 8, 16 * 8, 32 * 32  # the output buffer is loaded, then written back
    assert schedule.compute_cycles == 1
    assert schedule.dram_read_bits == weights + inputs + outputs and schedule.dram_write_bits == outputs
    assert schedule.stall_cycles == math.ceil((weights + inputs + outputs) / 192) + math.ceil(outputs / 192) == 34
    assert schedule.cycles == 35
    # requantized to the consumer's 8 bits: the write-back shrinks to 32 x 8 bits, ceil(256 / 192) = 2 cycles
    requantized = SpatialAccelerator().schedule(spec, 8, 8, output_qbn=8)
    assert requantized.dram_write_bits == 32 * 8 and requantized.stall_cycles == 28 + 2
    assert SpatialAccelerator().layer_cost(spec, 8, 8, output_qbn=8).cycles == 31


def test_spatial_depthwise_packs_groups_side_by_side():
    """96 depthwise 3x3 channels: 3 passes of 32 groups, each reducing 32 stacked channels per kernel position."""
    spec = conv_spec(96, 96, 3, 4, groups=96)
    for qbn, pf in ((8, 1), (4, 4), (2, 16)):
        cost = SIMULATOR.layer_cost(spec, qbn, qbn)
        assert cost.breakdown["compute_cycles"] == 3 * 16 * 9 * math.ceil(32 / (16 * pf))


@SETTINGS
@given(c_in=st.integers(1, 300), c_out=st.integers(1, 100), kernel=st.sampled_from([1, 3]), size=st.integers(1, 12),
       batch=st.integers(1, 4), weight_qbn=st.integers(1, 8), activation_qbn=st.integers(1, 8))
def test_temporal_busy_cycles_match_the_bismo_formula(c_in, c_out, kernel, size, batch, weight_qbn, activation_qbn):
    """Busy cycles: ceil(m / Dm) * ceil(n / Dn) * ceil(k / Dk) * b_l * b_r; execute adds a fixed overhead per
    instruction (one per bit-plane pair and result tile), so the layer takes at least that long."""
    spec = conv_spec(c_in, c_out, kernel, size)
    m, k, n = c_out, c_in * kernel * kernel, batch * size * size
    tiles = math.ceil(m / 8) * math.ceil(n / 8) * weight_qbn * activation_qbn
    cost = TemporalAccelerator().layer_cost(spec, weight_qbn, activation_qbn, batch=batch)
    assert cost.breakdown["compute_cycles"] == tiles * math.ceil(k / 256)
    assert cost.cycles >= tiles * (math.ceil(k / 256) + BISMO_PYNQ_Z1.exec_overhead_cycles)


def test_temporal_fetch_is_rhs_bytes_plus_lhs_bytes_per_rhs_tile():
    """Weights that do not stay on chip are fetched again for each right-hand (activation) tile; splitting the
    reduction into chunks that do stay costs a 32-bit write-back per chunk instead; the compiler takes the faster."""
    preset = dataclasses.replace(BISMO_PYNQ_Z1, lmem_entries=2 * 16, widen_when_cheaper=False)
    spec = linear_spec(512, 16, rows=16)  # m = 16 kernels, k = 512, n = 16 rows: 2 x 2 x 2 tiles (m, n, k)
    cost = TemporalAccelerator(preset).layer_cost(spec, 8, 8)
    tile_bits = 8 * 8 * 256  # 8 bit-planes of one 8 x 256 tile
    rhs_bits, lhs_bits = 2 * 2 * tile_bits, 2 * 2 * tile_bits  # tiles_n (tiles_m) x tiles_k
    result_bits = 2 * 2 * 8 * 8 * 32
    refetch, chunked = rhs_bits + lhs_bits * 2 + result_bits, rhs_bits + lhs_bits + 2 * result_bits
    assert cost.breakdown["dram_bits"] == min(refetch, chunked) == chunked
    resident = TemporalAccelerator(dataclasses.replace(preset, lmem_entries=1024)).layer_cost(spec, 8, 8)
    assert resident.breakdown["dram_bits"] == rhs_bits + lhs_bits + result_bits


def test_bismo_peak_binary_throughput():
    model = TemporalAccelerator()
    assert model.peak_binary_ops_per_cycle == 2 * 8 * 256 * 8
    assert model.peak_binary_ops_per_s == pytest.approx(6.5e12, rel=0.01)  # published: 6.5 binary TOPS


@pytest.mark.parametrize("weight_qbn, activation_qbn, macs_per_cycle", [(8, 8, 512), (4, 4, 2048), (2, 8, 2048),
                                                                          (3, 2, 4096), (2, 2, 8192), (1, 1, 8192)])
def test_bitfusion_array_reaches_its_peak_on_a_layer_that_fills_it(weight_qbn, activation_qbn, macs_per_cycle):
    assert SIMULATOR.peak_macs_per_cycle(weight_qbn, activation_qbn) == macs_per_cycle
    spec = conv_spec(macs_per_cycle // 32, 32, 1, 4)  # fills the 16 rows x pf exactly, one tile of every buffer
    cycles = SIMULATOR.schedule(spec, weight_qbn, activation_qbn).compute_cycles
    assert spec.macs / cycles == macs_per_cycle


@pytest.mark.parametrize("name", ["spatial", "temporal"])
def test_compute_bound_conv_speeds_up_four_times_from_8_to_4_bits(name):
    model = get_accelerator(name)
    spec = conv_spec(256, 256, 3, 16)  # 16 x 16: power-of-two output tiles need no padding
    wide, narrow = model.layer_cost(spec, 8, 8), model.layer_cost(spec, 4, 4)
    if name == "spatial":  # BISMO's execute overheads and weight refetches leave stalls even here
        for cost in (wide, narrow):
            assert cost.breakdown["stall_cycles"] < 0.1 * cost.cycles
    assert 3.5 <= wide.latency_s / narrow.latency_s <= 4.5


@pytest.mark.parametrize("name", ["spatial", "temporal"])
def test_memory_bound_fc_speeds_up_by_about_the_ratio_of_bits_moved(name):
    model = get_accelerator(name)
    spec = linear_spec(4096, 4096)
    wide, narrow = model.layer_cost(spec, 8, 8, output_qbn=8), model.layer_cost(spec, 4, 4, output_qbn=4)
    for cost in (wide, narrow):
        assert cost.breakdown["stall_cycles"] > 0.5 * cost.cycles
    assert wide.breakdown["dram_bits"] / narrow.breakdown["dram_bits"] == pytest.approx(2, rel=0.05)
    assert 1.8 <= wide.latency_s / narrow.latency_s <= 2.1


@pytest.mark.parametrize("name", ["spatial", "temporal"])
def test_requantized_outputs_follow_the_consumer_qbn(name):
    """Layer 0 is read by layers 1 and 2, layer 1 by layer 2, layer 2 is the network's output: layer 0 writes at the
    larger activation QBN of layers 1 and 2, layer 1 at layer 2's, layer 2 at 32 bits. With
    requantize_outputs=False every layer writes 32 bits."""
    specs = [dataclasses.replace(conv_spec(16, 64, 3, 8), consumers=(1, 2)),
             dataclasses.replace(conv_spec(64, 64, 3, 8, name="b"), consumers=(2,)),
             conv_spec(64, 10, 1, 8, name="c")]
    preset = get_accelerator(name).preset
    for requantize in (True, False):
        model = get_accelerator(name, dataclasses.replace(preset, requantize_outputs=requantize))
        config = {"activation_qbn": [8, 4, 2], "kernel_qbn": [np.full(spec.c_out, 8) for spec in specs]}
        layers = (model.layer_cost(specs[0], 8, 8, output_qbn=4) + model.layer_cost(specs[1], 8, 4, output_qbn=2)
                  + model.layer_cost(specs[2], 8, 2))
        total = model.network_cost(specs, config)
        assert total.cycles == layers.cycles and total.energy_j == pytest.approx(layers.energy_j, rel=RELATIVE)
        narrower, wider = (model.layer_cost(specs[1], 8, 4, output_qbn=q).breakdown["dram_bits"] for q in (2, 8))
        last = model.layer_cost(specs[2], 8, 2)
        if requantize:
            assert narrower < wider and last == model.layer_cost(specs[2], 8, 2, output_qbn=None)
            assert last.breakdown["dram_bits"] > model.layer_cost(specs[2], 8, 2, output_qbn=8).breakdown["dram_bits"]
        else:
            assert narrower == wider and last == model.layer_cost(specs[2], 8, 2, output_qbn=2)


@pytest.mark.parametrize("name", ["spatial", "temporal"])
def test_grouping_interleaved_qbns_beats_lock_step_tiles(name):
    spec = conv_spec(256, 64, 3, 14)
    interleaved = np.tile([2, 8], 32)
    grouped = get_accelerator(name, group_kernels=True).layer_cost(spec, interleaved, 8)
    ungrouped = get_accelerator(name, group_kernels=False).layer_cost(spec, interleaved, 8)
    low, high = (get_accelerator(name).layer_cost(spec, qbn, 8) for qbn in (2, 8))
    assert grouped.latency_s < ungrouped.latency_s and grouped.energy_j < ungrouped.energy_j
    for cost in (grouped, ungrouped):  # a tile runs and moves at its widest kernel: ungrouped, every tile at 8 bits
        assert low.latency_s <= cost.latency_s <= high.latency_s
        assert low.energy_j <= cost.energy_j <= high.energy_j
    assert low.energy_j < grouped.energy_j and ungrouped == high


@pytest.mark.parametrize("name", ["spatial", "temporal"])
@SETTINGS
@given(data=st.data())
def test_grouping_is_at_least_as_good_as_any_order(name, data):
    """Any order a compiler may choose: kernels permuted within their group (a kernel of a grouped
    convolution reads its own group's inputs, so it cannot move to another group)."""
    spec, kernel_qbn, activation_qbn = draw_layer(data)
    per_group = spec.c_out // spec.groups
    order = np.concatenate([group * per_group + np.array(data.draw(st.permutations(range(per_group))))
                            for group in range(spec.groups)])
    permuted = kernel_qbn[order]
    grouped = get_accelerator(name, group_kernels=True).layer_cost(spec, kernel_qbn, activation_qbn)
    assert no_more(grouped, get_accelerator(name, group_kernels=False).layer_cost(spec, permuted, activation_qbn))


@settings(max_examples=40, deadline=None)
@given(kernel_qbn=st.lists(st.integers(1, 8), min_size=1, max_size=6), lanes=st.integers(1, 4))
def test_grouping_equals_the_best_permutation_by_brute_force(kernel_qbn, lanes):
    preset = dataclasses.replace(BISMO_PYNQ_Z1, dm=lanes)
    spec = conv_spec(300, len(kernel_qbn), 3, 9)
    grouped = TemporalAccelerator(preset, group_kernels=True).layer_cost(spec, kernel_qbn, 3)
    ungrouped = TemporalAccelerator(preset, group_kernels=False)
    best = min(ungrouped.layer_cost(spec, list(order), 3).breakdown["compute_cycles"]
               for order in itertools.permutations(kernel_qbn))
    assert grouped.breakdown["compute_cycles"] == best


def test_ungrouped_tiles_take_consecutive_kernels():
    spec = conv_spec(256, 16, 3, 8)  # two tiles of 8 output channels on BISMO
    model = TemporalAccelerator(group_kernels=False)
    tile_cycles = math.ceil(64 / 8) * math.ceil(256 * 9 / 256) * 2  # per weight bit, activations at 2 bits
    one_wide_kernel_per_tile = [8] + [1] * 7 + [8] + [1] * 7
    assert model.layer_cost(spec, one_wide_kernel_per_tile, 2).breakdown["compute_cycles"] == 2 * 8 * tile_cycles
    wide_kernels_together = [8, 8] + [1] * 14
    assert model.layer_cost(spec, wide_kernels_together, 2).breakdown["compute_cycles"] == (8 + 1) * tile_cycles


@SETTINGS
@given(spec=layer_specs(), data=st.data())
def test_bitops_counts_macs_times_weight_bits_times_activation_bits(spec, data):
    kernel_qbn = kernel_qbns(data.draw, spec)
    activation_qbn = data.draw(st.integers(1, 8))
    cost = get_accelerator("bitops").layer_cost(spec, kernel_qbn, activation_qbn, batch=3)
    assert cost.cycles == 3 * spec.macs * kernel_qbn.sum() * activation_qbn / spec.c_out
    assert cost.breakdown["stall_cycles"] == 0


def test_costs_add_up():
    first, second = Cost(1, 2, 3, {"compute": 1.0}), Cost(10, 20, 30, {"compute": 2.0, "dram": 5.0})
    assert first + second == Cost(11, 22, 33, {"compute": 3.0, "dram": 5.0})
    assert sum([first, second]) == first + second
    assert sum([first], Cost.zero()) == first


@pytest.mark.parametrize("model", ARRAY_MODELS, ids=model_id)
def test_batch_costs_more_but_less_per_image_for_a_weight_bound_layer(model):
    spec = linear_spec(2048, 2048)
    one, many = model.layer_cost(spec, 8, 8, batch=1), model.layer_cost(spec, 8, 8, batch=32)
    assert one.latency_s < many.latency_s < 32 * one.latency_s


def test_uniform_config_has_one_entry_per_layer():
    specs = [conv_spec(3, 16), linear_spec(16, 10)]
    config = uniform_config(specs, 5, 6)
    assert config["activation_qbn"] == [6, 6]
    assert [list(kernels) for kernels in config["kernel_qbn"]] == [[5] * 16, [5] * 10]
