"""ONNX export of a quantized network as integer arithmetic: QuantizeLinear, ConvInteger/MatMulInteger, rescale.

Each quantizable layer computes what the evaluator computes (``autoq_env.evaluator``): its input goes
through ``Clip`` to the activation grid's range, then ``QuantizeLinear`` (uint8 codes after a ReLU, int8
for signed inputs, zero point 0; ONNX's round-half-to-even and saturation equal the evaluator's
``round`` and ``clamp``, and the Clip holds the codes inside the QBN's range, which is narrower than the
8-bit container); a ``ConvInteger`` (or ``MatMulInteger`` for a linear layer) sums the products of those
codes and the layer's int8 weight codes in int32, which is exact (the export refuses a layer whose sums
could overflow int32); ``Mul`` by ``2^f`` and ``Add`` of the bias codes (int32, ``round(bias /
output_scale)``), ``Cast`` to float32 and ``Mul`` by the per-kernel ``output_scale`` (the float32 product
of the input's step and the kernel's step, over ``2^f``) finish it. The
evaluator forms the same exact integer sums in float32 (or float64 where float32 could not hold them),
so each layer's output, and therefore the logits, are bit for bit the evaluator's: onnxruntime and the
evaluator agree on every image (``benchmarks/export_check.py`` checks the whole test split).

The weights are stored as the int8 codes (``<layer>.weight_codes``, one row per kernel; kernel ``k``
takes at most ``2^b_k`` values) with their float32 steps folded into ``<layer>.output_scale``; the
compact export (``autoq_env.deploy.integer``) holds the steps separately.

The rest of the graph is translated node by node from the BatchNorm-folded model's ``torch.fx``
graph; the operations translated are those of CIFAR ResNets and torchvision's ResNet, MobileNetV2 and
SqueezeNet (``SUPPORTED``); any other raises a ``ValueError`` naming it. Operator semantics follow the
ONNX operator specification (onnx.ai/onnx/operators).
"""

from __future__ import annotations

import operator
import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from autoq_env import atomic_io
from autoq_env.deploy.integer import QuantizedLayer, QuantizedNetwork

OPSET = 17
SUPPORTED = ("Conv2d", "Linear", "ReLU", "ReLU6", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d(1)", "Dropout",
             "Identity", "Flatten", "add", "cat", "flatten", "relu", "adaptive_avg_pool2d(1)")


class _GraphBuilder:
    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list = []
        self.initializers: list = []

    def constant(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(self.numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attributes: Any) -> str:
        self.nodes.append(self.helper.make_node(op, inputs, [output], name=output, **attributes))
        return output

    def input_codes(self, value: str, layer: QuantizedLayer) -> str:
        """The layer input's integer codes: Clip to the grid's range, then QuantizeLinear (uint8 or int8)."""
        low, high = layer.activation_code_range
        scale = np.float32(layer.activation_scale)
        prefix = f"{layer.name}.input"
        container = np.int8 if layer.activation_signed else np.uint8
        bounds = [self.constant(f"{prefix}.clip_{end}", np.float32(code) * scale)
                  for end, code in (("min", low), ("max", high))]
        clipped = self.node("Clip", [value, *bounds], f"{prefix}.clipped")
        quant = [self.constant(f"{prefix}.scale", scale), self.constant(f"{prefix}.zero_point", container(0))]
        return self.node("QuantizeLinear", [clipped, *quant], f"{prefix}.codes")

    def rescale(self, sums: str, layer: QuantizedLayer, name: str) -> str:
        """int32 sums to float outputs: Mul by ``2^fraction_bits`` and Add the bias codes (int32), Cast, Mul by the
        per-kernel ``output_scale``."""
        from onnx import TensorProto

        shape = (-1,) + (1,) * (layer.weight_codes.ndim - 2)  # output channels on axis 1
        if layer.fraction_bits:
            shift = self.constant(f"{layer.name}.fraction_scale", np.int32(2 ** layer.fraction_bits))
            sums = self.node("Mul", [sums, shift], f"{name}.sums_scaled")
        if layer.bias_codes is not None:
            bias = self.constant(f"{layer.name}.bias_codes", layer.bias_codes.astype(np.int32).reshape(shape))
            sums = self.node("Add", [sums, bias], f"{name}.sums_with_bias")
        floats = self.node("Cast", [sums], f"{name}.sums_float", to=TensorProto.FLOAT)
        scale = self.constant(f"{layer.name}.output_scale", layer.output_scale.reshape(shape))
        return self.node("Mul", [floats, scale], name)


def _pair(value: int | tuple[int, ...]) -> list[int]:
    return list(value) if isinstance(value, (tuple, list)) else [int(value)] * 2


def _conv_attributes(name: str, module: nn.Conv2d) -> dict[str, Any]:
    if module.padding_mode != "zeros" or isinstance(module.padding, str):
        raise ValueError(f"{name}: only zero padding given as integers is exported, got padding={module.padding!r}, "
                         f"padding_mode={module.padding_mode!r}")
    pads = _pair(module.padding)
    return dict(kernel_shape=_pair(module.kernel_size), strides=_pair(module.stride), pads=pads + pads,
                dilations=_pair(module.dilation), group=module.groups)


def _float_layer(builder: _GraphBuilder, name: str, target: str, module: nn.Conv2d | nn.Linear, value: str) -> str:
    """A layer that is not quantized: float Conv or Gemm with its own weight and bias."""
    inputs = [value, builder.constant(f"{target}.weight", module.weight.detach().cpu().numpy().astype(np.float32))]
    if module.bias is not None:
        inputs.append(builder.constant(f"{target}.bias", module.bias.detach().cpu().numpy().astype(np.float32)))
    if isinstance(module, nn.Conv2d):
        return builder.node("Conv", inputs, name, **_conv_attributes(name, module))
    return builder.node("Gemm", inputs, name, transB=1)


def _integer_layer(builder: _GraphBuilder, name: str, module: nn.Module, value: str, layer: QuantizedLayer) -> str:
    """A quantized layer: ConvInteger or MatMulInteger of input and weight codes (int32 sums: exact), then
    ``rescale``."""
    low, high = layer.activation_code_range
    bound = np.abs(layer.weight_codes.astype(np.int64)).reshape(len(layer.weight_codes), -1).sum(1) * max(-low, high)
    bound = bound * 2 ** layer.fraction_bits
    if layer.bias_codes is not None:
        bound = bound + np.abs(layer.bias_codes)
    if int(bound.max()) >= 2 ** 31:
        raise ValueError(f"{name}: its integer sums can exceed int32 (up to {int(bound.max())}: sum of |weight codes| "
                         "x largest input code + |bias code|); not exported")
    codes = builder.input_codes(value, layer)
    weight = builder.constant(f"{layer.name}.weight_codes", layer.weight_codes)
    if isinstance(module, nn.Conv2d):
        sums = builder.node("ConvInteger", [codes, weight], f"{name}.sums", **_conv_attributes(name, module))
    elif isinstance(module, nn.Linear):
        transposed = builder.node("Transpose", [weight], f"{layer.name}.weight_codes_t", perm=[1, 0])
        sums = builder.node("MatMulInteger", [codes, transposed], f"{name}.sums")
    else:
        raise ValueError(f"quantizable layer {layer.name} is a {type(module).__name__}; exported are Conv2d and "
                         "Linear")
    return builder.rescale(sums, layer, name)


def _pool(builder: _GraphBuilder, name: str, module: nn.Module, value: str) -> str:
    if isinstance(module, nn.AdaptiveAvgPool2d):
        if _pair(module.output_size) != [1, 1]:
            raise ValueError(f"{name}: only AdaptiveAvgPool2d(1) is exported, got output_size={module.output_size}")
        return builder.node("GlobalAveragePool", [value], name)
    pads = _pair(module.padding)
    attributes = dict(kernel_shape=_pair(module.kernel_size), strides=_pair(module.stride or module.kernel_size),
                      pads=pads + pads, ceil_mode=int(module.ceil_mode))
    if isinstance(module, nn.MaxPool2d):
        if _pair(module.dilation) != [1, 1]:
            raise ValueError(f"{name}: dilated max pooling is not exported")
        return builder.node("MaxPool", [value], name, **attributes)
    return builder.node("AveragePool", [value], name, count_include_pad=int(module.count_include_pad), **attributes)


def _call_module(builder: _GraphBuilder, node: fx.Node, module: nn.Module, value: str,
                 layer: QuantizedLayer | None) -> str:
    name = node.name
    if layer is not None:
        return _integer_layer(builder, name, module, value, layer)
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        return _float_layer(builder, name, node.target, module, value)
    if isinstance(module, nn.ReLU):
        return builder.node("Relu", [value], name)
    if isinstance(module, nn.ReLU6):
        bounds = [builder.constant(f"{name}.min", np.float32(0)), builder.constant(f"{name}.max", np.float32(6))]
        return builder.node("Clip", [value, *bounds], name)
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
        return _pool(builder, name, module, value)
    if isinstance(module, (nn.Dropout, nn.Identity)):
        return builder.node("Identity", [value], name)
    if isinstance(module, nn.Flatten):
        if module.end_dim != -1:
            raise ValueError(f"{name}: only Flatten(start_dim, -1) is exported")
        return builder.node("Flatten", [value], name, axis=module.start_dim)
    raise ValueError(f"module {node.target} ({type(module).__name__}) has no ONNX translation here; supported: "
                     f"{', '.join(SUPPORTED)}")


def _call_function(builder: _GraphBuilder, node: fx.Node, names: dict[str, str]) -> str:
    args = [names[a.name] if isinstance(a, fx.Node) else a for a in node.args]
    kwargs = dict(node.kwargs)
    if node.target in (operator.add, torch.add) and all(isinstance(a, fx.Node) for a in node.args[:2]):
        return builder.node("Add", args[:2], node.name)
    if node.target is torch.flatten:
        start = args[1] if len(args) > 1 else kwargs.get("start_dim", 0)
        end = args[2] if len(args) > 2 else kwargs.get("end_dim", -1)
        if end != -1:
            raise ValueError(f"{node.name}: only flatten(x, start_dim) to the last dimension is exported")
        return builder.node("Flatten", [args[0]], node.name, axis=int(start))
    if node.target in (F.relu, torch.relu):
        return builder.node("Relu", [args[0]], node.name)
    if node.target is torch.cat:
        dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
        return builder.node("Concat", [names[a.name] for a in node.args[0]], node.name, axis=int(dim))
    if node.target is F.adaptive_avg_pool2d and _pair(args[1] if len(args) > 1 else kwargs["output_size"]) == [1, 1]:
        return builder.node("GlobalAveragePool", [args[0]], node.name)
    raise ValueError(f"function {getattr(node.target, '__name__', node.target)} ({node.name}) has no ONNX translation "
                     f"here; supported: {', '.join(SUPPORTED)}")


def to_onnx(network: QuantizedNetwork):
    """The ``onnx.ModelProto`` of ``network`` (input ``images`` NCHW float32, output ``logits``)."""
    from onnx import TensorProto, checker, helper

    model = network.model
    graph = model.graph if isinstance(model, fx.GraphModule) else fx.symbolic_trace(model).graph
    modules = dict(model.named_modules())
    by_layer = {layer.name: layer for layer in network.layers}
    builder = _GraphBuilder()
    names: dict[str, str] = {}
    outputs: list[str] = []
    for node in graph.nodes:
        if node.op == "placeholder":
            if names:
                raise ValueError("only models with one input are exported")
            names[node.name] = "images"
        elif node.op == "call_module":
            names[node.name] = _call_module(builder, node, modules[node.target], names[node.args[0].name],
                                            by_layer.get(node.target))
        elif node.op == "call_function":
            names[node.name] = _call_function(builder, node, names)
        elif node.op == "output":
            outputs = [names[node.args[0].name]]
        else:
            raise ValueError(f"fx node {node.name} ({node.op}) has no ONNX translation here")
    builder.node("Identity", outputs, "logits")
    channels, height, width = network.input_shape
    onnx_graph = helper.make_graph(
        builder.nodes, "autoq_quantized",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", channels, height, width])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", None])], builder.initializers)
    onnx_model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                   producer_name="autoq")
    checker.check_model(onnx_model)
    return onnx_model


def save_onnx(network: QuantizedNetwork, path: str | os.PathLike) -> int:
    """Write the ONNX model of ``network`` to ``path``; return its size in bytes."""
    data = to_onnx(network).SerializeToString()
    atomic_io.write_bytes(path, data)
    return len(data)


def onnx_predict(model_bytes: bytes | str | os.PathLike, images: np.ndarray, batch_size: int = 500,
                 optimize: bool = False) -> np.ndarray:
    """Logits of an exported model run by onnxruntime on the CPU, batch by batch.

    :param optimize: let onnxruntime rewrite the graph (constant folding, operator fusions); without it
        onnxruntime computes the graph as written, which equals the evaluator
        (``benchmarks/export_check.py`` measures both).
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if not optimize:
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = torch.get_num_threads()
    source = model_bytes if isinstance(model_bytes, bytes) else str(model_bytes)
    session = onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    images = np.ascontiguousarray(images, dtype=np.float32)
    return np.concatenate([session.run(["logits"], {"images": images[i:i + batch_size]})[0]
                           for i in range(0, len(images), batch_size)])
