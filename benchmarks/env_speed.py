"""Where an episode's time goes: accuracy evaluation against everything else.

    python -m benchmarks.env_speed [--episodes 3] [--accelerator temporal] [--search-samples 2000]

Runs random-policy episodes of ``AutoQ-ResNet-v0`` and splits each episode's wall time into the
accuracy evaluation (configure the model, forward the search split) and everything else (the 816
steps: observations, rewards, bookkeeping, cost model). The baseline, measured in the same run on
the same search images, is the float model's forward pass: the floor an episode can reach. Also
times one cost-model evaluation of a whole configuration. Ratios, not absolute seconds, are the
result: they hold across machines.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import autoq_env  # noqa: F401  (registers the envs)
from autoq_env.hardware import ACCELERATORS


def _median_time(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--accelerator", default="temporal", choices=ACCELERATORS)
    parser.add_argument("--search-samples", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error("--episodes must be at least 1")
    kwargs = {"accelerator": args.accelerator}
    if args.search_samples is not None:
        kwargs["search_samples"] = args.search_samples
    started = time.perf_counter()
    env = gym.make("AutoQ-ResNet-v0", **kwargs)
    core = env.unwrapped
    print(f"env built in {time.perf_counter() - started:.2f} s: {core.steps_per_episode} steps per episode, "
          f"{sum(len(b[1]) for b in core.problem.search_batches)} search images")

    rng = np.random.default_rng(args.seed)
    episode_s, evaluation_s = [], []
    for episode in range(args.episodes):
        env.reset(seed=args.seed + episode)
        begun = time.perf_counter()
        terminated = False
        while not terminated:
            _, _, terminated, _, info = env.step(rng.uniform(-1, 1, 2).astype(np.float32))
        episode_s.append(time.perf_counter() - begun)
        evaluation_s.append(info["evaluation_time_s"])

    problem = core.problem
    problem.evaluator.apply(None, None)
    float_forward_s = _median_time(lambda: problem.evaluator.accuracy(problem.search_batches), args.episodes)
    config = core.uniform_config(4)
    config["kernel_qbn"] = [list(rng.integers(core.b_min, core.b_max + 1, len(k))) for k in config["kernel_qbn"]]
    cost_s = _median_time(lambda: core.accelerator.network_cost(core.specs, config), 200)

    episode, evaluation = float(np.median(episode_s)), float(np.median(evaluation_s))
    other = episode - evaluation
    print(f"episode (median of {args.episodes}): {episode:.3f} s = accuracy evaluation {evaluation:.3f} s "
          f"+ everything else {other:.3f} s")
    print(f"baseline, float forward on the same search images: {float_forward_s:.3f} s")
    print(f"everything else / episode: {other / episode:.1%} (target <= 10%)")
    print(f"accuracy evaluation / float forward: {evaluation / float_forward_s:.2f}x "
          "(fake-quantization hooks and weight gathering)")
    print(f"cost of one whole configuration on '{args.accelerator}': {cost_s * 1e3:.3f} ms (target < 1 ms)")


if __name__ == "__main__":
    main()
