"""Run one search and write its results: what ``autoq search`` and the benchmarks both call.

A run folder holds:

- ``run.json``: the command, every setting, the env's signature, ``status`` (``running``/``finished``);
- ``episodes.csv``: one row per episode (or evaluation), appended and flushed as the run goes;
- ``best_config.json``: the best configuration found (by the episode objective on the search split);
- ``agent.pt`` (``HierarchicalDDPG``) or ``agent.zip`` (stable-baselines3 DDPG) for RL agents;
- ``report.json`` / ``report.md``: the best configuration scored on the official test split next to
  the float and uniform 8-bit models (the search never saw the test split);
- ``checkpoint.pt`` while the run is unfinished: taken every ``checkpoint_every`` episodes and when
  SIGINT or SIGTERM asks the run to stop (see ``agents.checkpoint``). ``run_search(..., resume=True)``
  continues from it, so that the finished run has exactly the requested episodes, none lost or
  repeated, and the same results as an uninterrupted run with the same seed (bit for bit on CPU).
  The file is removed when the run finishes.
"""

from __future__ import annotations

import csv
import io
import signal
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

from agents.checkpoint import (
    CHECKPOINT_FILE,
    StopSignals,
    global_rng_states,
    read_checkpoint,
    set_global_rng_states,
    write_checkpoint,
)
from agents.recording import EPISODE_FIELDS, RUN_DEPENDENT_FIELDS, EpisodeRecorder, read_episode_csv
from agents.sessions import RL_AGENTS, SEARCH_AGENTS, make_session
from autoq_env import atomic_io

AGENTS = (*RL_AGENTS, *SEARCH_AGENTS)
RESULT_FILES = ("run.json", "episodes.csv", "best_config.json", "agent.pt", "agent.zip", "report.json", "report.md",
                CHECKPOINT_FILE)
DEFAULT_CHECKPOINT_EVERY = 10  # episodes


@dataclass(frozen=True)
class RunSpec:
    """What to run: an agent, its budget in episodes (evaluations for search baselines) and a seed."""

    agent: str
    episodes: int
    seed: int = 0
    uniform_bits: int = 8  # QBN of the ``uniform`` baseline
    device: str = "cpu"
    hyperparams: dict[str, Any] = field(default_factory=dict)  # overrides of an RL agent's YAML defaults

    def __post_init__(self) -> None:
        if self.agent not in AGENTS:
            raise ValueError(f"unknown agent {self.agent!r}; allowed: {', '.join(AGENTS)}")
        if isinstance(self.episodes, bool) or not isinstance(self.episodes, int) or self.episodes < 1:
            raise ValueError(f"episodes must be a positive integer, got {self.episodes!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        if not isinstance(self.hyperparams, dict):
            raise TypeError(f"hyperparams must be a dict of overrides, got {type(self.hyperparams).__name__}")
        if self.hyperparams and self.agent not in RL_AGENTS:
            raise ValueError(f"hyper-parameters apply to the RL agents ({', '.join(RL_AGENTS)}), not to {self.agent!r}")

    def options(self) -> dict[str, Any]:
        """The agent's own arguments: hyper-parameter overrides, or the QBN of ``uniform``."""
        return {"weight_qbn": self.uniform_bits} if self.agent == "uniform" else dict(self.hyperparams)


class RunInterrupted(Exception):
    """A run stopped by SIGINT/SIGTERM after saving a checkpoint (``run_search(..., resume=True)`` goes on).

    :param signum: the signal's number.
    :param episodes_done: episodes finished and kept in the checkpoint.
    :param checkpoint: the checkpoint file.
    """

    def __init__(self, signum: int, episodes_done: int, episodes: int, checkpoint: Path) -> None:
        self.signum, self.episodes_done, self.checkpoint = signum, episodes_done, checkpoint
        super().__init__(f"{signal.Signals(signum).name}: stopped after episode {episodes_done} of {episodes}; "
                         f"checkpoint saved to {checkpoint}")


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
             *([f"The search had no more configurations to propose after {report['episodes_done']} of the "
                f"{spec.episodes} episodes asked for.", ""] if report["episodes_done"] < spec.episodes else []),
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


def _csv_text(rows: list[dict]) -> str:
    handle = io.StringIO()
    writer = csv.DictWriter(handle, fieldnames=list(EPISODE_FIELDS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return handle.getvalue()


def _episode_log_for_resume(path: Path, rows: list[dict]) -> None:
    """Check that ``episodes.csv`` starts with the checkpoint's ``rows``; episodes logged after the
    checkpoint (to be run again) are dropped, atomically. A log that disagrees is left as it is."""
    logged = read_episode_csv(path, limit=len(rows), fields=EPISODE_FIELDS) if path.exists() else []
    if len(logged) < len(rows):
        raise ValueError(f"{path} holds {len(logged)} episodes but the checkpoint {len(rows)}: the log was cut; "
                         "restore it or start the run again with --overwrite")
    for saved, row in zip(rows, logged):
        different = [key for key in EPISODE_FIELDS
                     if key not in RUN_DEPENDENT_FIELDS and float(saved[key]) != row.get(key)]
        if different:
            raise ValueError(f"{path}, episode {saved['episode']}: {', '.join(different)} differ from the checkpoint's "
                             "(the log was edited or belongs to another run)")
    atomic_io.write_text(path, _csv_text(rows))


def run_search(spec: RunSpec, env: gym.Env, out: Path, progress_bar: bool = True, command: list[str] | None = None,
               settings: dict[str, Any] | None = None, checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
               resume: bool = False, stop_signal: Callable[[], int] | None = None) -> RunResult:
    """Run ``spec`` on ``env`` and write every result file into ``out`` (prepared with ``prepare_out``).

    :param checkpoint_every: save a checkpoint every this many episodes (and on SIGINT/SIGTERM).
    :param resume: continue from ``out``'s checkpoint (from the start if there is none yet).
    :param stop_signal: polled between episodes: a signal number received elsewhere (e.g. by the
        benchmark's parent process) stops the run as that signal here would; 0 goes on.
    :raises RunInterrupted: when SIGINT/SIGTERM stopped the run (after its checkpoint was saved).
    """
    if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) or checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be a positive integer of episodes, got {checkpoint_every!r}")
    core = env.unwrapped
    identity = {"spec": asdict(spec), "env": core.signature}
    header = {"command": command, "spec": identity["spec"], "settings": settings, "env": identity["env"]}
    checkpoint_path, csv_path = out / CHECKPOINT_FILE, out / "episodes.csv"
    session = make_session(spec.agent, env, spec.seed, spec.device, spec.options())
    recorder = EpisodeRecorder(csv_path)
    if resume and checkpoint_path.exists():
        saved = read_checkpoint(checkpoint_path, identity)
        _episode_log_for_resume(csv_path, saved["recorder"]["rows"])
        session.start(saved["session"])
        recorder.restore(saved["recorder"])
        if saved["env_rng"] is not None:
            core.np_random.bit_generator.state = saved["env_rng"]
        set_global_rng_states(saved["rng"])  # last: building the agent reseeds the global generators
        if saved.get("torch_threads", torch.get_num_threads()) != torch.get_num_threads():
            warnings.warn(f"this process runs {torch.get_num_threads()} torch threads, the run was checkpointed with "
                          f"{saved['torch_threads']}: sums may round differently, so the resumed run can differ from "
                          "an uninterrupted one in the last digits (set OMP_NUM_THREADS to match)", stacklevel=2)
    else:
        if csv_path.exists():
            csv_path.unlink()  # a run without a checkpoint starts again from its first episode
        session.start(None)
    atomic_io.write_json(out / "run.json", {**header, "status": "running",
                                            "resumed_after_episode": recorder.episodes_done if resume else None})

    def save_checkpoint() -> None:
        write_checkpoint(checkpoint_path, identity, {
            "session": session.state(), "recorder": recorder.state(), "rng": global_rng_states(),
            "torch_threads": torch.get_num_threads(),
            "env_rng": None if core._np_random is None else core.np_random.bit_generator.state})

    last_saved = recorder.episodes_done
    with StopSignals("saving a checkpoint at the end of this episode (press Ctrl-C again to stop at once, "
                     "losing the episodes since the last checkpoint)") as signals:
        def requested() -> int | None:
            return signals.requested or (stop_signal() if stop_signal is not None else 0) or None

        def at_boundary() -> bool:
            nonlocal last_saved
            done = recorder.episodes_done
            if requested() is not None or (done % checkpoint_every == 0 and done > last_saved):
                save_checkpoint()
                last_saved = done
            return requested() is None

        started = time.perf_counter()
        session.run(spec.episodes - recorder.episodes_done, recorder, at_boundary, progress_bar)
    if recorder.episodes_done < spec.episodes and not session.exhausted:
        if requested() is None:
            raise RuntimeError(f"the {spec.agent} session stopped after {recorder.episodes_done} of {spec.episodes} "
                               "episodes without being asked to")
        atomic_io.write_json(out / "run.json", {**header, "status": "interrupted",
                                                "episodes_done": recorder.episodes_done})
        raise RunInterrupted(requested(), recorder.episodes_done, spec.episodes,
                             checkpoint_path)
    wall_time_s = recorder.state()["elapsed_s"]
    session.save_agent(out)
    atomic_io.write_json(out / "best_config.json", recorder.best.config)
    report = _test_report(env, recorder.best.config, recorder.best.metrics)
    report["wall_time_s"] = wall_time_s
    report["episodes_done"] = recorder.episodes_done
    markdown = _report_markdown(spec, report)
    atomic_io.write_json(out / "report.json", report)
    atomic_io.write_text(out / "report.md", markdown)
    atomic_io.write_json(out / "run.json", {**header, "status": "finished", "wall_time_s": wall_time_s,
                                            "session_wall_time_s": time.perf_counter() - started,
                                            "episodes_done": recorder.episodes_done})
    checkpoint_path.unlink(missing_ok=True)
    return RunResult(recorder.best.config, recorder.best.metrics, report, markdown, wall_time_s)
