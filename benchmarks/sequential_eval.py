"""How many images does sequential evaluation save, and what does it cost in reward fidelity?

    python -m benchmarks.sequential_eval [--random 60] [--greedy 60] [--rl-like 60] [--permutations 400]
                                         [--out benchmarks/results/sequential_eval.json]

Scores configurations from three sources on the whole search split of the default env (accuracy
mode, temporal accelerator) and keeps every image's correctness (the raw data, packed bits, in
``--out``):

* ``random``: ``RandomSearch``'s proposals (independent uniform QBNs, mostly far beyond the tolerance);
* ``greedy``: ``GreedySensitivitySearch``'s path (uniform 8-bit down to aggressive, across the tolerance);
* ``rl-like``: what an RL policy with exploration noise proposes: per layer an activation QBN and a
  goal drawn uniformly in ``[b_min + 1, b_max]``, kernels at the goal plus Gaussian noise (sd 0.7 QBN).

Then it replays ``autoq_env.evaluation``'s rule (and variants of it: minimum images, margin) on that
data: under the split's own fixed order, the images used and the reward error against full
evaluation; under ``--permutations`` random orders of the split per configuration, how often a
configuration that the full split finds within the tolerance is stopped early (the rule's bound is
``false_stop_probability``). Prints a table; writes the raw correctness, the figures, the machine and
the git state to ``--out`` (JSON, atomic).
"""

from __future__ import annotations

import argparse
import base64
import datetime
import itertools
import sys
import time
from dataclasses import asdict

import gymnasium as gym
import numpy as np

import autoq_env  # noqa: F401  (registers the envs)
from agents.cli import positive_int
from agents.search import GreedySensitivitySearch, RandomSearch
from autoq_env import atomic_io
from autoq_env.evaluation import SequentialRule
from benchmarks.compare import git_state, machine

DEFAULT_OUT = "benchmarks/results/sequential_eval.json"
RL_KERNEL_NOISE_QBN = 0.7
RULES = {  # name -> rule; "default" is autoq_env.evaluation's
    "default": SequentialRule(),
    "min 1000 images": SequentialRule(min_images=1000),
    "margin 0.5 pts": SequentialRule(margin_pts=0.5),
    "alpha 1e-2": SequentialRule(false_stop_probability=1e-2),
}


def rl_like_configs(core, rng: np.random.Generator):
    """Per layer a random activation QBN and goal in [b_min + 1, b_max], kernels at the goal plus noise."""
    while True:
        activation = rng.integers(core.b_min + 1, core.b_max + 1, core.num_layers)
        goals = rng.uniform(core.b_min + 1, core.b_max, core.num_layers)
        kernels = [np.clip(np.rint(goal + rng.normal(0, RL_KERNEL_NOISE_QBN, spec.c_out)), core.b_min, core.b_max)
                   .astype(int).tolist() for goal, spec in zip(goals, core.specs)]
        yield {"activation_qbn": activation.tolist(), "kernel_qbn": kernels}


def correctness(core, config: dict) -> np.ndarray:
    """Per search image: whether ``config`` classifies it right (the whole split, in its order)."""
    problem = core.problem
    activation, kernels = core.check_config(config)
    problem.evaluator.apply(activation, kernels)
    return np.concatenate([problem.evaluator.correct(images, labels).numpy() for images, labels in
                           problem.search_batches])


def replay(rule: SequentialRule, differences: np.ndarray, batch_sizes: list[int], tolerance_pts: float,
           ) -> tuple[np.ndarray, np.ndarray]:
    """Sequential evaluation on rows of paired differences ``(configs, N)``: images used and drop estimate."""
    total = differences.shape[1]
    looks = rule.looks(batch_sizes)
    z = rule.z(len(looks))
    used = np.full(len(differences), total)
    estimate = 100.0 * differences.mean(axis=1)
    stopped = np.zeros(len(differences), bool)
    sums, squares = np.cumsum(differences, axis=1), np.cumsum(np.abs(differences), axis=1)
    for n in looks:
        mean = sums[:, n - 1] / n
        variance = np.maximum(squares[:, n - 1] / n - mean ** 2, 0) * n / (n - 1)
        se = np.sqrt(variance / n * (1 - n / total))
        stop = ~stopped & (100 * (mean - z * se) > tolerance_pts + rule.margin_pts)
        used[stop], estimate[stop] = n, 100 * mean[stop]
        stopped |= stop
    return used, estimate


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sequential_eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--random", type=int, default=60, help="configurations from RandomSearch (default 60)")
    parser.add_argument("--greedy", type=int, default=60, help="points of the greedy path (default 60)")
    parser.add_argument("--rl-like", type=int, default=60, help="RL-like configurations (default 60)")
    parser.add_argument("--permutations", type=positive_int, default=400, help="random orders per configuration")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    env = gym.make("AutoQ-ResNet-v0", evaluation="full")
    core = env.unwrapped
    rng = np.random.default_rng(args.seed)
    sources = {
        "random": itertools.islice(RandomSearch(env)._configs(args.random, rng), args.random),
        "greedy": itertools.islice(GreedySensitivitySearch(env)._configs(args.greedy, rng), args.greedy),
        "rl-like": itertools.islice(rl_like_configs(core, rng), args.rl_like),
    }
    float_correct = np.concatenate([c.numpy() for c in core.problem.float_correct("search")])
    batch_sizes = [len(labels) for _, labels in core.problem.search_batches]
    tolerance = core.reward_weights.tolerance_pts
    float_accuracy = core.problem.float_accuracy("search")
    records = []
    started = time.perf_counter()
    for source, configs in sources.items():
        for config in configs:
            right = correctness(core, config)
            cost = core.accelerator.network_cost(core.specs, config)
            latency_rel = cost.latency_s / core.reference_cost.latency_s
            energy_rel = cost.energy_j / core.reference_cost.energy_j
            accuracy = 100.0 * right.mean()
            records.append({"source": source, "correct": right, "latency_rel": latency_rel, "energy_rel": energy_rel,
                            "reward_full": core.reward_weights.reward(accuracy, float_accuracy, latency_rel, energy_rel,
                                                                      "accuracy"),
                            "mean_weight_qbn": float(np.concatenate(config["kernel_qbn"]).mean())})
        print(f"{source}: {sum(r['source'] == source for r in records)} configurations scored "
              f"({time.perf_counter() - started:.0f} s so far)", flush=True)

    differences = np.stack([float_correct.astype(int) - r["correct"].astype(int) for r in records])
    full_drop = 100 * differences.mean(axis=1)
    within = full_drop <= tolerance
    weights = core.reward_weights
    results = {}
    for name, rule in RULES.items():
        used, estimate = replay(rule, differences, batch_sizes, tolerance)
        reward = np.array([weights.reward(float_accuracy - e, float_accuracy, r["latency_rel"], r["energy_rel"],
                                          "accuracy") for e, r in zip(estimate, records)])
        full_reward = np.array([r["reward_full"] for r in records])
        error = np.abs(reward - full_reward)
        false_stops = trials = 0
        order_rng = np.random.default_rng(args.seed + 1)
        for row in np.flatnonzero(within):
            permuted = np.stack([differences[row, order_rng.permutation(differences.shape[1])]
                                 for _ in range(args.permutations)])
            used_perm, _ = replay(rule, permuted, batch_sizes, tolerance)
            false_stops += int((used_perm < differences.shape[1]).sum())
            trials += args.permutations
        by_source = {}
        for source in sources:
            mask = np.array([r["source"] == source for r in records])
            if mask.any():
                by_source[source] = {
                    "configurations": int(mask.sum()), "within_tolerance": int((within & mask).sum()),
                    "mean_images": float(used[mask].mean()),
                    "stopped_early": int((used[mask] < len(float_correct)).sum()),
                    "images_quartiles": np.percentile(used[mask], [0, 25, 50, 75, 100]).tolist(),
                    "mean_abs_reward_error": float(error[mask].mean()),
                    "max_abs_reward_error": float(error[mask].max())}
        results[name] = {
            "rule": asdict(rule), "mean_images": float(used.mean()),
            "images_share": float(used.mean() / len(float_correct)),
            "within_tolerance_stopped_fixed_order": int((used[within] < len(float_correct)).sum()),
            "within_tolerance_reward_error_max": float(error[within].max()) if within.any() else 0.0,
            "false_stop_rate_random_orders": false_stops / max(trials, 1), "false_stop_trials": trials,
            "by_source": by_source}
        print(f"\nrule {name} ({asdict(rule)}): mean images {used.mean():.0f} of {len(float_correct)} "
              f"({used.mean() / len(float_correct):.0%}); within tolerance: {int(within.sum())}, stopped early under "
              f"the fixed order {results[name]['within_tolerance_stopped_fixed_order']}, under {args.permutations} "
              f"random orders each {false_stops} of {trials} (bound {rule.false_stop_probability:g})")
        for source, figures in by_source.items():
            print(f"  {source:<8} {figures['configurations']:4d} configs ({figures['within_tolerance']} within tol.): "
                  f"images mean {figures['mean_images']:6.0f}, quartiles {figures['images_quartiles']}, stopped "
                  f"{figures['stopped_early']}; |reward error| mean {figures['mean_abs_reward_error']:.3f}, "
                  f"max {figures['max_abs_reward_error']:.3f}")

    atomic_io.write_json(args.out, {
        "benchmark": "sequential_eval", "command": [sys.executable, "-m", "benchmarks.sequential_eval",
                                                    *(argv if argv is not None else sys.argv[1:])],
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git": git_state(), "machine": machine(), "tolerance_pts": tolerance, "float_accuracy": float_accuracy,
        "search_images": len(float_correct), "batch_sizes": batch_sizes, "rules": results,
        "float_correct": base64.b64encode(np.packbits(float_correct)).decode(),
        "configurations": [{"source": r["source"], "full_drop_pts": float(d), "reward_full": r["reward_full"],
                            "latency_rel": r["latency_rel"], "energy_rel": r["energy_rel"],
                            "mean_weight_qbn": r["mean_weight_qbn"],
                            "correct": base64.b64encode(np.packbits(r["correct"])).decode()}
                           for r, d in zip(records, full_drop)]})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
