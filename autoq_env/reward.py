"""Reward: the objective of one quantization configuration, in both user modes.

With accuracy ``acc`` and float accuracy ``acc_fp`` on the search split (percent), and latency and
energy relative to the uniform 8-bit model on the same accelerator (``lat``, ``en``):

* ``mode="accuracy"`` (accuracy-guaranteed), AutoQ's form ``log(acc^psi_a / (lat^psi_l en^psi_e))``
  with accuracy taken relative to float, plus a hinge that holds accuracy within the tolerance::

      R = psi_a log(acc / acc_fp) - psi_l log(lat) - psi_e log(en) - psi_t min(cap, max(0, acc_fp - acc - tol))

* ``mode="resource"`` (resource-constrained): the budget is enforced by capping QBNs during the
  episode (see ``AutoQEnv``), so the reward is accuracy alone: ``R = psi_a log(acc / acc_fp)``.

Defaults and why (measured with ``python -m benchmarks.uniform_scan``, see the README):
``psi_a = 10`` (a point of accuracy inside the tolerance is worth ~0.11, so ties go to the more
accurate model), ``psi_l = psi_e = 0.5`` (halving both latency and energy earns ``log 2 = 0.69``),
``tol = 0.5`` points on the search split (leaves room for the search split's sampling error, so that
good searches stay within 1 point on the test split) and ``psi_t = 3`` per point beyond the tolerance
(one point too many costs more than a 4x cut of latency and energy earns, ``log 4 = 1.39``), capped
at ``cap = 10`` points beyond the tolerance: such a model is useless either way, and the cap keeps the
reward's range (about -53 to +2) small enough for a critic to resolve the differences that matter.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

MODES = ("accuracy", "resource")
MAX_WEIGHT = 1e6  # larger weights would let a reward overflow to infinity


@dataclass(frozen=True)
class RewardWeights:
    """Weights of the reward terms; see the module docstring for the formula."""

    accuracy: float = 10.0  # psi_a
    latency: float = 0.5  # psi_l
    energy: float = 0.5  # psi_e
    tolerance_pts: float = 0.5  # tol, accuracy points below float allowed on the search split
    beyond_tolerance: float = 3.0  # psi_t, per accuracy point beyond the tolerance
    max_excess_pts: float = 10.0  # cap, points beyond the tolerance that the hinge counts at most

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise TypeError(f"reward weight {name} must be a number, got {type(value).__name__} {value!r}")
            if not (0 <= value <= MAX_WEIGHT):  # exact for huge ints, False for NaN
                raise ValueError(f"reward weight {name} must be a number in [0, {MAX_WEIGHT:g}], got {value!r}")
            object.__setattr__(self, name, float(value))

    def cost_term(self, latency_rel: float, energy_rel: float) -> float:
        """``-psi_l log(lat) - psi_e log(en)``: the reward earned by cutting cost."""
        return -self.latency * math.log(latency_rel) - self.energy * math.log(energy_rel)

    def accuracy_term(self, accuracy: float, float_accuracy: float, mode: str) -> float:
        """``psi_a log(acc / acc_fp)``, plus the tolerance hinge in accuracy mode."""
        term = self.accuracy * math.log(max(accuracy, 1e-3) / float_accuracy)
        if mode == "accuracy":
            excess = min(self.max_excess_pts, max(0.0, float_accuracy - accuracy - self.tolerance_pts))
            term -= self.beyond_tolerance * excess
        return term

    def reward(self, accuracy: float, float_accuracy: float, latency_rel: float, energy_rel: float,
               mode: str) -> float:
        """The episode objective ``R`` of one configuration."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; allowed: {', '.join(MODES)}")
        cost = self.cost_term(latency_rel, energy_rel) if mode == "accuracy" else 0.0
        return self.accuracy_term(accuracy, float_accuracy, mode) + cost
