"""Models by name: CIFAR-style ResNets (built in) and torchvision ImageNet models.

``build_model(name, info, checkpoint)`` returns a float model in eval mode. The built-in default,
ResNet-20 on Fashion-MNIST, ships a trained checkpoint inside the package; other models start from
random weights unless the user supplies a checkpoint (a ``state_dict`` saved with ``torch.save``).
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from autoq_env import atomic_io
from autoq_env.data import DatasetInfo
from autoq_env.models.resnet_cifar import CifarResNet

CIFAR_RESNETS = {"resnet20": 20, "resnet32": 32, "resnet56": 56}
TORCHVISION_MODELS = ("resnet18", "resnet50", "mobilenet_v2", "squeezenet1_1")
MODELS = (*CIFAR_RESNETS, *TORCHVISION_MODELS)
CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"


def default_checkpoint_path(model: str, dataset: str) -> Path:
    """Where the packaged checkpoint of ``model`` trained on ``dataset`` lives (it may not exist)."""
    return CHECKPOINT_DIR / f"{model}-{dataset}.pt"


def _with_input_channels(model: nn.Module, in_channels: int) -> nn.Module:
    """Replace the first convolution of a torchvision model so it takes ``in_channels`` channels."""
    for parent in model.modules():
        for child_name, child in parent.named_children():
            if isinstance(child, nn.Conv2d):
                if child.in_channels != in_channels:
                    setattr(parent, child_name, nn.Conv2d(
                        in_channels, child.out_channels, child.kernel_size, child.stride, child.padding,
                        child.dilation, child.groups, child.bias is not None))
                return model
    raise ValueError("model has no Conv2d to adapt to the input channels")


def _load_checkpoint(model: nn.Module, name: str, checkpoint: str | os.PathLike) -> None:
    path = Path(checkpoint)
    state = atomic_io.read_torch(path, "model checkpoint")
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"model checkpoint '{path}' holds a {type(state).__name__}, not a state_dict")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(f"model checkpoint '{path}' does not fit {name}: missing keys {missing[:5]}"
                         f"{'...' if len(missing) > 5 else ''}, unexpected keys {unexpected[:5]}"
                         f"{'...' if len(unexpected) > 5 else ''}")
    wrong = [f"{key}: checkpoint {tuple(state[key].shape)} vs model {tuple(value.shape)}"
             for key, value in expected.items() if tuple(state[key].shape) != tuple(value.shape)]
    if wrong:
        raise ValueError(f"model checkpoint '{path}' does not fit {name} (wrong number of classes or "
                         f"channels?): {'; '.join(wrong[:3])}")
    model.load_state_dict(state)


def build_model(name: str, info: DatasetInfo, checkpoint: str | os.PathLike | None = "default") -> nn.Module:
    """Build model ``name`` for data set ``info`` and load its weights.

    :param name: one of ``MODELS``.
    :param info: the data set the model classifies (input channels, classes).
    :param checkpoint: ``"default"`` loads the packaged checkpoint when there is one (random weights
        otherwise), ``None`` keeps random weights, a path loads that ``state_dict``.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; allowed: {', '.join(MODELS)}")
    if name in CIFAR_RESNETS:
        model: nn.Module = CifarResNet(CIFAR_RESNETS[name], info.in_channels, info.num_classes)
    else:
        import torchvision

        model = _with_input_channels(getattr(torchvision.models, name)(weights=None, num_classes=info.num_classes),
                                     info.in_channels)
    if isinstance(checkpoint, str) and checkpoint == "default":
        packaged = default_checkpoint_path(name, info.name)
        checkpoint = packaged if packaged.is_file() else None
    if checkpoint is not None:
        _load_checkpoint(model, name, checkpoint)
    return model.eval()


def has_trained_weights(name: str, dataset: str) -> bool:
    """Whether a trained checkpoint ships for ``name`` on ``dataset``."""
    return default_checkpoint_path(name, dataset).is_file()
