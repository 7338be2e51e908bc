"""Statistics of the benchmark report: pure functions of plain numbers, so tests can check them by hand.

- ``iqm``: the interquartile mean (rliable's aggregate, Agarwal et al., NeurIPS 2021): the mean of the
  middle 50% of the values, ``scipy.stats.trim_mean(values, 0.25)`` (``floor(n / 4)`` values cut from
  each end; below 4 values nothing is cut and it is the plain mean).
- ``bootstrap_ci``: the 95% percentile-bootstrap confidence interval of the IQM (``scipy.stats.bootstrap``).
- ``running_best`` / ``episodes_to_fraction``: how fast a search gets close to its final best reward.
- ``summarise``: IQM and interval of one metric over seeds, as the report's tables print it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

IQM_TRIM = 0.25  # cut from each end: the interquartile mean
CONFIDENCE_LEVEL = 0.95  # GUIDE section 6
BOOTSTRAP_RESAMPLES = 10_000


def _as_values(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"expected a non-empty 1-D sequence of numbers, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"expected finite numbers, got {array.tolist()}")
    return array


def _iqm_along(values: np.ndarray, axis: int = -1) -> np.ndarray:
    return stats.trim_mean(values, IQM_TRIM, axis=axis)


def iqm(values: Sequence[float]) -> float:
    """Interquartile mean: the mean of ``values`` without the lowest and highest ``floor(n / 4)``."""
    return float(_iqm_along(_as_values(values)))


def bootstrap_ci(values: Sequence[float], seed: int = 0, confidence_level: float = CONFIDENCE_LEVEL,
                 resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float] | None:
    """Percentile-bootstrap confidence interval of the IQM of ``values``; ``None`` below 2 values.

    :param seed: seed of the resampling, so that a report is reproducible.
    :return: ``(low, high)``. Identical values give a zero-width interval.
    """
    array = _as_values(values)
    if array.size < 2:
        return None
    result = stats.bootstrap((array,), _iqm_along, n_resamples=resamples, vectorized=True,
                             confidence_level=confidence_level, method="percentile",
                             rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def running_best(rewards: Sequence[float]) -> np.ndarray:
    """The best reward found up to and including each episode."""
    return np.maximum.accumulate(_as_values(rewards))


def trailing_mean(values: Sequence[float], window: int) -> np.ndarray:
    """The mean of each value and the ``window - 1`` before it (fewer at the start)."""
    if window < 1:
        raise ValueError(f"expected a window of at least 1, got {window}")
    sums = np.cumsum(np.concatenate([[0.0], _as_values(values)]))
    ends = np.arange(1, len(sums))
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def episodes_to_fraction(rewards: Sequence[float], fraction: float) -> int:
    """Episodes a search needed to get ``fraction`` of the way from its first reward to its final best.

    With ``first`` the first episode's reward and ``best`` the best of all episodes, the answer is the
    first episode (counted from 1) whose running-best reward reaches ``first + fraction * (best - first)``.
    Measured from the first reward rather than from 0, it means the same for negative rewards (where
    "90% of the best" would be a *higher* bar than the best) and does not depend on the reward's offset.
    A search whose first episode is already its best needs 1 episode.

    :param rewards: rewards of the episodes, in order.
    :param fraction: in [0, 1].
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction!r}")
    best = running_best(rewards)
    threshold = min(best[0] + fraction * (best[-1] - best[0]), best[-1])  # min: rounding never overshoots
    return int(np.argmax(best >= threshold)) + 1


@dataclass(frozen=True)
class Summary:
    """IQM of one metric over seeds, with its confidence interval (``None`` below 2 seeds)."""

    iqm: float
    ci: tuple[float, float] | None
    n: int

    def format(self, digits: int) -> str:
        """``"IQM [low, high]"``, or ``"value (n/a)"`` without an interval."""
        if self.ci is None:
            return f"{self.iqm:.{digits}f} (n/a)"
        low, high = self.ci
        return f"{self.iqm:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def summarise(values: Sequence[float], seed: int = 0) -> Summary:
    """IQM and bootstrap confidence interval of ``values``."""
    return Summary(iqm(values), bootstrap_ci(values, seed=seed), len(values))
