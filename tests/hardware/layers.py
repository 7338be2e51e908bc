"""Layer specs and hypothesis strategies shared by the hardware tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from autoq_env.hardware import ACCELERATORS, get_accelerator
from autoq_env.workload import LayerSpec

ALL_MODELS = [get_accelerator(name, group_kernels=grouped) for name in ACCELERATORS for grouped in (True, False)]
ARRAY_MODELS = [model for model in ALL_MODELS if model.name != "bitops"]


def model_id(model: object) -> str:
    return f"{model.name}-{'grouped' if model.group_kernels else 'ungrouped'}"


def conv_spec(c_in: int, c_out: int, kernel: int = 3, size: int = 8, groups: int = 1, stride: int = 1,
              name: str = "conv") -> LayerSpec:
    """A convolution with 'same' padding on a ``size x size`` input."""
    out = -(-size // stride)
    return LayerSpec(name, "conv", c_in, c_out, (kernel, kernel), stride, groups, size, size, out, out,
                     c_out * out * out * (c_in // groups) * kernel * kernel)


def linear_spec(c_in: int, c_out: int, rows: int = 1, name: str = "fc") -> LayerSpec:
    return LayerSpec(name, "linear", c_in, c_out, (1, 1), 1, 1, rows, 1, rows, 1, rows * c_in * c_out)


@st.composite
def layer_specs(draw: st.DrawFn) -> LayerSpec:
    """Dense, grouped and depthwise convolutions and linear layers of modest size."""
    kind = draw(st.sampled_from(["dense", "grouped", "depthwise", "linear"]))
    if kind == "linear":
        return linear_spec(draw(st.integers(1, 600)), draw(st.integers(1, 300)), rows=draw(st.integers(1, 4)))
    if kind == "depthwise":
        channels = draw(st.integers(1, 200))
        return conv_spec(channels, channels, kernel=3, size=draw(st.integers(1, 20)), groups=channels)
    groups = draw(st.integers(1, 8)) if kind == "grouped" else 1
    return conv_spec(groups * draw(st.integers(1, 48)), groups * draw(st.integers(1, 48)),
                     kernel=draw(st.sampled_from([1, 3, 5])), size=draw(st.integers(1, 20)), groups=groups,
                     stride=draw(st.sampled_from([1, 2])))


def kernel_qbns(draw: st.DrawFn, spec: LayerSpec, low: int = 1, high: int = 8) -> np.ndarray:
    return np.array(draw(st.lists(st.integers(low, high), min_size=spec.c_out, max_size=spec.c_out)), dtype=np.int64)
