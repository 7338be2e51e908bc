"""Run one search and write its results: what ``autoq search`` and the benchmarks both call.

A run folder holds:

- ``run.json``: the command, every setting, the env's signature, ``status`` (``running``/``finished``);
- ``episodes.csv``: one row per episode (or evaluation), appended and flushed as the run goes;
- ``best_config.json``: the best configuration found (by the episode objective on the search split);
- ``agent.pt`` (``HierarchicalDDPG``) or ``agent.zip`` (stable-baselines3 DDPG) for RL agents;
- ``report.json`` / ``report.md``: the best configuration scored on the official test split next to
  the float and uniform 8-bit models (the search never saw the test split).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym

from agents.recording import EpisodeRecorder
from autoq_env import atomic_io

AGENTS = ("hrl", "ddpg-layer", "ddpg-kernel", "random", "greedy", "uniform")
RESULT_FILES = ("run.json", "episodes.csv", "best_config.json", "agent.pt", "agent.zip", "report.json", "report.md")


@dataclass(frozen=True)
class RunSpec:
    """What to run: an agent, its budget in episodes (evaluations for search baselines) and a seed."""

    agent: str
    episodes: int
    seed: int = 0
    uniform_bits: int = 8  # QBN of the ``uniform`` baseline
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.agent not in AGENTS:
            raise ValueError(f"unknown agent {self.agent!r}; allowed: {', '.join(AGENTS)}")
        if isinstance(self.episodes, bool) or not isinstance(self.episodes, int) or self.episodes < 1:
            raise ValueError(f"episodes must be a positive integer, got {self.episodes!r}")


@dataclass
class RunResult:
    best_config: dict
    best_metrics: dict
    report: dict
    report_markdown: str
    wall_time_s: float


def prepare_out(out: Path, overwrite: bool) -> None:
    """Refuse a folder holding another run's results unless ``overwrite``; then remove those results."""
    existing = [name for name in RESULT_FILES if (out / name).exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{out} already holds a run's results ({', '.join(existing)}); choose another "
                              "folder or pass --overwrite to replace them")
    out.mkdir(parents=True, exist_ok=True)
    for name in existing:
        (out / name).unlink()


def _run_agent(spec: RunSpec, env: gym.Env, out: Path, progress_bar: bool) -> EpisodeRecorder:
    recorder = EpisodeRecorder(out / "episodes.csv")
    if spec.agent == "hrl":
        from agents.hierarchical import HierarchicalDDPG

        agent = HierarchicalDDPG(env, seed=spec.seed, device=spec.device)
        agent.learn(total_episodes=spec.episodes, callback=recorder, progress_bar=progress_bar)
        agent.save(out / "agent.pt")
    elif spec.agent in ("ddpg-layer", "ddpg-kernel"):
        from agents.flat import make_flat_ddpg

        agent = make_flat_ddpg(spec.agent, env, seed=spec.seed, device=spec.device)
        steps_per_episode = agent.get_env().get_attr("steps_per_episode")[0]
        agent.learn(total_timesteps=spec.episodes * steps_per_episode, callback=recorder, progress_bar=progress_bar)
        agent.save(out / "agent.zip")
    else:
        from agents.search import make_search

        search = make_search(spec.agent, env, **({"weight_qbn": spec.uniform_bits} if spec.agent == "uniform" else {}))
        search.search(spec.episodes, seed=spec.seed, callback=recorder.record, progress_bar=progress_bar)
    return recorder


def _test_report(env: gym.Env, best_config: dict, best_metrics: dict) -> dict:
    core = env.unwrapped
    rows = {"best": core.evaluate(best_config, split="test")}
    if core.b_max == 8:
        rows["uniform 8-bit"] = core.evaluate(core.uniform_config(8), split="test")
    return {
        "float_test_accuracy": core.problem.float_accuracy("test"),
        "test": {name: {k: v for k, v in metrics.items() if k != "config"} for name, metrics in rows.items()},
        "search": {k: v for k, v in best_metrics.items() if k != "config"},
    }


def _report_markdown(spec: RunSpec, report: dict) -> str:
    lines = [f"# autoq search: {spec.agent}, {spec.episodes} episodes, seed {spec.seed}", "",
             f"Float model: {report['float_test_accuracy']:.2f}% top-1 on the test split. The search took "
             f"{report['wall_time_s']:.0f} s.", "",
             "| configuration (test split) | top-1 % | drop (points) | latency vs 8-bit | energy vs 8-bit | "
             "mean weight QBN | mean activation QBN |", "|---|---|---|---|---|---|---|"]
    for name, m in report["test"].items():
        lines.append(f"| {name} | {m['accuracy']:.2f} | {m['accuracy_drop']:+.2f} | {m['latency_rel']:.3f} | "
                     f"{m['energy_rel']:.3f} | {m['mean_weight_qbn']:.2f} | {m['mean_activation_qbn']:.2f} |")
    s = report["search"]
    lines += ["", f"On the search split the best configuration (episode {s.get('episode')}) scored "
              f"{s['accuracy']:.2f}% (drop {s['accuracy_drop']:+.2f} points) with reward {s['reward_objective']:+.4f}."]
    return "\n".join(lines) + "\n"


def run_search(spec: RunSpec, env: gym.Env, out: Path, progress_bar: bool = True, command: list[str] | None = None,
               settings: dict[str, Any] | None = None) -> RunResult:
    """Run ``spec`` on ``env`` and write every result file into ``out`` (prepared with ``prepare_out``)."""
    header = {"command": command, "spec": asdict(spec), "settings": settings, "env": env.unwrapped.signature}
    atomic_io.write_json(out / "run.json", {**header, "status": "running"})
    started = time.perf_counter()
    recorder = _run_agent(spec, env, out, progress_bar)
    wall_time_s = time.perf_counter() - started
    atomic_io.write_json(out / "best_config.json", recorder.best.config)
    report = _test_report(env, recorder.best.config, recorder.best.metrics)
    report["wall_time_s"] = wall_time_s
    markdown = _report_markdown(spec, report)
    atomic_io.write_json(out / "report.json", report)
    atomic_io.write_text(out / "report.md", markdown)
    atomic_io.write_json(out / "run.json", {**header, "status": "finished", "wall_time_s": wall_time_s})
    return RunResult(recorder.best.config, recorder.best.metrics, report, markdown, wall_time_s)
