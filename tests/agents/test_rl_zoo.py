"""rl-zoo3's -conf files: values taken from ddpg.yml, episode sizes converted with the real episode lengths."""

from __future__ import annotations

import gymnasium as gym
import pytest

from agents.hyperparams import load_hyperparams
from agents.hyperparams.rl_zoo import ALGORITHMS, ENV_AGENTS, NOT_EXPRESSIBLE, TRAINING_EPISODES, zoo_hyperparams
from tests.conftest import SMALL_SEARCH_SAMPLES


@pytest.fixture(scope="module")
def episode_lengths() -> dict[str, int]:
    """Steps per episode of each flat id, from the wrappers themselves."""
    return {env_id: gym.make(env_id, search_samples=SMALL_SEARCH_SAMPLES).get_wrapper_attr("steps_per_episode")
            for env_id in ENV_AGENTS}


@pytest.mark.parametrize("algo", ALGORITHMS)
def test_values_come_from_ddpg_yml(algo, episode_lengths) -> None:
    hyperparams = zoo_hyperparams(algo)
    assert set(hyperparams) == set(ENV_AGENTS)
    for env_id, agent in ENV_AGENTS.items():
        entry, source, length = hyperparams[env_id], load_hyperparams(agent), episode_lengths[env_id]
        assert entry["n_timesteps"] == TRAINING_EPISODES * length
        for key in ("policy", "learning_rate", "gamma", "batch_size"):
            assert entry[key] == source[key]
        assert entry["policy_kwargs"]["net_arch"]["pi"] == source["policy_kwargs"]["net_arch"]["pi"]
        assert not set(NOT_EXPRESSIBLE) & set(entry)
        if algo == "ppo":
            assert entry["policy_kwargs"]["net_arch"]["vf"] == source["policy_kwargs"]["net_arch"]["qf"]
            assert entry["n_steps"] % entry["batch_size"] == 0 and entry["n_steps"] >= length
            continue
        assert entry["learning_starts"] == source["warmup_episodes"] * length
        assert entry["buffer_size"] == source["buffer_episodes"] * length
        for key in ("tau", "train_freq", "gradient_steps"):
            assert entry[key] == source[key]
        assert ("noise_std" in entry) == (algo in ("ddpg", "td3"))
        if "noise_std" in entry:
            assert entry["noise_type"] == "normal" and entry["noise_std"] == source["noise_sigma"]


def test_unknown_algorithm_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown algorithm 'a2c'"):
        zoo_hyperparams("a2c")
