"""Models by name: CIFAR-style ResNets (built in) and torchvision ImageNet models.

``build_model(name, info, checkpoint)`` returns a float model in eval mode. The built-in default,
ResNet-20 on Fashion-MNIST, ships a trained checkpoint inside the package; other models start from
random weights unless the user supplies a checkpoint (a ``state_dict`` saved with ``torch.save``) or
asks for ``checkpoint="torchvision"``: torchvision's published ImageNet weights of the model (its
``DEFAULT`` weights entry), read from torch's hub cache (``$TORCH_HOME/hub/checkpoints``, by default
``~/.cache/torch/hub/checkpoints``) and downloaded there first when they are not in it yet.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from autoq_env import atomic_io
from autoq_env.data import DatasetInfo
from autoq_env.models.resnet_cifar import CifarResNet

CIFAR_RESNETS = {"resnet20": 20, "resnet32": 32, "resnet56": 56}
TORCHVISION_MODELS = ("resnet18", "resnet50", "mobilenet_v2", "squeezenet1_1")
MODELS = (*CIFAR_RESNETS, *TORCHVISION_MODELS)
CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"
TORCHVISION_CHECKPOINT = "torchvision"  # checkpoint= value: torchvision's ImageNet weights
NAMED_CHECKPOINTS = ("default", TORCHVISION_CHECKPOINT)  # checkpoint= values that are not paths
IMAGENET_CLASSES = 1000
DOWNLOAD_TIMEOUT_S = 30  # a download that stalls this long fails (with the cache file to fill by hand)


class WeightsNotFoundError(FileNotFoundError):
    """torchvision's weights are neither in torch's hub cache nor downloadable; the message says where
    to put the file."""


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


def torchvision_weights_file(name: str) -> tuple[str, Path]:
    """torchvision's published ImageNet weights of model ``name``: their URL and the cache file they are
    read from (``torch.hub.get_dir()/checkpoints/<file name of the URL>``, as ``load_state_dict_from_url``)."""
    from torchvision.models import get_model_weights

    if name not in TORCHVISION_MODELS:
        raise ValueError(f"checkpoint='{TORCHVISION_CHECKPOINT}' applies to the torchvision models "
                         f"({', '.join(TORCHVISION_MODELS)}), not to {name!r}")
    url = get_model_weights(name).DEFAULT.url
    return url, Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def _torchvision_state(name: str) -> dict[str, Any]:
    """The ImageNet ``state_dict`` of ``name``: from the cache file when it is there, else downloaded into
    it first (within ``DOWNLOAD_TIMEOUT_S``; any failure raises ``WeightsNotFoundError``)."""
    from torchvision.models import get_model_weights

    url, path = torchvision_weights_file(name)
    if not path.is_file():
        previous_timeout = socket.getdefaulttimeout()
        socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(url, str(path), progress=False)  # to a temporary file, then renamed
        except (OSError, ValueError) as error:  # no network (URLError is an OSError), a timeout, a bad reply
            raise WeightsNotFoundError(
                f"torchvision's ImageNet weights of {name} are not in torch's hub cache and could not be "
                f"downloaded ({type(error).__name__}: {error}). Put the file '{path.name}' (from {url}) at "
                f"'{path}' (torch's hub cache: $TORCH_HOME/hub/checkpoints, here TORCH_HOME="
                f"{os.environ.get('TORCH_HOME', 'unset')}), or allow network access, or pass checkpoint=None "
                "(random weights) or checkpoint=PATH (your own state_dict)") from error
        finally:
            socket.setdefaulttimeout(previous_timeout)
    return get_model_weights(name).DEFAULT.get_state_dict(progress=False)  # reads the cache file


def _load_checkpoint(model: nn.Module, name: str, checkpoint: str | os.PathLike) -> None:
    path = Path(checkpoint)
    state = atomic_io.read_torch(path, "model checkpoint")
    _load_state(model, name, state, f"model checkpoint '{path}'")


def _load_state(model: nn.Module, name: str, state: Any, source: str) -> None:
    """Load ``state`` (from ``source``, named in errors) into ``model`` after checking that it fits."""
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{source} holds a {type(state).__name__}, not a state_dict")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(f"{source} does not fit {name}: missing keys {missing[:5]}"
                         f"{'...' if len(missing) > 5 else ''}, unexpected keys {unexpected[:5]}"
                         f"{'...' if len(unexpected) > 5 else ''}")
    wrong = [f"{key}: checkpoint {tuple(state[key].shape)} vs model {tuple(value.shape)}"
             for key, value in expected.items() if tuple(state[key].shape) != tuple(value.shape)]
    if wrong:
        raise ValueError(f"{source} does not fit {name} (wrong number of classes or "
                         f"channels?): {'; '.join(wrong[:3])}")
    model.load_state_dict(state)


def build_model(name: str, info: DatasetInfo, checkpoint: str | os.PathLike | None = "default") -> nn.Module:
    """Build model ``name`` for data set ``info`` and load its weights.

    :param name: one of ``MODELS``.
    :param info: the data set the model classifies (input channels, classes).
    :param checkpoint: ``"default"`` loads the packaged checkpoint when there is one (random weights
        otherwise), ``"torchvision"`` torchvision's ImageNet weights (a torchvision model on 1,000-class
        RGB data: an ImageNet folder), ``None`` keeps random weights, a path loads that ``state_dict``.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; allowed: {', '.join(MODELS)}")
    if isinstance(checkpoint, str) and checkpoint == TORCHVISION_CHECKPOINT:
        torchvision_weights_file(name)  # refuses a model without torchvision weights
        if (info.in_channels, info.num_classes) != (3, IMAGENET_CLASSES):
            raise ValueError(f"checkpoint='{TORCHVISION_CHECKPOINT}' holds ImageNet weights, for RGB images of "
                             f"{IMAGENET_CLASSES} classes; data set {info.name!r} has {info.in_channels} channels and "
                             f"{info.num_classes} classes: use dataset='imagenet-folder' with ImageNet's "
                             f"{IMAGENET_CLASSES} class folders (named by WordNet id, as ImageNet's train/ and val/), "
                             "or checkpoint=None for random weights")
    if name in CIFAR_RESNETS:
        model: nn.Module = CifarResNet(CIFAR_RESNETS[name], info.in_channels, info.num_classes)
    else:
        import torchvision

        model = _with_input_channels(getattr(torchvision.models, name)(weights=None, num_classes=info.num_classes),
                                     info.in_channels)
    if isinstance(checkpoint, str) and checkpoint == "default":
        packaged = default_checkpoint_path(name, info.name)
        checkpoint = packaged if packaged.is_file() else None
    if isinstance(checkpoint, str) and checkpoint == TORCHVISION_CHECKPOINT:
        _load_state(model, name, _torchvision_state(name), f"torchvision's ImageNet weights of {name}")
    elif checkpoint is not None:
        _load_checkpoint(model, name, checkpoint)
    return model.eval()


def has_trained_weights(name: str, dataset: str) -> bool:
    """Whether a trained checkpoint ships for ``name`` on ``dataset``."""
    return default_checkpoint_path(name, dataset).is_file()
