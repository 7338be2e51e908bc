"""agents.hierarchical.elite: the best episodes, kept for self-imitation."""

from __future__ import annotations

import numpy as np
import pytest

from agents.hierarchical.elite import EliteEpisodes


def _episode(value: float, rows: int = 2) -> tuple[np.ndarray, np.ndarray]:
    return np.full((rows, 3), value, np.float32), np.full((rows, 1), -value, np.float32)


def test_keeps_the_best_episodes_best_first_and_earlier_on_ties() -> None:
    elite = EliteEpisodes(2)
    assert elite.transitions() is None
    assert elite.offer(0.1, *_episode(1)) and elite.offer(0.3, *_episode(2))
    assert not elite.offer(0.05, *_episode(3))  # worse than both kept
    assert not elite.offer(0.1, *_episode(4))  # a tie with the worst kept: the earlier one stays
    assert elite.offer(0.2, *_episode(5))
    assert [objective for objective, _, _ in elite.episodes] == [0.3, 0.2]
    features, actions = elite.transitions()
    np.testing.assert_array_equal(features[:, 0], [2, 2, 5, 5])
    np.testing.assert_array_equal(actions[:, 0], [-2, -2, -5, -5])


def test_state_round_trip_and_bad_capacity() -> None:
    elite = EliteEpisodes(3)
    elite.offer(0.4, *_episode(1))
    copy = EliteEpisodes(1)
    copy.set_state(elite.get_state())
    assert copy.capacity == 3
    for (o1, f1, a1), (o2, f2, a2) in zip(elite.episodes, copy.episodes, strict=True):
        assert o1 == o2 and np.array_equal(f1, f2) and np.array_equal(a1, a2)
    for capacity in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="elite capacity must be a positive integer"):
            EliteEpisodes(capacity)
