"""The best-configuration bookkeeping every agent shares."""

from __future__ import annotations

from agents.recording import BestResult


def final_info(reward: float, budget_met: bool | None = None) -> dict:
    info = {"reward_objective": reward, "config": {"activation_qbn": [reward], "kernel_qbn": [[reward]]}}
    return info if budget_met is None else {**info, "budget_met": budget_met}


def test_best_is_the_highest_objective_and_a_configuration_within_the_budget_beats_any_over_it() -> None:
    best = BestResult()
    assert best.update(final_info(0.2), episode=1)  # accuracy mode: no budget_met key
    assert not best.update(final_info(0.1, budget_met=True), episode=2)
    assert not best.update(final_info(0.9, budget_met=False), episode=3)  # over the budget: never beats one within
    assert best.update(final_info(0.3, budget_met=True), episode=4)
    assert best.metrics["episode"] == 4 and best.config == final_info(0.3)["config"]
    over_first = BestResult()
    assert over_first.update(final_info(0.9, budget_met=False), episode=1)  # e.g. a uniform reference over budget
    assert over_first.update(final_info(0.95, budget_met=False), episode=2)  # among those over it, by objective
    assert over_first.update(final_info(-0.5, budget_met=True), episode=3)
    assert over_first.metrics["budget_met"] and over_first.metrics["episode"] == 3
