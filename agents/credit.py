"""Credit assignment: how an episode's final objective becomes the rewards of its transitions.

AutoQ pays its accuracy term only on an episode's last step. Three ways to hand it to the transitions:

- ``"broadcast"`` (HAQ ``rl_quantize.py`` / AMC): every transition of the episode gets the episode's
  final objective minus a moving-average baseline (``MovingAverage``, ``moving_alpha = 0.5`` as in HAQ's
  ``lib/rl/ddpg.py``); the hierarchical agent stores these transitions as terminal, so each critic
  regresses on the episode's advantage directly.
- ``"split"`` (NNCF's AutoQ port): the advantage divided evenly over the controller's transitions of
  the episode, bootstrapped as the env's episode boundaries say (with ``gamma = 1`` the returns add up
  to the advantage).
- ``"shaped"``: the env's own potential-based per-step rewards (their sum is the final objective).

Subtracting the baseline when an episode is stored (``subtract_baseline`` of the hierarchical agent)
labels each transition against the baseline of its own time: as the baseline moves, a poor episode
stored while the baseline was poorer keeps a higher label than a good one stored later. With terminal
transitions the baseline is only a shift of the targets, so the agent can store the objective itself;
``transform_rewards`` then compresses the range instead (the static ``"symlog"``), where clipping an
advantage to +-1 would also hide how much worse a hopeless episode is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CREDIT_ASSIGNMENTS = ("broadcast", "split", "shaped")
REWARD_TRANSFORMS = ("none", "symlog")
MOVING_ALPHA = 0.5  # HAQ lib/rl/ddpg.py: self.moving_alpha = 0.5


class MovingAverage:
    """Exponential moving average ``m <- m + alpha * (x - m)``, starting at the first value (HAQ's baseline).

    :param alpha: weight of the newest value, in ``(0, 1]``.
    """

    def __init__(self, alpha: float = MOVING_ALPHA) -> None:
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha <= 1:
            raise ValueError(f"moving-average alpha must be in (0, 1], got {alpha!r}")
        self.alpha = float(alpha)
        self.value: float | None = None

    def update(self, x: float) -> float:
        """Fold ``x`` in and return the new average (``x`` itself the first time)."""
        x = float(x)
        self.value = x if self.value is None else self.value + self.alpha * (x - self.value)
        return self.value

    def get_state(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "value": self.value}

    def set_state(self, state: dict[str, Any]) -> None:
        self.alpha, self.value = float(state["alpha"]), None if state["value"] is None else float(state["value"])


def check_credit(credit: str) -> str:
    if credit not in CREDIT_ASSIGNMENTS:
        raise ValueError(f"unknown credit assignment {credit!r}; allowed: {', '.join(CREDIT_ASSIGNMENTS)}")
    return credit


def extrinsic_rewards(credit: str, advantage: float, shaped: np.ndarray) -> np.ndarray:
    """The extrinsic reward of each of a controller's transitions in one episode.

    :param credit: one of ``CREDIT_ASSIGNMENTS``.
    :param advantage: the episode's final objective minus the baseline (unused by ``"shaped"``).
    :param shaped: the env's shaped rewards of those transitions (their count sets the split).
    """
    shaped = np.asarray(shaped, dtype=np.float64)
    if check_credit(credit) == "shaped":
        return shaped.copy()
    if credit == "broadcast":
        return np.full(shaped.shape, float(advantage))
    return np.full(shaped.shape, float(advantage) / max(len(shaped), 1))


def clip_rewards(rewards: np.ndarray, clip: float | None) -> np.ndarray:
    """``rewards`` clipped to ``[-clip, clip]`` (``None``: unchanged)."""
    return rewards if clip is None else np.clip(rewards, -clip, clip)


def transform_rewards(rewards: np.ndarray | float, transform: str) -> np.ndarray:
    """``"symlog"``: ``sign(r) log(1 + |r|)`` (Hafner et al., 2023, DreamerV3), monotone, slope 1 at 0, so the
    tenths between good configurations keep their size while a hopeless -50 becomes -3.9; ``"none"``: as is."""
    if transform not in REWARD_TRANSFORMS:
        raise ValueError(f"unknown reward transform {transform!r}; allowed: {', '.join(REWARD_TRANSFORMS)}")
    rewards = np.asarray(rewards, dtype=np.float64)
    return np.sign(rewards) * np.log1p(np.abs(rewards)) if transform == "symlog" else rewards.copy()
