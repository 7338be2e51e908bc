"""Flat DDPG constructors: HAQ defaults, overrides, separate learning rates, a short learn, save/load."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3 import DDPG
from stable_baselines3.common.type_aliases import TrainFrequencyUnit
from torch import nn

from agents.flat import FlatDDPG, HaqReplayBuffer, kernelwise_ddpg, layerwise_ddpg, load_hyperparams, make_flat_ddpg
from agents.noise import DecayingTruncatedNormalNoise
from agents.recording import EpisodeRecorder
from autoq_env.wrappers import KernelWise, LayerWise
from tests.conftest import SMALL_SEARCH_SAMPLES


def learning_rates(model: DDPG) -> tuple[set[float], set[float]]:
    return ({group["lr"] for group in model.actor.optimizer.param_groups},
            {group["lr"] for group in model.critic.optimizer.param_groups})


def layer_widths(module: nn.Module) -> list[int]:
    return [layer.out_features for layer in module.modules() if isinstance(layer, nn.Linear)]


@pytest.mark.parametrize("constructor, wrapper, episode_length, gradient_steps", [
    (layerwise_ddpg, LayerWise, 22, -1), (kernelwise_ddpg, KernelWise, 794, 256)])
def test_haq_defaults(small_env, constructor, wrapper, episode_length, gradient_steps) -> None:
    model = constructor(small_env)
    assert isinstance(model, DDPG) and isinstance(model.get_env().envs[0].unwrapped, type(small_env.unwrapped))
    assert isinstance(model.get_env().envs[0].env, wrapper)
    assert learning_rates(model) == ({1e-4}, {1e-3})
    assert layer_widths(model.actor.mu) == [300, 300, 2]
    assert layer_widths(model.critic.qf0) == [300, 300, 1] and len(model.critic.q_networks) == 1
    assert (model.tau, model.gamma, model.batch_size) == (0.01, 1.0, 64)
    assert model.learning_starts == 20 * episode_length
    assert model.buffer_size == 128 * episode_length
    assert model.train_freq.frequency == 1 and model.train_freq.unit == TrainFrequencyUnit.EPISODE
    assert model.gradient_steps == gradient_steps
    noise = model.action_noise
    assert isinstance(noise, DecayingTruncatedNormalNoise)
    assert (noise.sigma, noise.decay, noise.warmup_resets, noise.truncation) == (1.0, 0.99, 20, "bounds")
    assert isinstance(model.replay_buffer, HaqReplayBuffer) and model.replay_buffer.baseline.alpha == 0.5


def test_overrides(small_env) -> None:
    model = layerwise_ddpg(small_env, learning_rate=3e-4, qf_learning_rate=2e-3, batch_size=16, warmup_episodes=2,
                           noise_sigma=0.3, policy_kwargs=dict(net_arch=[64, 64]), seed=1)
    assert learning_rates(model) == ({3e-4}, {2e-3})
    assert model.batch_size == 16 and model.learning_starts == 44
    assert model.action_noise.sigma == 0.3 and model.action_noise.warmup_resets == 2
    assert layer_widths(model.actor.mu) == [64, 64, 2]
    assert layerwise_ddpg(small_env, learning_starts=5).learning_starts == 5


@pytest.mark.parametrize("overrides, message", [
    (dict(learning_rat=1e-3), "unknown hyper-parameters"),
    (dict(warmup_episodes=2, learning_starts=10), "either"),
    (dict(qf_learning_rate=-1.0), "qf_learning_rate"),
])
def test_bad_overrides_raise(small_env, overrides, message) -> None:
    with pytest.raises(ValueError, match=message):
        layerwise_ddpg(small_env, **overrides)


def test_unknown_agent_names_raise(small_env) -> None:
    with pytest.raises(ValueError, match="unknown agent"):
        make_flat_ddpg("ddpg-layers", small_env)
    with pytest.raises(ValueError, match="unknown agent"):
        load_hyperparams("td3-layer")


def test_layerwise_learns_with_separate_rates_and_noise_decay(tmp_path) -> None:
    model = layerwise_ddpg(gym.make("AutoQ-ResNet-v0", search_samples=SMALL_SEARCH_SAMPLES), warmup_episodes=1,
                           seed=0)
    recorder = EpisodeRecorder()
    model.learn(3 * 22, callback=recorder)
    assert model._n_updates == 2 * 22  # one gradient step per transition, after the warm-up episode
    buffer = model.replay_buffer  # HAQ: each episode's transitions carry its final reward
    finals = [row["reward"] for row in recorder.rows]
    np.testing.assert_array_equal(buffer.rewards[:66, 0], np.repeat(np.float32(finals), 22))
    assert buffer.dones[:66, 0].tolist() == ([0.0] * 21 + [1.0]) * 3  # terminal as the env says: last step only
    assert buffer.baseline.value is not None
    assert learning_rates(model) == ({1e-4}, {1e-3})  # SB3's train() did not overwrite the critic's rate
    assert model.action_noise.num_resets == 3  # episode ends only, not learn()'s own reset
    assert model.action_noise.sigma == pytest.approx(1.0 * 0.99 ** 2)
    model.save(tmp_path / "flat.zip")
    loaded = FlatDDPG.load(tmp_path / "flat.zip")
    assert loaded.qf_learning_rate == 1e-3 and learning_rates(loaded) == ({1e-4}, {1e-3})


def test_kernelwise_learns_one_episode() -> None:
    model = kernelwise_ddpg(gym.make("AutoQ-ResNet-v0", search_samples=SMALL_SEARCH_SAMPLES), warmup_episodes=0,
                            gradient_steps=16, seed=0)
    model.learn(794)
    assert model._episode_num == 1 and model._n_updates == 16


def _haq_buffer(size: int) -> HaqReplayBuffer:
    return HaqReplayBuffer(size, spaces.Box(-1, 1, (3,), np.float32), spaces.Box(-1, 1, (1,), np.float32))


def _add_episode(buffer: HaqReplayBuffer, shaped: list[float], final: float) -> None:
    for step, reward in enumerate(shaped):
        done = step == len(shaped) - 1
        buffer.add(np.full((1, 3), step, np.float32), np.full((1, 3), step + 1, np.float32), np.zeros((1, 1)),
                   np.array([reward]), np.array([done]), [{"reward_objective": final} if done else {}])


def test_haq_buffer_relabels_a_finished_episode_with_its_final_reward_across_the_ring_end() -> None:
    buffer = _haq_buffer(5)
    _add_episode(buffer, [0.1, 0.2, -3.0], final=-2.5)
    np.testing.assert_array_equal(buffer.rewards[:3, 0], [-2.5] * 3)
    _add_episode(buffer, [0.3, 0.4], final=0.25)  # an unfinished episode keeps its shaped rewards until its end
    buffer.add(np.zeros((1, 3)), np.zeros((1, 3)), np.zeros((1, 1)), np.array([0.7]), np.array([False]), [{}])
    assert buffer.rewards[0, 0] == pytest.approx(0.7) and buffer.pos == 1 and buffer.full  # wrapped
    _add_episode(buffer, [0.5], final=0.75)
    np.testing.assert_array_equal(buffer.rewards[:, 0], np.float32([0.75, 0.75, -2.5, 0.25, 0.25]))
    assert buffer.episode_start == buffer.pos == 2


def test_haq_buffer_subtracts_a_moving_average_of_minibatch_means() -> None:
    buffer = _haq_buffer(4)
    _add_episode(buffer, [0, 0], final=1.0)
    _add_episode(buffer, [0, 0], final=3.0)
    th.manual_seed(0)
    np.random.seed(0)
    first = buffer.sample(8)
    raw = first.rewards + buffer.baseline.value  # the first baseline is the first minibatch's mean
    assert buffer.baseline.value == pytest.approx(float(raw.mean()))
    second = buffer.sample(8)
    raw2 = second.rewards + buffer.baseline.value
    assert buffer.baseline.value == pytest.approx(float(raw.mean()) + 0.5 * (float(raw2.mean()) - float(raw.mean())))
    assert set(np.unique(raw2.numpy().round(6))) <= {1.0, 3.0}
    state = buffer.get_extra_state()
    other = _haq_buffer(4)
    other.set_extra_state(state)
    assert other.baseline.value == buffer.baseline.value and other.episode_start == buffer.episode_start


def test_flat_ddpg_explores_within_the_bounds_after_warmup_only(small_env) -> None:
    model = layerwise_ddpg(small_env, warmup_episodes=1, seed=0)
    model._setup_learn(44)
    model.num_timesteps = 0
    warm, _ = model._sample_action(model.learning_starts, model.action_noise)
    model.num_timesteps = model.learning_starts
    deterministic, _ = model.predict(model._last_obs, deterministic=True)
    explored = np.stack([model._sample_action(model.learning_starts, model.action_noise)[1] for _ in range(200)])
    assert np.all(np.abs(explored) <= 1) and np.all(np.abs(warm) <= 1)
    assert explored.std(axis=0).min() > 0.2  # sigma 1.0 on [-1, 1], truncated to the bounds
    assert np.abs(explored.mean(axis=0) - deterministic).max() < 0.5
