"""Flat views of ``AutoQEnv`` for single-agent RL: one step per layer, or one step per kernel.

``AutoQEnv`` interleaves layer steps and kernel steps (GUIDE section 4), which a hierarchical agent
splits between its two controllers. A flat agent (any stable-baselines3 algorithm) sees one kind of
step only, through one of these wrappers:

* ``LayerWise``: one step per layer, every kernel of the layer at the same QBN (HAQ's layer-wise
  search space): 22 steps per ResNet-20 episode;
* ``KernelWise``: one step per kernel, the layer step folded into the layer's first kernel step:
  794 steps per ResNet-20 episode.

Both keep the core's reward: a wrapper step pays the sum of the core rewards of the core steps it
made, so an episode's rewards still sum to the episode objective ``info["reward_objective"]``.

Both are registered, for tools that take an env id (``make_vec_env``, rl-zoo3, ``gym.make_vec``), with
the keywords of ``AutoQ-ResNet-v0``::

    gym.make("AutoQ-ResNet-LayerWise-v0", search_samples=1000)   # LayerWise(gym.make("AutoQ-ResNet-v0", ...))
    gym.make("AutoQ-ResNet-KernelWise-v0", accelerator="spatial")
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from autoq_env.env import FEATURE_INDEX, AutoQEnv

_IS_LAYER_STEP = FEATURE_INDEX["is_layer_step"]


class _FlatAutoQ(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """What both flat wrappers share: the spaces, the core env and a run of core steps.

    ``RecordConstructorArgs`` lets ``env.spec`` name the wrapper, so that ``gym.make(env.spec)``
    (and Gymnasium's env checker) can rebuild the wrapped env.
    """

    def __init__(self, env: gym.Env) -> None:
        if not isinstance(env.unwrapped, AutoQEnv):
            raise TypeError(f"{type(self).__name__} wraps an AutoQEnv (e.g. gym.make('AutoQ-ResNet-v0')), "
                            f"got {env.unwrapped!r}")
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        self.core: AutoQEnv = env.unwrapped
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.observation_space = env.observation_space
        self._observation: np.ndarray | None = None  # the core's latest observation

    @property
    def steps_per_episode(self) -> int:
        """Wrapper steps in one episode."""
        raise NotImplementedError

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        self._observation, info = self.env.reset(seed=seed, options=options)
        return self._observation, info

    def _core_steps(self, first_action: np.ndarray, then_action: np.ndarray | None = None,
                    ) -> tuple[np.ndarray, float, bool, bool, dict]:
        """One core step with ``first_action``, then core steps with ``then_action`` for as long as the
        core asks for kernel steps (``None``: no more steps).

        :return: the core's last observation, the sum of the core rewards, and the last
            ``terminated``, ``truncated`` and ``info``.
        """
        observation, total_reward, terminated, truncated, info = self.env.step(first_action)
        while then_action is not None and not (terminated or truncated) and observation[_IS_LAYER_STEP] == 0:
            observation, reward, terminated, truncated, info = self.env.step(then_action)
            total_reward += reward
        self._observation = observation
        return observation, float(total_reward), terminated, truncated, info

    def _check_action(self, action: Any) -> np.ndarray:
        """The action as float64 clipped to ``[-1, 1]``; a wrong shape or non-finite values raise ``ValueError``."""
        if self._observation is None:
            raise RuntimeError(f"call reset() before the first step() of {type(self).__name__}")
        return self.core.check_action(action)  # the core's own check, so that both give the same errors


class LayerWise(_FlatAutoQ):
    """One step per layer: the layer's activation QBN and one weight QBN for all of its kernels.

    The layer-wise search space of HAQ (Wang et al., CVPR 2019), as a baseline for kernel-wise search.

    ## Action Space

    ``Box(-1, 1, (2,), float32)``: ``action[0]`` sets the layer's activation QBN and ``action[1]`` the
    weight QBN of every kernel of the layer, both mapped to QBNs as in ``AutoQEnv`` (equal-width bins
    over ``[b_min, b_max]``; in ``mode="resource"`` the core may lower a QBN to its budget cap).

    ## Observation Space

    The core's observation ``Box(-1, 1, (29,), float32)`` (``autoq_env.env.OBSERVATION_FEATURES``), always
    that of a layer step (the next layer's), or the core's last observation when the episode ends.

    ## Rewards

    Each step makes the core's layer step (activation QBN, and goal = the weight QBN) and then one
    kernel step per kernel of the layer, all with the weight QBN, and pays the sum of their rewards:
    an episode's rewards sum to the episode objective ``info["reward_objective"]``.

    ## Episode End

    After the last layer (22 steps on ResNet-20). ``info`` is the core's ``info`` of the last core
    step: at the end it holds ``accuracy``, ``latency_rel``, ``energy_rel``, ``reward_objective``,
    ``config`` and the rest of ``AutoQEnv``'s final metrics.

    :param env: an ``AutoQEnv``, possibly wrapped (e.g. ``gym.make("AutoQ-ResNet-v0")``), at the start
        of an episode.

    Example::

        >>> import gymnasium as gym, autoq_env
        >>> from autoq_env.wrappers import LayerWise
        >>> env = LayerWise(gym.make("AutoQ-ResNet-v0"))
        >>> observation, info = env.reset(seed=0)
        >>> observation, reward, terminated, truncated, info = env.step(env.action_space.sample())
    """

    @property
    def steps_per_episode(self) -> int:
        """One step per layer."""
        return self.core.num_layers

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        action = self._check_action(action)
        activation_action, weight_action = action
        layer_action = np.array([activation_action, self._goal_action(self.core.action_to_qbn(weight_action))])
        return self._core_steps(layer_action, np.array([weight_action, 0.0]))

    def _goal_action(self, qbn: int) -> float:
        """The layer-step action whose goal is exactly ``qbn`` (the goal maps ``[-1, 1]`` linearly onto
        ``[b_min, b_max]``)."""
        core = self.core
        return 2.0 * (qbn - core.b_min) / (core.b_max - core.b_min) - 1.0 if core.b_max > core.b_min else 0.0


class KernelWise(_FlatAutoQ):
    """One step per kernel for a single flat agent; the layer step is folded into each layer's first kernel.

    ## Action Space

    ``Box(-1, 1, (2,), float32)``: ``action[0]`` sets the kernel's weight QBN; ``action[1]`` sets the
    layer's activation QBN and is read only at a layer's first kernel, where the wrapper first makes
    the core's layer step (activation from ``action[1]``, goal = ``action[0]``, the first kernel's
    action, an unused hint since no controller here reads goals) and then the kernel step.

    ## Observation Space

    The core's observation ``Box(-1, 1, (29,), float32)`` before the step: that of the kernel step
    for every kernel but a layer's first, where the layer step comes first and the observation is
    the core's layer-step observation (feature ``is_layer_step`` = 1, kernel features 0): it tells
    the agent that ``action[1]`` counts in this step.

    ## Rewards

    The sum of the core rewards of the core steps made (the layer step and/or the kernel step), so an
    episode's rewards sum to the episode objective ``info["reward_objective"]``.

    ## Episode End

    After the last kernel (794 steps on ResNet-20). ``info`` is the core's ``info`` of the kernel step;
    at the end it holds ``accuracy``, ``reward_objective``, ``config`` and the rest of the core's
    final metrics.

    :param env: an ``AutoQEnv``, possibly wrapped (e.g. ``gym.make("AutoQ-ResNet-v0")``), at the start
        of an episode.

    Example::

        >>> import gymnasium as gym, autoq_env
        >>> from autoq_env.wrappers import KernelWise
        >>> env = KernelWise(gym.make("AutoQ-ResNet-v0"))
        >>> observation, info = env.reset(seed=0)
        >>> observation, reward, terminated, truncated, info = env.step(env.action_space.sample())
    """

    @property
    def steps_per_episode(self) -> int:
        """One step per kernel."""
        return sum(self.core.problem.num_kernels)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        action = self._check_action(action)
        kernel_action, activation_action = action
        kernel_step = np.array([kernel_action, 0.0])
        if self._observation[_IS_LAYER_STEP] == 0:
            return self._core_steps(kernel_step)
        layer_result = self._core_steps(np.array([activation_action, kernel_action]))
        if layer_result[2] or layer_result[3]:  # a time limit may cut the episode at the layer step
            return layer_result
        observation, reward, terminated, truncated, info = self._core_steps(kernel_step)
        return observation, layer_result[1] + reward, terminated, truncated, info


def make_layerwise(**kwargs: Any) -> LayerWise:
    """``LayerWise(AutoQEnv(**kwargs))``: the entry point of ``AutoQ-ResNet-LayerWise-v0``."""
    return LayerWise(AutoQEnv(**kwargs))


def make_kernelwise(**kwargs: Any) -> KernelWise:
    """``KernelWise(AutoQEnv(**kwargs))``: the entry point of ``AutoQ-ResNet-KernelWise-v0``."""
    return KernelWise(AutoQEnv(**kwargs))


# gym.make reads an entry point's render modes (it applies HumanRendering for render_mode="human" and
# RenderCollection for "rgb_array_list" when the env itself does not offer them)
make_layerwise.metadata = make_kernelwise.metadata = AutoQEnv.metadata
