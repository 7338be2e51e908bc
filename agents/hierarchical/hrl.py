"""Hierarchical DDPG (AutoQ): a high-level controller per layer, a low-level controller per kernel."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, ConvertCallback, ProgressBarCallback
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.utils import configure_logger, set_random_seed
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from agents.checkpoint import check_signature, replay_buffer_state, set_replay_buffer_state
from agents.credit import CREDIT_ASSIGNMENTS, REWARD_TRANSFORMS, MovingAverage
from agents.hierarchical.additive import EpisodeReturns
from agents.hierarchical.elite import EliteEpisodes
from agents.hierarchical.episode import EpisodeState, episode_rewards
from agents.hierarchical.policies import HLC_FEATURES, LLC_FEATURES, Controller
from agents.hierarchical.warmup import goal_action, llc_action_for, planned_configs, qbn_action
from agents.hyperparams import load_hyperparams
from agents.recording import BestResult, episode_row
from agents.sensitivity import kernel_loss_table, water_filling_offsets
from autoq_env import __version__, atomic_io
from autoq_env.env import FEATURE_INDEX, AutoQEnv

_LAYER_STEP = FEATURE_INDEX["is_layer_step"]
_GOAL = FEATURE_INDEX["goal"]
_LAYER_INDEX = FEATURE_INDEX["layer_index"]
_KERNEL_POSITION = FEATURE_INDEX["kernel_position"]
LLC_ACTIONS = ("absolute", "offset", "prior")
LLC_NOISES = ("kernel", "layer")
WARMUP_ACTIONS = ("uniform", "policy", "sensitivity")
HLC_CRITICS = ("transition", "additive")
_FORMAT = "autoq-hrl-agent"


@dataclass(frozen=True)
class HRLConfig:
    """Hyper-parameters of ``HierarchicalDDPG``; defaults live in ``agents/hyperparams/hrl.yml``."""

    zeta: float  # shaping factor: LLC reward = (1 - zeta) * intrinsic + zeta * extrinsic
    hindsight_relabel: bool  # store HLC goals relabelled to the mean QBN the layer achieved
    credit_assignment: str  # "broadcast", "split" or "shaped" (agents/credit.py), for both controllers
    moving_alpha: float  # weight of the newest episode in the moving-average baseline (HAQ: 0.5)
    subtract_baseline: bool  # store the final objective minus the baseline (else the objective itself)
    reward_transform: str  # "none" or "symlog" (agents.credit.transform_rewards), before reward_clip
    reward_clip: float | None  # extrinsic rewards clipped to [-reward_clip, reward_clip] (None: not clipped)
    llc_action: str  # "absolute": the LLC's action is the kernel's QBN; "offset": an offset from the goal;
    # "prior": an offset from the goal plus the kernel's water-filling offset (agents.sensitivity)
    llc_offset_range: float  # "offset": the LLC's [-1, 1] spans goal +- this many action units
    llc_noise: str  # "kernel": a noise draw per kernel; "layer": one draw per layer, shared by its kernels
    llc_noise_scale: float  # the LLC's noise sigma (and floor) = this x noise_sigma (noise_min_sigma)
    net_arch: tuple[int, ...]
    actor_lr: float
    critic_lr: float
    batch_size: int
    tau: float
    gamma: float
    warmup_episodes: int
    warmup_actions: str  # "uniform": warm-up actions uniform in [-1, 1] (HAQ); "policy": the untrained actor
    # plus the initial noise, i.e. around the policy a zero actor gives (with "prior": goal 5, water-filled);
    # "sensitivity": the greedy sensitivity path's configurations, one per episode (agents.hierarchical.warmup)
    noise_sigma: float
    noise_decay: float
    noise_min_sigma: float
    hlc_buffer_size: int
    hlc_critic: str  # "transition": Q(s_l, a_l) of each stored transition; "additive": an episode's return as
    # sum_l Q(s_l, a_l) over its layers (agents.hierarchical.additive; broadcast credit only), the episodes kept
    # in a ring of hlc_buffer_size // layers episodes
    llc_buffer_size: int
    hlc_gradient_steps: int  # per episode, after warm-up
    llc_gradient_steps: int
    elite_episodes: int  # self-imitation of the best this many episodes (agents.hierarchical.elite); 0: off
    elite_margin_pts: float  # an episode may enter the elite only with a search-split accuracy drop of at most
    # the env's tolerance minus this many points: room for the regression to the mean of the elite's noisy drop
    imitation_alpha: float  # TD3+BC's alpha: weight of the critic's term against the imitation term
    imitation_anneal: bool  # alpha follows the HLC's noise (x sigma / initial sigma): once exploration is
    # spent the actors fit their elites alone instead of following the critic's gradient past them
    actor_lr_anneal: bool  # both actors' learning rates follow the HLC's noise the same way (Adam's steps do not
    # shrink with the gradient); measured to freeze the actors before they fit their elite (hrl.yml: off)

    @classmethod
    def from_yaml(cls, path: str | Path | None = None, **overrides: Any) -> HRLConfig:
        """Section ``hrl`` of ``path`` (default ``agents/hyperparams/hrl.yml``), with ``overrides``."""
        values = load_hyperparams("hrl", path)
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown HRL hyper-parameters {sorted(unknown)}; allowed: "
                             f"{', '.join(f.name for f in fields(cls))}")
        values.update(overrides)
        values["net_arch"] = tuple(values["net_arch"])
        return cls(**values)

    def __post_init__(self) -> None:
        checks = {
            "zeta": 0 <= self.zeta <= 1, "actor_lr": self.actor_lr > 0, "critic_lr": self.critic_lr > 0,
            "batch_size": self.batch_size >= 1, "tau": 0 < self.tau <= 1, "gamma": 0 <= self.gamma <= 1,
            "warmup_episodes": self.warmup_episodes >= 0, "noise_sigma": self.noise_sigma >= 0,
            "noise_decay": 0 < self.noise_decay <= 1, "noise_min_sigma": self.noise_min_sigma >= 0,
            "hlc_buffer_size": self.hlc_buffer_size >= 1, "llc_buffer_size": self.llc_buffer_size >= 1,
            "hlc_gradient_steps": self.hlc_gradient_steps >= 0, "llc_gradient_steps": self.llc_gradient_steps >= 0,
            "net_arch": len(self.net_arch) > 0 and all(int(n) >= 1 for n in self.net_arch),
            "credit_assignment": self.credit_assignment in CREDIT_ASSIGNMENTS,
            "moving_alpha": 0 < self.moving_alpha <= 1,
            "reward_clip": self.reward_clip is None or self.reward_clip > 0,
            "reward_transform": self.reward_transform in REWARD_TRANSFORMS,
            "subtract_baseline": isinstance(self.subtract_baseline, bool),
            "elite_episodes": self.elite_episodes >= 0, "elite_margin_pts": self.elite_margin_pts >= 0,
            "imitation_alpha": self.imitation_alpha > 0,
            "imitation_anneal": isinstance(self.imitation_anneal, bool),
            "actor_lr_anneal": isinstance(self.actor_lr_anneal, bool),
            "llc_action": self.llc_action in LLC_ACTIONS, "llc_noise": self.llc_noise in LLC_NOISES,
            "warmup_actions": self.warmup_actions in WARMUP_ACTIONS,
            "hlc_critic": self.hlc_critic in HLC_CRITICS and (
                self.hlc_critic == "transition" or self.credit_assignment == "broadcast"),
            "llc_offset_range": 0 < self.llc_offset_range <= 2, "llc_noise_scale": self.llc_noise_scale >= 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid HRL hyper-parameters {', '.join(f'{b}={getattr(self, b)!r}' for b in bad)}: "
                             "zeta in [0, 1], tau in (0, 1], gamma in [0, 1], noise_decay and moving_alpha in (0, 1], "
                             f"credit_assignment in {CREDIT_ASSIGNMENTS}, reward_transform in {REWARD_TRANSFORMS}, "
                             f"llc_action in {LLC_ACTIONS}, llc_noise in {LLC_NOISES}, llc_offset_range in (0, 2], "
                             f"warmup_actions in {WARMUP_ACTIONS}, hlc_critic in {HLC_CRITICS} "
                             "('additive' with credit_assignment 'broadcast'), "
                             "reward_clip > 0 or null, elite_margin_pts >= 0, "
                             "positive learning rates, sizes and steps")


def intrinsic_reward(layer_mean_qbn: float, goal_qbn: float, b_min: int, b_max: int) -> float:
    """``-|running mean QBN - goal| / (b_max - b_min)``: 0 when the layer is on its goal, -1 at worst."""
    return -abs(layer_mean_qbn - goal_qbn) / max(b_max - b_min, 1)


def llc_env_action(llc_action: float, goal_feature: float, mode: str, offset_range: float,
                   prior_offset: float = 0.0) -> float:
    """The env's kernel-step action for the LLC's action in ``[-1, 1]``.

    ``"absolute"``: the LLC's action itself. ``"offset"``: the goal's action coordinate
    (``2 * goal_feature - 1``, the observation's ``goal`` feature being the goal QBN scaled to [0, 1])
    plus ``offset_range * llc_action``, clipped to ``[-1, 1]``: an LLC whose actor outputs 0 follows
    the goal, and its noise moves kernels around the goal instead of across the whole QBN range.
    ``"prior"``: the same plus ``prior_offset`` (action units), the kernel's offset in the layer's
    loss-minimising allocation: an LLC whose actor outputs 0 spreads the goal over the kernels by their
    estimated sensitivity, and learns a residual on it (residual policy learning: Silver et al., 2018).
    """
    if mode == "absolute":
        return float(llc_action)
    shift = prior_offset if mode == "prior" else 0.0
    return float(np.clip(2.0 * goal_feature - 1.0 + shift + offset_range * llc_action, -1.0, 1.0))


def relabel_goal(hlc_action: np.ndarray, achieved_mean_qbn: float, b_min: int, b_max: int) -> np.ndarray:
    """The HLC action with its goal replaced by the mean QBN the layer reached (hindsight correction).

    The goal's action coordinate maps ``[-1, 1]`` linearly onto ``[b_min, b_max]``, as in the env.
    """
    relabelled = np.array(hlc_action, dtype=np.float32, copy=True)
    relabelled[1] = goal_action(achieved_mean_qbn, b_min, b_max)
    return relabelled


class HierarchicalDDPG:
    """AutoQ's hierarchical DDPG on an ``AutoQEnv``, with the stable-baselines3 API.

    The high-level controller (HLC) acts on layer steps: the layer's activation QBN and a goal mean
    weight QBN; its stored goal is relabelled to the mean QBN the layer reached
    (``hindsight_relabel``). The low-level controller (LLC) acts on kernel steps (``llc_action``: the
    kernel's QBN, an offset from the goal, or an offset from the goal plus the kernel's offset in the
    layer's loss-minimising allocation, ``"prior"``) with reward ``(1 - zeta) * intrinsic + zeta *
    extrinsic``, the intrinsic part ``-|running mean QBN - goal| / (b_max - b_min)`` (with ``"prior"``
    the mean of the QBNs minus their prior offsets, so that the prior allocation is on goal); its episodes end
    with the layer. The extrinsic rewards of both come from ``credit_assignment`` (``agents.credit``):
    the episode's final objective (minus a moving-average baseline with ``subtract_baseline``, then
    through ``reward_transform`` and ``reward_clip``) on every transition, stored as terminal
    (``"broadcast"``, HAQ/AMC), the same split evenly (``"split"``, NNCF), or the env's shaped
    per-step rewards (``"shaped"``; the HLC's is their sum over the layer's steps). Both are
    DDPG actor-critics built from stable-baselines3's ``TD3Policy``, each with its own replay buffer.
    Warm-up episodes take uniform random actions (``warmup_actions="uniform"``), the untrained
    actors' actions with the initial noise (``"policy"``), or play the greedy sensitivity path's
    configurations, one per episode (``"sensitivity"``, ``agents.hierarchical.warmup``); afterwards
    the truncated-normal noise decays per episode (the LLC's: per kernel or one draw per layer,
    ``llc_noise``). Both learn once per episode, after warm-up.

    :param env: an ``AutoQ-ResNet-v0`` env (``gym.make`` result or ``AutoQEnv``), or a 1-env ``DummyVecEnv``.
    :param seed: seeds torch, numpy, the env, the noise and the warm-up actions.
    :param verbose: 1 prints the per-episode log to stdout.
    :param tensorboard_log: folder for TensorBoard logs (``None``: none).
    :param device: torch device of the networks.
    :param hyperparams: overrides of ``agents/hyperparams/hrl.yml`` (see ``HRLConfig``).
    """

    def __init__(self, env: gym.Env | VecEnv | None, seed: int | None = None, verbose: int = 0,
                 tensorboard_log: str | None = None, device: str = "cpu", **hyperparams: Any) -> None:
        self.config = HRLConfig.from_yaml(**hyperparams)
        self.seed = seed
        self.verbose = verbose
        self.tensorboard_log = tensorboard_log
        self.device = th.device(device)
        self.env: VecEnv | None = None
        self.env_signature: dict | None = None
        self.b_min, self.b_max = 2, 8
        self._prior_offsets: list[np.ndarray] | None = None  # llc_action="prior": per layer, QBNs
        self._hlc_episodes: EpisodeReturns | None = None  # hlc_critic="additive": made when the env is known
        self._warmup_plan: list[dict] | None = None  # warmup_actions="sensitivity": made when first needed
        self._elite_max_drop_pts = 0.0  # search-split drop an episode may have to enter the elite (set_env)
        if env is not None:
            self.set_env(env)
        if seed is not None:
            set_random_seed(seed)
        self._rng = np.random.default_rng(seed)
        c = self.config
        common = dict(net_arch=c.net_arch, actor_lr=c.actor_lr, critic_lr=c.critic_lr, noise_decay=c.noise_decay,
                      device=self.device)
        self.hlc = Controller(HLC_FEATURES, 2, buffer_size=c.hlc_buffer_size, seed=seed, noise_sigma=c.noise_sigma,
                              noise_min_sigma=c.noise_min_sigma, **common)
        self.llc = Controller(LLC_FEATURES, 1, buffer_size=c.llc_buffer_size, seed=None if seed is None else seed + 1,
                              noise_sigma=c.noise_sigma * c.llc_noise_scale,
                              noise_min_sigma=c.noise_min_sigma * c.llc_noise_scale, **common)
        self.baseline = MovingAverage(c.moving_alpha)  # of the episodes' final objectives
        self.elites = [EliteEpisodes(c.elite_episodes) for _ in range(2)] if c.elite_episodes else None  # HLC, LLC
        self.num_timesteps = 0
        self.num_episodes = 0
        self._best = BestResult()
        self.episode_log: list[dict] = []
        self._logger: Logger | None = None
        self._observation: np.ndarray | None = None  # the env's current observation while learning
        self._episode = EpisodeState()

    @property
    def best_config(self) -> dict | None:
        """The best configuration seen while learning (by the episode objective)."""
        return self._best.config

    @property
    def best_metrics(self) -> dict | None:
        """The search-split metrics of ``best_config`` and the episode that found it."""
        return self._best.metrics

    # -- environment --------------------------------------------------------------------------------
    def set_env(self, env: gym.Env | VecEnv) -> None:
        """Attach an env (checked against the one the agent was trained on, if any)."""
        vec_env = env if isinstance(env, VecEnv) else DummyVecEnv([lambda: env])
        if vec_env.num_envs != 1:
            raise ValueError(f"HierarchicalDDPG steps one env, got a VecEnv of {vec_env.num_envs}")
        core = vec_env.envs[0].unwrapped if isinstance(vec_env, DummyVecEnv) else None
        if not isinstance(core, AutoQEnv):
            raise TypeError(f"HierarchicalDDPG needs an AutoQEnv (e.g. gym.make('AutoQ-ResNet-v0')), got "
                            f"{type(core if core is not None else env).__name__}")
        signature = core.signature
        if self.env_signature is not None:
            check_signature(self.env_signature, signature)
        self.env, self.env_signature = vec_env, signature
        self.b_min, self.b_max = core.b_min, core.b_max
        self._elite_max_drop_pts = core.reward_weights.tolerance_pts - self.config.elite_margin_pts
        if self.config.elite_episodes and self._elite_max_drop_pts < 0:
            raise ValueError(f"elite_margin_pts={self.config.elite_margin_pts:g} leaves no accuracy drop that may "
                             f"enter the elite: the env's tolerance is {core.reward_weights.tolerance_pts:g} points; "
                             "use a margin of at most the tolerance, or elite_episodes=0")
        self._prior_offsets = None
        self._warmup_plan = None
        if self.config.hlc_critic == "additive":
            self._hlc_episodes = EpisodeReturns(max(1, self.config.hlc_buffer_size // core.num_layers),
                                                core.num_layers, len(HLC_FEATURES), 2)
        if self.config.llc_action == "prior":
            self._prior_offsets = water_filling_offsets(kernel_loss_table(core))

    def get_env(self) -> VecEnv | None:
        return self.env

    @property
    def logger(self) -> Logger:
        if self._logger is None:
            self._logger = configure_logger(self.verbose, self.tensorboard_log, "HRL")
        return self._logger

    def set_logger(self, logger: Logger) -> None:
        """Use a stable-baselines3 ``Logger`` (e.g. ``configure(folder, ["stdout", "csv", "tensorboard"])``)."""
        self._logger = logger

    # -- acting -------------------------------------------------------------------------------------
    def predict(self, observation: np.ndarray, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, None]:
        """Route each observation to its controller: layer steps to the HLC, kernel steps to the LLC.

        Returns env actions of shape ``(2,)`` (or ``(n, 2)`` for a batch). Like stable-baselines3's
        DDPG, the policy is deterministic; exploration noise is only added while learning.
        """
        observations = np.asarray(observation, dtype=np.float32)
        single = observations.ndim == 1
        batch = observations.reshape(-1, observations.shape[-1])
        actions = np.stack([self._env_action(row, self._controller_action(row, None)) for row in batch])
        return (actions[0] if single else actions), None

    def _controller_action(self, observation: np.ndarray, noise: np.ndarray | None) -> np.ndarray:
        """The acting controller's own action (HLC: 2 values, LLC: 1), with ``noise`` added."""
        controller = self.hlc if observation[_LAYER_STEP] > 0.5 else self.llc
        return controller.act(controller.select(observation), noise)

    def _env_action(self, observation: np.ndarray, action: np.ndarray) -> np.ndarray:
        """The env's action for a controller's action (the LLC's mapped by ``llc_action``)."""
        if observation[_LAYER_STEP] > 0.5:
            return action
        c = self.config
        return np.array([llc_env_action(action[0], observation[_GOAL], c.llc_action, c.llc_offset_range,
                                        self._prior_shift(observation)), 0.0], dtype=np.float32)

    def _prior_shift(self, observation: np.ndarray) -> float:
        """``_prior_offset`` in action units (QBNs through the goal's linear map onto [-1, 1])."""
        return 2.0 / max(self.b_max - self.b_min, 1) * self._prior_offset(observation)

    def _prior_offset(self, observation: np.ndarray) -> float:
        """The water-filling offset (QBNs) of the kernel a kernel-step observation is about
        (``llc_action="prior"``; 0 otherwise), found from its ``layer_index`` and ``kernel_position``."""
        if self.config.llc_action != "prior":
            return 0.0
        if self._prior_offsets is None:
            raise ValueError("llc_action='prior' needs the env's loss estimates: attach an env first (set_env)")
        layer, kernel = self._position(observation, [len(offsets) for offsets in self._prior_offsets])
        return float(self._prior_offsets[layer][kernel])

    @staticmethod
    def _position(observation: np.ndarray, kernels: list[int]) -> tuple[int, int]:
        """The layer and kernel an observation is about (kernel 0 on a layer step), from its
        ``layer_index`` and ``kernel_position``; ``kernels`` holds each layer's kernel count."""
        layer = int(round(float(observation[_LAYER_INDEX]) * max(len(kernels) - 1, 1)))
        return layer, int(round(float(observation[_KERNEL_POSITION]) * kernels[layer]))

    def _planned_action(self, observation: np.ndarray, config: dict) -> np.ndarray:
        """The acting controller's action that plays ``config`` (``warmup_actions="sensitivity"``): on a
        layer step its activation QBN and its kernels' mean QBN as the goal, on a kernel step the
        kernel's QBN through the LLC's action mapping (``agents.hierarchical.warmup``)."""
        layer, kernel = self._position(observation, [len(qbns) for qbns in config["kernel_qbn"]])
        kernel_qbns = config["kernel_qbn"][layer]
        if observation[_LAYER_STEP] > 0.5:
            return self._action_playing(observation, config["activation_qbn"][layer],
                                        goal_action(float(np.mean(kernel_qbns)), self.b_min, self.b_max))
        return self._action_playing(observation, kernel_qbns[kernel])

    def _action_playing(self, observation: np.ndarray, qbn: int, goal: float = 0.0) -> np.ndarray:
        """The action at the centre of ``qbn``'s bin: on a layer step ``qbn`` is the activation QBN and
        ``goal`` the goal coordinate, on a kernel step the kernel's QBN from the observation's goal through
        the LLC's mapping (clipped to its reach)."""
        if observation[_LAYER_STEP] > 0.5:
            return np.array([qbn_action(qbn, self.b_min, self.b_max), goal], dtype=np.float32)
        c = self.config
        return np.array([llc_action_for(qbn, float(observation[_GOAL]), c.llc_action, c.llc_offset_range,
                                        self._prior_shift(observation), self.b_min, self.b_max)], dtype=np.float32)

    def _exploration_action(self, observation: np.ndarray, warmup: bool) -> np.ndarray:
        """The acting controller's action while learning: actor plus noise, or uniform in a
        ``warmup_actions="uniform"`` warm-up."""
        layer_step = observation[_LAYER_STEP] > 0.5
        if warmup and self.config.warmup_actions == "sensitivity":
            if self._warmup_plan is None:
                self._warmup_plan = planned_configs(self.env.envs[0].unwrapped, self.config.warmup_episodes)
            if self.num_episodes < len(self._warmup_plan):
                return self._planned_action(observation, self._warmup_plan[self.num_episodes])
        if warmup and self.config.warmup_actions in ("uniform", "sensitivity"):  # (the plan ran out)
            action = self._rng.uniform(-1.0, 1.0, size=2).astype(np.float32)
            return action if layer_step else action[:1]
        if layer_step:
            return self._controller_action(observation, self.hlc.noise())
        if self.config.llc_noise == "layer":
            if self._episode.layer_noise is None:
                self._episode.layer_noise = self.llc.noise()
            return self._controller_action(observation, self._episode.layer_noise)
        return self._controller_action(observation, self.llc.noise())

    # -- learning -----------------------------------------------------------------------------------
    def learn(self, total_timesteps: int | None = None, callback: Any = None, log_interval: int = 1,
              progress_bar: bool = False, reset_num_timesteps: bool = False,
              total_episodes: int | None = None) -> HierarchicalDDPG:
        """Run the search for ``total_timesteps`` env steps or ``total_episodes`` whole episodes.

        :param callback: a stable-baselines3 callback, a list of them, or a function ``f(locals, globals)``.
        :param log_interval: dump the logger every this many episodes.
        :param progress_bar: show a tqdm progress bar over env steps.
        :param total_episodes: convenience: ``total_episodes`` episodes of the env.
        """
        if self.env is None:
            raise ValueError("no env attached: pass one to the constructor or call set_env(env)")
        steps_per_episode = self.env.envs[0].unwrapped.steps_per_episode
        if (total_timesteps is None) == (total_episodes is None):
            raise ValueError("give exactly one of total_timesteps and total_episodes")
        budget = total_timesteps if total_episodes is None else total_episodes
        if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget <= 0:
            raise ValueError(f"the learning budget must be a positive integer, got {budget!r}")
        if total_episodes is not None:
            total_timesteps = int(total_episodes) * steps_per_episode
        if reset_num_timesteps:
            self.num_timesteps = self.num_episodes = 0
        total_timesteps += self.num_timesteps  # as in stable-baselines3 without reset_num_timesteps
        callback = self._init_callback(callback, progress_bar)
        callback.on_training_start(locals(), globals())
        if self._observation is None:
            self.env.seed(self.seed)
            self._observation = self.env.reset()[0]
        started = time.perf_counter()
        env = self.env.envs[0]  # stepped directly: DummyVecEnv's per-step batching and copies cost time
        while self.num_timesteps < total_timesteps:
            if not self._step(env, callback, log_interval, started):
                break
        callback.on_training_end()
        return self

    def _init_callback(self, callback: Any, progress_bar: bool) -> BaseCallback:
        if isinstance(callback, list):
            callback = CallbackList(callback)
        elif callback is None:
            callback = CallbackList([])
        elif not isinstance(callback, BaseCallback):
            callback = ConvertCallback(callback)
        if progress_bar:
            callback = CallbackList([callback, ProgressBarCallback()])
        callback.init_callback(self)  # type: ignore[arg-type]  (duck-typed BaseAlgorithm)
        return callback

    def _step(self, env: gym.Env, callback: BaseCallback, log_interval: int, started: float) -> bool:
        """One env step, its transition kept for the episode's end; returns False when a callback asks to stop.

        The env is stepped as ``DummyVecEnv`` would (same calls, same order: a finished episode's
        observation goes into ``info["terminal_observation"]`` and the env is reset without a seed),
        and callbacks see ``dones``/``infos`` as from a 1-env ``VecEnv``.
        """
        episode, observation = self._episode, self._observation
        if episode.steps == 0:
            callback.on_rollout_start()
        episode.steps += 1
        warmup = self.num_episodes < self.config.warmup_episodes
        layer_step = observation[_LAYER_STEP] > 0.5
        own_action = self._exploration_action(observation, warmup)
        action = self._env_action(observation, own_action)
        next_observation, reward, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        reward = float(np.float32(reward))  # DummyVecEnv's float32 reward buffer: the same rewards as through it
        self.num_timesteps += 1
        episode.layer_reward += reward
        if layer_step:
            episode.hlc_features, episode.hlc_action = self.hlc.select(observation), own_action.copy()
            if self.elites is not None:  # only self-imitation reads them
                episode.hlc_imitated.append(self._action_playing(observation, info["qbn"], float(own_action[1])))
            episode.goal_qbn, episode.layer_qbns, episode.tracked_qbns = info["goal"], [], []
            episode.layer_noise = None
        else:
            episode.layer_qbns.append(info["qbn"])
            if self.elites is not None:
                episode.llc_imitated.append(self._action_playing(observation, info["qbn"]))
            episode.tracked_qbns.append(info["qbn"] - self._prior_offset(observation))
            layer_mean = float(np.mean(episode.layer_qbns))
            layer_done = done or next_observation[_LAYER_STEP] > 0.5
            episode.llc.add(self.llc.select(observation), self.llc.select(next_observation), own_action, reward,
                            layer_done)
            episode.intrinsic.append(intrinsic_reward(float(np.mean(episode.tracked_qbns)), episode.goal_qbn,
                                                      self.b_min, self.b_max))
            if layer_done:
                stored = relabel_goal(episode.hlc_action, layer_mean, self.b_min, self.b_max) \
                    if self.config.hindsight_relabel else episode.hlc_action
                episode.hlc.add(episode.hlc_features, self.hlc.select(next_observation), stored, episode.layer_reward,
                                done)
                episode.layer_reward = 0.0
        if done:
            info["terminal_observation"] = next_observation
            next_observation, _ = env.reset()
        self._observation = next_observation
        dones, infos = np.array([done]), [info]  # noqa: F841  (callbacks read them from locals())
        callback.update_locals(locals())
        keep_going = callback.on_step()
        if done:
            callback.on_rollout_end()
            self._end_episode(info, warmup, log_interval, started)
        return keep_going

    def _end_episode(self, info: dict, warmup: bool, log_interval: int, started: float) -> None:
        """Store the episode's transitions with their rewards, then (after warm-up) train both controllers."""
        c = self.config
        final_objective = float(info["reward_objective"])
        baseline = self.baseline.update(final_objective)
        advantage = final_objective - baseline if c.subtract_baseline else final_objective
        hlc_rewards, hlc_dones, llc_rewards, llc_dones = episode_rewards(
            self._episode, c.credit_assignment, advantage, c.zeta, c.reward_clip, c.reward_transform)
        controllers = ((self.hlc, self._episode.hlc, hlc_rewards, hlc_dones),
                       (self.llc, self._episode.llc, llc_rewards, llc_dones))
        for index, (controller, rows, rewards, dones) in enumerate(controllers):
            features, actions = np.stack(rows.features), np.stack(rows.actions)
            if index == 0 and self._hlc_episodes is not None:  # broadcast: every HLC reward is the return
                self._hlc_episodes.add(features, actions, float(rewards[0]))  # (its replay buffer stays unused)
            else:
                controller.store_many(features, np.stack(rows.next_features), actions, rewards, dones)
            if self.elites is not None and info["accuracy_drop"] <= self._elite_max_drop_pts:  # what worked
                imitated = self._episode.hlc_imitated if index == 0 else self._episode.llc_imitated
                self.elites[index].offer(final_objective, features, np.stack(imitated))
        self.num_episodes += 1
        losses = {}
        alpha, lr_scale = self.annealed()
        if not warmup:
            for index, (name, controller, steps) in enumerate((("hlc", self.hlc, c.hlc_gradient_steps),
                                                               ("llc", self.llc, c.llc_gradient_steps))):
                imitation = None if self.elites is None else self.elites[index].transitions()
                controller.scale_actor_lr(lr_scale)
                if index == 0 and self._hlc_episodes is not None:
                    trained = controller.train_additive(self._hlc_episodes, steps, c.batch_size, imitation, alpha)
                else:
                    trained = controller.train(steps, c.batch_size, c.gamma, c.tau, imitation, alpha)
                losses.update({f"{name}_{k}": v for k, v in trained.items()})
            self.hlc.noise.reset()
            self.llc.noise.reset()
        row = episode_row(self.num_episodes, info, time.perf_counter() - started)
        row.update({"warmup": warmup, "noise_sigma": float(self.hlc.noise.sigma), "imitation_alpha": alpha,
                    "actor_lr_scale": lr_scale, "baseline": baseline, **losses})
        self.episode_log.append(row)
        self._best.update(info, self.num_episodes)
        for key, value in row.items():
            self.logger.record(f"episode/{key}", value)
        if self.num_episodes % log_interval == 0:
            self.logger.dump(step=self.num_timesteps)
        self._episode = EpisodeState()

    def annealed(self) -> tuple[float, float]:
        """TD3+BC's alpha and the actors' learning-rate factor for the coming updates: ``imitation_alpha`` and
        1, each times the HLC's noise sigma over its initial sigma where ``imitation_anneal`` and
        ``actor_lr_anneal`` ask (so they decay with the exploration; a run without noise keeps both)."""
        c, noise = self.config, self.hlc.noise
        ratio = 1.0 if noise.initial_sigma == 0 else noise.sigma / noise.initial_sigma
        return (c.imitation_alpha * (ratio if c.imitation_anneal else 1.0),
                ratio if c.actor_lr_anneal else 1.0)

    # -- persistence --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """What ``save`` writes: networks, optimizers, noise, baseline, hyper-parameters, counters, best result."""
        return {
            "format": _FORMAT, "autoq_version": __version__, "config": asdict(self.config), "seed": self.seed,
            "env_signature": self.env_signature, "hlc": self.hlc.state_dict(), "llc": self.llc.state_dict(),
            "baseline": self.baseline.get_state(), "num_timesteps": self.num_timesteps,
            "num_episodes": self.num_episodes, "best_config": self.best_config, "best_metrics": self.best_metrics,
        }

    def training_state(self) -> dict[str, Any]:
        """What a checkpoint needs beyond ``state_dict`` to continue learning exactly, between episodes:
        the replay buffers, the warm-up generator, the episode log and the env's current observation."""
        if self._episode.steps:
            raise RuntimeError("training_state is taken between episodes, not inside one")
        return {"hlc_buffer": replay_buffer_state(self.hlc.replay_buffer),
                "llc_buffer": replay_buffer_state(self.llc.replay_buffer),
                "elites": None if self.elites is None else [elite.get_state() for elite in self.elites],
                "hlc_episodes": None if self._hlc_episodes is None else self._hlc_episodes.get_state(),
                "rng": self._rng.bit_generator.state, "episode_log": list(self.episode_log),
                "observation": None if self._observation is None else self._observation.copy()}

    def set_training_state(self, state: dict[str, Any]) -> None:
        """Restore ``training_state``; the attached env must already be at ``state["observation"]``."""
        set_replay_buffer_state(self.hlc.replay_buffer, state["hlc_buffer"])
        set_replay_buffer_state(self.llc.replay_buffer, state["llc_buffer"])
        if self.elites is not None and state.get("elites"):  # absent from checkpoints made before self-imitation
            for elite, elite_state in zip(self.elites, state["elites"], strict=True):
                elite.set_state(elite_state)
        if self._hlc_episodes is not None:
            self._hlc_episodes.set_state(state["hlc_episodes"])
        self._rng.bit_generator.state = state["rng"]
        self.episode_log = list(state["episode_log"])
        self._observation = state["observation"]
        self._episode = EpisodeState()

    def save(self, path: str | Path) -> None:
        """Save the agent (networks, optimizers, noise, baseline, hyper-parameters, best result) to one file."""
        atomic_io.torch_save(path, self.state_dict())

    @classmethod
    def load(cls, path: str | Path, env: gym.Env | VecEnv | None = None, device: str = "cpu") -> HierarchicalDDPG:
        """Load an agent saved with ``save``; ``env`` must be the same search problem it was trained on."""
        saved = atomic_io.read_torch(path, "saved agent", weights_only=False, map_location=device)
        if not isinstance(saved, dict) or saved.get("format") != _FORMAT:
            raise ValueError(f"'{path}' is not a HierarchicalDDPG file (no '{_FORMAT}' header)")
        return cls.from_state_dict(saved, env, device)

    @classmethod
    def from_state_dict(cls, saved: dict[str, Any], env: gym.Env | VecEnv | None = None,
                        device: str = "cpu") -> HierarchicalDDPG:
        """An agent from ``state_dict``'s output; ``env`` must be the search problem it was trained on."""
        config = {**CONFIG_BEFORE_OPTIONS, **saved["config"]}  # files saved before an option existed
        agent = cls(None, seed=saved["seed"], device=device, **config)
        agent.env_signature = saved["env_signature"]
        if env is not None:
            agent.set_env(env)
        agent.hlc.load_state_dict(saved["hlc"])
        agent.llc.load_state_dict(saved["llc"])
        if "baseline" in saved:
            agent.baseline.set_state(saved["baseline"])
        agent.num_timesteps, agent.num_episodes = saved["num_timesteps"], saved["num_episodes"]
        agent._best.config, agent._best.metrics = saved["best_config"], saved["best_metrics"]
        return agent


# What the agent did before each of these hyper-parameters existed (per-step shaped rewards, absolute
# LLC actions with a noise draw per kernel of the HLC's width, no clipping, uniform warm-up, a critic per
# transition): the values a file or a run record without them stands for.
CONFIG_BEFORE_OPTIONS = {"credit_assignment": "shaped", "moving_alpha": 0.5, "reward_clip": None,
                         "subtract_baseline": True, "reward_transform": "none", "elite_episodes": 0,
                         "elite_margin_pts": 0.0, "imitation_alpha": 2.5, "imitation_anneal": False,
                         "actor_lr_anneal": False, "warmup_actions": "uniform", "hlc_critic": "transition",
                         "llc_action": "absolute", "llc_offset_range": 1.0, "llc_noise": "kernel",
                         "llc_noise_scale": 1.0}
