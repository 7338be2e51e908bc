"""How long would the full benchmark take on this machine, and what dominates the time?

    python -m benchmarks.budget [--episodes 4] [--setting accuracy-temporal] [--methods ...]
                                [--out benchmarks/results/budget.json]

Runs every search method of ``benchmarks.compare`` for a few measured episodes on one setting with
the env's default search split, after one warm-up episode (RL agents are built with
``warmup_episodes=1`` so that the measured episodes include their learning updates), and splits the
time of each episode into the accuracy evaluation on the search split (the env's quantized forward
passes, timed around ``QuantizationProblem.accuracy``) and everything else (the agent: acting,
replay buffers, gradient steps; the env's steps). It also times each method's set-up (building the
agent; the greedy search's sensitivity pass) and one run's test-split report. The full benchmark's
time is then extrapolated from these figures: the default plan of ``benchmarks.compare`` (5 seeds x
200 episodes x every method x both accuracy settings, plus the uniform references), assuming the
other setting costs the same per episode (the accelerator models cost well under a millisecond per
configuration).

With ``--jobs N`` the measurement itself runs in N processes at once with ``cpu_count / N`` torch
threads each, as ``benchmarks.compare --jobs N`` runs, and the total is divided by N.

Prints a table and writes the figures, the machine and the git state to ``--out`` (JSON, atomic).
"""

from __future__ import annotations

import argparse
import datetime
import functools
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import autoq_env  # noqa: F401  (registers the envs)
from agents.cli import positive_int
from agents.recording import read_episode_csv
from agents.runner import RunSpec, run_search
from autoq_env import atomic_io
from autoq_env.data import SEARCH_POOL_SAMPLES
from benchmarks.compare import (
    ACCURACY_SETTINGS,
    ENV_ID,
    FULL,
    SEARCH_METHODS,
    SETTINGS,
    UNIFORM_BITS,
    git_state,
    machine,
)

DEFAULT_OUT = Path("benchmarks/results/budget.json")
RL_METHODS = ("hrl", "ddpg-kernel", "ddpg-layer")
TARGET_S = 2 * 3600  # the benchmark's time budget (issue 5): 2 hours on a 2-core machine


def _timed_accuracy(problem: Any, log: list[tuple[str, float]]) -> None:
    """Record the wall time of every ``problem.accuracy`` call in ``log`` as ``(split, seconds)``."""
    accuracy = problem.accuracy

    @functools.wraps(accuracy)
    def timed(activation_qbn, kernel_qbn, split: str = "search") -> float:
        started = time.perf_counter()
        try:
            return accuracy(activation_qbn, kernel_qbn, split)
        finally:
            log.append((split, time.perf_counter() - started))

    problem.accuracy = timed


def measure(method: str, env: gym.Env, episodes: int, log: list[tuple[str, float]]) -> dict[str, float]:
    """Run ``method`` for one warm-up and ``episodes`` measured episodes; return its times in seconds."""
    spec = RunSpec(method, 1 + episodes, seed=0, hyperparams={"warmup_episodes": 1} if method in RL_METHODS else {})
    log.clear()
    with tempfile.TemporaryDirectory() as folder:
        run_search(spec, env, Path(folder), progress_bar=False)
        wall_s = np.array([row["wall_time_s"] for row in read_episode_csv(Path(folder) / "episodes.csv")])
    search_s = np.array([seconds for split, seconds in log if split == "search"])
    test_s = [seconds for split, seconds in log if split == "test"]
    episode_s = np.diff(wall_s)[-episodes:]
    evaluation_s = search_s[-episodes:]
    return {"setup_s": float(wall_s[0] - search_s[0]), "episode_s": float(episode_s.mean()),
            "evaluation_s": float(evaluation_s.mean()), "agent_s": float((episode_s - evaluation_s).mean()),
            "test_evaluation_s": float(max(test_s))}  # memoized repeats take ~0 s


def extrapolate(figures: dict[str, dict[str, float]], episodes: int, seeds: int, settings: int) -> dict[str, Any]:
    """The full benchmark's time from per-method figures: per run its set-up, its episodes and the test
    evaluation of its best configuration; per setting the uniform references (one evaluation and one
    test evaluation each) and the uniform 8-bit test evaluation every report shows (memoized)."""
    per_method = {method: seeds * settings * (f["setup_s"] + episodes * f["episode_s"] + f["test_evaluation_s"])
                  for method, f in figures.items()}
    any_figures = next(iter(figures.values()))
    references_s = settings * (len(UNIFORM_BITS) + 1) * (any_figures["evaluation_s"] + any_figures["test_evaluation_s"])
    evaluation_s = sum(seeds * settings * episodes * f["evaluation_s"] for f in figures.values())
    total_s = sum(per_method.values()) + references_s
    return {"per_method_s": per_method, "references_s": references_s, "total_s": total_s,
            "search_evaluation_share": evaluation_s / total_s}


def measure_all(setting: str, methods: list[str], episodes: int, threads: int | None) -> dict[str, dict[str, float]]:
    """``measure`` every method on a fresh env of ``setting`` (``threads``: torch threads, ``None``: as set)."""
    if threads is not None:
        torch.set_num_threads(threads)
    env = gym.make(ENV_ID, **SETTINGS[setting])
    log: list[tuple[str, float]] = []
    _timed_accuracy(env.unwrapped.problem, log)
    return {method: measure(method, env, episodes, log) for method in methods}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.budget", description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=positive_int, default=4, help="measured episodes per method (default 4)")
    parser.add_argument("--setting", choices=tuple(SETTINGS), default=ACCURACY_SETTINGS[0])
    parser.add_argument("--methods", nargs="+", choices=SEARCH_METHODS, default=list(SEARCH_METHODS))
    parser.add_argument("--jobs", type=positive_int, default=1,
                        help="measure as 'benchmarks.compare --jobs N' runs: N measuring processes at once, "
                             "cpu_count/N torch threads each (default 1: this process, its threads)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)

    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    if args.jobs == 1:
        measured = [measure_all(args.setting, args.methods, args.episodes, None)]
    else:
        with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            measured = list(pool.map(measure_all, *zip(*[(args.setting, args.methods, args.episodes, threads)]
                                                        * args.jobs)))
    figures = {method: {key: float(np.mean([m[method][key] for m in measured])) for key in measured[0][method]}
               for method in args.methods}
    for method, f in figures.items():
        print(f"{method:<12} episode {f['episode_s']:6.2f} s = evaluation {f['evaluation_s']:5.2f} s + agent and env "
              f"{f['agent_s']:5.2f} s; set-up {f['setup_s']:5.2f} s; test evaluation {f['test_evaluation_s']:5.2f} s")
    plan = extrapolate(figures, FULL.episodes, FULL.seeds, len(ACCURACY_SETTINGS))
    plan["total_s"] /= args.jobs  # N runs at once, each at the measured per-episode speed
    print(f"\nfull default benchmark ({FULL.seeds} seeds x {FULL.episodes} episodes x {len(figures)} methods x "
          f"{len(ACCURACY_SETTINGS)} settings, {args.jobs} job(s)), extrapolated: {plan['total_s'] / 3600:.1f} h "
          f"(target {TARGET_S / 3600:.0f} h); search-split evaluations: {plan['search_evaluation_share']:.0%} of it")
    for method, seconds in plan["per_method_s"].items():
        print(f"  {method:<12} {seconds / 3600:5.2f} h of run time")
    atomic_io.write_json(args.out, {
        "benchmark": "budget", "command": [sys.executable, "-m", "benchmarks.budget", *(argv or sys.argv[1:])],
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git": git_state(), "machine": machine(), "setting": args.setting, "measured_episodes": args.episodes,
        "jobs": args.jobs, "threads_per_job": threads if args.jobs > 1 else torch.get_num_threads(),
        "search_samples": SEARCH_POOL_SAMPLES, "per_method": figures,
        "full_benchmark": {"episodes": FULL.episodes, "seeds": FULL.seeds, "settings": list(ACCURACY_SETTINGS),
                           "jobs": args.jobs, **plan, "target_s": TARGET_S}})
    print(f"wrote {args.out}")

if __name__ == "__main__":
    main()
