"""Shared fixtures: real data, the real shipped model, small budgets."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import autoq_env  # noqa: F401  (registers AutoQ-ResNet-v0)
from autoq_env.env import AutoQEnv

SMALL_SEARCH_SAMPLES = 200  # a small search split: fast episodes for agent and wrapper tests


@pytest.fixture(scope="session")
def env() -> AutoQEnv:
    """The default env (ResNet-20, Fashion-MNIST, temporal accelerator); built once per session."""
    return AutoQEnv()


@pytest.fixture(scope="session")
def small_env() -> gym.Env:
    """``gym.make("AutoQ-ResNet-v0", search_samples=200)``, built once per session (tests reset it)."""
    return gym.make("AutoQ-ResNet-v0", search_samples=SMALL_SEARCH_SAMPLES)


def run_episode(env, actions: np.ndarray | None = None, seed: int = 0):
    """Play one episode with ``actions`` (rows of 2 values, cycled) or seeded random actions.

    :return: observations, rewards and the final info.
    """
    rng = np.random.default_rng(seed)
    observation, _ = env.reset(seed=seed)
    observations, rewards, terminated, step, info = [observation], [], False, 0, {}
    while not terminated:
        action = actions[step % len(actions)] if actions is not None else rng.uniform(-1, 1, 2).astype(np.float32)
        observation, reward, terminated, truncated, info = env.step(action)
        assert not truncated
        observations.append(observation)
        rewards.append(reward)
        step += 1
    return np.array(observations), np.array(rewards), info
