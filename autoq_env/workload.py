"""Workload: the shapes and MAC counts of a model's quantizable layers, in forward order.

``extract_layers`` runs one dummy image through the model with forward hooks on every ``Conv2d``
(grouped and depthwise included) and ``Linear``. The result is plain data (``LayerSpec``), which is
all the hardware models see: they know nothing of torch modules.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

QUANTIZABLE = (nn.Conv2d, nn.Linear)


@dataclass(frozen=True)
class LayerSpec:
    """One quantizable layer. ``macs`` counts multiply-accumulates for one input image.

    A ``Linear`` layer is described as a 1x1 convolution on a 1x1 feature map.
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
    return specs
