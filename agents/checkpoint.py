"""Checkpoints of a search run: everything needed to continue it exactly where it stopped.

A checkpoint is one file (``checkpoint.pt`` in the run folder, written atomically) taken between two
episodes. It holds the agent (networks, optimizers, replay buffers, exploration noise), every random
generator (python, numpy, torch, CUDA, the env's, the action space's), the episode log and the best
configuration, and says which run it belongs to: the package version, the run's spec and the env's
signature. ``read_checkpoint`` refuses, with the reason, a file that is torn, corrupt, from another
version, or made for another run or env.

Interrupts: ``StopSignals`` turns the first SIGINT or SIGTERM into a request to stop at the next
episode boundary (after saving a checkpoint); a second SIGINT stops at once.
"""

from __future__ import annotations

import random
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback

from autoq_env import __version__, atomic_io

CHECKPOINT_FILE = "checkpoint.pt"
FORMAT = "autoq-search-checkpoint"
_BUFFER_ARRAYS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")


# -- random generators ------------------------------------------------------------------------------
def global_rng_states() -> dict[str, Any]:
    """The states of python's, numpy's and torch's global generators (and CUDA's, when present)."""
    states = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": th.get_rng_state()}
    if th.cuda.is_available():
        states["cuda"] = th.cuda.get_rng_state_all()
    return states


def set_global_rng_states(states: dict[str, Any]) -> None:
    """Restore states returned by ``global_rng_states``."""
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    th.set_rng_state(states["torch"])
    if "cuda" in states and th.cuda.is_available():
        th.cuda.set_rng_state_all(states["cuda"])


# -- replay buffers ---------------------------------------------------------------------------------
def replay_buffer_state(buffer: ReplayBuffer) -> dict[str, Any]:
    """The filled part of a stable-baselines3 ``ReplayBuffer`` (not its whole preallocated capacity)."""
    size = buffer.buffer_size if buffer.full else buffer.pos
    arrays = {name: getattr(buffer, name)[:size].copy() for name in _BUFFER_ARRAYS
              if isinstance(getattr(buffer, name, None), np.ndarray)}
    state = {"buffer_size": buffer.buffer_size, "pos": buffer.pos, "full": buffer.full, "arrays": arrays}
    if hasattr(buffer, "get_extra_state"):  # e.g. agents.flat.HaqReplayBuffer's baseline
        state["extra"] = buffer.get_extra_state()
    return state


def set_replay_buffer_state(buffer: ReplayBuffer, state: dict[str, Any]) -> None:
    """Refill ``buffer`` (of the same capacity and spaces) from ``replay_buffer_state``."""
    if state["buffer_size"] != buffer.buffer_size:
        raise ValueError(f"replay buffer capacity differs: checkpoint {state['buffer_size']}, "
                         f"agent {buffer.buffer_size}")
    if hasattr(buffer, "set_extra_state") != ("extra" in state):
        raise ValueError(f"replay buffer kind differs: the checkpoint's has {'' if 'extra' in state else 'no '}extra "
                         f"state (a baseline), the agent's {type(buffer).__name__} "
                         f"{'needs' if hasattr(buffer, 'set_extra_state') else 'has none'}")
    for name, values in state["arrays"].items():
        target = getattr(buffer, name)
        if target.shape[1:] != values.shape[1:]:
            raise ValueError(f"replay buffer {name} shape differs: checkpoint {values.shape[1:]}, "
                             f"agent {target.shape[1:]}")
        target[:len(values)] = values
    buffer.pos, buffer.full = int(state["pos"]), bool(state["full"])
    if "extra" in state:
        buffer.set_extra_state(state["extra"])


# -- the checkpoint file ----------------------------------------------------------------------------
def write_checkpoint(path: Path, run: dict[str, Any], payload: dict[str, Any]) -> None:
    """Atomically write a checkpoint of the run identified by ``run`` (its spec and env signature)."""
    atomic_io.torch_save(path, {"format": FORMAT, "autoq_version": __version__, "run": run, **payload})


def read_checkpoint(path: Path, run: dict[str, Any]) -> dict[str, Any]:
    """Read a checkpoint and check that it belongs to ``run``; raise ``ValueError`` saying why not."""
    saved = atomic_io.read_torch(path, "checkpoint", weights_only=False)
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise ValueError(f"'{path}' is not an autoq checkpoint (no '{FORMAT}' header)")
    if saved.get("autoq_version") != __version__:
        raise ValueError(f"'{path}' was written by autoq {saved.get('autoq_version')}, this is {__version__}: "
                         "a run resumes exactly only with the version that started it")
    different = _differences(saved["run"], run)
    if different:
        raise ValueError(f"'{path}' belongs to another run: " + "; ".join(
            f"{key}: checkpoint {_short(old)} vs now {_short(new)}" for key, (old, new) in sorted(different.items())))
    return saved


def _differences(old: dict, new: dict, prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """The entries of two nested dicts that differ, by dotted key (``env.search_samples``)."""
    different = {}
    for key in sorted(set(old) | set(new), key=str):
        a, b, name = old.get(key), new.get(key), f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            different.update(_differences(a, b, f"{name}."))
        elif a != b:
            different[name] = (a, b)
    return different


def check_signature(expected: dict, actual: dict) -> None:
    """Refuse an env that is not the search problem an agent or checkpoint belongs to."""
    different = {key: values for key, values in _differences(expected, actual).items() if key != "autoq_version"}
    if different:
        details = "; ".join(f"{key}: saved {_short(old)} vs env {_short(new)}" for key, (old, new) in
                            sorted(different.items()))
        raise ValueError(f"the env does not match the one the agent was trained on ({details})")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- interrupts -------------------------------------------------------------------------------------
class StopSignals:
    """Context manager: the first SIGINT/SIGTERM sets ``requested`` (the signal's number) instead of
    killing the process; a second SIGINT raises ``KeyboardInterrupt`` at once.

    :param message: printed to stderr when the first signal arrives.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, message: str) -> None:
        self.message = message
        self.requested: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = signum
        print(f"\nautoq: {signal.Signals(signum).name} received; {self.message}", file=sys.stderr, flush=True)

    def __enter__(self) -> StopSignals:
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


class EpisodeBoundaryCallback(BaseCallback):
    """Call ``at_boundary`` between episodes of a stable-baselines3 style ``learn`` (at each rollout
    start, i.e. after the previous episode's training) and stop learning when it returns ``False``.

    An off-policy agent training once per episode starts one rollout per episode, so a checkpoint
    taken here holds the agent after its update and before the next episode's first step. A rollout
    that starts inside an episode (training every few steps) is no boundary: the agent's
    ``_last_episode_starts`` (stable-baselines3) says whether the last step ended an episode.
    """

    def __init__(self, at_boundary: Callable[[], bool]) -> None:
        super().__init__()
        self.at_boundary = at_boundary
        self._keep_going = True

    def _on_rollout_start(self) -> None:
        episode_starts = getattr(self.model, "_last_episode_starts", None)
        if episode_starts is None or np.all(episode_starts):
            self._keep_going = self.at_boundary()

    def _on_step(self) -> bool:
        return self._keep_going
