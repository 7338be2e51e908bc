"""AutoQ: kernel-wise mixed-precision quantization searched by reinforcement learning.

Importing the package registers the Gymnasium environments (idempotently)::

    import gymnasium as gym
    import autoq_env
    env = gym.make("AutoQ-ResNet-v0")  # ResNet-20 on Fashion-MNIST, temporal accelerator
    env = gym.make("AutoQ-ResNet-LayerWise-v0")  # the same, one step per layer (autoq_env.wrappers)
    env = gym.make("AutoQ-ResNet-KernelWise-v0")  # the same, one step per kernel
    env = gym.make("AutoQ-ResNet50-ImageNet-v0", data_root="/data/imagenet")  # the paper's models: see below

The paper's ImageNet models (``IMAGENET_ENV_IDS``) take torchvision's published ImageNet weights
(``checkpoint="torchvision"``: torch's hub cache, downloaded there when allowed) and need ``data_root``,
an ImageNet-style folder (``train/`` and ``val/``, one sub-folder per class; ``dataset="imagenet-folder"``).
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

__version__ = "0.1.0"

# the core env, and its flat views (``autoq_env.wrappers``) for tools that take an env id; all take the same keywords
ENTRY_POINTS = {
    "AutoQ-ResNet-v0": "autoq_env.env:AutoQEnv",
    "AutoQ-ResNet-LayerWise-v0": "autoq_env.wrappers:make_layerwise",
    "AutoQ-ResNet-KernelWise-v0": "autoq_env.wrappers:make_kernelwise",
}
ENV_IDS = tuple(ENTRY_POINTS)


# the paper's ImageNet models (Lou et al., ICLR 2020, section 5): env id -> torchvision model
IMAGENET_MODELS = {
    "AutoQ-ResNet18-ImageNet-v0": "resnet18",
    "AutoQ-ResNet50-ImageNet-v0": "resnet50",
    "AutoQ-MobileNetV2-ImageNet-v0": "mobilenet_v2",
    "AutoQ-SqueezeNet-ImageNet-v0": "squeezenet1_1",
}
IMAGENET_ENV_IDS = tuple(IMAGENET_MODELS)

_REGISTRATIONS = {  # env id -> (entry point, default keywords)
    **{env_id: (entry_point, {"model": "resnet20", "dataset": "fashion-mnist", "mode": "accuracy"})
       for env_id, entry_point in ENTRY_POINTS.items()},
    **{env_id: ("autoq_env.env:AutoQEnv",
                {"model": model, "dataset": "imagenet-folder", "checkpoint": "torchvision", "mode": "accuracy"})
       for env_id, model in IMAGENET_MODELS.items()},
}
for _env_id, (_entry_point, _kwargs) in _REGISTRATIONS.items():
    if _env_id not in registry:
        register(id=_env_id, entry_point=_entry_point, kwargs=_kwargs)


def __getattr__(name: str):
    # Lazy re-exports keep ``import autoq_env`` (and so gym.make("autoq_env:...")) light.
    if name == "AutoQEnv":
        from autoq_env.env import AutoQEnv

        return AutoQEnv
    raise AttributeError(f"module 'autoq_env' has no attribute {name!r}")
