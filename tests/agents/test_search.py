"""Search baselines: budgets, best configurations, reproducibility, the greedy path, bad input."""

from __future__ import annotations

import csv
import io

import gymnasium as gym
import numpy as np
import pytest

from agents.search import (
    HISTORY_FIELDS,
    GreedySensitivitySearch,
    RandomSearch,
    UniformSearch,
    _centred_exponents,
    _GreedyPath,
    activation_loss_increase_estimate,
    make_search,
)
from tests.conftest import SMALL_SEARCH_SAMPLES


@pytest.fixture(scope="module")
def greedy(small_env) -> GreedySensitivitySearch:
    return GreedySensitivitySearch(small_env)


@pytest.fixture(scope="module")
def resource_env() -> gym.Env:
    return gym.make("AutoQ-ResNet-v0", search_samples=SMALL_SEARCH_SAMPLES, mode="resource", budget=0.6)


def uniform_b_max_reward(env: gym.Env) -> float:
    core = env.unwrapped
    return core.evaluate(core.uniform_config(core.b_max))["reward_objective"]


def test_uniform_search_spends_one_evaluation(small_env) -> None:
    result = UniformSearch(small_env, 4, 6).search(budget=5)
    assert len(result.history) == 1
    assert result.best_config == small_env.unwrapped.uniform_config(4, 6)
    assert result.best_metrics["evaluation"] == 1


def test_random_search_respects_the_budget_and_keeps_the_best(small_env) -> None:
    search = RandomSearch(small_env)
    result = search.search(budget=4, seed=0)
    assert [row["evaluation"] for row in result.history] == [1, 2, 3, 4]
    rewards = [row["reward"] for row in result.history]
    assert result.best_metrics["reward_objective"] == max(rewards)
    assert result.best_config == result.best_metrics["config"]
    assert [row["best_reward"] for row in result.history] == np.maximum.accumulate(rewards).tolist()
    assert search.best_config == result.best_config and search.history == result.history


def test_random_search_is_reproducible(small_env) -> None:
    first = RandomSearch(small_env).search(budget=2, seed=5)
    again = RandomSearch(small_env).search(budget=2, seed=5)
    other = RandomSearch(small_env).search(budget=2, seed=6)
    assert first.best_config == again.best_config
    assert [row["reward"] for row in first.history] == [row["reward"] for row in again.history]
    assert first.best_config != other.best_config


def test_history_rows_write_as_csv(small_env) -> None:
    result = RandomSearch(small_env).search(budget=2, seed=0)
    assert all(tuple(row) == HISTORY_FIELDS for row in result.history)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_FIELDS)
    writer.writeheader()
    writer.writerows(result.history)
    assert len(buffer.getvalue().splitlines()) == 3


def test_callback_can_stop_a_search(small_env) -> None:
    seen = []
    result = RandomSearch(small_env).search(budget=5, seed=0, callback=lambda metrics: seen.append(metrics) or False)
    assert len(result.history) == len(seen) == 1
    assert seen[0]["evaluation"] == 1 and seen[0]["config"] == result.best_config  # the evaluation's metrics
    assert seen[0]["reward_objective"] == result.history[0]["reward"]


def test_activation_estimate_grows_as_bits_fall(greedy) -> None:
    core = greedy.core
    assert greedy.activation_loss.shape == (core.num_layers, core.b_max - core.b_min + 1)
    assert np.all(greedy.activation_loss >= 0)
    # from b_max down to b_min the estimate rises by orders of magnitude in every layer
    assert np.all(greedy.activation_loss[:, 0] > 10 * greedy.activation_loss[:, -1])


def test_activation_estimate_averages_over_batches(small_env) -> None:
    problem = small_env.unwrapped.problem
    evaluator = problem.evaluator
    images, labels = problem.search_batches[0]
    images = [(images[:100], labels[:100])]
    once = activation_loss_increase_estimate(evaluator, images)
    twice = activation_loss_increase_estimate(evaluator, images * 2)
    np.testing.assert_allclose(once, twice, rtol=1e-6)  # an average over batches, not a sum


def test_greedy_sweeps_from_b_max_to_cheaper_configurations(small_env, greedy) -> None:
    core = small_env.unwrapped
    result = greedy.search(budget=6)
    history = result.history
    assert 1 < len(history) <= 6
    assert result.best_metrics["evaluation"] >= 1
    first = core.evaluate(core.uniform_config(core.b_max))
    assert history[0]["reward"] == first["reward_objective"] and history[0]["mean_weight_qbn"] == core.b_max
    assert result.best_metrics["reward_objective"] >= uniform_b_max_reward(small_env)
    for key in ("mean_weight_qbn", "mean_activation_qbn"):
        values = [row[key] for row in history]
        assert values == sorted(values, reverse=True)  # QBNs only ever go down along the path
    assert history[-1]["latency_rel"] < history[0]["latency_rel"] and history[-1]["energy_rel"] < 1


def test_greedy_is_deterministic(greedy) -> None:
    assert [row["reward"] for row in greedy.search(budget=3, seed=0).history] == \
        [row["reward"] for row in greedy.search(budget=3, seed=1).history]


@pytest.mark.parametrize("method", ["random", "greedy"])
def test_a_resumed_search_replays_its_evaluations_and_goes_on_as_before(small_env, greedy, method) -> None:
    make = (lambda: greedy) if method == "greedy" else (lambda: RandomSearch(small_env))
    whole = make().search(budget=4, seed=3)
    first = make()
    first.search(budget=4, seed=3, callback=lambda metrics: metrics["evaluation"] < 2)  # stopped after 2
    evaluated, replayed = [], make()
    resumed = replayed.search(budget=4, seed=3, replay=first.evaluations, callback=evaluated.append)
    assert [m["evaluation"] for m in evaluated] == [3, 4]  # only the new ones are evaluated and reported
    assert resumed.best_config == whole.best_config
    strip = [{k: v for k, v in row.items() if k != "wall_time_s"} for row in whole.history]
    assert [{k: v for k, v in row.items() if k != "wall_time_s"} for row in resumed.history] == strip


def test_a_replay_that_is_not_this_search_is_refused(small_env) -> None:
    done = RandomSearch(small_env)
    done.search(budget=2, seed=3)
    with pytest.raises(ValueError, match="evaluation 1 to replay is not the configuration this search proposes"):
        RandomSearch(small_env).search(budget=3, seed=4, replay=done.evaluations)
    with pytest.raises(ValueError, match="2 evaluations to replay exceed the budget of 1"):
        RandomSearch(small_env).search(budget=1, seed=3, replay=done.evaluations)


def test_greedy_meets_the_budget_in_resource_mode(resource_env) -> None:
    result = GreedySensitivitySearch(resource_env).search(budget=3)
    assert len(result.history) == 3
    assert all(row["budget_met"] for row in result.history)
    assert result.best_metrics["budget_met"]
    assert all(row["latency_rel"] <= 0.6 + 1e-9 for row in result.history)


def test_greedy_tries_finer_scales_when_the_grid_repeats_configurations(resource_env) -> None:
    """Resource mode: scales close together (range 1.02) give 15 grid points fewer distinct paths; the
    midpoints between them add more, never one twice, the grid's own first and in the same order."""
    search = GreedySensitivitySearch(resource_env, activation_scale_range=1.02)
    grid_configs = []
    for exponent in next(_centred_exponents(15)):
        path = _GreedyPath(search, activation_scale=1.02 ** exponent)
        if path.descend_within_budget() and path.config() not in grid_configs:
            grid_configs.append(path.config())
    assert len(grid_configs) < 15  # the case this test is about
    proposals = search.proposals(15)
    assert proposals[:len(grid_configs)] == grid_configs
    assert len(grid_configs) < len(proposals) <= 15
    assert all(proposals.count(config) == 1 for config in proposals)


def test_greedy_stops_when_finer_scales_find_nothing_new(resource_env) -> None:
    """With every scale 1 every path is the same: one configuration, and the search ends (no endless refining)."""
    assert len(GreedySensitivitySearch(resource_env, activation_scale_range=1.0).proposals(5)) == 1


def test_centred_exponents_go_from_0_outwards_then_midpoints() -> None:
    levels = _centred_exponents(5)
    np.testing.assert_allclose(next(levels), [0.0, -0.5, 0.5, -1.0, 1.0])
    np.testing.assert_allclose(next(levels), [-0.25, 0.25, -0.75, 0.75])
    assert len(next(levels)) == 8


def test_random_search_lowers_its_draws_to_the_budget_like_the_env(resource_env) -> None:
    """Resource mode: each random draw goes through the env's budget caps, so every evaluation is a valid
    candidate (as every RL episode is) and the best is the best of all of them."""
    search = RandomSearch(resource_env)
    proposals = search.proposals(4, seed=0)
    assert all(resource_env.unwrapped.lower_to_budget(config) == config for config in proposals)
    result = search.search(budget=4, seed=0)
    assert all(row["budget_met"] for row in result.history)
    assert all(row["latency_rel"] <= 0.6 + 1e-9 for row in result.history)
    assert result.best_metrics["reward_objective"] == max(row["reward"] for row in result.history)


@pytest.mark.parametrize("budget", [0, -3, 1.5, True, "10", None])
def test_bad_budgets_raise(small_env, budget) -> None:
    with pytest.raises(ValueError, match="budget"):
        UniformSearch(small_env, 8).search(budget=budget)


def test_bad_arguments_raise(small_env) -> None:
    with pytest.raises(ValueError, match="unknown search method"):
        make_search("grid", small_env)
    with pytest.raises(ValueError, match="takes no argument weight_qbn"):
        make_search("random", small_env, weight_qbn=8)
    with pytest.raises(ValueError):
        UniformSearch(small_env, 9)
    with pytest.raises(ValueError, match="activation_scale_range"):
        GreedySensitivitySearch(small_env, activation_scale_range=0.5)
    with pytest.raises(TypeError, match="AutoQ"):
        RandomSearch(gym.make("CartPole-v1"))
    assert isinstance(make_search("uniform", small_env, weight_qbn=8), UniformSearch)
