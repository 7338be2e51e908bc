"""Bad arguments fail early with a message that names what is allowed."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from autoq_env.hardware import (
    ACCELERATORS,
    BISMO_PYNQ_Z1,
    BITFUSION_EYERISS,
    SpatialAccelerator,
    TemporalAccelerator,
    get_accelerator,
)
from tests.hardware.layers import conv_spec, linear_spec

SPEC = conv_spec(16, 8, 3, 6)


@pytest.fixture(params=ACCELERATORS)
def model(request):
    return get_accelerator(request.param)


@pytest.mark.parametrize("kernel_qbn, match", [
    (np.full(7, 4), r"8 values\), got shape \(7,\)"),
    (np.full((8, 1), 4), r"8 values\), got shape \(8, 1\)"),
    (np.array([4] * 7 + [0]), r"integer QBN in 1\.\.8 .* got values from 0 to 4"),
    (np.array([4] * 7 + [9]), r"integer QBN in 1\.\.8 .* got values from 4 to 9"),
    (np.full(8, 4.5), r"integer QBN in 1\.\.8 .* fractional"),
    (np.array([4.0] * 7 + [np.nan]), r"fractional or non-finite"),
    (0, r"integer in 1\.\.8, got 0"),
])
def test_bad_kernel_qbn_values_raise_value_error(model, kernel_qbn, match):
    with pytest.raises(ValueError, match=match):
        model.layer_cost(SPEC, kernel_qbn, 4)


@pytest.mark.parametrize("kernel_qbn", [np.array(["4"] * 8), np.full(8, True), [object()] * 8])
def test_non_numeric_kernel_qbn_raises_type_error(model, kernel_qbn):
    with pytest.raises(TypeError, match=r"integer QBN in 1\.\.8 per kernel"):
        model.layer_cost(SPEC, kernel_qbn, 4)


def test_whole_floats_and_other_integer_types_are_accepted(model):
    expected = model.layer_cost(SPEC, np.full(8, 5), 3)
    for kernel_qbn in (np.full(8, 5.0), np.full(8, 5, dtype=np.uint8), [5] * 8, np.int16(5)):
        assert model.layer_cost(SPEC, kernel_qbn, 3) == expected
    assert model.layer_cost(SPEC, np.full(8, 5), 3.0) == expected


@pytest.mark.parametrize("activation_qbn, error", [(0, ValueError), (9, ValueError), (2.5, ValueError),
                                                   (float("nan"), ValueError), ("4", TypeError), (True, TypeError),
                                                   (None, TypeError)])
def test_bad_activation_qbn(model, activation_qbn, error):
    with pytest.raises(error, match=r"activation_qbn of layer conv must be an integer in 1\.\.8"):
        model.layer_cost(SPEC, 4, activation_qbn)


@pytest.mark.parametrize("batch", [0, -1, 1.5, True])
def test_bad_batch(model, batch):
    with pytest.raises(ValueError, match="batch must be an integer >= 1"):
        model.layer_cost(SPEC, 4, 4, batch=batch)


def test_network_cost_checks_the_config(model):
    specs = [SPEC, linear_spec(8, 10)]
    good = {"activation_qbn": [4, 4], "kernel_qbn": [np.full(8, 4), np.full(10, 4)]}
    assert model.network_cost(specs, good).energy_j > 0
    with pytest.raises(ValueError, match="keys 'activation_qbn'.*'kernel_qbn'"):
        model.network_cost(specs, {"activation_qbn": [4, 4]})
    with pytest.raises(ValueError, match=r"one entry per layer \(2\).*got 1 and 2"):
        model.network_cost(specs, {**good, "activation_qbn": [4]})
    with pytest.raises(ValueError, match=r"layer fc .* \(10 values\), got shape \(8,\)"):
        model.network_cost(specs, {**good, "kernel_qbn": [np.full(8, 4), np.full(8, 4)]})


def test_unknown_accelerator_names_the_allowed_ones():
    with pytest.raises(ValueError, match="unknown accelerator 'systolic'; allowed: temporal, spatial, bitops"):
        get_accelerator("systolic")


def test_unknown_preset_names_the_allowed_ones():
    with pytest.raises(ValueError, match="unknown preset 'eyeriss' for accelerator 'spatial'; allowed: "
                                         "bitfusion-eyeriss, bitfusion-m32-if4096, bitfusion-m64-if4096, "
                                         "bitfusion-m128-if4096, bitfusion-m256-if4096"):
        get_accelerator("spatial", "eyeriss")
    with pytest.raises(ValueError, match="allowed: bismo-pynq, bismo-ultra96"):
        get_accelerator("temporal", "bitfusion-eyeriss")


def test_preset_of_the_wrong_kind_is_a_type_error():
    with pytest.raises(TypeError, match="TemporalAccelerator needs a BismoPreset preset, got BitFusionPreset"):
        TemporalAccelerator(BITFUSION_EYERISS)
    with pytest.raises(TypeError, match="needs a BismoPreset"):
        get_accelerator("temporal", BITFUSION_EYERISS)


@pytest.mark.parametrize("field, value, allowed", [
    ("rows", 0, "rows must be an integer >= 1, got 0"),
    ("columns", 2.5, "columns must be an integer >= 1, got 2.5"),
    ("dram_bits_per_cycle", -64, "dram_bits_per_cycle must be an integer >= 1"),
    ("frequency_hz", 0.0, "frequency_hz must be a finite number > 0, got 0.0"),
    ("dram_pj_per_bit", float("nan"), "dram_pj_per_bit must be a finite number >= 0"),
    ("max_bits", 6, "max_bits must be brick_bits times a power of two"),
    ("requantize_outputs", "yes", "requantize_outputs must be True or False"),
])
def test_a_preset_field_out_of_range_names_the_field_and_the_range(field, value, allowed):
    with pytest.raises(ValueError, match=f"BitFusionPreset 'bitfusion-eyeriss': {re.escape(allowed)}"):
        dataclasses.replace(BITFUSION_EYERISS, **{field: value})


@pytest.mark.parametrize("field, value, allowed", [
    ("dk", 0, "dk must be an integer >= 1"),
    ("lmem_entries", 1, "lmem_entries and rmem_entries must be >= 2"),
    ("exec_drain_cycles", -1, "exec_drain_cycles must be an integer >= 0"),
])
def test_a_bismo_field_out_of_range_names_the_field(field, value, allowed):
    with pytest.raises(ValueError, match=re.escape(allowed)):
        dataclasses.replace(BISMO_PYNQ_Z1, **{field: value})


def test_a_layer_the_model_cannot_lower_is_named(model):
    if model.name == "bitops":
        pytest.skip("the BitOPs proxy lowers nothing")
    odd = dataclasses.replace(SPEC, groups=3)  # 16 and 8 channels are not divisible by 3 groups
    with pytest.raises(ValueError, match=r"cannot lower layer conv: .* c_in and c_out divisible by groups, "
                                         r"got c_in=16, c_out=8, groups=3"):
        model.layer_cost(odd, 4, 4)


def test_a_layer_whose_tile_fits_no_buffer_names_the_buffers():
    tiny = dataclasses.replace(BITFUSION_EYERISS, weight_buffer_bytes=64)
    with pytest.raises(ValueError, match=r"cannot lower layer conv on preset 'bitfusion-eyeriss': no tiling fits the "
                                         r"buffers: .* half of each buffer holds 256, .*; allowed: layers whose "
                                         r"smallest tile fits half of each buffer"):
        SpatialAccelerator(tiny).layer_cost(SPEC, 8, 8)


def test_bad_output_qbn_and_consumers(model):
    with pytest.raises(ValueError, match=r"output_qbn of layer conv must be an integer in 1\.\.8, got 9"):
        model.layer_cost(SPEC, 4, 4, output_qbn=9)
    dangling = dataclasses.replace(SPEC, consumers=(5,))
    with pytest.raises(ValueError, match=r"layer conv names consumers \(5,\), but the network has 1 layers"):
        model.network_cost([dangling], {"activation_qbn": [4], "kernel_qbn": [np.full(8, 4)]})
