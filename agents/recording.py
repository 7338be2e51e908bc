"""Per-episode records and the best configuration, shared by every agent.

``EpisodeRecorder`` is a stable-baselines3 callback: give it to any agent's ``learn`` (SB3's DDPG,
TD3, SAC, PPO on a wrapper, or ``HierarchicalDDPG``) and it keeps one row per finished episode and
the best configuration by the episode objective, optionally appending each row to a CSV file
(flushed per episode, so a killed run keeps every finished episode).
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

REQUIRED_FIELDS = ("episode", "reward", "accuracy", "accuracy_drop", "latency_rel", "energy_rel", "latency_s",
                   "energy_j", "mean_weight_qbn", "mean_activation_qbn", "wall_time_s")
# how the accuracy was measured (autoq_env.evaluation): search images used, served from the cache (0/1),
# the evaluation's wall time; logs written before these columns existed are still read
EVALUATION_FIELDS = ("images_used", "cache_hit", "evaluation_time_s")
EPISODE_FIELDS = (*REQUIRED_FIELDS, *EVALUATION_FIELDS)
# differ between runs of the same seed: timings, and whether the process's cache already held the accuracy
RUN_DEPENDENT_FIELDS = ("wall_time_s", "evaluation_time_s", "cache_hit")
_STEP_KEYS = ("step_kind", "layer", "kernel", "qbn", "qbn_cap", "goal", "config", "terminal_observation",
              "episode", "TimeLimit.truncated")


def episode_row(episode: int, info: dict, wall_time_s: float) -> dict:
    """One log row from the final ``info`` of an episode (the env's metrics)."""
    given = {"episode": episode, "reward": info["reward_objective"], "wall_time_s": wall_time_s,
             "cache_hit": int(bool(info["cache_hit"]))}
    return {key: given[key] if key in given else info[key] for key in EPISODE_FIELDS}


class BestResult:
    """The best configuration seen so far, by the episode objective ``reward_objective``. In resource mode one
    that meets the budget (``budget_met``) always beats one that does not: a configuration over the budget is the
    best only while none within it has been seen (a uniform reference over the budget is still reported)."""

    def __init__(self) -> None:
        self.config: dict | None = None
        self.metrics: dict | None = None

    def update(self, info: dict, episode: int) -> bool:
        """Consider an episode's final ``info``; return whether it is the new best."""
        def rank(metrics: dict) -> tuple[bool, float]:
            return bool(metrics.get("budget_met", True)), metrics["reward_objective"]
        if self.metrics is not None and rank(info) <= rank(self.metrics):
            return False
        self.metrics = {key: value for key, value in info.items() if key not in _STEP_KEYS}
        self.metrics["episode"] = episode
        self.config = info["config"]
        return True


class EpisodeRecorder(BaseCallback):
    """Record every finished episode of ``learn`` (and the best configuration).

    :param csv_path: append each row to this CSV file and flush it (``None``: keep rows in memory only).
    :param first_episode: number of the first recorded episode (continuing a resumed run).
    """

    def __init__(self, csv_path: str | os.PathLike | None = None, first_episode: int = 1, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.csv_path = None if csv_path is None else Path(csv_path)
        self.rows: list[dict] = []
        self.best = BestResult()
        self._next_episode = first_episode
        self._started = time.perf_counter()

    @property
    def episodes_done(self) -> int:
        """The number of the last recorded episode (0 before the first)."""
        return self._next_episode - 1

    def state(self) -> dict[str, Any]:
        """The rows, the best result and the elapsed time (for checkpoints)."""
        return {"rows": list(self.rows), "best_config": self.best.config, "best_metrics": self.best.metrics,
                "next_episode": self._next_episode, "elapsed_s": time.perf_counter() - self._started}

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from ``state``: rows, best result, episode numbering and wall-time clock."""
        self.rows = list(state["rows"])
        self.best.config, self.best.metrics = state["best_config"], state["best_metrics"]
        self._next_episode = int(state["next_episode"])
        self._started = time.perf_counter() - float(state["elapsed_s"])

    def _on_step(self) -> bool:
        for done, info in zip(np.atleast_1d(self.locals["dones"]), self.locals["infos"]):
            if done and "reward_objective" in info:
                self.record(info)
        return True

    def record(self, info: dict) -> dict:
        """Record one finished episode's final ``info``; return its row."""
        row = episode_row(self._next_episode, info, time.perf_counter() - self._started)
        self.best.update(info, self._next_episode)
        self.rows.append(row)
        self._next_episode += 1
        if self.csv_path is not None:
            append_csv_row(self.csv_path, row)
        return row


def read_episode_csv(path: Path, limit: int | None = None, fields: tuple[str, ...] = REQUIRED_FIELDS,
                     ) -> list[dict[str, float]]:
    """Read an ``episodes.csv``: rows of numbers, episodes numbered 1, 2, ... in order.

    Raises ``ValueError`` naming the line when the file is not such a log (a wrong header, a torn or
    non-numeric row, a missing or repeated episode). The file is only read.

    :param limit: read at most this many rows (what follows them is not checked: a run killed while
        appending leaves a torn last row).
    """
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle, strict=True)
            missing = [name for name in fields if name not in (reader.fieldnames or ())]
            if missing:
                raise ValueError(f"{path}: not an episode log; the header lacks {', '.join(missing)}")
            rows = []
            for row in reader:
                if limit is not None and len(rows) >= limit:
                    break
                line = reader.line_num
                if None in row or None in row.values():
                    raise ValueError(f"{path}, line {line}: {len(row)} columns where the header has "
                                     f"{len(reader.fieldnames)} (a torn or edited row)")
                try:
                    values = {key: float(value) for key, value in row.items()}
                except ValueError as error:
                    raise ValueError(f"{path}, line {line}: a value is not a number ({error})") from None
                if values["episode"] != len(rows) + 1:
                    raise ValueError(f"{path}, line {line}: episode {values['episode']:g} where episode "
                                     f"{len(rows) + 1} was expected (episodes missing, repeated or out of order)")
                rows.append(values)
    except (UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"{path}: not a readable CSV file: {error}") from None
    return rows


def append_csv_row(path: Path, row: dict[str, Any]) -> None:
    """Append ``row`` to a CSV file (writing the header first if the file is new) and flush it to disk."""
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)
        handle.flush()
        os.fsync(handle.fileno())
