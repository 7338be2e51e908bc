"""Accuracy a spatial search left on the table: each run's best configuration raised to BitFusion's widths.

    python -m benchmarks.fused_widths DIR [--methods hrl greedy ddpg-layer ...] [--report FILE]

BitFusion computes an operand at 2, 4 or 8 bits (Sharma et al., ISCA 2018: 2-bit BitBricks fuse in powers
of two), so a QBN of 3 runs as 4 and one of 5-7 as 8. The env offers every QBN in ``[b_min, b_max]`` on
both accelerators, and an agent that picks 5 bits pays for 8 and gets the accuracy of 5. This script takes
every finished run on the spatial accelerator under ``DIR`` (as ``python -m benchmarks.compare`` writes
it), raises each QBN of its best configuration to the width it computes at
(``SpatialAccelerator.fused_bits``), and scores both configurations on the test split. Raising is usually,
not always, more accurate: next to a 2-bit activation, accuracy is not monotone in a kernel's QBN.

It checks that the raised configuration costs the same latency and energy: that holds when weights are
stored at the fused width (``BitFusionPreset.store_at_fused_width``, the default preset), and the script
stops with an error where it does not. It prints, and writes to ``DIR/fused-widths.md`` (or ``--report``), one
row per run and, per setting and method, the IQM [95% CI] over seeds of the change in test accuracy drop.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium as gym
from tqdm import tqdm

import autoq_env  # noqa: F401  (registers the envs)
from autoq_env.atomic_io import write_text
from autoq_env.hardware.spatial import SpatialAccelerator
from benchmarks.runs import Run, load_runs
from benchmarks.stats import summarise

COST_TOLERANCE = 1e-9  # relative latency and energy of the two configurations must agree to this


def raise_to_fused_widths(config: dict, accelerator: SpatialAccelerator) -> dict:
    """``config`` with every activation and kernel QBN raised to the width ``accelerator`` computes it at."""
    return {"activation_qbn": [accelerator.fused_bits(int(qbn)) for qbn in config["activation_qbn"]],
            "kernel_qbn": [[accelerator.fused_bits(int(qbn)) for qbn in layer] for layer in config["kernel_qbn"]]}


def count_raised(config: dict, raised: dict) -> int:
    """How many QBNs (activations and kernels) ``raised`` changed."""
    before = [*config["activation_qbn"], *(qbn for layer in config["kernel_qbn"] for qbn in layer)]
    after = [*raised["activation_qbn"], *(qbn for layer in raised["kernel_qbn"] for qbn in layer)]
    return sum(int(a) != int(b) for a, b in zip(before, after))


def spatial_runs(out: Path, methods: list[str] | None) -> list[Run]:
    """The finished runs under ``out`` on the spatial accelerator, of ``methods`` (all when ``None``)."""
    runs, _ = load_runs(out)
    return [run for run in runs if run.record["settings"]["env_kwargs"].get("accelerator") == "spatial"
            and (methods is None or run.method in methods)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fused_widths", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, metavar="DIR", help="a folder written by python -m benchmarks.compare")
    parser.add_argument("--methods", nargs="+", help="only these methods (default: every method that ran)")
    parser.add_argument("--report", type=Path, help="where to write the table (default: DIR/fused-widths.md)")
    args = parser.parse_args(argv)
    if not args.out.is_dir():
        parser.error(f"{args.out} is not a folder")
    runs = spatial_runs(args.out, args.methods)
    if not runs:
        parser.error(f"{args.out} holds no finished run on the spatial accelerator"
                     + (f" of {', '.join(args.methods)}" if args.methods else ""))

    envs: dict[str, gym.Env] = {}
    rows, changes = [], {}
    for run in tqdm(runs, desc="runs", unit="run"):
        settings = run.record["settings"]
        if run.setting not in envs:
            envs[run.setting] = gym.make(settings["env_id"], **settings["env_kwargs"]).unwrapped
        env = envs[run.setting]
        raised = raise_to_fused_widths(run.best_config, env.accelerator)
        as_found, at_fused = env.evaluate(run.best_config, split="test"), env.evaluate(raised, split="test")
        for metric in ("latency_rel", "energy_rel"):
            if abs(as_found[metric] - at_fused[metric]) > COST_TOLERANCE:
                raise SystemExit(f"{run.setting}/{run.method}/seed-{run.seed}: raising the QBNs changed {metric} "
                                 f"({as_found[metric]:.6f} -> {at_fused[metric]:.6f}); this preset does not store "
                                 "operands at the fused width, so the comparison would not be at the same cost")
        change = at_fused["accuracy_drop"] - as_found["accuracy_drop"]
        changes.setdefault((run.setting, run.method), []).append(change)
        rows.append(f"| {run.setting} | {run.method} | {run.seed} | {count_raised(run.best_config, raised)} | "
                    f"{as_found['accuracy_drop']:.2f} | {at_fused['accuracy_drop']:.2f} | {change:+.2f} | "
                    f"{as_found['latency_rel']:.3f} | {as_found['energy_rel']:.3f} |")

    lines = [f"# Best configurations raised to BitFusion's widths: {args.out}", "",
             f"Made by `python -m benchmarks.fused_widths {args.out}`. Each run's best configuration as found, and "
             "with every QBN raised to the width BitFusion computes it at (3 -> 4, 5-7 -> 8): the same latency "
             "and energy (checked), scored on the test split.", "",
             "| setting | method | seed | QBNs raised | test drop as found | raised | change (points) | "
             "latency vs 8-bit | energy vs 8-bit |", "|---|---|---|---|---|---|---|---|---|", *rows, "",
             "Change in test accuracy drop, IQM over seeds [95% CI] (below 0: the raised configuration is more "
             "accurate at the same cost):", "", "| setting | method | seeds | change (points) |", "|---|---|---|---|"]
    for (setting, method), values in changes.items():
        lines.append(f"| {setting} | {method} | {len(values)} | {summarise(values).format(2)} |")
    path = args.report or args.out / "fused-widths.md"
    write_text(path, "\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
