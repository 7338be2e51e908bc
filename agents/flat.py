"""Flat DDPG baselines: stable-baselines3's DDPG on the layer-wise or kernel-wise view of AutoQ.

``layerwise_ddpg`` is HAQ's layer-wise search (Wang et al., CVPR 2019); ``kernelwise_ddpg`` is the
flat kernel-wise DDPG that AutoQ (Lou et al., ICLR 2020) reports failing to learn. Both use HAQ's
published hyper-parameters, kept in ``agents/hyperparams/ddpg.yml`` (rl-baselines3-zoo style, one
entry per agent name) and overridable by keyword::

    import gymnasium as gym, autoq_env
    from agents.flat import layerwise_ddpg
    model = layerwise_ddpg(gym.make("AutoQ-ResNet-v0"), seed=0)
    model.learn(total_timesteps=300 * model.env.get_attr("steps_per_episode")[0])

HAQ's reward assignment (``rl_quantize.py`` and ``lib/rl/ddpg.py`` of mit-han-lab/haq), done the SB3
way by ``HaqReplayBuffer``: when an episode ends, every one of its transitions is relabelled with the
episode's final reward (the env's ``reward_objective``), its terminal flag left as the env gave it (only
the last transition is terminal; ``gamma = 1``); each minibatch then has a moving average of the
minibatch mean rewards subtracted (``moving_alpha = 0.5``, updated at every update, as HAQ's
``update_policy`` does). HAQ's exploration is a normal around the actor's action truncated to the
action's bounds (``DecayingTruncatedNormalNoise(truncation="bounds")``, applied by
``FlatDDPG._sample_action``). The algorithm is otherwise stable-baselines3's DDPG, unmodified.

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
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.type_aliases import ReplayBufferSamples
from stable_baselines3.common.utils import update_learning_rate
from stable_baselines3.common.vec_env import VecNormalize

from agents.credit import MOVING_ALPHA, MovingAverage
from agents.hyperparams import load_hyperparams
from agents.noise import DecayingTruncatedNormalNoise
from autoq_env.wrappers import KernelWise, LayerWise

WRAPPERS: dict[str, type[LayerWise] | type[KernelWise]] = {"ddpg-layer": LayerWise, "ddpg-kernel": KernelWise}
# Keys of ddpg.yml that are not DDPG arguments: sizes in episodes and the noise's parameters.
EPISODE_KEYS = {"warmup_episodes": "learning_starts", "buffer_episodes": "buffer_size"}
NOISE_KEYS = ("noise_sigma", "noise_decay", "noise_min_sigma", "noise_truncation")
REWARD_ASSIGNMENTS = ("haq", "shaped")  # HaqReplayBuffer, or the env's per-step rewards in SB3's ReplayBuffer


class HaqReplayBuffer(ReplayBuffer):
    """SB3's ``ReplayBuffer`` with HAQ's reward assignment (see the module docstring).

    :param moving_alpha: weight of the newest minibatch mean in the baseline (HAQ: 0.5).
    :param args: positional arguments of ``ReplayBuffer``; ``kwargs`` its keyword arguments.

    ``add`` relabels the finished episode when its last transition arrives (one env, as HAQ), so a
    minibatch never holds an unfinished episode's transitions under SB3's ``train_freq=(1, "episode")``.
    ``sample`` returns rewards minus the moving average, which it updates first (HAQ's order).
    """

    def __init__(self, *args: Any, moving_alpha: float = MOVING_ALPHA, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.n_envs != 1:
            raise ValueError(f"HaqReplayBuffer relabels the episodes of one env, got n_envs={self.n_envs}")
        self.baseline = MovingAverage(moving_alpha)
        self.episode_start = 0  # buffer row of the current episode's first transition

    def add(self, obs: np.ndarray, next_obs: np.ndarray, action: np.ndarray, reward: np.ndarray, done: np.ndarray,
            infos: list[dict[str, Any]]) -> None:
        super().add(obs, next_obs, action, reward, done, infos)
        if bool(np.asarray(done).reshape(-1)[0]):
            self.relabel_episode(float(infos[0]["reward_objective"]))

    def relabel_episode(self, final_reward: float) -> None:
        """Give every transition since ``episode_start`` the episode's final reward; start the next episode."""
        length = (self.pos - self.episode_start) % self.buffer_size or self.buffer_size
        rows = (self.episode_start + np.arange(length)) % self.buffer_size
        self.rewards[rows, 0] = final_reward
        self.episode_start = self.pos

    def sample(self, batch_size: int, env: VecNormalize | None = None) -> ReplayBufferSamples:
        samples = super().sample(batch_size, env)
        baseline = self.baseline.update(float(samples.rewards.mean()))
        return samples._replace(rewards=samples.rewards - baseline)

    def get_extra_state(self) -> dict[str, Any]:
        """What a checkpoint keeps beyond the arrays: the baseline and the current episode's start."""
        return {"baseline": self.baseline.get_state(), "episode_start": self.episode_start}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.baseline.set_state(state["baseline"])
        self.episode_start = int(state["episode_start"])


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

    def _sample_action(self, learning_starts: int, action_noise: Any = None, n_envs: int = 1,
                       ) -> tuple[np.ndarray, np.ndarray]:
        """SB3's action selection; a noise truncated to the bounds (HAQ) perturbs the action instead of
        being added and clipped. Warm-up actions (uniform) are SB3's, without noise, as in HAQ."""
        if not (isinstance(action_noise, DecayingTruncatedNormalNoise) and action_noise.truncation == "bounds"):
            return super()._sample_action(learning_starts, action_noise, n_envs)
        action, buffer_action = super()._sample_action(learning_starts, None, n_envs)
        if self.num_timesteps >= learning_starts:
            buffer_action = action_noise.perturb(buffer_action)
            action = self.policy.unscale_action(buffer_action)
        return action, buffer_action

    def _update_learning_rate(self, optimizers: list[th.optim.Optimizer] | th.optim.Optimizer) -> None:
        """Set every optimizer from ``learning_rate``'s schedule (as SB3 does), then the critic's to
        ``qf_learning_rate``."""
        super()._update_learning_rate(optimizers)
        if self.qf_learning_rate is not None:
            update_learning_rate(self.critic.optimizer, self.qf_learning_rate)
            self.logger.record("train/qf_learning_rate", self.qf_learning_rate)


def _allowed_keys() -> set[str]:
    ddpg = set(inspect.signature(DDPG.__init__).parameters) - {"self", "env", "_init_setup_model"}
    return ddpg | {"qf_learning_rate", "reward_assignment", "moving_alpha", *EPISODE_KEYS, *NOISE_KEYS}


def make_flat_ddpg(agent: str, env: gym.Env, **overrides: Any) -> FlatDDPG:
    """Wrap a core AutoQ env for ``agent`` and build its DDPG from ``ddpg.yml`` with ``overrides``.

    :param agent: ``"ddpg-layer"`` (``LayerWise``) or ``"ddpg-kernel"`` (``KernelWise``).
    :param env: an AutoQ env (``gym.make("AutoQ-ResNet-v0", ...)`` or an ``AutoQEnv``), or the
        agent's wrapper around one.
    :param overrides: any ``stable_baselines3.DDPG`` argument, ``qf_learning_rate``, sizes in episodes
        (``warmup_episodes``, ``buffer_episodes``) or noise parameters (``noise_sigma``,
        ``noise_decay``, ``noise_min_sigma``, ``noise_truncation``), ``reward_assignment`` (``"haq"``:
        ``HaqReplayBuffer`` with ``moving_alpha``; ``"shaped"``: the env's per-step rewards in SB3's
        ``ReplayBuffer``); ``learning_starts``, ``buffer_size``, ``action_noise`` and
        ``replay_buffer_class`` given directly take precedence over their counterparts.
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
            min_sigma=noise["noise_min_sigma"], warmup_resets=warmup_resets, seed=params.get("seed"),
            truncation=noise["noise_truncation"])
    assignment, moving_alpha = params.pop("reward_assignment"), params.pop("moving_alpha")
    if assignment not in REWARD_ASSIGNMENTS:
        raise ValueError(f"reward_assignment must be one of {REWARD_ASSIGNMENTS}, got {assignment!r}")
    if assignment == "haq" and "replay_buffer_class" not in overrides:
        params["replay_buffer_class"] = HaqReplayBuffer
        params["replay_buffer_kwargs"] = {**params.get("replay_buffer_kwargs", {}), "moving_alpha": moving_alpha}
    if isinstance(params.get("train_freq"), list):  # YAML has no tuples
        params["train_freq"] = tuple(params["train_freq"])
    return FlatDDPG(env=wrapped, **params)


def layerwise_ddpg(env: gym.Env, **overrides: Any) -> FlatDDPG:
    """HAQ's layer-wise DDPG (``LayerWise`` wrapper, entry ``ddpg-layer``); see ``make_flat_ddpg``."""
    return make_flat_ddpg("ddpg-layer", env, **overrides)


def kernelwise_ddpg(env: gym.Env, **overrides: Any) -> FlatDDPG:
    """Flat kernel-wise DDPG (``KernelWise`` wrapper, entry ``ddpg-kernel``); see ``make_flat_ddpg``."""
    return make_flat_ddpg("ddpg-kernel", env, **overrides)
