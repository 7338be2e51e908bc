"""Warm-up episodes that play the greedy sensitivity path (``warmup_actions="sensitivity"``).

HAQ's warm-up takes uniform random actions. On AutoQ every such episode is hopeless (a few 2-bit
kernels in a sensitive layer are enough), so the replay buffers start with nothing near the accuracy
cliff where the good configurations are, and the elite set stays empty. This warm-up instead plays,
one per warm-up episode, the configurations of ``agents.search.GreedySensitivitySearch`` for a budget
of ``warmup_episodes`` evaluations: points of the greedy path of bit cuts (ranked by the env's Fisher
loss estimates per unit of cost saved), spread evenly in cost from uniform ``b_max`` down to the
cost of uniform ``b_min + 1``. They are the same estimates the LLC's water-filling prior uses, and the
episodes count against the agent's budget like any other. Each planned QBN is played through the
controllers' own action spaces (the inverse of ``hrl.llc_env_action``), so the stored transitions are
ones the actors can reproduce; a kernel whose planned QBN lies beyond the LLC's reach from its goal
(``llc_offset_range``) is played at the nearest reachable QBN, and the env evaluates what was played.
"""

from __future__ import annotations

import copy
import json

import numpy as np

from agents.search import GreedySensitivitySearch
from autoq_env.env import AutoQEnv

_PLANS: dict[tuple, list[dict]] = {}  # per process: agents on the same search problem share their plan
_MAX_PLANS = 8


def planned_configs(core: AutoQEnv, episodes: int) -> list[dict]:
    """The greedy path's configurations for ``episodes`` warm-up episodes (fewer if the path ends first;
    the remaining warm-up episodes then take uniform actions). Computing them takes seconds (the
    activation loss estimates, then the path), so they are kept per process and search problem."""
    key = (core.problem.signature, json.dumps(core.signature, sort_keys=True, default=str), episodes)
    if key not in _PLANS:
        if len(_PLANS) >= _MAX_PLANS:
            del _PLANS[next(iter(_PLANS))]  # the oldest
        _PLANS[key] = GreedySensitivitySearch(core).proposals(episodes) if episodes > 0 else []
    return copy.deepcopy(_PLANS[key])


def qbn_action(qbn: int, b_min: int, b_max: int) -> float:
    """The centre of ``qbn``'s bin in the env's action mapping (``AutoQEnv.action_to_qbn``)."""
    bins = b_max - b_min + 1
    return -1.0 + (qbn - b_min + 0.5) * 2.0 / bins


def goal_action(mean_qbn: float, b_min: int, b_max: int) -> float:
    """The goal coordinate of a layer-step action for a goal of ``mean_qbn`` (the env's linear map)."""
    return 2.0 * (mean_qbn - b_min) / max(b_max - b_min, 1) - 1.0


def llc_action_for(qbn: int, goal_feature: float, mode: str, offset_range: float, prior_offset: float,
                   b_min: int, b_max: int) -> float:
    """The LLC action in ``[-1, 1]`` that ``hrl.llc_env_action`` maps onto ``qbn``'s bin centre (clipped
    to the LLC's range: the nearest reachable QBN when ``qbn`` is out of reach)."""
    target = qbn_action(qbn, b_min, b_max)
    if mode == "absolute":
        return target
    shift = prior_offset if mode == "prior" else 0.0
    return float(np.clip((target - (2.0 * goal_feature - 1.0) - shift) / offset_range, -1.0, 1.0))
