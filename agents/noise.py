"""Exploration noise of HAQ's DDPG: a truncated normal whose width decays once per episode."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import DTypeLike
from stable_baselines3.common.noise import ActionNoise

TRUNCATION_SIGMAS = 2.0  # "sigmas": samples are redrawn until they lie within +-2 sigma of the mean
TRUNCATIONS = ("sigmas", "bounds")


class DecayingTruncatedNormalNoise(ActionNoise):
    """Normal noise truncated to ``mean +- 2 sigma``, with ``sigma`` multiplied by ``decay`` per episode.

    HAQ (Wang et al., CVPR 2019) explores with a truncated normal around the actor's action whose
    width starts at 0.5 and is multiplied by 0.99 after every episode once warm-up ends; its public
    code (``lib/utils/utils.py``, ``sample_from_truncated_normal_distribution``) truncates the normal
    to the action's bounds (``scipy.stats.truncnorm`` between ``lower`` and ``upper``), with the
    action in ``[0, 1]``. ``truncation="bounds"`` does that (``perturb``: a normal around the action,
    redrawn until it lies within the bounds); ``truncation="sigmas"`` is additive noise truncated to
    ``+-2 sigma`` (``__call__``), which stable-baselines3 adds to the action and clips. Here every
    call to ``reset()`` is an episode end: stable-baselines3's off-policy loop
    (``OffPolicyAlgorithm.collect_rollouts``) calls ``action_noise.reset()`` whenever an episode
    finishes, warm-up episodes included, so ``warmup_resets`` lets the decay start after warm-up as in
    HAQ. ``sigma`` never falls below ``min_sigma``. Samples use this object's own
    ``numpy.random.Generator`` (``seed``), so a run is reproducible whatever else draws numbers.

    :param mean: mean of the noise; its shape is the action shape (``np.zeros(2)`` for AutoQ).
    :param sigma: initial standard deviation (one value for every action dimension).
    :param decay: factor applied to ``sigma`` at each ``reset()`` after the first ``warmup_resets``.
    :param min_sigma: floor of ``sigma``.
    :param warmup_resets: number of ``reset()`` calls that leave ``sigma`` unchanged (warm-up episodes).
    :param seed: seed of the noise's random generator.
    :param truncation: ``"sigmas"`` (additive, within ``+-2 sigma``) or ``"bounds"`` (``perturb``).
    :param dtype: dtype of the samples.
    """

    def __init__(self, mean: np.ndarray, sigma: float = 0.5, decay: float = 0.99, min_sigma: float = 0.0,
                 warmup_resets: int = 0, seed: int | None = None, truncation: str = "sigmas",
                 dtype: DTypeLike = np.float32) -> None:
        if truncation not in TRUNCATIONS:
            raise ValueError(f"truncation must be one of {TRUNCATIONS}, got {truncation!r}")
        self.truncation = truncation
        self.mean = np.asarray(mean, dtype=np.float64)
        for name, value in (("sigma", sigma), ("min_sigma", min_sigma)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value) \
                    or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if isinstance(decay, bool) or not isinstance(decay, (int, float, np.number)) or not 0 < decay <= 1:
            raise ValueError(f"decay must be in (0, 1], got {decay!r}")
        if isinstance(warmup_resets, bool) or not isinstance(warmup_resets, (int, np.integer)) or warmup_resets < 0:
            raise ValueError(f"warmup_resets must be an integer >= 0, got {warmup_resets!r}")
        self.initial_sigma = float(sigma)
        self.sigma = max(float(sigma), float(min_sigma))
        self.decay = float(decay)
        self.min_sigma = float(min_sigma)
        self.warmup_resets = int(warmup_resets)
        self.num_resets = 0
        self._dtype = dtype
        self._rng = np.random.default_rng(seed)
        super().__init__()

    def __call__(self) -> np.ndarray:
        """One sample: ``mean + sigma * z`` with ``z`` standard normal, redrawn where ``|z| > 2``."""
        if self.truncation == "bounds":
            raise TypeError("a noise truncated to the action's bounds is applied with perturb(action), not added "
                            "(agents.flat.FlatDDPG does that)")
        z = self._rng.standard_normal(self.mean.shape)
        outside = np.abs(z) > TRUNCATION_SIGMAS
        while outside.any():  # each redraw lands inside with probability 0.954
            z[outside] = self._rng.standard_normal(int(outside.sum()))
            outside = np.abs(z) > TRUNCATION_SIGMAS
        return (self.mean + self.sigma * z).astype(self._dtype)

    def perturb(self, action: np.ndarray, low: float = -1.0, high: float = 1.0) -> np.ndarray:
        """HAQ's exploration: each value drawn from a normal of mean ``action`` and width ``sigma``,
        truncated to ``[low, high]`` (redrawn where it falls outside; ``action`` is clipped to the bounds
        first, so each draw lands inside with probability at least 1/2). ``sigma = 0`` returns the action."""
        mu = np.clip(np.asarray(action, dtype=np.float64), low, high)
        if self.sigma == 0:
            return mu.astype(self._dtype)
        sample = mu + self.sigma * self._rng.standard_normal(mu.shape)
        outside = (sample < low) | (sample > high)
        while outside.any():
            sample[outside] = mu[outside] + self.sigma * self._rng.standard_normal(int(outside.sum()))
            outside = (sample < low) | (sample > high)
        return sample.astype(self._dtype)

    def reset(self) -> None:
        """End of an episode: decay ``sigma`` (once warm-up is over), not below ``min_sigma``."""
        self.num_resets += 1
        if self.num_resets > self.warmup_resets:
            self.sigma = max(self.sigma * self.decay, self.min_sigma)

    def get_state(self) -> dict[str, Any]:
        """Everything that changes while learning (for checkpoints): ``sigma``, reset count, generator."""
        return {"sigma": self.sigma, "num_resets": self.num_resets, "rng": self._rng.bit_generator.state}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a state returned by ``get_state``."""
        self.sigma = float(state["sigma"])
        self.num_resets = int(state["num_resets"])
        self._rng.bit_generator.state = state["rng"]

    def __repr__(self) -> str:
        return (f"DecayingTruncatedNormalNoise(mean={self.mean.tolist()}, sigma={self.sigma:.6g}, "
                f"decay={self.decay}, min_sigma={self.min_sigma}, warmup_resets={self.warmup_resets}, "
                f"truncation={self.truncation!r}, num_resets={self.num_resets})")
