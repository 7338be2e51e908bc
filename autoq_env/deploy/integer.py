"""The quantized network as integers: codes, per-kernel scales and bits, activation grids.

Everything is read from the env's evaluator, so it is the very grid the search scored: kernel ``k`` of
a layer at QBN ``b`` holds the integer codes ``round(w_q / scale_k)`` in ``-(2^(b-1)-1)..2^(b-1)-1``
(``-1, +1`` at 1 bit) in an int8 container, with its MSE-chosen step ``scale_k``
(``autoq_env.quant.kernel_codes``, stored in the evaluator's table); the layer's input is clipped to the
calibrated activation range and quantized on ``{0..2^a-1}`` (after a ReLU) or
``{-(2^(a-1)-1)..2^(a-1)-1}`` (signed inputs) with step ``ActivationQuantizer.step(a)``. The layer's
output is ``(2^f x integer sums + bias codes) * output_scale``, with ``output_scale`` the float32 input
step x kernel step / ``2^f`` and bias codes ``round(bias / output_scale)`` (the int32 bias of
integer-only inference), as the evaluator computes it (``QuantizedEvaluator.layer_integers``). Weights
are those of the BatchNorm-folded model (what an integer engine runs).

``save_integer`` writes the compact export: one ``.npz`` (compressed) of codes, scales, bits and
biases per layer, and a JSON manifest beside it (layer order, shapes, activation grids, storage).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from torch import nn

from autoq_env import atomic_io
from autoq_env.deploy.config import load_config
from autoq_env.quant import signed_levels

SCALE_BITS = 32  # each kernel's step is stored as a float32
FLOAT_BITS = 32


@dataclass
class QuantizedLayer:
    """One quantizable layer at its configuration (all arrays over the layer's kernels)."""

    name: str
    weight_codes: np.ndarray  # int8, shape of the weight; kernel k on grid of kernel_qbn[k]
    weight_scale: np.ndarray  # float32 (c_out,)
    kernel_qbn: np.ndarray  # int64 (c_out,)
    bias: np.ndarray | None  # float32 (c_out,)
    fraction_bits: int  # the sums are scaled by 2^fraction_bits before the bias codes are added
    bias_codes: np.ndarray | None  # int64 (c_out,): round(bias / output_scale), added to the scaled sums
    activation_qbn: int
    activation_signed: bool
    activation_scale: float  # step of the input grid (a float32 value)
    output_scale: np.ndarray  # float32 (c_out,): activation_scale * weight_scale / 2^fraction_bits

    @property
    def activation_code_range(self) -> tuple[int, int]:
        """Smallest and largest integer code of the input grid."""
        if self.activation_signed:
            top = signed_levels(self.activation_qbn)
            return -top, top
        return 0, 2 ** self.activation_qbn - 1


@dataclass
class QuantizedNetwork:
    """The BatchNorm-folded model and its quantizable layers as integers, in forward order."""

    model: nn.Module  # folded float model: graph structure, and parameters of layers not quantized
    layers: list[QuantizedLayer]
    input_shape: tuple[int, int, int]  # (channels, height, width)

    def storage(self) -> dict[str, Any]:
        """Storage of the quantized layers' weights: packed at their QBNs, at uniform 8 bits, in float32.

        Packed and 8-bit sizes include one float32 step per kernel; biases (float32, the same in all
        three) are counted separately.
        """
        weights = sum(layer.weight_codes.size for layer in self.layers)
        kernels = sum(layer.kernel_qbn.size for layer in self.layers)
        packed_bits = sum(int((layer.kernel_qbn * layer.weight_codes[0].size).sum()) for layer in self.layers)
        bias_bytes = sum(0 if layer.bias is None else layer.bias.size * FLOAT_BITS // 8 for layer in self.layers)
        packed = (packed_bits + kernels * SCALE_BITS) / 8
        uniform_8bit = (8 * weights + kernels * SCALE_BITS) / 8
        float32 = FLOAT_BITS * weights / 8
        return {"weights": weights, "kernels": kernels, "mean_weight_qbn": packed_bits / weights,
                "packed_bytes": packed, "uniform_8bit_bytes": uniform_8bit, "float32_bytes": float32,
                "bias_bytes": bias_bytes, "packed_vs_8bit": packed / uniform_8bit,
                "packed_vs_float32": packed / float32}


def quantize_network(env: gym.Env, config: Any) -> QuantizedNetwork:
    """The env's model at ``config`` (a dict or a configuration file) as integer codes and steps."""
    config = load_config(env, config)
    problem = env.unwrapped.problem
    evaluator = problem.evaluator
    layers = []
    for index, (spec, bias) in enumerate(zip(problem.specs, evaluator.float_biases)):
        qbn = np.asarray(config["kernel_qbn"][index], dtype=np.int64)
        activation_qbn = int(config["activation_qbn"][index])
        quantizer = evaluator.activation_quantizers[index]
        if quantizer.signed and activation_qbn == 1:
            raise ValueError(f"layer {index} ({spec.name}): a 1-bit signed activation grid is a sign function, which "
                             "has no QuantizeLinear form; give this layer's activation at least 2 bits")
        integers = evaluator.layer_integers(index, activation_qbn, qbn)  # what the evaluator computes
        layers.append(QuantizedLayer(
            name=spec.name, weight_codes=integers.weight_codes.numpy(), weight_scale=integers.weight_steps.numpy(),
            kernel_qbn=qbn, bias=None if bias is None else bias.cpu().numpy().astype(np.float32),
            fraction_bits=integers.fraction_bits,
            bias_codes=None if bias is None else integers.bias_codes.numpy().astype(np.int64),
            activation_qbn=activation_qbn, activation_signed=quantizer.signed,
            activation_scale=float(np.float32(quantizer.step(activation_qbn))),
            output_scale=integers.output_scale.numpy()))
    info = problem.info
    return QuantizedNetwork(evaluator.model, layers, (info.in_channels, info.image_size, info.image_size))


def manifest(network: QuantizedNetwork) -> dict[str, Any]:
    """The JSON manifest of an integer export: layer order, shapes, grids and storage."""
    return {
        "format": "autoq-integer-v1",
        "input_shape": list(network.input_shape),
        "weights": "per layer '<name>.codes' int8 (one row per kernel), '<name>.scale' float32 per kernel, "
                   "'<name>.bits' per kernel, '<name>.bias' float32, '<name>.bias_codes' int32 and "
                   "'<name>.output_scale' float32 per kernel; weight = codes * scale",
        "outputs": "each layer's output = (2^fraction_bits * sum of input codes x weight codes + bias_codes) * "
                   "output_scale, output_scale = activation_scale * scale / 2^fraction_bits in float32, "
                   "bias_codes = round(bias / output_scale)",
        "activations": "each layer's input is clipped and rounded to scale * {lo..hi} (round half to even)",
        "layers": [{
            "name": layer.name, "weight_shape": list(layer.weight_codes.shape),
            "kernel_qbn_counts": {str(b): int((layer.kernel_qbn == b).sum()) for b in np.unique(layer.kernel_qbn)},
            "activation_qbn": layer.activation_qbn, "activation_signed": layer.activation_signed,
            "activation_scale": layer.activation_scale, "fraction_bits": layer.fraction_bits,
            "activation_code_range": list(layer.activation_code_range),
        } for layer in network.layers],
        "storage": network.storage(),
    }


def save_integer(network: QuantizedNetwork, path: str | os.PathLike) -> dict[str, Any]:
    """Write ``path`` (``.npz``) and its manifest ``path`` with ``.json``; return the manifest."""
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"the integer export is an .npz file, got '{path}'")
    arrays: dict[str, np.ndarray] = {}
    for layer in network.layers:
        arrays[f"{layer.name}.codes"] = layer.weight_codes
        arrays[f"{layer.name}.scale"] = layer.weight_scale
        arrays[f"{layer.name}.bits"] = layer.kernel_qbn.astype(np.uint8)
        arrays[f"{layer.name}.output_scale"] = layer.output_scale
        if layer.bias is not None:
            arrays[f"{layer.name}.bias"] = layer.bias
            arrays[f"{layer.name}.bias_codes"] = layer.bias_codes.astype(np.int32)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    data = manifest(network)
    data["npz_file_bytes"] = buffer.getbuffer().nbytes
    atomic_io.write_bytes(path, buffer.getvalue())
    atomic_io.write_json(path.with_suffix(".json"), data)
    return data
