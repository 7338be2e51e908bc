"""Flat DDPG baselines: stable-baselines3's DDPG on the layer-wise or kernel-wise view of AutoQ.

``layerwise_ddpg`` is HAQ's layer-wise search (Wang et al., CVPR 2019); ``kernelwise_ddpg`` is the
flat kernel-wise DDPG that AutoQ (Lou et al., ICLR 2020) reports failing to learn. Both use HAQ's
published hyper-parameters, kept in ``agents/hyperparams/ddpg.yml`` (rl-baselines3-zoo style, one
entry per agent name) and overridable by keyword::

    import gymnasium as gym, autoq_env
    from agents.flat import layerwise_ddpg
    model = layerwise_ddpg(gym.make("AutoQ-ResNet-v0"), seed=0)
    model.learn(total_timesteps=300 * model.env.get_attr("steps_per_episode")[0])

SB3's DDPG has one ``learning_rate`` for both networks, and its ``train()`` resets every optimizer's
learning rate from that schedule before each round of updates, so a policy that builds its
optimizers with different rates would be overwritten. ``FlatDDPG`` adds the critic's own constant
``qf_learning_rate`` (the name SBX uses for the same feature; cf. stable-baselines3 issue #338):
``learning_rate`` drives the actor, ``qf_learning_rate`` the critic.
"""

from __future__ import annotations

import inspect
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3 import DDPG
from stable_baselines3.common.utils import update_learning_rate

from agents.hyperparams import load_hyperparams
from agents.noise import DecayingTruncatedNormalNoise
from autoq_env.wrappers import KernelWise, LayerWise

WRAPPERS: dict[str, type[LayerWise] | type[KernelWise]] = {"ddpg-layer": LayerWise, "ddpg-kernel": KernelWise}
# Keys of ddpg.yml that are not DDPG arguments: sizes in episodes and the noise's parameters.
EPISODE_KEYS = {"warmup_episodes": "learning_starts", "buffer_episodes": "buffer_size"}
NOISE_KEYS = ("noise_sigma", "noise_decay", "noise_min_sigma")


class FlatDDPG(DDPG):
    """stable-baselines3's DDPG with a separate, constant learning rate for the critic.

    :param args: positional arguments of ``stable_baselines3.DDPG``.
    :param qf_learning_rate: the critic's learning rate (``None``: ``learning_rate``, as in plain DDPG).
        ``learning_rate`` (a constant or a schedule) then drives the actor only.
    :param kwargs: keyword arguments of ``stable_baselines3.DDPG``.
    """

    def __init__(self, *args: Any, qf_learning_rate: float | None = None, **kwargs: Any) -> None:
        if qf_learning_rate is not None and not (isinstance(qf_learning_rate, (int, float))
                                                 and not isinstance(qf_learning_rate, bool) and qf_learning_rate > 0):
            raise ValueError(f"qf_learning_rate must be a positive number or None, got {qf_learning_rate!r}")
        self.qf_learning_rate = None if qf_learning_rate is None else float(qf_learning_rate)
        super().__init__(*args, **kwargs)

    def _setup_model(self) -> None:
        super()._setup_model()
        if self.qf_learning_rate is not None:
            update_learning_rate(self.critic.optimizer, self.qf_learning_rate)

    def _setup_learn(self, *args: Any, **kwargs: Any) -> Any:
        """SB3's set-up, except that a decaying noise keeps its width: SB3 calls ``action_noise.reset()``
        when ``learn()`` starts, which is no episode end (``DecayingTruncatedNormalNoise`` decays per reset)."""
        noise = self.action_noise if isinstance(self.action_noise, DecayingTruncatedNormalNoise) else None
        state = None if noise is None else noise.get_state()
        result = super()._setup_learn(*args, **kwargs)
        if noise is not None:
            noise.set_state(state)
        return result

    def _update_learning_rate(self, optimizers: list[th.optim.Optimizer] | th.optim.Optimizer) -> None:
        """Set every optimizer from ``learning_rate``'s schedule (as SB3 does), then the critic's to
        ``qf_learning_rate``."""
        super()._update_learning_rate(optimizers)
        if self.qf_learning_rate is not None:
            update_learning_rate(self.critic.optimizer, self.qf_learning_rate)
            self.logger.record("train/qf_learning_rate", self.qf_learning_rate)


def _allowed_keys() -> set[str]:
    ddpg = set(inspect.signature(DDPG.__init__).parameters) - {"self", "env", "_init_setup_model"}
    return ddpg | {"qf_learning_rate", *EPISODE_KEYS, *NOISE_KEYS}


def make_flat_ddpg(agent: str, env: gym.Env, **overrides: Any) -> FlatDDPG:
    """Wrap a core AutoQ env for ``agent`` and build its DDPG from ``ddpg.yml`` with ``overrides``.

    :param agent: ``"ddpg-layer"`` (``LayerWise``) or ``"ddpg-kernel"`` (``KernelWise``).
    :param env: an AutoQ env (``gym.make("AutoQ-ResNet-v0", ...)`` or an ``AutoQEnv``), or the
        agent's wrapper around one.
    :param overrides: any ``stable_baselines3.DDPG`` argument, ``qf_learning_rate``, sizes in episodes
        (``warmup_episodes``, ``buffer_episodes``) or noise parameters (``noise_sigma``,
        ``noise_decay``, ``noise_min_sigma``); ``learning_starts``, ``buffer_size`` and
        ``action_noise`` given directly take precedence over their episode/noise counterparts.
    """
    if agent not in WRAPPERS:
        raise ValueError(f"unknown agent {agent!r}; known: {', '.join(map(repr, WRAPPERS))}")
    unknown = set(overrides) - _allowed_keys()
    if unknown:
        raise ValueError(f"unknown hyper-parameters {sorted(unknown)} for {agent!r}; allowed: "
                         f"{', '.join(sorted(_allowed_keys()))}")
    for episodes_key, steps_key in EPISODE_KEYS.items():
        if episodes_key in overrides and steps_key in overrides:
            raise ValueError(f"give either {episodes_key} or {steps_key}, not both")
    wrapper = WRAPPERS[agent]
    wrapped = env if isinstance(env, wrapper) else wrapper(env)
    params = {**load_hyperparams(agent), **overrides}
    episode_length = wrapped.steps_per_episode
    for episodes_key, steps_key in EPISODE_KEYS.items():
        episodes = params.pop(episodes_key)
        if steps_key not in overrides:
            params[steps_key] = int(episodes * episode_length)
    noise = {key: params.pop(key) for key in NOISE_KEYS}
    if "action_noise" not in overrides:
        warmup_resets = -(-params["learning_starts"] // episode_length)  # episodes before learning starts
        params["action_noise"] = DecayingTruncatedNormalNoise(
            np.zeros(wrapped.action_space.shape), sigma=noise["noise_sigma"], decay=noise["noise_decay"],
            min_sigma=noise["noise_min_sigma"], warmup_resets=warmup_resets, seed=params.get("seed"))
    if isinstance(params.get("train_freq"), list):  # YAML has no tuples
        params["train_freq"] = tuple(params["train_freq"])
    return FlatDDPG(env=wrapped, **params)


def layerwise_ddpg(env: gym.Env, **overrides: Any) -> FlatDDPG:
    """HAQ's layer-wise DDPG (``LayerWise`` wrapper, entry ``ddpg-layer``); see ``make_flat_ddpg``."""
    return make_flat_ddpg("ddpg-layer", env, **overrides)


def kernelwise_ddpg(env: gym.Env, **overrides: Any) -> FlatDDPG:
    """Flat kernel-wise DDPG (``KernelWise`` wrapper, entry ``ddpg-kernel``); see ``make_flat_ddpg``."""
    return make_flat_ddpg("ddpg-kernel", env, **overrides)
