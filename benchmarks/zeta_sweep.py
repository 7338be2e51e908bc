"""Sweep HierarchicalDDPG's shaping factor zeta (the measurement behind its default).

    python -m benchmarks.zeta_sweep [--values 0 0.25 0.5 0.75 1] [--episodes 60] [--seeds 2]
                                    [--search-samples 500] [--out benchmarks/results/zeta_sweep.csv]

For each zeta and seed, runs HRL on ``AutoQ-ResNet-v0`` and records the best episode objective, its
search-split accuracy drop, relative latency and energy, and the mean objective of the last 10
episodes (how well the policy itself does, not just its luckiest episode). Prints a table of the
means over seeds and writes every run's row to a CSV file.
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

import gymnasium as gym
import numpy as np
from tqdm import tqdm

import autoq_env  # noqa: F401  (registers the envs)
from agents.hierarchical import HierarchicalDDPG
from autoq_env import atomic_io

FIELDS = ("zeta", "seed", "best_reward", "best_accuracy_drop", "best_latency_rel", "best_energy_rel",
          "last10_mean_reward", "wall_time_s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--values", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--episodes", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--search-samples", type=int, default=500)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/zeta_sweep.csv"))
    args = parser.parse_args(argv)
    if any(not 0 <= v <= 1 for v in args.values):
        parser.error("every zeta must be in [0, 1]")
    if args.episodes < 1 or args.seeds < 1:
        parser.error("--episodes and --seeds must be at least 1")
    env = gym.make("AutoQ-ResNet-v0", search_samples=args.search_samples)
    rows = []
    for zeta in tqdm(args.values, desc="zeta"):
        for seed in range(args.seeds):
            agent = HierarchicalDDPG(env, seed=seed, zeta=zeta).learn(total_episodes=args.episodes)
            log, best = agent.episode_log, agent.best_metrics
            rows.append({"zeta": zeta, "seed": seed, "best_reward": best["reward_objective"],
                         "best_accuracy_drop": best["accuracy_drop"], "best_latency_rel": best["latency_rel"],
                         "best_energy_rel": best["energy_rel"],
                         "last10_mean_reward": float(np.mean([row["reward"] for row in log[-10:]])),
                         "wall_time_s": log[-1]["wall_time_s"]})
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    atomic_io.write_text(args.out, text.getvalue())
    print(f"{args.episodes} episodes, {args.seeds} seeds, search_samples={args.search_samples}; means over seeds:")
    print("| zeta | best reward | last-10 mean reward | best: drop (points) | latency | energy |")
    print("|---|---|---|---|---|---|")
    for zeta in args.values:
        mine = [r for r in rows if r["zeta"] == zeta]

        def mean(key: str, runs: list[dict] = mine) -> float:
            return float(np.mean([r[key] for r in runs]))
        print(f"| {zeta:g} | {mean('best_reward'):+.3f} | {mean('last10_mean_reward'):+.3f} | "
              f"{mean('best_accuracy_drop'):+.2f} | {mean('best_latency_rel'):.3f} | {mean('best_energy_rel'):.3f} |")
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
