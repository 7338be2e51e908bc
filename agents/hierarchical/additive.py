"""Whole episodes of the high-level controller, for an additive critic (``hlc_critic="additive"``).

With broadcast credit every layer's transition is stored with the episode's final objective, so the
HLC's critic ``Q(s_l, a_l)`` estimates the objective averaged over whatever the other layers did in the
replay buffer's episodes: early, hopeless episodes make every cut of bits look dangerous. The additive
critic instead fits the objective of an episode as the sum of per-layer terms,
``R ~ sum_l q(s_l, a_l)``, so each layer's term is its own share of the objective given what the other
layers did (value decomposition: Sunehag et al., 2018, "Value-Decomposition Networks for Cooperative
Multi-Agent Learning"; the Fisher estimate of a configuration's loss is such a sum too). The actor's
update is unchanged: each layer ascends its own term. This module keeps the episodes it needs.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class EpisodeReturns:
    """A ring of the last ``capacity`` episodes: per episode, its HLC features and actions (one row per
    layer) and its return.

    :param capacity: episodes kept (>= 1).
    :param steps: HLC steps per episode (the env's layer count).
    :param feature_dim: the HLC's features per step; ``action_dim`` its action size.
    """

    def __init__(self, capacity: int, steps: int, feature_dim: int, action_dim: int) -> None:
        if capacity < 1 or steps < 1:
            raise ValueError(f"capacity and steps must be positive, got {capacity} and {steps}")
        self.features = np.zeros((capacity, steps, feature_dim), np.float32)
        self.actions = np.zeros((capacity, steps, action_dim), np.float32)
        self.returns = np.zeros(capacity, np.float32)
        self.pos, self.full = 0, False

    def __len__(self) -> int:
        return len(self.returns) if self.full else self.pos

    def add(self, features: np.ndarray, actions: np.ndarray, episode_return: float) -> None:
        """Keep one episode (``features`` ``(steps, feature_dim)``, ``actions`` ``(steps, action_dim)``),
        overwriting the oldest once full."""
        if features.shape != self.features.shape[1:] or actions.shape != self.actions.shape[1:]:
            raise ValueError(f"an episode of {features.shape} features and {actions.shape} actions does not fit "
                             f"{self.features.shape[1:]} and {self.actions.shape[1:]}")
        self.features[self.pos], self.actions[self.pos], self.returns[self.pos] = features, actions, episode_return
        self.pos = (self.pos + 1) % len(self.returns)
        self.full = self.full or self.pos == 0

    def get_state(self) -> dict[str, Any]:
        size = len(self)
        return {"capacity": len(self.returns), "pos": self.pos, "full": self.full,
                "features": self.features[:size].copy(), "actions": self.actions[:size].copy(),
                "returns": self.returns[:size].copy()}

    def set_state(self, state: dict[str, Any]) -> None:
        if state["capacity"] != len(self.returns) or state["features"].shape[1:] != self.features.shape[1:]:
            raise ValueError(f"a saved store of {state['capacity']} episodes of shape {state['features'].shape[1:]} "
                             f"does not fit this one ({len(self.returns)}, {self.features.shape[1:]})")
        size = len(state["returns"])
        self.features[:size], self.actions[:size], self.returns[:size] = (
            state["features"], state["actions"], state["returns"])
        self.pos, self.full = int(state["pos"]), bool(state["full"])
