"""``benchmarks.paper``: every verdict rule on known intervals (the whole section, from run folders, is
tested with the synthetic benchmark in ``test_compare.py``)."""

from __future__ import annotations

import pytest

from benchmarks import paper
from benchmarks.stats import Summary

PAPER_LATENCY = paper.PAPER_COST_RATIO["latency_rel"]


def interval(low: float, high: float) -> Summary:
    return Summary(iqm=(low + high) / 2, ci=(low, high), n=5)


ONE_SEED = Summary(iqm=0.3, ci=None, n=1)


def test_the_paper_figures_are_the_abstract_s_percentages() -> None:
    assert paper.PAPER_COST_RATIO == pytest.approx({"latency_rel": 0.4594, "energy_rel": 0.4931})


@pytest.mark.parametrize(("figure", "low", "high", "where"), [
    (0.5, 0.4, 0.6, "inside"), (0.4, 0.4, 0.6, "inside"), (0.6, 0.4, 0.6, "inside"),
    (0.3, 0.4, 0.6, "below"), (0.7, 0.4, 0.6, "above")])
def test_position_of_a_figure_against_an_interval(figure, low, high, where) -> None:
    assert paper.position(interval(low, high), figure) == where
    assert paper.position(ONE_SEED, figure) == "no interval"


@pytest.mark.parametrize(("low", "high", "verdict"), [
    (0.40, 0.50, "agrees: the paper's 0.459 lies inside our interval"),
    (0.20, 0.40, "HRL cuts more than the paper says"),
    (0.60, 0.90, "HRL cuts less than the paper says (our interval lies between its 0.459 and 1)"),
    (0.80, 1.20, "HRL cuts less than the paper says: our interval includes 1, no cut at all"),
    (1.05, 1.30, "disagrees: HRL costs more than ddpg-layer, the opposite of the paper's claim"),
])
def test_cost_verdicts(low, high, verdict) -> None:
    assert paper.cost_verdict(interval(low, high), PAPER_LATENCY).startswith(verdict)


@pytest.mark.parametrize(("low", "high", "verdict"), [
    (-0.5, -0.1, "HRL is more accurate than ddpg-layer at the budget"),
    (-0.1, 0.2, "no clear difference from ddpg-layer"),
    (0.1, 0.3, "HRL is less accurate than ddpg-layer at the budget"),
])
def test_accuracy_at_budget_verdicts(low, high, verdict) -> None:
    text = paper.accuracy_at_budget_verdict(interval(low, high))
    assert text.startswith("n/a for the paper's figures") and verdict in text


@pytest.mark.parametrize(("low", "high", "verdict"), [
    (0.1, 0.5, "agrees: ddpg-kernel's late episodes are within the tolerance less often than HRL's"),
    (-0.1, 0.2, "disagrees: no clear difference between ddpg-kernel and HRL"),
    (-0.5, -0.1, "disagrees: ddpg-kernel's late episodes are within the tolerance more often than HRL's"),
])
def test_flat_ddpg_verdicts(low, high, verdict) -> None:
    text = paper.flat_verdict(interval(low, high), episodes=200)
    assert text.startswith(verdict) and "after 200 episodes, the paper's 250" in text


@pytest.mark.parametrize(("low", "high", "verdict"), [
    (150, 220, "agrees: the paper's 200 lies inside our interval"),
    (20, 60, "HRL reaches 90% of its final best sooner than the paper's 200 episodes"),
    (210, 240, "HRL takes longer than the paper's 200 episodes"),
])
def test_episodes_verdicts(low, high, verdict) -> None:
    assert paper.episodes_verdict(interval(low, high)).startswith(verdict)


@pytest.mark.parametrize("verdict", [paper.accuracy_at_budget_verdict, paper.episodes_verdict,
                                     lambda summary: paper.cost_verdict(summary, PAPER_LATENCY),
                                     lambda summary: paper.flat_verdict(summary, episodes=200)])
def test_a_single_seed_gets_no_verdict(verdict) -> None:
    assert verdict(ONE_SEED) == paper.NO_INTERVAL
