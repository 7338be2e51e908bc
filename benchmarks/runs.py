"""The run folders of a benchmark, read back, and what two methods' runs are compared by.

A benchmark (``benchmarks.compare``, ``benchmarks.ablation``) writes one folder per run,
``DIR/<setting>/<method>/seed-<k>/``; ``load_runs`` reads the finished ones. Two methods are compared
seed by seed (``paired_by_seed``): a deterministic method (``agents.sessions.DETERMINISTIC_AGENTS``:
greedy and the uniform references, run once at seed 0 because every seed would repeat that run) pairs
with every seed of the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from agents.recording import read_episode_csv
from agents.sessions import DETERMINISTIC_AGENTS
from autoq_env.atomic_io import read_json
from benchmarks.stats import Summary, episodes_to_fraction, summarise

CONVERGENCE_FRACTION = 0.9  # "episodes to 90% of the final reward"
COST_METRICS = ("latency_rel", "energy_rel")  # relative to the uniform 8-bit model on the same accelerator
Value = TypeVar("Value")


@dataclass
class Run:
    """One finished run folder, as read from its files."""

    setting: str
    method: str
    seed: int
    record: dict[str, Any]  # run.json
    report: dict[str, Any]  # report.json
    episodes: list[dict[str, float]]  # episodes.csv
    best_config: dict[str, Any]  # best_config.json

    @property
    def rewards(self) -> np.ndarray:
        return np.array([row["reward"] for row in self.episodes])

    @property
    def tolerance_pts(self) -> float:
        return float(self.record["env"]["reward_weights"]["tolerance_pts"])

    @property
    def hyperparams(self) -> dict[str, Any]:
        """The YAML values the run's agent used (``settings.hyperparams.values``; empty for agents without)."""
        return (self.record.get("settings", {}).get("hyperparams") or {}).get("values", {})

    @property
    def deterministic(self) -> bool:
        """Whether the run does not depend on its seed (its agent is greedy or a uniform reference)."""
        return self.record["spec"]["agent"] in DETERMINISTIC_AGENTS


def load_runs(out: Path) -> tuple[list[Run], list[Path]]:
    """The finished runs under ``out`` and the folders of the unfinished ones."""
    finished, unfinished = [], []
    for path in sorted(out.glob("*/*/seed-*/run.json")):
        folder = path.parent
        record = read_json(path)
        if record.get("status") != "finished":
            unfinished.append(folder)
            continue
        episodes = read_episode_csv(folder / "episodes.csv")
        finished.append(Run(setting=folder.parent.parent.name, method=folder.parent.name,
                            seed=int(folder.name.removeprefix("seed-")), record=record,
                            report=read_json(folder / "report.json"), episodes=episodes,
                            best_config=read_json(folder / "best_config.json")))
    return finished, unfinished


def absent(runs: list[Run], methods: tuple[str, ...]) -> list[str]:
    """Those of ``methods`` without a run in ``runs``, in order."""
    present = {run.method for run in runs}
    return [method for method in methods if method not in present]


def episodes_to_convergence(run: Run) -> int:
    """Episodes the run needed to get ``CONVERGENCE_FRACTION`` of the way from its first reward to its best
    (``benchmarks.stats.episodes_to_fraction``)."""
    return episodes_to_fraction(run.rewards, CONVERGENCE_FRACTION)


def best_within_tolerance(run: Run) -> dict[str, float] | None:
    """The run's highest-reward episode whose search-split drop is within the tolerance (``None``: none is)."""
    within = [row for row in run.episodes if row["accuracy_drop"] <= run.tolerance_pts]
    return max(within, key=lambda row: row["reward"]) if within else None


def late_mean(run: Run, field: str, last_episodes: int) -> float:
    """Mean of an ``episodes.csv`` column (``reward``, ``accuracy_drop``, ``latency_rel``, ...) over the run's last
    ``last_episodes`` episodes (all of a shorter run): what its policy plays after the search."""
    return float(np.mean([row[field] for row in run.episodes[-last_episodes:]]))


def share_within_tolerance(run: Run, last_episodes: int) -> float:
    """Share of the run's last ``last_episodes`` episodes (all of a shorter run) whose search-split drop is
    within the tolerance."""
    drops = np.array([row["accuracy_drop"] for row in run.episodes[-last_episodes:]])
    return float(np.mean(drops <= run.tolerance_pts))


def paired_by_seed(runs: list[Run], method: str, baseline: str,
                   value: Callable[[Run], Value | None]) -> list[tuple[Value, Value]]:
    """``(value of method's run, value of baseline's run)`` for every seed both have a value for, in seed order.

    A deterministic method's single run pairs with every seed of the other; a run whose ``value`` is
    ``None`` pairs with nothing.
    """
    def by_seed(name: str) -> tuple[dict[int, Value | None], bool]:
        of_name = [run for run in runs if run.method == name]
        return {run.seed: value(run) for run in of_name}, len(of_name) == 1 and of_name[0].deterministic

    (ours, ours_once), (theirs, theirs_once) = by_seed(method), by_seed(baseline)
    if ours_once:
        ours = dict.fromkeys(theirs, *ours.values())
    if theirs_once:
        theirs = dict.fromkeys(ours, *theirs.values())
    return [(ours[seed], theirs[seed]) for seed in sorted(ours.keys() & theirs.keys())
            if ours[seed] is not None and theirs[seed] is not None]


def paired_difference(runs: list[Run], method: str, baseline: str,
                      value: Callable[[Run], float]) -> Summary | None:
    """IQM [95% CI] of ``value(method's run) - value(baseline's run)`` over the seeds both ran
    (``paired_by_seed``); ``None`` without such a seed."""
    pairs = paired_by_seed(runs, method, baseline, value)
    return summarise([ours - theirs for ours, theirs in pairs]) if pairs else None


def best_test_drop(run: Run) -> float:
    """The test-split accuracy drop (points) of the run's best configuration."""
    return run.report["test"]["best"]["accuracy_drop"]


def cost_ratios(runs: list[Run], method: str, baseline: str) -> dict[str, Summary] | None:
    """Latency and energy of ``method``'s best episode within the tolerance over ``baseline``'s, paired by
    seed: IQM [95% CI] per metric of ``COST_METRICS``; ``None`` without a seed where both have one."""
    pairs = paired_by_seed(runs, method, baseline, best_within_tolerance)
    if not pairs:
        return None
    return {metric: summarise([ours[metric] / theirs[metric] for ours, theirs in pairs]) for metric in COST_METRICS}
