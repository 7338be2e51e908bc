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
    Cost,
    SpatialAccelerator,
    TemporalAccelerator,
    get_accelerator,
    uniform_config,
)
from tests.hardware.layers import ALL_MODELS, ARRAY_MODELS, conv_spec, kernel_qbns, layer_specs, linear_spec, model_id

SETTINGS = settings(max_examples=60, deadline=None)
RELATIVE = 1e-12  # float sums taken in different orders


def no_more(lower: Cost, higher: Cost) -> bool:
    return (lower.latency_s <= higher.latency_s * (1 + RELATIVE)
            and lower.energy_j <= higher.energy_j * (1 + RELATIVE))


@pytest.mark.parametrize("model", ALL_MODELS, ids=model_id)
@SETTINGS
@given(data=st.data())
def test_lowering_one_kernel_qbn_never_costs_more(model, data):
    spec = data.draw(layer_specs())
    kernel_qbn = kernel_qbns(data.draw, spec)
    activation_qbn = data.draw(st.integers(1, 8))
    kernel = data.draw(st.integers(0, spec.c_out - 1))
    lowered = kernel_qbn.copy()
    lowered[kernel] = data.draw(st.integers(1, int(kernel_qbn[kernel])))
    assert no_more(model.layer_cost(spec, lowered, activation_qbn), model.layer_cost(spec, kernel_qbn, activation_qbn))


@pytest.mark.parametrize("model", ALL_MODELS, ids=model_id)
@SETTINGS
@given(data=st.data())
def test_lowering_activation_qbn_never_costs_more(model, data):
    spec = data.draw(layer_specs())
    kernel_qbn = kernel_qbns(data.draw, spec)
    activation_qbn = data.draw(st.integers(1, 8))
    lowered = data.draw(st.integers(1, activation_qbn))
    assert no_more(model.layer_cost(spec, kernel_qbn, lowered), model.layer_cost(spec, kernel_qbn, activation_qbn))


@pytest.mark.parametrize("model", ALL_MODELS, ids=model_id)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_network_cost_is_the_sum_of_layer_costs(model, data):
    specs = data.draw(st.lists(layer_specs(), min_size=1, max_size=5))
    config = {"activation_qbn": [data.draw(st.integers(1, 8)) for _ in specs],
              "kernel_qbn": [kernel_qbns(data.draw, spec) for spec in specs]}
    batch = data.draw(st.integers(1, 4))
    total = model.network_cost(specs, config, batch=batch)
    layers = sum(model.layer_cost(spec, kernels, act, batch=batch)
                 for spec, kernels, act in zip(specs, config["kernel_qbn"], config["activation_qbn"]))
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
    spec = data.draw(layer_specs())
    kernel_qbn = kernel_qbns(data.draw, spec)
    activation_qbn = data.draw(st.integers(1, 8))
    swapped = np.array([data.draw(st.sampled_from(fusion_class[int(q)])) for q in kernel_qbn])
    swapped_activation = data.draw(st.sampled_from(fusion_class[activation_qbn]))
    assert model.layer_cost(spec, swapped, swapped_activation) == model.layer_cost(spec, kernel_qbn, activation_qbn)


@SETTINGS
@given(c_in=st.integers(1, 600), c_out=st.integers(1, 600), kernel=st.sampled_from([1, 3, 5, 7]),
       size=st.integers(1, 32), stride=st.sampled_from([1, 2]), batch=st.integers(1, 8), weight_qbn=st.integers(1, 8),
       activation_qbn=st.integers(1, 8), linear=st.booleans())
def test_spatial_compute_cycles_match_the_bitfusion_formula(c_in, c_out, kernel, size, stride, batch, weight_qbn,
                                                            activation_qbn, linear):
    spec = linear_spec(c_in, c_out) if linear else conv_spec(c_in, c_out, kernel, size, stride=stride)
    fused = {1: 2, 2: 2, 3: 4, 4: 4, 5: 8, 6: 8, 7: 8, 8: 8}
    pf = (8 // fused[activation_qbn]) * (8 // fused[weight_qbn])
    expected = (batch * math.ceil(c_out / 32) * spec.out_h * spec.out_w * spec.kernel_area
                * math.ceil(c_in / (16 * pf)))
    cost = SpatialAccelerator().layer_cost(spec, weight_qbn, activation_qbn, batch=batch)
    assert cost.breakdown["compute_cycles"] == expected


def test_spatial_compute_cycles_by_hand():
    # 64 -> 128 channels, 3x3, 16x16 output, batch 2, w4 a2: pf = 4 * 2 = 8, ceil(64 / 128) = 1
    cost = SpatialAccelerator().layer_cost(conv_spec(64, 128, 3, 16), 4, 2, batch=2)
    assert cost.breakdown["compute_cycles"] == 2 * 4 * 16 * 16 * 9 * 1
    # same at w8 a8: pf = 1, ceil(64 / 16) = 4
    assert SpatialAccelerator().layer_cost(conv_spec(64, 128, 3, 16), 8, 8, batch=2).breakdown[
        "compute_cycles"] == 2 * 4 * 16 * 16 * 9 * 4


def test_spatial_depthwise_packs_groups_side_by_side():
    """96 depthwise 3x3 channels: 3 tiles of 32 groups, each reducing 32 stacked channels per kernel position."""
    spec = conv_spec(96, 96, 3, 10, groups=96)
    for qbn, pf in ((8, 1), (4, 4), (2, 16)):
        cost = SpatialAccelerator().layer_cost(spec, qbn, qbn)
        assert cost.breakdown["compute_cycles"] == 3 * 100 * 9 * math.ceil(32 / (16 * pf))


@SETTINGS
@given(c_in=st.integers(1, 600), c_out=st.integers(1, 300), kernel=st.sampled_from([1, 3]), size=st.integers(1, 24),
       batch=st.integers(1, 4), weight_qbn=st.integers(1, 8), activation_qbn=st.integers(1, 8))
def test_temporal_compute_cycles_match_the_bismo_formula(c_in, c_out, kernel, size, batch, weight_qbn,
                                                         activation_qbn):
    spec = conv_spec(c_in, c_out, kernel, size)
    m, k, n = batch * size * size, c_in * kernel * kernel, c_out
    expected = math.ceil(m / 8) * math.ceil(n / 8) * math.ceil(k / 256) * weight_qbn * activation_qbn
    cost = TemporalAccelerator().layer_cost(spec, weight_qbn, activation_qbn, batch=batch)
    assert cost.breakdown["compute_cycles"] == expected


def test_bismo_peak_binary_throughput():
    model = TemporalAccelerator()
    assert model.peak_binary_ops_per_cycle == 2 * 8 * 256 * 8
    assert model.peak_binary_ops_per_s == pytest.approx(6.5e12, rel=0.01)  # published: 6.5 binary TOPS


@pytest.mark.parametrize("weight_qbn, activation_qbn, macs_per_cycle", [(8, 8, 512), (4, 4, 2048), (2, 8, 2048),
                                                                          (3, 2, 4096), (2, 2, 8192), (1, 1, 8192)])
def test_bitfusion_array_reaches_its_peak_on_a_layer_that_fills_it(weight_qbn, activation_qbn, macs_per_cycle):
    model = SpatialAccelerator()
    assert model.peak_macs_per_cycle(weight_qbn, activation_qbn) == macs_per_cycle
    spec = conv_spec(256, 64, 3, 7)
    cycles = model.layer_cost(spec, weight_qbn, activation_qbn).breakdown["compute_cycles"]
    assert spec.macs / cycles == macs_per_cycle


@pytest.mark.parametrize("name", ["spatial", "temporal"])
def test_compute_bound_conv_speeds_up_four_times_from_8_to_4_bits(name):
    model = get_accelerator(name)
    spec = conv_spec(256, 256, 3, 14)
    wide, narrow = model.layer_cost(spec, 8, 8), model.layer_cost(spec, 4, 4)
    for cost in (wide, narrow):
        assert cost.breakdown["compute_cycles"] > cost.breakdown["memory_cycles"]
    assert 3.5 <= wide.latency_s / narrow.latency_s <= 4.5


@pytest.mark.parametrize("name", ["spatial", "temporal"])
def test_memory_bound_fc_speeds_up_by_the_ratio_of_bits_moved(name):
    model = get_accelerator(name)
    spec = linear_spec(4096, 4096)
    wide, narrow = model.layer_cost(spec, 8, 8), model.layer_cost(spec, 4, 4)
    for cost in (wide, narrow):
        assert cost.breakdown["memory_cycles"] > 2 * cost.breakdown["compute_cycles"]
    bits_moved = {qbn: 4096 * 4096 * qbn + 4096 * qbn + 4096 * 32 for qbn in (8, 4)}  # weights, inputs, outputs
    assert wide.latency_s / narrow.latency_s == pytest.approx(bits_moved[8] / bits_moved[4], rel=1e-3)
    assert 1.9 <= wide.latency_s / narrow.latency_s <= 2.1


@pytest.mark.parametrize("name", ["spatial", "temporal"])
def test_grouping_interleaved_qbns_beats_lock_step_tiles(name):
    spec = conv_spec(256, 64, 3, 14)
    interleaved = np.tile([2, 8], 32)
    grouped = get_accelerator(name, group_kernels=True).layer_cost(spec, interleaved, 8)
    ungrouped = get_accelerator(name, group_kernels=False).layer_cost(spec, interleaved, 8)
    low, high = (get_accelerator(name).layer_cost(spec, qbn, 8) for qbn in (2, 8))
    assert grouped.latency_s < ungrouped.latency_s and grouped.energy_j < ungrouped.energy_j
    for cost in (grouped, ungrouped):
        assert low.latency_s <= cost.latency_s <= high.latency_s
        assert low.energy_j < cost.energy_j < high.energy_j


@pytest.mark.parametrize("name", ["spatial", "temporal"])
@SETTINGS
@given(data=st.data())
def test_grouping_is_at_least_as_good_as_any_order(name, data):
    """Any order a compiler may choose: kernels permuted within their group (a kernel of a grouped
    convolution reads its own group's inputs, so it cannot move to another group)."""
    spec = data.draw(layer_specs())
    kernel_qbn = kernel_qbns(data.draw, spec)
    activation_qbn = data.draw(st.integers(1, 8))
    per_group = spec.c_out // spec.groups
    order = np.concatenate([group * per_group + np.array(data.draw(st.permutations(range(per_group))))
                            for group in range(spec.groups)])
    permuted = kernel_qbn[order]
    grouped = get_accelerator(name, group_kernels=True).layer_cost(spec, kernel_qbn, activation_qbn)
    assert no_more(grouped, get_accelerator(name, group_kernels=False).layer_cost(spec, permuted, activation_qbn))


@settings(max_examples=40, deadline=None)
@given(kernel_qbn=st.lists(st.integers(1, 8), min_size=1, max_size=6), lanes=st.integers(1, 4))
def test_grouping_equals_the_best_permutation_by_brute_force(kernel_qbn, lanes):
    preset = dataclasses.replace(BISMO_PYNQ_Z1, dn=lanes)
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
    assert cost.breakdown["memory_cycles"] == 0


def test_costs_add_up():
    first, second = Cost(1, 2, 3, {"compute": 1.0}), Cost(10, 20, 30, {"compute": 2.0, "dram": 5.0})
    assert first + second == Cost(11, 22, 33, {"compute": 3.0, "dram": 5.0})
    assert sum([first, second]) == first + second
    assert sum([first], Cost.zero()) == first


@pytest.mark.parametrize("model", ARRAY_MODELS, ids=model_id)
def test_batch_costs_more_but_less_per_image_for_a_weight_bound_layer(model):
    spec = linear_spec(2048, 2048)
    one, eight = model.layer_cost(spec, 8, 8, batch=1), model.layer_cost(spec, 8, 8, batch=8)
    assert one.latency_s < eight.latency_s < 8 * one.latency_s


def test_uniform_config_has_one_entry_per_layer():
    specs = [conv_spec(3, 16), linear_spec(16, 10)]
    config = uniform_config(specs, 5, 6)
    assert config["activation_qbn"] == [6, 6]
    assert [list(kernels) for kernels in config["kernel_qbn"]] == [[5] * 16, [5] * 10]
