"""ONNX export: onnxruntime computes the evaluator's integer arithmetic exactly; the weights stay on their grids."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autoq_env.deploy.integer import quantize_network, save_integer
from autoq_env.deploy.onnx_export import onnx_predict, to_onnx

IMAGES = 300


def mixed_config(env, seed: int = 0) -> dict:
    """Random kernel QBNs in 2..6 and activation QBNs in 3..8: every layer mixes grids."""
    rng = np.random.default_rng(seed)
    core = env.unwrapped
    return {"activation_qbn": rng.integers(3, 9, core.num_layers).tolist(),
            "kernel_qbn": [rng.integers(2, 7, n).tolist() for n in core.problem.num_kernels]}


@pytest.fixture(scope="module")
def exported(small_env):
    config = mixed_config(small_env)
    network = quantize_network(small_env, config)
    return config, network, to_onnx(network)


def test_onnxruntime_predicts_what_the_evaluator_predicts(small_env, exported) -> None:
    config, _, model = exported
    problem = small_env.unwrapped.problem
    images = torch.cat([images for images, _ in problem.test_batches])[:IMAGES]
    problem.evaluator.apply(*small_env.unwrapped.check_config(config))
    with torch.inference_mode():
        expected = problem.evaluator.model(images).argmax(1).numpy()
    logits = onnx_predict(model.SerializeToString(), images.contiguous().numpy())
    assert logits.shape == (IMAGES, problem.info.num_classes)
    np.testing.assert_array_equal(logits.argmax(1), expected)


def test_graph_holds_integer_convolutions_of_input_and_weight_codes(small_env, exported) -> None:
    _, network, model = exported
    ops = [node.op_type for node in model.graph.node]
    layers = len(small_env.unwrapped.specs)
    assert ops.count("QuantizeLinear") == layers  # one per layer input
    assert "DequantizeLinear" not in ops and "Conv" not in ops and "Gemm" not in ops
    assert ops.count("ConvInteger") + ops.count("MatMulInteger") == layers
    shifted = sum(layer.fraction_bits > 0 for layer in network.layers)  # sums scaled by 2^f (an int32 Mul)
    assert ops.count("Cast") == layers and ops.count("Mul") == layers + shifted  # float32 * output scale
    assert ops.count("Add") == layers + 9  # each layer's int32 bias codes, and the 9 residual additions


def test_onnxruntime_gives_the_evaluators_logits_bit_for_bit(small_env, exported) -> None:
    config, _, model = exported
    problem = small_env.unwrapped.problem
    images = torch.cat([images for images, _ in problem.test_batches])[:50]
    problem.evaluator.apply(*small_env.unwrapped.check_config(config))
    with torch.inference_mode():
        expected = problem.evaluator.model(images).numpy()
    np.testing.assert_array_equal(onnx_predict(model.SerializeToString(), images.contiguous().numpy()), expected)


def test_weights_take_at_most_2_to_the_b_values_per_kernel(small_env, exported) -> None:
    from onnx import numpy_helper

    config, network, model = exported
    initializers = {tensor.name: numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
    for layer, kernel_qbn in zip(network.layers, config["kernel_qbn"]):
        codes = initializers[f"{layer.name}.weight_codes"]
        scale = layer.weight_scale
        assert codes.dtype == np.int8 and initializers[f"{layer.name}.output_scale"].size == codes.shape[0]
        weight = codes.astype(np.float32) * scale.reshape((-1,) + (1,) * (codes.ndim - 1))
        for kernel, qbn in enumerate(kernel_qbn):
            assert len(np.unique(weight[kernel])) <= 2 ** qbn
            assert np.abs(codes[kernel]).max() <= 2 ** (qbn - 1) - 1


def test_integer_export_holds_the_onnx_weights_and_states_storage(small_env, exported, tmp_path) -> None:
    import json

    from onnx import numpy_helper

    config, network, model = exported
    manifest = save_integer(network, tmp_path / "model.npz")
    assert json.loads((tmp_path / "model.json").read_text()) == manifest
    arrays = np.load(tmp_path / "model.npz")
    initializers = {tensor.name: numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
    for layer, kernel_qbn in zip(network.layers, config["kernel_qbn"]):
        np.testing.assert_array_equal(arrays[f"{layer.name}.codes"], initializers[f"{layer.name}.weight_codes"])
        np.testing.assert_array_equal(arrays[f"{layer.name}.bits"], kernel_qbn)
    storage = manifest["storage"]
    bits = sum(int(np.sum(kernel_qbn)) * spec.reduction_size
               for kernel_qbn, spec in zip(config["kernel_qbn"], small_env.unwrapped.specs))
    weights = sum(layer.weight_codes.size for layer in network.layers)
    assert storage["float32_bytes"] == 4 * weights
    assert storage["uniform_8bit_bytes"] == weights + 4 * storage["kernels"]
    assert storage["packed_bytes"] < storage["uniform_8bit_bytes"] < storage["float32_bytes"]
    assert storage["packed_bytes"] == (bits + 32 * storage["kernels"]) / 8


def test_a_config_that_does_not_fit_is_refused(small_env) -> None:
    config = mixed_config(small_env)
    config["kernel_qbn"][3] = config["kernel_qbn"][3][:-1]
    with pytest.raises(ValueError, match=r"does not fit this env: layer 3 .* needs 16 kernel QBNs"):
        quantize_network(small_env, config)
