"""Bad arguments fail early with a message that names what is allowed."""

from __future__ import annotations

import numpy as np
import pytest

from autoq_env.hardware import ACCELERATORS, BITFUSION_EYERISS, TemporalAccelerator, get_accelerator
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
    with pytest.raises(ValueError, match="unknown preset 'eyeriss' for accelerator 'spatial'; allowed: bitfusion-"):
        get_accelerator("spatial", "eyeriss")
    with pytest.raises(ValueError, match="allowed: bismo-pynq"):
        get_accelerator("temporal", "bitfusion-eyeriss")


def test_preset_of_the_wrong_kind_is_a_type_error():
    with pytest.raises(TypeError, match="TemporalAccelerator needs a BismoPreset preset, got BitFusionPreset"):
        TemporalAccelerator(BITFUSION_EYERISS)
    with pytest.raises(TypeError, match="needs a BismoPreset"):
        get_accelerator("temporal", BITFUSION_EYERISS)
