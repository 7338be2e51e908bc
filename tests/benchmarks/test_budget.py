"""``benchmarks.budget``: the extrapolation is arithmetic on measured figures; a measurement is real."""

from __future__ import annotations

import pytest

from benchmarks import budget


def test_extrapolation_of_known_figures() -> None:
    figures = {"a": {"setup_s": 10.0, "episode_s": 2.0, "evaluation_s": 1.5, "agent_s": 0.5, "test_evaluation_s": 4.0},
               "b": {"setup_s": 0.0, "episode_s": 1.0, "evaluation_s": 1.0, "agent_s": 0.0, "test_evaluation_s": 4.0}}
    plan = budget.extrapolate(figures, episodes=100, seeds=5, settings=2)
    assert plan["per_method_s"] == {"a": 10 * (10 + 200 + 4), "b": 10 * (100 + 4)}
    references = 2 * 4 * (1.5 + 4.0)  # per setting: 3 uniform references and the 8-bit test report
    assert plan["references_s"] == pytest.approx(references)
    assert plan["total_s"] == pytest.approx(2140 + 1040 + references)
    assert plan["search_evaluation_share"] == pytest.approx(10 * 100 * (1.5 + 1.0) / plan["total_s"])
    greedy = budget.extrapolate({"greedy": figures["b"]}, episodes=100, seeds=5, settings=2)
    assert greedy["per_method_s"] == {"greedy": 2 * (100 + 4)}  # deterministic: one seed per setting


@pytest.mark.parametrize("method", ["random", "ddpg-layer"])
def test_measure_splits_episodes_into_evaluation_and_the_rest(small_env, method) -> None:
    log: list[tuple[str, float, int]] = []
    with budget.timed_measurements(log):
        figures = budget.measure(method, small_env, episodes=2, log=log)
    assert figures["evaluation_s"] > 0 and figures["episode_s"] >= figures["evaluation_s"] * 0.9
    assert 1 <= figures["images_mean"] <= small_env.unwrapped.problem.search_batches[0][0].shape[0] * len(
        small_env.unwrapped.problem.search_batches)
    assert sum(budget.image_histogram(budget.np.array(figures["images"])).values()) == len(figures["images"])
    assert figures["agent_s"] == pytest.approx(figures["episode_s"] - figures["evaluation_s"])
    assert figures["test_evaluation_s"] > 0
