"""``extract_layers`` on every shipped architecture, and the cost of a whole ResNet-20."""

from __future__ import annotations

import pytest
import torch

from autoq_env.data import DatasetInfo
from autoq_env.hardware import ACCELERATORS, get_accelerator, uniform_config
from autoq_env.models import build_model
from autoq_env.workload import extract_layers


@pytest.fixture(scope="module")
def resnet20_specs():
    model = build_model("resnet20", DatasetInfo("fashion-mnist", 1, 10, 28), checkpoint=None)
    return extract_layers(model, (1, 28, 28))


def imagenet_specs(name: str):
    """Layers of a torchvision model at 224x224; built on the meta device (shapes only, no weights, fast)."""
    with torch.device("meta"):
        model = build_model(name, DatasetInfo("imagenet-folder", 3, 1000, 224), checkpoint=None)
    return extract_layers(model, (3, 224, 224))


def test_resnet20_has_22_layers_and_794_kernels(resnet20_specs):
    assert len(resnet20_specs) == 22
    assert sum(spec.c_out for spec in resnet20_specs) == 794
    assert resnet20_specs[0].c_in == 1 and resnet20_specs[-1].is_linear
    assert all(spec.macs == spec.c_out * spec.out_h * spec.out_w * spec.reduction_size for spec in resnet20_specs)


# (layers, kernels, MACs per image) of the torchvision models at 224x224
@pytest.mark.parametrize("name, layers, kernels, macs", [
    ("resnet18", 21, 5800, 1_814_073_344),
    ("resnet50", 54, 27560, 4_089_184_256),
    ("mobilenet_v2", 53, 18056, 300_774_272),
    ("squeezenet1_1", 26, 3944, 349_151_936),
])
def test_torchvision_models(name, layers, kernels, macs):
    specs = imagenet_specs(name)
    assert len(specs) == layers
    assert sum(spec.c_out for spec in specs) == kernels
    assert sum(spec.macs for spec in specs) == macs
    assert specs[0].in_h == 224
    if name == "mobilenet_v2":
        depthwise = [spec for spec in specs if spec.groups > 1]
        assert len(depthwise) == 17
        assert all(spec.groups == spec.c_in == spec.c_out and spec.is_depthwise for spec in depthwise)


@pytest.mark.parametrize("name", ACCELERATORS)
def test_network_cost_of_resnet20(resnet20_specs, name):
    model = get_accelerator(name)
    wide = model.network_cost(resnet20_specs, uniform_config(resnet20_specs, 8, 8))
    narrow = model.network_cost(resnet20_specs, uniform_config(resnet20_specs, 4, 4))
    assert 0 < narrow.latency_s < wide.latency_s
    assert 0 < narrow.energy_j < wide.energy_j


def test_consumers_follow_the_residual_graph(resnet20_specs):
    """Each layer's output is read by the next block's first convolution and, where the shape changes, by the
    shortcut convolution; a block's second convolution and its shortcut feed the same next layer."""
    names = [spec.name for spec in resnet20_specs]
    consumers = {spec.name: [names[c] for c in spec.consumers] for spec in resnet20_specs}
    assert consumers["conv1"] == ["layers.0.conv1"]
    assert consumers["layers.0.conv1"] == ["layers.0.conv2"]
    assert consumers["layers.2.conv2"] == ["layers.3.conv1", "layers.3.shortcut.0"]
    assert consumers["layers.3.conv2"] == consumers["layers.3.shortcut.0"] == ["layers.4.conv1"]
    assert consumers["layers.8.conv2"] == ["fc"] and consumers["fc"] == []
    assert [spec.reads_network_input for spec in resnet20_specs] == [True] + [False] * 21


def test_concatenations_and_inverted_residuals():
    squeezenet, mobilenet = imagenet_specs("squeezenet1_1"), imagenet_specs("mobilenet_v2")
    # a Fire module: both expand convolutions are read by the next squeeze convolution (through the concatenation)
    assert squeezenet[2].consumers == squeezenet[3].consumers == (4,)
    assert squeezenet[1].consumers == (2, 3)
    assert all(spec.consumers for spec in mobilenet[:-1]) and mobilenet[-1].consumers == ()


def test_an_untraceable_model_falls_back_to_a_chain():
    class Dynamic(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = torch.nn.Conv2d(1, 4, 3), torch.nn.Conv2d(4, 4, 3)

        def forward(self, x):
            x = self.a(x)
            if x.sum() > -1e9:  # data-dependent control flow: torch.fx cannot trace it
                x = self.b(x)
            return x

    with pytest.warns(UserWarning, match="torch.fx cannot trace Dynamic"):
        specs = extract_layers(Dynamic(), (1, 8, 8))
    assert [spec.consumers for spec in specs] == [(1,), ()]
    assert [spec.reads_network_input for spec in specs] == [True, False]
