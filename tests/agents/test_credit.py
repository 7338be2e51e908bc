"""Credit assignment: the moving-average baseline and the rewards each choice gives a finished episode."""

from __future__ import annotations

import numpy as np
import pytest

from agents.credit import MovingAverage, clip_rewards, extrinsic_rewards, transform_rewards


def test_moving_average_starts_at_the_first_value_then_moves_by_alpha() -> None:
    average = MovingAverage(0.5)
    assert average.value is None
    assert average.update(-10.0) == -10.0
    assert average.update(2.0) == -4.0
    assert average.update(0.0) == -2.0
    restored = MovingAverage()
    restored.set_state(average.get_state())
    assert restored.update(1.0) == average.update(1.0) == -0.5


@pytest.mark.parametrize("alpha", [0, 1.5, True, "0.5"])
def test_moving_average_refuses_bad_alpha(alpha) -> None:
    with pytest.raises(ValueError, match="alpha"):
        MovingAverage(alpha)


def test_broadcast_split_and_shaped_rewards_of_an_episode() -> None:
    shaped = np.array([0.1, 0.2, -3.3])
    np.testing.assert_array_equal(extrinsic_rewards("broadcast", -1.5, shaped), [-1.5] * 3)
    np.testing.assert_allclose(extrinsic_rewards("split", -1.5, shaped), [-0.5] * 3)
    np.testing.assert_array_equal(extrinsic_rewards("shaped", -1.5, shaped), shaped)
    np.testing.assert_array_equal(clip_rewards(shaped, 1.0), [0.1, 0.2, -1.0])
    assert clip_rewards(shaped, None) is shaped
    with pytest.raises(ValueError, match="credit assignment"):
        extrinsic_rewards("haq", 0.0, shaped)


def test_symlog_keeps_small_rewards_and_compresses_hopeless_ones() -> None:
    rewards = np.array([-50.0, -1.0, 0.0, 0.1, 0.4])
    transformed = transform_rewards(rewards, "symlog")
    np.testing.assert_allclose(transformed, [-np.log(51), -np.log(2), 0.0, np.log(1.1), np.log(1.4)])
    assert np.all(np.diff(transformed) > 0)  # monotone: the order of episodes is kept
    np.testing.assert_array_equal(transform_rewards(rewards, "none"), rewards)
    with pytest.raises(ValueError, match="unknown reward transform 'log'; allowed: none, symlog"):
        transform_rewards(rewards, "log")
