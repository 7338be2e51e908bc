"""Workload: the shapes and MAC counts of a model's quantizable layers, in forward order, and who reads whose output.

``extract_layers`` runs one dummy image through the model with forward hooks on every ``Conv2d``
(grouped and depthwise included) and ``Linear``, and traces its graph (``torch.fx``) to find, for each layer, the
layers that read its output (``consumers``) and whether it reads the network input. The result is plain data
(``LayerSpec``), which is all the hardware models see: they know nothing of torch modules.
"""

from __future__ import annotations

import warnings
from collections import deque
from dataclasses import asdict, dataclass, replace

import torch
from torch import fx, nn

QUANTIZABLE = (nn.Conv2d, nn.Linear)


@dataclass(frozen=True)
class LayerSpec:
    """One quantizable layer. ``macs`` counts multiply-accumulates for one input image.

    A ``Linear`` layer is described as a 1x1 convolution on a 1x1 feature map.

    ``consumers``: indices (in the network's layer list) of the layers that read this layer's output, through any
    chain of non-quantized operations (batch norm, ReLU, pooling, flatten, residual additions); empty when the output
    leaves the network (the last layer). ``reads_network_input``: the layer reads the image itself (accelerators
    lower such a first layer with im2col).
    """

    name: str
    kind: str  # "conv" or "linear"
    c_in: int
    c_out: int
    kernel_size: tuple[int, int]
    stride: int
    groups: int
    in_h: int
    in_w: int
    out_h: int
    out_w: int
    macs: int
    consumers: tuple[int, ...] = ()
    reads_network_input: bool = False

    @property
    def kernel_area(self) -> int:
        """``k_h * k_w``."""
        return self.kernel_size[0] * self.kernel_size[1]

    @property
    def reduction_size(self) -> int:
        """Inputs summed into one output value: ``c_in / groups * k_h * k_w``."""
        return self.c_in // self.groups * self.kernel_area

    @property
    def weight_count(self) -> int:
        """Number of weights (``c_out`` kernels of ``reduction_size`` values)."""
        return self.c_out * self.reduction_size

    @property
    def is_depthwise(self) -> bool:
        return self.groups > 1 and self.groups == self.c_in

    @property
    def is_linear(self) -> bool:
        return self.kind == "linear"

    def to_dict(self) -> dict:
        return asdict(self)


def extract_layers(model: nn.Module, input_shape: tuple[int, int, int]) -> list[LayerSpec]:
    """Shapes of every ``Conv2d`` and ``Linear`` of ``model`` in the order the forward pass uses them.

    :param model: any torch model; it is run once in eval mode on a zero image, weights untouched.
    :param input_shape: ``(channels, height, width)`` of one input image.
    """
    if len(input_shape) != 3 or any(int(d) < 1 for d in input_shape):
        raise ValueError(f"input_shape must be (channels, height, width) of positive sizes, got {input_shape!r}")
    specs: list[LayerSpec] = []
    seen: set[int] = set()

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        if id(module) in seen:
            raise ValueError(f"layer {names[id(module)]} is used twice in one forward pass; "
                             "shared layers cannot take one QBN per use")
        seen.add(id(module))
        x = inputs[0]
        if isinstance(module, nn.Conv2d):
            if module.kernel_size[0] * module.kernel_size[1] == 0 or module.stride[0] != module.stride[1]:
                raise ValueError(f"layer {names[id(module)]}: only equal strides are supported")
            spec = LayerSpec(names[id(module)], "conv", module.in_channels, module.out_channels,
                             tuple(module.kernel_size), module.stride[0], module.groups, x.shape[-2], x.shape[-1],
                             output.shape[-2], output.shape[-1],
                             module.out_channels * output.shape[-2] * output.shape[-1]
                             * module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1])
        else:
            rows = int(x.numel() // x.shape[-1] // x.shape[0])  # tokens per image (1 for a classifier)
            spec = LayerSpec(names[id(module)], "linear", module.in_features, module.out_features, (1, 1), 1, 1,
                             rows, 1, rows, 1, rows * module.in_features * module.out_features)
        specs.append(spec)

    names = {id(module): name for name, module in model.named_modules()}
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, QUANTIZABLE)]
    was_training = model.training
    try:
        model.eval()
        parameter = next(model.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        with torch.inference_mode():
            model(torch.zeros(1, *[int(d) for d in input_shape], device=device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    if not specs:
        raise ValueError("model has no Conv2d or Linear layer to quantize")
    return _with_dataflow(model, specs)


def _with_dataflow(model: nn.Module, specs: list[LayerSpec]) -> list[LayerSpec]:
    """``specs`` with ``consumers`` and ``reads_network_input`` from the model's traced graph.

    Models ``torch.fx`` cannot trace fall back to a chain (each layer read by the next, the first reading the
    input), with a warning.
    """
    index = {spec.name: position for position, spec in enumerate(specs)}
    try:
        graph = fx.symbolic_trace(model).graph
    except Exception as error:  # fx raises many kinds (TraceError, TypeError, ...) on dynamic control flow
        warnings.warn(f"torch.fx cannot trace {type(model).__name__} ({error}); assuming each layer's output is read "
                      "by the next layer only", stacklevel=3)
        return [replace(spec, consumers=(position + 1,) if position + 1 < len(specs) else (),
                        reads_network_input=position == 0) for position, spec in enumerate(specs)]
    nodes = list(graph.nodes)
    layer_of = {node: index[node.target] for node in nodes if node.op == "call_module" and node.target in index}
    if len(layer_of) != len(specs):
        raise ValueError(f"the traced graph calls {len(layer_of)} of the model's {len(specs)} quantizable layers; "
                         "every Conv2d and Linear must be called exactly once in forward")
    # quantized layers upstream of each node (itself included), in graph order
    upstream: dict[fx.Node, frozenset[int]] = {}
    reads_input: dict[fx.Node, bool] = {}
    for node in nodes:
        parents = node.all_input_nodes
        upstream[node] = frozenset().union(*(upstream[p] for p in parents)) | (
            {layer_of[node]} if node in layer_of else set())
        reads_input[node] = node.op == "placeholder" or any(
            reads_input[p] and p not in layer_of for p in parents)
    downstream = {layer: {layer_of[n] for n in nodes if layer in upstream[n] and n in layer_of} - {layer}
                  for layer in layer_of.values()}
    result = list(specs)
    for node, layer in layer_of.items():
        consumers: set[int] = set()
        leaves_network = False
        queue, seen = deque([(node, user) for user in node.users]), set()
        while queue:
            parent, current = queue.popleft()
            if current in seen:
                continue
            seen.add(current)
            if current in layer_of:
                consumers.add(layer_of[current])
                continue
            if current.op == "output":
                leaves_network = True
                continue
            # a join (residual addition, concatenation) whose other input comes from a layer that itself reads
            # this layer's output belongs to a later layer's write-back: stop there
            others = [p for p in current.all_input_nodes if p is not parent]
            if any(upstream[p] & downstream[layer] for p in others):
                continue
            queue.extend((current, user) for user in current.users)
        result[layer] = replace(specs[layer], consumers=() if leaves_network else tuple(sorted(consumers)),
                                reads_network_input=any(reads_input[p] for p in node.all_input_nodes))
    return result
