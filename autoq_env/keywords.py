"""Validation of the env's keyword arguments: each check returns the value or raises saying what is allowed."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from autoq_env.quant import QBN_LIMITS
from autoq_env.reward import RewardWeights


def check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:  # `in` on a numpy array would compare elementwise
        raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(map(repr, allowed))}")
    return value


def check_bits(bits: Any) -> tuple[int, int]:
    if not isinstance(bits, (tuple, list)) or len(bits) != 2 or not all(
            isinstance(b, (int, np.integer)) and not isinstance(b, bool) for b in bits):
        raise TypeError(f"bits must be a pair of integers (b_min, b_max), got {bits!r}")
    b_min, b_max = int(bits[0]), int(bits[1])
    low, high = QBN_LIMITS
    if not low <= b_min <= high or not low <= b_max <= high:
        raise ValueError(f"bits must lie in {low}..{high}, got ({b_min}, {b_max})")
    if b_min > b_max:
        raise ValueError(f"bits=(b_min, b_max) needs b_min <= b_max, got ({b_min}, {b_max})")
    return b_min, b_max


def check_search_samples(search_samples: Any, largest: int) -> int:
    if isinstance(search_samples, bool) or not isinstance(search_samples, (int, np.integer)) \
            or not 1 <= search_samples <= largest:
        raise ValueError(f"search_samples must be an integer in 1..{largest}, got {search_samples!r}")
    return int(search_samples)


def check_reward_weights(reward_weights: Any) -> RewardWeights:
    if reward_weights is None:
        return RewardWeights()
    if isinstance(reward_weights, Mapping):
        unknown = set(reward_weights) - set(asdict(RewardWeights()))
        if unknown:
            raise ValueError(f"unknown reward weights {sorted(unknown, key=repr)}; allowed: "
                             f"{', '.join(asdict(RewardWeights()))}")
        return RewardWeights(**reward_weights)
    if not isinstance(reward_weights, RewardWeights):
        raise TypeError("reward_weights must be a RewardWeights, a dict or None, got "
                        f"{type(reward_weights).__name__}")
    return reward_weights


def check_device(device: Any) -> None:
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda', got {device!r}")
    try:
        kind = torch.device(device).type
    except RuntimeError as error:
        raise ValueError(f"unknown device {device!r}; use a torch device such as 'cpu', 'cuda' or 'cuda:0'") from error
    if kind == "meta":
        raise ValueError("device='meta' holds no data to evaluate on; use 'cpu' or 'cuda'")
    if kind not in ("cpu", "cuda"):  # CUDA's availability is checked (with its own message) by get_problem
        try:
            torch.empty(0, device=device)
        except Exception as error:  # by backend: RuntimeError, NotImplementedError, AssertionError, ImportError
            raise ValueError(f"device {device!r} is not available in this torch build: {error}") from error


def check_path(name: str, path: Any) -> None:
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be None or a path (str or os.PathLike), got {path!r}")
    if isinstance(path, str) and "\0" in path:
        raise ValueError(f"{name} must be a path without NUL characters, got {path!r}")
