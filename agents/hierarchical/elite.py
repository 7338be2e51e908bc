"""The best episodes a controller has played, kept for self-imitation.

``HierarchicalDDPG`` keeps, per controller, the transitions (features and stored actions) of the
``k`` episodes with the highest final objective so far. Its actors then minimise the TD3+BC loss
(Fujimoto and Gu, 2021, "A Minimalist Approach to Offline Reinforcement Learning", alpha 2.5)
``-alpha Q(s, pi(s)) / mean|Q| + (pi(s_e) - a_e)^2`` with ``(s_e, a_e)`` drawn from these episodes:
self-imitation of the agent's own best episodes (Oh et al., 2018, "Self-Imitation Learning"). The
critic's gradient alone moves a deterministic actor towards wherever the averaged, noisy episodes
looked safest (on AutoQ: back towards 8 bits, away from the accuracy cliff the best configurations sit
next to); the imitation term keeps the actor near what worked while the critic refines it. Only
episodes within the accuracy tolerance, less the agent's ``elite_margin_pts``, are offered (the agent's
choice): before the first of them there is nothing worth imitating (the best random warm-up episodes
are still hopeless), and the actors learn from the critic alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class EliteEpisodes:
    """The ``capacity`` episodes with the highest objective (ties: the earlier episode stays first).

    :param capacity: episodes kept (>= 1).
    """

    def __init__(self, capacity: int) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)) or capacity < 1:
            raise ValueError(f"elite capacity must be a positive integer, got {capacity!r}")
        self.capacity = int(capacity)
        self.episodes: list[tuple[float, np.ndarray, np.ndarray]] = []  # (objective, features, actions), best first

    def offer(self, objective: float, features: np.ndarray, actions: np.ndarray) -> bool:
        """Keep the episode if it is among the best ``capacity``; return whether it was kept."""
        if len(self.episodes) == self.capacity and objective <= self.episodes[-1][0]:
            return False
        position = next((i for i, (kept, _, _) in enumerate(self.episodes) if objective > kept), len(self.episodes))
        kept = (float(objective), np.array(features, np.float32), np.array(actions, np.float32))
        self.episodes.insert(position, kept)
        del self.episodes[self.capacity:]
        return True

    def transitions(self) -> tuple[np.ndarray, np.ndarray] | None:
        """All kept transitions as ``(features, actions)`` (``None`` before the first episode)."""
        if not self.episodes:
            return None
        return (np.concatenate([features for _, features, _ in self.episodes]),
                np.concatenate([actions for _, _, actions in self.episodes]))

    def get_state(self) -> dict[str, Any]:
        return {"capacity": self.capacity, "episodes": [(o, f.copy(), a.copy()) for o, f, a in self.episodes]}

    def set_state(self, state: dict[str, Any]) -> None:
        self.capacity = int(state["capacity"])
        self.episodes = [(float(o), np.array(f, np.float32), np.array(a, np.float32)) for o, f, a in state["episodes"]]
