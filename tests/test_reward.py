"""Reward formula in both modes."""

from __future__ import annotations

import math

import pytest

from autoq_env.reward import RewardWeights


def test_accuracy_mode_formula() -> None:
    weights = RewardWeights(accuracy=10, latency=0.5, energy=0.5, tolerance_pts=0.5, beyond_tolerance=3)
    inside = weights.reward(91.0, 91.4, 0.25, 0.5, "accuracy")
    assert inside == pytest.approx(10 * math.log(91.0 / 91.4) - 0.5 * math.log(0.25) - 0.5 * math.log(0.5))
    beyond = weights.reward(90.0, 91.4, 0.25, 0.5, "accuracy")
    assert beyond == pytest.approx(10 * math.log(90.0 / 91.4) - 0.5 * math.log(0.25) - 0.5 * math.log(0.5)
                                   - 3 * (1.4 - 0.5))
    useless = weights.reward(20.0, 91.4, 0.25, 0.5, "accuracy")  # 70.9 points beyond: the hinge stops at 10
    assert useless == pytest.approx(10 * math.log(20.0 / 91.4) - 0.5 * math.log(0.25) - 0.5 * math.log(0.5) - 3 * 10)


def test_resource_mode_is_accuracy_only() -> None:
    weights = RewardWeights()
    assert weights.reward(80.0, 90.0, 0.1, 0.1, "resource") == pytest.approx(10 * math.log(80 / 90))
    with pytest.raises(ValueError, match="allowed: accuracy, resource"):
        weights.reward(80.0, 90.0, 0.1, 0.1, "fast")
