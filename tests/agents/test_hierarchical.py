"""HierarchicalDDPG: learning, routing, hindsight relabelling, intrinsic reward, save/load."""

from __future__ import annotations

import numpy as np
import pytest
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import configure

from agents.hierarchical import HierarchicalDDPG, intrinsic_reward, relabel_goal
from autoq_env.env import FEATURE_INDEX, AutoQEnv

SMALL = dict(warmup_episodes=1, hlc_gradient_steps=4, llc_gradient_steps=8, batch_size=16)


@pytest.fixture(scope="module")
def small_env() -> AutoQEnv:
    return AutoQEnv(search_samples=200)


def test_intrinsic_reward_measures_distance_to_goal() -> None:
    assert intrinsic_reward(5.0, 5.0, 2, 8) == 0.0
    assert intrinsic_reward(4.0, 5.5, 2, 8) == pytest.approx(-1.5 / 6)
    assert intrinsic_reward(2.0, 8.0, 2, 8) == -1.0


def test_hindsight_relabel_sets_goal_to_achieved_mean() -> None:
    action = np.array([0.3, 0.9], dtype=np.float32)
    relabelled = relabel_goal(action, 5.0, 2, 8)
    assert relabelled[0] == pytest.approx(0.3) and relabelled[1] == pytest.approx(0.0)  # 5 is the middle of 2..8
    assert action[1] == pytest.approx(0.9)  # the original is untouched
    assert relabel_goal(action, 2.0, 2, 8)[1] == pytest.approx(-1.0)


class _Counter(BaseCallback):
    def _on_step(self) -> bool:
        return True


def test_learn_logs_episodes_and_tracks_best(small_env, tmp_path) -> None:
    agent = HierarchicalDDPG(small_env, seed=0, **SMALL)
    agent.set_logger(configure(str(tmp_path), ["csv"]))
    counter = _Counter()
    agent.learn(total_episodes=3, callback=counter, progress_bar=True)
    assert agent.num_episodes == 3 and counter.n_calls == 3 * small_env.steps_per_episode
    assert len(agent.episode_log) == 3 and agent.episode_log[0]["warmup"] and not agent.episode_log[-1]["warmup"]
    assert agent.best_metrics["reward_objective"] == max(row["reward"] for row in agent.episode_log)
    assert small_env.evaluate(agent.best_config)["reward_objective"] == pytest.approx(
        agent.best_metrics["reward_objective"])
    csv = (tmp_path / "progress.csv").read_text()
    assert "episode/accuracy" in csv and "episode/mean_weight_qbn" in csv
    assert agent.hlc.replay_buffer.size() == 3 * len(small_env.specs)
    assert agent.llc.replay_buffer.size() == 3 * sum(small_env.problem.num_kernels)


def test_hindsight_flag_changes_stored_goals(small_env) -> None:
    stored, configs = {}, {}
    for relabel in (True, False):
        agent = HierarchicalDDPG(small_env, seed=1, hindsight_relabel=relabel, **SMALL)
        agent.learn(total_episodes=1)
        stored[relabel] = agent.hlc.replay_buffer.actions[:len(small_env.specs), 0].copy()
        configs[relabel] = agent.best_config
    assert configs[True] == configs[False]  # same seed, same warm-up actions
    achieved = np.array([np.mean(layer) for layer in configs[True]["kernel_qbn"]])
    np.testing.assert_allclose(stored[True][:, 1], 2 * (achieved - 2) / 6 - 1, atol=1e-6)
    np.testing.assert_array_equal(stored[True][:, 0], stored[False][:, 0])  # activation part unchanged
    assert not np.allclose(stored[True][:, 1], stored[False][:, 1])


def test_predict_routes_by_step_kind(small_env) -> None:
    agent = HierarchicalDDPG(small_env, seed=0, **SMALL)
    observation, _ = small_env.reset(seed=0)
    layer_action, state = agent.predict(observation)
    assert layer_action.shape == (2,) and state is None
    kernel_observation, *_ = small_env.step(layer_action)
    assert kernel_observation[FEATURE_INDEX["is_layer_step"]] == 0.0
    kernel_action, _ = agent.predict(kernel_observation)
    assert kernel_action[1] == 0.0
    batch, _ = agent.predict(np.stack([observation, kernel_observation]))
    np.testing.assert_array_equal(batch, np.stack([layer_action, kernel_action]))


def test_save_load_round_trip_gives_identical_predictions(small_env, tmp_path) -> None:
    agent = HierarchicalDDPG(small_env, seed=0, **SMALL).learn(total_episodes=2)
    agent.save(tmp_path / "agent.pt")
    loaded = HierarchicalDDPG.load(tmp_path / "agent.pt", env=small_env)
    observations = []
    observation, _ = small_env.reset(seed=0)
    for _ in range(40):
        observations.append(observation)
        observation, *_ = small_env.step(agent.predict(observation)[0])
    np.testing.assert_array_equal(agent.predict(np.stack(observations))[0], loaded.predict(np.stack(observations))[0])
    assert loaded.best_config == agent.best_config and loaded.num_episodes == 2


def test_bad_input_and_mismatched_or_corrupt_files(small_env, tmp_path) -> None:
    with pytest.raises(ValueError, match="zeta"):
        HierarchicalDDPG(small_env, zeta=1.5)
    with pytest.raises(ValueError, match="unknown HRL hyper-parameters"):
        HierarchicalDDPG(small_env, learning_rate=1e-3)
    agent = HierarchicalDDPG(small_env, seed=0, **SMALL)
    with pytest.raises(ValueError, match="positive integer"):
        agent.learn(total_episodes=0)
    with pytest.raises(ValueError, match="exactly one"):
        agent.learn()
    agent.save(tmp_path / "agent.pt")
    with pytest.raises(ValueError, match="accelerator: saved 'temporal' vs env 'spatial'"):
        HierarchicalDDPG.load(tmp_path / "agent.pt", env=AutoQEnv(search_samples=200, accelerator="spatial"))
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes((tmp_path / "agent.pt").read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated, corrupt"):
        HierarchicalDDPG.load(corrupt)
    assert (tmp_path / "agent.pt").stat().st_size > 1000  # the good file is untouched
