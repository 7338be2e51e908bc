"""One episode's transitions of both controllers, held until the episode's final objective is known.

``HierarchicalDDPG`` collects every transition of an episode here and stores them in the replay
buffers when the episode ends, with the rewards its credit assignment gives them
(``agents.credit``): the HLC's extrinsic reward per layer, the LLC's
``(1 - zeta) * intrinsic + zeta * extrinsic`` per kernel. Both controllers learn only at episode
ends, so storing at the end changes nothing for the per-step (``"shaped"``) rewards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from agents.credit import clip_rewards, extrinsic_rewards, transform_rewards


@dataclass
class Rows:
    """Transitions of one controller: features, next features, actions, the env's shaped rewards, dones."""

    features: list = field(default_factory=list)
    next_features: list = field(default_factory=list)
    actions: list = field(default_factory=list)
    shaped: list = field(default_factory=list)
    dones: list = field(default_factory=list)

    def add(self, features: np.ndarray, next_features: np.ndarray, action: np.ndarray, shaped: float,
            done: bool) -> None:
        self.features.append(features)
        self.next_features.append(next_features)
        self.actions.append(action)
        self.shaped.append(shaped)
        self.dones.append(done)

    def __len__(self) -> int:
        return len(self.features)


@dataclass
class EpisodeState:
    """What the agent tracks inside one episode."""

    steps: int = 0
    layer_reward: float = 0.0  # env rewards since the current layer step (the HLC's shaped reward)
    goal_qbn: float = 0.0
    goal_action: float = 0.0  # the goal's action coordinate as the env received it (the LLC's offset origin)
    layer_noise: np.ndarray | None = None  # the LLC's noise draw for this layer (``llc_noise="layer"``)
    hlc_features: np.ndarray | None = None
    hlc_action: np.ndarray | None = None
    layer_qbns: list = field(default_factory=list)
    tracked_qbns: list = field(default_factory=list)  # the layer's QBNs minus their prior offsets (the intrinsic
    # reward's running mean: with ``llc_action="prior"`` following the prior allocation is on the goal)
    hlc: Rows = field(default_factory=Rows)
    # What self-imitation fits (agents.hierarchical.elite): each step's action moved to the centre of the bin of
    # the QBN it played, so that an actor fitted to it plays the same configuration with half a bin of margin; the
    # HLC's goals as played, not relabelled (the LLC saw those; imitating relabelled ones shifts every kernel)
    hlc_imitated: list = field(default_factory=list)
    llc_imitated: list = field(default_factory=list)
    llc: Rows = field(default_factory=Rows)
    intrinsic: list = field(default_factory=list)  # the LLC's intrinsic reward per kernel step


def episode_rewards(episode: EpisodeState, credit: str, advantage: float, zeta: float, clip: float | None,
                    transform: str = "none") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rewards and dones of the episode's HLC and LLC transitions: ``(hlc_rewards, hlc_dones,
    llc_rewards, llc_dones)``. ``"broadcast"`` stores every transition as terminal (HAQ/AMC: each
    transition's value is the episode's advantage); the others keep the episode and layer boundaries.
    The advantage (``"shaped"``: each shaped reward) goes through ``transform`` before it is assigned,
    then the extrinsic rewards are clipped to ``+-clip``."""
    advantage = float(transform_rewards(advantage, transform))

    def extrinsic(rows: Rows) -> np.ndarray:
        return clip_rewards(extrinsic_rewards(credit, advantage, transform_rewards(rows.shaped, transform)), clip)

    hlc_rewards, llc_extrinsic = extrinsic(episode.hlc), extrinsic(episode.llc)
    llc_rewards = (1 - zeta) * np.asarray(episode.intrinsic, dtype=np.float64) + zeta * llc_extrinsic
    terminal = credit == "broadcast"
    hlc_dones = np.ones(len(episode.hlc), bool) if terminal else np.asarray(episode.hlc.dones, bool)
    llc_dones = np.ones(len(episode.llc), bool) if terminal else np.asarray(episode.llc.dones, bool)
    return hlc_rewards, hlc_dones, llc_rewards, llc_dones
