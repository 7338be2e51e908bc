"""AutoQ: kernel-wise mixed-precision quantization searched by reinforcement learning.

Importing the package registers the Gymnasium environments (idempotently)::

    import gymnasium as gym
    import autoq_env
    env = gym.make("AutoQ-ResNet-v0")  # ResNet-20 on Fashion-MNIST, temporal accelerator
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

__version__ = "0.1.0"

ENV_IDS = ("AutoQ-ResNet-v0",)

if "AutoQ-ResNet-v0" not in registry:
    register(id="AutoQ-ResNet-v0", entry_point="autoq_env.env:AutoQEnv",
             kwargs={"model": "resnet20", "dataset": "fashion-mnist", "mode": "accuracy"})


def __getattr__(name: str):
    # Lazy re-exports keep ``import autoq_env`` (and so gym.make("autoq_env:...")) light.
    if name == "AutoQEnv":
        from autoq_env.env import AutoQEnv

        return AutoQEnv
    raise AttributeError(f"module 'autoq_env' has no attribute {name!r}")
