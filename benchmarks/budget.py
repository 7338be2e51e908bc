"""How long would the full benchmark take on this machine, and what dominates the time?

    python -m benchmarks.budget [--episodes 4] [--setting accuracy-temporal] [--methods ...] [--jobs N]
                                [--out benchmarks/results/budget.json]

Runs every search method of ``benchmarks.compare`` for a few measured episodes on one setting with
the env's default search split and evaluation (sequential), after one warm-up episode (RL agents are
built with ``warmup_episodes=1`` so that the measured episodes include their learning updates), and
splits the time of each episode into the accuracy evaluation (``evaluation_time_s`` of the episode's
metrics, also in ``episodes.csv``, with the search images it used) and everything else (the agent:
acting, replay buffers, gradient steps; the env's steps). It also times each method's set-up, one
run's test-split report and the compile of the fused quantized forward (the measuring processes
compile at once, ``AUTOQ_COMPILE=1``, as a long benchmark process does after its first
``COMPILE_AFTER_IMAGES`` images).

Images per evaluation depend on how good the configurations are, which changes over a run (an RL
agent's early episodes are hopeless, its late ones near the tolerance), so a few measured episodes
do not say it. Where the committed results hold them, the extrapolation takes each method's
accuracy drops over a whole 200-episode run (``benchmarks/results/benchmark/<setting>/<method>/
seed-0/episodes.csv``, scored in full) and maps every drop to the images that sequential evaluation
used for the configurations of ``benchmarks/results/sequential_eval.json`` with the nearest drop; the
seconds per image are the measured ones. The full benchmark's time is then extrapolated: the default
plan of ``benchmarks.compare`` (5 seeds x 200 episodes x every method x both accuracy settings, plus
the uniform references), assuming the other setting costs the same per episode.

With ``--jobs N`` the measurement itself runs in N processes at once with ``cpu_count / N`` torch
threads each, as ``benchmarks.compare --jobs N`` runs, and the total is divided by N. Absolute times
depend on the machine and its load; the split between evaluation and agent, and the images, do not.

Prints a table and writes the figures, the machine and the git state to ``--out`` (JSON, atomic).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
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
from agents.recording import EPISODE_FIELDS, read_episode_csv
from agents.runner import RunSpec, run_search
from agents.sessions import DETERMINISTIC_AGENTS
from autoq_env import atomic_io, evaluation
from autoq_env.data import SEARCH_POOL_SAMPLES
from autoq_env.evaluation import SequentialRule
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
from benchmarks.sequential_eval import replay

DEFAULT_OUT = Path("benchmarks/results/budget.json")
RL_METHODS = ("hrl", "ddpg-kernel", "ddpg-layer")
TARGET_S = 2 * 3600  # the benchmark's time budget (issue 5): 2 hours on a 2-core machine


RESULTS = Path(__file__).resolve().parent / "results"
IMAGE_BINS = (500, 1000, 2000, 3000, 4000, 5000)  # histogram of images per evaluation: at most each value


@contextlib.contextmanager
def timed_measurements(log: list[tuple[str, float, int]]):
    """Within the block, record every forward pass of a split (``evaluation.measure_accuracy``) in ``log``
    as ``(split, seconds, images)``."""
    measure = evaluation.measure_accuracy

    def timed(problem, config, split, rule=None, tolerance_pts=None):
        started = time.perf_counter()
        outcome = measure(problem, config, split, rule, tolerance_pts)
        log.append((split, time.perf_counter() - started, outcome.images_used))
        return outcome

    evaluation.measure_accuracy = timed
    try:
        yield log
    finally:
        evaluation.measure_accuracy = measure


def image_histogram(images: np.ndarray) -> dict[str, int]:
    """How many evaluations used at most each of ``IMAGE_BINS`` images (and more than the bin before)."""
    edges = [0, *IMAGE_BINS]
    return {f"<={high}": int(((images > low) & (images <= high)).sum()) for low, high in zip(edges, edges[1:])}


def measure(method: str, env: gym.Env, episodes: int, log: list[tuple[str, float, int]]) -> dict[str, Any]:
    """Run ``method`` for one warm-up and ``episodes`` measured episodes; return its times in seconds."""
    spec = RunSpec(method, 1 + episodes, seed=0, hyperparams={"warmup_episodes": 1} if method in RL_METHODS else {})
    log.clear()
    evaluation.CACHE.clear()  # measure every method from a cold cache, as a fresh benchmark process would
    with tempfile.TemporaryDirectory() as folder:
        run_search(spec, env, Path(folder), progress_bar=False)
        rows = read_episode_csv(Path(folder) / "episodes.csv", fields=EPISODE_FIELDS)
    wall_s = np.array([row["wall_time_s"] for row in rows])
    evaluation_s = np.array([row["evaluation_time_s"] for row in rows])
    images = np.array([row["images_used"] for row in rows])
    forwarded = images * (1 - np.array([row["cache_hit"] for row in rows]))
    test_s = [seconds for split, seconds, _ in log if split == "test"]
    episode_s = np.diff(wall_s)[-episodes:]
    return {"setup_s": float(wall_s[0] - evaluation_s[0]), "episode_s": float(episode_s.mean()),
            "evaluation_s": float(evaluation_s[-episodes:].mean()),
            "agent_s": float((episode_s - evaluation_s[-episodes:]).mean()),
            "images_mean": float(images[-episodes:].mean()), "images": images[-episodes:].tolist(),
            "cache_hits": int((forwarded[-episodes:] == 0).sum()),
            "seconds_per_image": float(evaluation_s[-episodes:].sum() / max(forwarded[-episodes:].sum(), 1)),
            "test_evaluation_s": float(max(test_s)) if test_s else 0.0}


def _drop_to_images() -> tuple[np.ndarray, np.ndarray] | None:
    """(full-split drop, images the default rule uses) of every configuration in sequential_eval.json,
    replayed from its raw per-image correctness."""
    path = RESULTS / "sequential_eval.json"
    if not path.exists():
        return None
    record = atomic_io.read_json(path)
    total = record["search_images"]

    def unpack(text: str) -> np.ndarray:
        return np.unpackbits(np.frombuffer(base64.b64decode(text), np.uint8))[:total].astype(int)

    float_correct = unpack(record["float_correct"])
    differences = np.stack([float_correct - unpack(c["correct"]) for c in record["configurations"]])
    images, _ = replay(SequentialRule(), differences, record["batch_sizes"], record["tolerance_pts"])
    return 100 * differences.mean(axis=1), images.astype(float)


def projected_images(method: str, setting: str) -> np.ndarray | None:
    """Images per evaluation over a whole committed run of ``method`` (nearest drop in sequential_eval)."""
    mapping = _drop_to_images()
    log = RESULTS / "benchmark" / setting / method / "seed-0" / "episodes.csv"
    if mapping is None or not log.exists():
        return None
    drops, images = mapping
    order = np.argsort(drops)
    drops, images = drops[order], images[order]
    run_drops = np.array([row["accuracy_drop"] for row in read_episode_csv(log)])
    nearest = np.clip(np.searchsorted(drops, run_drops), 0, len(drops) - 1)
    below = np.clip(nearest - 1, 0, len(drops) - 1)
    pick = np.where(np.abs(drops[below] - run_drops) < np.abs(drops[nearest] - run_drops), below, nearest)
    return images[pick]


def extrapolate(figures: dict[str, dict[str, float]], episodes: int, seeds: int, settings: int) -> dict[str, Any]:
    """The full benchmark's time from per-method figures: per run its set-up, its episodes and the test
    evaluation of its best configuration; per setting the uniform references (one evaluation and one
    test evaluation each) and the uniform 8-bit test evaluation every report shows (memoized). A
    deterministic method (``DETERMINISTIC_AGENTS``) runs one seed, as ``benchmarks.compare`` plans it."""
    runs = {method: settings * (1 if method in DETERMINISTIC_AGENTS else seeds) for method in figures}
    per_method = {method: runs[method] * (f["setup_s"] + episodes * f["episode_s"] + f["test_evaluation_s"])
                  for method, f in figures.items()}
    any_figures = next(iter(figures.values()))
    references_s = settings * (len(UNIFORM_BITS) + 1) * (any_figures["evaluation_s"] + any_figures["test_evaluation_s"])
    evaluation_s = sum(runs[method] * episodes * f["evaluation_s"] for method, f in figures.items())
    total_s = sum(per_method.values()) + references_s
    return {"per_method_s": per_method, "references_s": references_s, "total_s": total_s,
            "search_evaluation_share": evaluation_s / total_s}


def measure_all(setting: str, methods: list[str], episodes: int, threads: int | None) -> dict[str, Any]:
    """``measure`` every method on a fresh env of ``setting`` (``threads``: torch threads, ``None``: as set),
    with the fused forward compiled at once; also returns the compile time (``compile_s``)."""
    if threads is not None:
        torch.set_num_threads(threads)
    os.environ["AUTOQ_COMPILE"] = "1"
    env = gym.make(ENV_ID, **SETTINGS[setting])
    log: list[tuple[str, float, int]] = []
    with timed_measurements(log):
        figures = {method: measure(method, env, episodes, log) for method in methods}
    return {"methods": figures, "compile_s": env.unwrapped.problem.evaluator.compile_time_s or 0.0}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.budget", description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=positive_int, default=4, help="measured episodes per method (default 4)")
    parser.add_argument("--setting", choices=tuple(SETTINGS), default=ACCURACY_SETTINGS[0])
    parser.add_argument("--methods", nargs="+", choices=SEARCH_METHODS, default=list(SEARCH_METHODS))
    parser.add_argument("--jobs", type=positive_int, default=1,
                        help="measure as 'benchmarks.compare --jobs N' runs: N measuring processes at once, "
                             "cpu_count/N torch threads each (default 1: this process, its threads)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    parser.add_argument("--project-from", type=Path, metavar="JSON",
                        help="no measurement: take the measured figures of an earlier --out file and redo the "
                             "projection over whole runs (e.g. after benchmarks.sequential_eval)")
    args = parser.parse_args(argv)

    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    if args.project_from is not None:
        saved = atomic_io.read_json(args.project_from)
        args.jobs, args.setting, args.episodes = saved["jobs"], saved["setting"], saved["measured_episodes"]
        threads = saved["threads_per_job"]
        keep = ("setup_s", "images_mean", "cache_hits", "seconds_per_image", "test_evaluation_s", "agent_s", "images")
        measured = [{"compile_s": saved["full_benchmark"]["compile_s"], "methods": {
            method: {**{key: f[key] for key in keep}, "episode_s": f["measured_episode_s"],
                     "evaluation_s": f["measured_evaluation_s"]} for method, f in saved["per_method"].items()}}]
        args.methods = list(saved["per_method"])
    elif args.jobs == 1:
        measured = [measure_all(args.setting, args.methods, args.episodes, None)]
    else:
        with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            measured = list(pool.map(measure_all, *zip(*[(args.setting, args.methods, args.episodes, threads)]
                                                        * args.jobs)))
    figures = {}
    for method in args.methods:
        runs = [m["methods"][method] for m in measured]
        f = {key: float(np.mean([r[key] for r in runs])) for key in runs[0] if key != "images"}
        f["images"] = [n for r in runs for n in r["images"]]
        f["agent_s"] = f["episode_s"] - f["evaluation_s"]
        f["measured_episode_s"], f["measured_evaluation_s"] = f["episode_s"], f["evaluation_s"]
        f["measured_images_histogram"] = image_histogram(np.array(f["images"]))
        projected = projected_images(method, args.setting)
        if projected is not None:  # over a whole run, at the measured seconds per image
            f["projected_images_mean"] = float(projected.mean())
            f["projected_images_histogram"] = image_histogram(projected)
            f["evaluation_s"] = f["projected_images_mean"] * f["seconds_per_image"]
            f["episode_s"] = f["agent_s"] + f["evaluation_s"]
        figures[method] = f
    compile_s = float(np.mean([m["compile_s"] for m in measured]))
    print(f"fused forward compiled in {compile_s:.1f} s per process; measured {args.episodes} episodes per method "
          f"after one warm-up, {args.jobs} job(s) at once")
    for method, f in figures.items():
        projected = (f"; over a whole run {f['projected_images_mean']:.0f} images/evaluation "
                     f"{f['projected_images_histogram']} -> episode {f['episode_s']:.2f} s"
                     if "projected_images_mean" in f else "")
        print(f"{method:<12} episode {f['measured_episode_s']:6.2f} s = evaluation {f['measured_evaluation_s']:5.2f} s "
              f"({f['images_mean']:.0f} images, {f['seconds_per_image'] * 1e3:.2f} ms each) + agent and env "
              f"{f['agent_s']:5.2f} s; set-up {f['setup_s']:5.2f} s; test evaluation {f['test_evaluation_s']:5.2f} s"
              f"{projected}")
    plan = extrapolate(figures, FULL.episodes, FULL.seeds, len(ACCURACY_SETTINGS))
    plan["total_s"] = plan["total_s"] / args.jobs + compile_s  # N runs at once; each process compiles once
    plan["compile_s"] = compile_s
    print(f"\nfull default benchmark ({FULL.seeds} seeds x {FULL.episodes} episodes x {len(figures)} methods x "
          f"{len(ACCURACY_SETTINGS)} settings, {args.jobs} job(s)), extrapolated: {plan['total_s'] / 3600:.2f} h "
          f"(target {TARGET_S / 3600:.0f} h); search-split evaluations: {plan['search_evaluation_share']:.0%} of it")
    for method, seconds in plan["per_method_s"].items():
        print(f"  {method:<12} {seconds / 3600:5.2f} h of run time")
    atomic_io.write_json(args.out, {
        "benchmark": "budget", "command": [sys.executable, "-m", "benchmarks.budget", *(argv or sys.argv[1:])],
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git": git_state(), "machine": machine(), "setting": args.setting, "measured_episodes": args.episodes,
        "jobs": args.jobs, "threads_per_job": threads if args.jobs > 1 else torch.get_num_threads(),
        "search_samples": SEARCH_POOL_SAMPLES, "evaluation": "sequential", "per_method": figures,
        "full_benchmark": {"episodes": FULL.episodes, "seeds": FULL.seeds, "settings": list(ACCURACY_SETTINGS),
                           "jobs": args.jobs, **plan, "target_s": TARGET_S}})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
