"""The additive HLC critic: its episode store, its update on a known additive return, and exact resumption."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch as th

from agents.checkpoint import global_rng_states, set_global_rng_states
from agents.hierarchical import HierarchicalDDPG
from agents.hierarchical.additive import EpisodeReturns
from agents.hierarchical.policies import HLC_FEATURES, Controller
from autoq_env.env import AutoQEnv

SMALL = dict(warmup_episodes=1, hlc_gradient_steps=4, llc_gradient_steps=8, batch_size=16)


def test_the_store_keeps_the_last_episodes_and_round_trips() -> None:
    store = EpisodeReturns(capacity=2, steps=3, feature_dim=4, action_dim=2)
    episodes = [(np.full((3, 4), k, np.float32), np.full((3, 2), -k, np.float32), float(k)) for k in range(3)]
    for episode in episodes:
        store.add(*episode)
    assert len(store) == 2 and sorted(store.returns.tolist()) == [1.0, 2.0]  # episode 0 overwritten
    copy = EpisodeReturns(capacity=2, steps=3, feature_dim=4, action_dim=2)
    copy.set_state(store.get_state())
    for name in ("features", "actions", "returns"):
        np.testing.assert_array_equal(getattr(copy, name), getattr(store, name))
    assert (copy.pos, copy.full) == (store.pos, store.full)
    with pytest.raises(ValueError, match="does not fit"):
        store.add(np.zeros((2, 4), np.float32), np.zeros((2, 2), np.float32), 0.0)
    with pytest.raises(ValueError, match="does not fit"):
        EpisodeReturns(capacity=3, steps=3, feature_dim=4, action_dim=2).set_state(store.get_state())


def test_the_additive_update_credits_each_layer_with_its_own_share() -> None:
    """Return = a_0 - a_1 (layer 2 does not matter), one return per episode: the critic's terms must give
    each layer its own slope (+2, -2, 0 between actions +1 and -1), and the actor must raise layer 0's
    action and lower layer 1's."""
    th.manual_seed(0)  # the networks' initial weights
    steps, rng = 3, np.random.default_rng(0)
    controller = Controller(HLC_FEATURES, 2, net_arch=[64, 64], actor_lr=1e-4, critic_lr=1e-3, buffer_size=10,
                            noise_sigma=0.1, noise_decay=1.0, noise_min_sigma=0.0, seed=0)
    features = np.zeros((steps, len(HLC_FEATURES)), np.float32)
    features[:, 0] = np.linspace(-1, 1, steps)  # the layer's identity in its first feature
    store = EpisodeReturns(capacity=200, steps=steps, feature_dim=len(HLC_FEATURES), action_dim=2)
    for _ in range(200):
        actions = rng.uniform(-1, 1, (steps, 2)).astype(np.float32)
        store.add(features, actions, float(actions[0, 1] - actions[1, 1]))
    before = np.stack([controller.act(f) for f in features])
    losses = controller.train_additive(store, gradient_steps=500, batch_size=32)
    after = np.stack([controller.act(f) for f in features])
    critic, layers = controller.policy.critic.q_networks[0], th.as_tensor(features)
    with th.no_grad():
        high, low = (critic(th.cat([layers, th.tensor([[0.0, a]] * steps)], dim=1)).squeeze(1) for a in (1.0, -1.0))
    np.testing.assert_allclose((high - low).numpy(), [2.0, -2.0, 0.0], atol=0.3)
    assert losses["critic_loss"] < 0.2 and np.isfinite(losses["actor_loss"])
    assert after[0, 1] > before[0, 1] + 0.3 and after[1, 1] < before[1, 1] - 0.3


def test_an_additive_agent_resumes_exactly_from_its_state() -> None:
    env = AutoQEnv(search_samples=200)
    agent = HierarchicalDDPG(env, seed=3, hlc_critic="additive", **SMALL)
    agent.learn(total_episodes=2)
    # what a checkpoint holds (agents.runner): the agent, its training state, the global and the env's generators
    saved, training, rngs = copy.deepcopy((agent.state_dict(), agent.training_state(), global_rng_states()))
    env_rng = env.np_random.bit_generator.state
    assert len(agent._hlc_episodes) == 2
    agent.learn(total_episodes=1)
    resumed = HierarchicalDDPG.from_state_dict(saved, env)
    resumed.set_training_state(training)
    env.np_random.bit_generator.state = env_rng
    set_global_rng_states(rngs)
    resumed.learn(total_episodes=1)
    assert resumed.episode_log[-1]["reward"] == agent.episode_log[-1]["reward"]
    np.testing.assert_array_equal(resumed._hlc_episodes.returns, agent._hlc_episodes.returns)
    assert "hlc_critic_loss" in agent.episode_log[-1]
    with pytest.raises(ValueError, match="hlc_critic"):
        HierarchicalDDPG(env, hlc_critic="additive", credit_assignment="split")
