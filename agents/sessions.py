"""Every kind of agent the runner drives, behind one interface that can stop and continue exactly.

A session builds its agent (fresh, or from a checkpoint's ``state``), runs it for a number of
episodes while an ``EpisodeRecorder`` logs them, calls ``at_boundary`` between two episodes (where a
checkpoint may be taken and the run may be told to stop), returns its ``state`` for a checkpoint
and saves the trained agent. The global and env random generators are the runner's business.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv

from agents.checkpoint import EpisodeBoundaryCallback, replay_buffer_state, set_replay_buffer_state
from agents.recording import EpisodeRecorder
from autoq_env import atomic_io

RL_AGENTS = ("hrl", "ddpg-layer", "ddpg-kernel")
SEARCH_AGENTS = ("random", "greedy", "uniform")
DETERMINISTIC_AGENTS = ("greedy", "uniform")  # their run does not depend on the seed: one seed is all of them


class AgentSession(ABC):
    """One agent of a run (see the module docstring).

    :param agent: the agent's name (``RL_AGENTS`` or ``SEARCH_AGENTS``).
    :param env: the core AutoQ env of the run.
    :param seed: the run's seed.
    :param device: torch device of an RL agent's networks.
    :param options: the agent's own arguments: hyper-parameter overrides of an RL agent, the QBN of
        ``uniform``.
    """

    def __init__(self, agent: str, env: gym.Env, seed: int, device: str, options: dict[str, Any]) -> None:
        self.agent, self.env, self.seed, self.device, self.options = agent, env, seed, device, dict(options)
        self.exhausted = False  # set by ``run`` when the agent has no further episode to offer

    @abstractmethod
    def start(self, state: dict[str, Any] | None) -> None:
        """Build the agent: fresh (``None``) or as it was when ``state`` was taken."""

    @abstractmethod
    def run(self, episodes: int, recorder: EpisodeRecorder, at_boundary: Callable[[], bool],
            progress_bar: bool) -> None:
        """Run ``episodes`` more episodes (fewer if ``at_boundary`` returns ``False``, or if the agent runs
        out of episodes to offer, as a search that has proposed every configuration it has does: then
        ``exhausted`` is set)."""

    @abstractmethod
    def state(self) -> dict[str, Any]:
        """Everything ``start`` needs to continue from the current episode boundary."""

    @abstractmethod
    def save_agent(self, out: Path) -> None:
        """Save the trained agent into the run folder ``out``."""


def _continue_env(vec_env: VecEnv, expected_observation: np.ndarray) -> np.ndarray:
    """Reset a freshly attached env and check that it starts where the checkpointed run's next
    episode started (the env is deterministic between episodes)."""
    observation = vec_env.reset()
    if not np.array_equal(np.asarray(observation).reshape(-1), np.asarray(expected_observation).reshape(-1)):
        raise ValueError("the env's first observation differs from the checkpoint's: it is not the env the run "
                         "was started with")
    return observation


class HierarchicalSession(AgentSession):
    """``agents.hierarchical.HierarchicalDDPG``; its checkpoint keeps replay buffers and generators."""

    def start(self, state: dict[str, Any] | None) -> None:
        from agents.hierarchical import HierarchicalDDPG

        if state is None:
            self.model = HierarchicalDDPG(self.env, seed=self.seed, device=self.device, **self.options)
            return
        self.model = HierarchicalDDPG.from_state_dict(state["agent"], self.env, device=self.device)
        _continue_env(self.model.get_env(), state["training"]["observation"])
        self.model.set_training_state(state["training"])

    def run(self, episodes: int, recorder: EpisodeRecorder, at_boundary: Callable[[], bool],
            progress_bar: bool) -> None:
        self.model.learn(total_episodes=episodes, callback=[recorder, EpisodeBoundaryCallback(at_boundary)],
                         progress_bar=progress_bar)

    def state(self) -> dict[str, Any]:
        return {"agent": self.model.state_dict(), "training": self.model.training_state()}

    def save_agent(self, out: Path) -> None:
        self.model.save(out / "agent.pt")


class FlatDDPGSession(AgentSession):
    """stable-baselines3's DDPG on a flat wrapper (``agents.flat``), saved with SB3's own ``save``."""

    def start(self, state: dict[str, Any] | None) -> None:
        from agents.flat import WRAPPERS, FlatDDPG, make_flat_ddpg

        if state is None:
            self.model = make_flat_ddpg(self.agent, self.env, seed=self.seed, device=self.device, **self.options)
            return
        model = FlatDDPG.load(io.BytesIO(state["model"]), env=WRAPPERS[self.agent](self.env), device=self.device)
        set_replay_buffer_state(model.replay_buffer, state["replay_buffer"])
        model._last_obs = _continue_env(model.get_env(), state["last_obs"])
        # SB3's load reseeds the action space (warm-up actions are drawn from it); put its state back.
        model.action_space.np_random.bit_generator.state = state["action_space_rng"]
        self.model = model

    def run(self, episodes: int, recorder: EpisodeRecorder, at_boundary: Callable[[], bool],
            progress_bar: bool) -> None:
        steps_per_episode = self.model.get_env().get_attr("steps_per_episode")[0]
        self.model.learn(total_timesteps=episodes * steps_per_episode, progress_bar=progress_bar,
                         callback=[recorder, EpisodeBoundaryCallback(at_boundary)], reset_num_timesteps=False)

    def _zip(self) -> bytes:
        buffer = io.BytesIO()
        self.model.save(buffer)
        return buffer.getvalue()

    def state(self) -> dict[str, Any]:
        return {"model": self._zip(), "replay_buffer": replay_buffer_state(self.model.replay_buffer),
                "action_space_rng": self.model.action_space.np_random.bit_generator.state,
                "last_obs": np.array(self.model._last_obs, copy=True)}

    def save_agent(self, out: Path) -> None:
        atomic_io.write_bytes(out / "agent.zip", self._zip())


class SearchSession(AgentSession):
    """A search baseline (``agents.search``). It is deterministic given its seed, so a checkpoint keeps
    the evaluations made so far and a resumed search replays them instead of evaluating again."""

    def start(self, state: dict[str, Any] | None) -> None:
        from agents.search import make_search

        self.search = make_search(self.agent, self.env, **self.options)
        self.replay = [] if state is None else list(state["evaluations"])

    def run(self, episodes: int, recorder: EpisodeRecorder, at_boundary: Callable[[], bool],
            progress_bar: bool) -> None:
        going_on = True

        def after_evaluation(metrics: dict) -> bool:
            nonlocal going_on
            recorder.record(metrics)
            going_on = at_boundary()
            return going_on

        budget = len(self.replay) + episodes
        self.search.search(budget, seed=self.seed, callback=after_evaluation, progress_bar=progress_bar,
                           replay=self.replay)
        self.exhausted = going_on and len(self.search.evaluations) < budget

    def state(self) -> dict[str, Any]:
        return {"evaluations": list(self.search.evaluations)}

    def save_agent(self, out: Path) -> None:
        """A search baseline has no trained agent: its results are the run's other files."""


def make_session(agent: str, env: gym.Env, seed: int, device: str, options: dict[str, Any]) -> AgentSession:
    """The session of ``agent`` (``RL_AGENTS`` or ``SEARCH_AGENTS``)."""
    if agent == "hrl":
        return HierarchicalSession(agent, env, seed, device, options)
    if agent in RL_AGENTS:
        return FlatDDPGSession(agent, env, seed, device, options)
    if agent in SEARCH_AGENTS:
        return SearchSession(agent, env, seed, device, options)
    raise ValueError(f"unknown agent {agent!r}; allowed: {', '.join(RL_AGENTS + SEARCH_AGENTS)}")
