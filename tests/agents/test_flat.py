"""Flat DDPG constructors: HAQ defaults, overrides, separate learning rates, a short learn, save/load."""

from __future__ import annotations

import gymnasium as gym
import pytest
from stable_baselines3 import DDPG
from stable_baselines3.common.type_aliases import TrainFrequencyUnit
from torch import nn

from agents.flat import FlatDDPG, kernelwise_ddpg, layerwise_ddpg, load_hyperparams, make_flat_ddpg
from agents.noise import DecayingTruncatedNormalNoise
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
    assert (noise.sigma, noise.decay, noise.warmup_resets) == (0.5, 0.99, 20)


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
    model.learn(3 * 22)
    assert model._n_updates == 2 * 22  # one gradient step per transition, after the warm-up episode
    assert learning_rates(model) == ({1e-4}, {1e-3})  # SB3's train() did not overwrite the critic's rate
    assert model.action_noise.num_resets == 3  # episode ends only, not learn()'s own reset
    assert model.action_noise.sigma == pytest.approx(0.5 * 0.99 ** 2)
    model.save(tmp_path / "flat.zip")
    loaded = FlatDDPG.load(tmp_path / "flat.zip")
    assert loaded.qf_learning_rate == 1e-3 and learning_rates(loaded) == ({1e-4}, {1e-3})


def test_kernelwise_learns_one_episode() -> None:
    model = kernelwise_ddpg(gym.make("AutoQ-ResNet-v0", search_samples=SMALL_SEARCH_SAMPLES), warmup_episodes=0,
                            gradient_steps=16, seed=0)
    model.learn(794)
    assert model._episode_num == 1 and model._n_updates == 16
