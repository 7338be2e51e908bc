"""Where an episode's time goes, and what the quantized forward costs against the float one.

    python -m benchmarks.env_speed [--episodes 3] [--accelerator temporal] [--search-samples N] [--repeats 3]

Runs random-policy episodes of ``AutoQ-ResNet-v0`` (sequential evaluation, the default) and splits
each episode's wall time into the accuracy evaluation (configure the model, forward the search
images it needs) and everything else (the 816 steps: observations, rewards, bookkeeping, cost
model). Then, on the whole search split, it times the float model's forward (the baseline, measured
in the same run on the same images), the quantized forward through the forward hooks (the reference
path) and through the compiled fused graph (``QuantizedEvaluator.compile_fused``; its compile time is
printed), for one random configuration: ``--repeats`` rounds of the three passes back to back, each
ratio the median of the rounds' ratios (so that a change in the machine's speed between rounds, which
a shared virtual machine shows, cancels). Also times one cost-model
evaluation of a whole configuration. Ratios, not absolute seconds, are the result: they hold across
machines (and across the load of a shared one).
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time

import gymnasium as gym
import numpy as np
import torch

import autoq_env  # noqa: F401  (registers the envs)
from autoq_env import atomic_io
from autoq_env.hardware import ACCELERATORS
from benchmarks.compare import git_state, machine


def _median_time(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def _forward_round(evaluator, batches, activation, kernels, compiled: bool) -> tuple[float, float, float]:
    """One timed pass of the float model, the hook path and the fused graph over ``batches``, back to back,
    so that each ratio compares passes made under the same machine load."""
    evaluator.apply(None, None)
    float_s = _median_time(lambda: evaluator.accuracy(batches), 1)
    evaluator.apply(activation, kernels)
    evaluator.use_fused = False
    hooks_s = _median_time(lambda: evaluator.accuracy(batches), 1)
    evaluator.use_fused = True
    fused_s = _median_time(lambda: evaluator.accuracy(batches), 1) if compiled else float("nan")
    return float_s, hooks_s, fused_s


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--accelerator", default="temporal", choices=ACCELERATORS)
    parser.add_argument("--search-samples", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/env_speed.json", help="JSON results (atomic)")
    args = parser.parse_args(argv)
    if args.episodes < 1 or args.repeats < 1:
        parser.error("--episodes and --repeats must be at least 1")
    kwargs = {"accelerator": args.accelerator}
    if args.search_samples is not None:
        kwargs["search_samples"] = args.search_samples
    started = time.perf_counter()
    env = gym.make("AutoQ-ResNet-v0", **kwargs)
    core = env.unwrapped
    problem = core.problem
    evaluator = problem.evaluator
    batches = problem.search_batches
    print(f"env built in {time.perf_counter() - started:.2f} s: {core.steps_per_episode} steps per episode, "
          f"{sum(len(b[1]) for b in batches)} search images, {torch.get_num_threads()} torch thread(s)")

    rng = np.random.default_rng(args.seed)
    episode_s, evaluation_s, images = [], [], []
    for episode in range(args.episodes):
        env.reset(seed=args.seed + episode)
        begun = time.perf_counter()
        terminated = False
        while not terminated:
            _, _, terminated, _, info = env.step(rng.uniform(-1, 1, 2).astype(np.float32))
        episode_s.append(time.perf_counter() - begun)
        evaluation_s.append(info["evaluation_time_s"])
        images.append(info["images_used"])

    config = core.uniform_config(4)
    config["kernel_qbn"] = [list(rng.integers(core.b_min, core.b_max + 1, len(k))) for k in config["kernel_qbn"]]
    activation, kernels = core.check_config(config)
    evaluator.apply(activation, kernels)
    compiled = evaluator.compile_fused(batches[0][0])
    evaluator.use_fused = False
    hooks_accuracy = evaluator.accuracy(batches)
    evaluator.use_fused = True
    if compiled and evaluator.accuracy(batches) != hooks_accuracy:
        raise RuntimeError("the compiled fused forward disagrees with the hook path")
    rounds = [_forward_round(evaluator, batches, activation, kernels, compiled) for _ in range(args.repeats)]
    float_forward_s, hooks_s, fused_s = (float(np.median(column)) for column in zip(*rounds))
    hooks_ratio = float(np.median([hooks / base for base, hooks, _ in rounds]))
    fused_ratio = float(np.median([fused / base for base, _, fused in rounds])) if compiled else float("nan")
    cost_s = _median_time(lambda: core.accelerator.network_cost(core.specs, config), 200)

    episode, evaluation = float(np.median(episode_s)), float(np.median(evaluation_s))
    other = episode - evaluation
    print(f"episode (median of {args.episodes}): {episode:.3f} s = accuracy evaluation {evaluation:.3f} s "
          f"({np.mean(images):.0f} images on average) + everything else {other:.3f} s")
    print(f"everything else / episode: {other / episode:.1%}")
    print(f"baseline, float forward on the whole search split: {float_forward_s:.3f} s")
    print(f"quantized forward / float forward, forward hooks (reference path): {hooks_ratio:.2f}x")
    if compiled:
        print(f"quantized forward / float forward, compiled fused graph: {fused_ratio:.2f}x "
              f"(target <= 1.15x; compiled once in {evaluator.compile_time_s:.1f} s; same accuracy as the hooks)")
    else:
        print("compiled fused graph: not available here (torch.compile failed or the model is not traceable)")
    print(f"cost of one whole configuration on '{args.accelerator}': {cost_s * 1e3:.3f} ms (target < 1 ms)")
    atomic_io.write_json(args.out, {
        "benchmark": "env_speed", "command": [sys.executable, "-m", "benchmarks.env_speed",
                                              *(argv if argv is not None else sys.argv[1:])],
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git": git_state(), "machine": machine(), "episode_s": episode_s, "evaluation_s": evaluation_s,
        "images_used": images, "other_share": other / episode, "float_forward_s": float_forward_s,
        "hooks_forward_s": hooks_s, "fused_forward_s": fused_s if compiled else None,
        "hooks_over_float": hooks_ratio, "fused_over_float": fused_ratio if compiled else None,
        "rounds_s": [{"float": base, "hooks": hooks, "fused": fused if compiled else None}
                     for base, hooks, fused in rounds],
        "compile_s": evaluator.compile_time_s, "cost_model_s": cost_s})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
