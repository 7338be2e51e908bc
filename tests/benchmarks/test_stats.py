"""``benchmarks.stats``: every expected number is worked out by hand in the test, not typed from a run."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.stats import (
    Summary,
    bootstrap_ci,
    episodes_to_fraction,
    iqm,
    running_best,
    summarise,
    trailing_mean,
)


def _middle_half_mean(values: list[float]) -> float:
    """The IQM by its definition: sort, drop floor(n/4) from each end, average the rest."""
    ordered, cut = sorted(values), len(values) // 4
    kept = ordered[cut:len(ordered) - cut]
    return sum(kept) / len(kept)


@pytest.mark.parametrize("values", [
    list(range(1, 9)),  # 3, 4, 5, 6 kept: 4.5
    [0, 0, 1, 1, 1, 1, 9, 9],  # the four 1s kept: 1
    [10, 1, 7, 3, 100],  # 5 values: one cut from each end, 3, 7, 10 kept
    [2.5, -1.0, 4.0],  # under 4 values nothing is cut: the mean
])
def test_iqm_is_the_mean_of_the_middle_half(values) -> None:
    assert iqm(values) == pytest.approx(_middle_half_mean(values))


def test_iqm_worked_examples() -> None:
    assert iqm(range(1, 9)) == pytest.approx((3 + 4 + 5 + 6) / 4)
    assert iqm([0, 0, 1, 1, 1, 1, 9, 9]) == pytest.approx(1.0)
    assert iqm([10, 1, 7, 3, 100]) == pytest.approx((3 + 7 + 10) / 3)  # the outlier 100 does not count


@pytest.mark.parametrize("values", [[], [1.0, float("nan")], [[1.0, 2.0]]])
def test_iqm_refuses_what_is_not_a_list_of_numbers(values) -> None:
    with pytest.raises(ValueError):
        iqm(values)


def test_bootstrap_interval_contains_the_iqm_and_shrinks_with_more_data() -> None:
    rng = np.random.default_rng(1)
    few, many = rng.normal(3.0, 1.0, 8), rng.normal(3.0, 1.0, 400)
    widths = []
    for values in (few, many):
        low, high = bootstrap_ci(values)
        assert low <= iqm(values) <= high
        widths.append(high - low)
    assert widths[1] < widths[0] / 3  # about sqrt(400 / 8) = 7 times narrower


def test_bootstrap_is_reproducible_and_degenerate_where_it_must_be() -> None:
    values = [0.2, 0.5, 0.4, 0.9, 0.3]
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(values, seed=3)
    assert bootstrap_ci([0.7]) is None
    assert bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0)


def test_trailing_mean_averages_each_value_with_the_ones_before_it() -> None:
    # window 3 over 1, 2, 3, 4, 10: 1/1, (1+2)/2, (1+2+3)/3, (2+3+4)/3, (3+4+10)/3
    assert np.allclose(trailing_mean([1, 2, 3, 4, 10], 3), [1.0, 1.5, 2.0, 3.0, 17 / 3])
    assert np.allclose(trailing_mean([5, -1], 1), [5, -1])
    with pytest.raises(ValueError, match="window of at least 1, got 0"):
        trailing_mean([1.0], 0)


def test_running_best() -> None:
    np.testing.assert_array_equal(running_best([-3, -5, -1, -2, 4]), [-3, -3, -1, -1, 4])


@pytest.mark.parametrize(("rewards", "expected"), [
    # first 0, best 10: the bar is 9, reached by the running best at episode 3
    ([0, 5, 9, 10], 3),
    # first -10, best -1: the bar is -10 + 0.9 * 9 = -1.9; -2 (episode 3) misses it, -1 (episode 4) reaches it
    ([-10, -4, -2, -1], 4),
    # first -5, best -0.9: the bar is -5 + 0.9 * 4.1 = -1.31; the running best is -1 from episode 2 on
    ([-5, -1, -3, -0.9], 2),
    # the first episode is the best: 1 episode
    ([3, 1, 2], 1),
    ([-2.0], 1),
])
def test_episodes_to_ninety_percent(rewards, expected) -> None:
    assert episodes_to_fraction(rewards, 0.9) == expected


def test_episodes_to_fraction_at_the_ends() -> None:
    rewards = [-4, -3, -2, -2, -1]
    assert episodes_to_fraction(rewards, 0.0) == 1
    assert episodes_to_fraction(rewards, 1.0) == 5
    with pytest.raises(ValueError, match="fraction"):
        episodes_to_fraction(rewards, 1.5)


def test_summary_formats_an_interval_or_says_there_is_none() -> None:
    assert summarise([0.25]).format(2) == "0.25 (n/a)"
    summary = summarise([1.0, 2.0, 3.0, 4.0])
    assert summary.n == 4 and summary.iqm == pytest.approx(2.5)
    assert summary.format(1) == f"2.5 [{summary.ci[0]:.1f}, {summary.ci[1]:.1f}]"
    assert Summary(0.5, (0.25, 0.75), 3).format(3) == "0.500 [0.250, 0.750]"
