"""The ``autoq`` command line.

``autoq demo``: score the uniform 8-bit model and one random-policy episode on the default env.

``autoq search --agent hrl --episodes 100 --seed 0 --out runs/hrl``: run one search and write its
results into ``--out`` (see ``agents.runner``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def _summary(name: str, metrics: dict) -> str:
    kernels = np.concatenate([np.asarray(k) for k in metrics["config"]["kernel_qbn"]])
    histogram = " ".join(f"{b}b:{int((kernels == b).sum())}" for b in np.unique(kernels))
    return (f"{name:<16} acc {metrics['accuracy']:6.2f}% (float {metrics['float_accuracy']:.2f}, "
            f"drop {metrics['accuracy_drop']:+.2f})  latency {metrics['latency_s'] * 1e3:8.4f} ms "
            f"({metrics['latency_rel']:.3f} of 8-bit)  energy {metrics['energy_j'] * 1e6:8.3f} uJ "
            f"({metrics['energy_rel']:.3f})  reward {metrics['reward_objective']:+.3f}\n"
            f"{'':<16} mean weight QBN {metrics['mean_weight_qbn']:.2f}, mean activation QBN "
            f"{metrics['mean_activation_qbn']:.2f}, kernels per QBN: {histogram}")


def _make_env(args: argparse.Namespace):
    import gymnasium as gym

    import autoq_env  # noqa: F401  (registers the envs)

    kwargs = {key: getattr(args, key) for key in ("accelerator", "preset", "mode", "budget", "budget_metric",
                                                  "search_samples", "device", "model", "dataset", "data_root",
                                                  "checkpoint") if getattr(args, key, None) is not None}
    if getattr(args, "bits", None) is not None:
        kwargs["bits"] = tuple(args.bits)
    try:
        return gym.make(args.env, **kwargs)
    except gym.error.Error as error:
        raise SystemExit(f"autoq: cannot make env {args.env!r}: {error}") from error


def demo(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    started = time.perf_counter()
    env = _make_env(args)
    core = env.unwrapped
    print(f"{args.env}: {core.problem.info.name}, {len(core.specs)} layers, {sum(core.problem.num_kernels)} kernels, "
          f"{core.steps_per_episode} steps per episode, accelerator {core.signature['accelerator']}, "
          f"built in {time.perf_counter() - started:.1f} s")
    print(_summary("uniform 8-bit", core.evaluate(core.uniform_config(8))))
    env.action_space.seed(args.seed)
    env.reset(seed=args.seed)
    episode_return, info, terminated = 0.0, {}, False
    with tqdm(total=core.steps_per_episode, desc="random policy", leave=False) as bar:
        while not terminated:
            _, reward, terminated, _, info = env.step(env.action_space.sample())
            episode_return += reward
            bar.update()
    print(_summary("random policy", info))
    print(f"random policy: episode return {episode_return:+.6f}, reward objective {info['reward_objective']:+.6f} "
          f"(equal by potential-based shaping); total time {time.perf_counter() - started:.1f} s")


def search(args: argparse.Namespace) -> None:
    from agents.runner import RunSpec, prepare_out, run_search

    out = Path(args.out)
    prepare_out(out, args.overwrite)
    env = _make_env(args)
    spec = RunSpec(agent=args.agent, episodes=args.episodes, seed=args.seed, uniform_bits=args.uniform_bits,
                   device=args.device or "cpu")
    settings = {key: value for key, value in vars(args).items() if key != "run"}
    result = run_search(spec, env, out, progress_bar=args.progress, command=sys.argv, settings=settings)
    print(result.report_markdown)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from error
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _add_env_arguments(parser: argparse.ArgumentParser) -> None:
    from autoq_env.data import DATASETS
    from autoq_env.hardware import ACCELERATORS
    from autoq_env.models import MODELS
    from autoq_env.reward import MODES

    group = parser.add_argument_group("env keywords (gym.make arguments; defaults are the env's)")
    group.add_argument("--env", default="AutoQ-ResNet-v0")
    group.add_argument("--accelerator", choices=ACCELERATORS)
    group.add_argument("--preset")
    group.add_argument("--mode", choices=MODES)
    group.add_argument("--budget", type=float)
    group.add_argument("--budget-metric", choices=("latency", "energy"))
    group.add_argument("--bits", type=int, nargs=2, metavar=("B_MIN", "B_MAX"))
    group.add_argument("--search-samples", type=positive_int)
    group.add_argument("--model", choices=MODELS)
    group.add_argument("--dataset", choices=DATASETS)
    group.add_argument("--data-root")
    group.add_argument("--checkpoint")
    group.add_argument("--device")


def main(argv: list[str] | None = None) -> None:
    from agents.runner import AGENTS

    parser = argparse.ArgumentParser(prog="autoq", description="Kernel-wise quantization search (AutoQ).")
    commands = parser.add_subparsers(dest="command", required=True)

    demo_parser = commands.add_parser("demo", help="score uniform 8-bit and a random policy on the default env")
    demo_parser.add_argument("--seed", type=int, default=0)
    _add_env_arguments(demo_parser)
    demo_parser.set_defaults(run=demo)

    search_parser = commands.add_parser("search", help="run one search and write its results to --out")
    search_parser.add_argument("--agent", required=True, choices=AGENTS)
    search_parser.add_argument("--episodes", type=positive_int, required=True,
                               help="budget: episodes (RL agents) or evaluations (search baselines)")
    search_parser.add_argument("--seed", type=int, default=0)
    search_parser.add_argument("--out", required=True, help="results folder (refused if it holds another run)")
    search_parser.add_argument("--overwrite", action="store_true", help="replace the results already in --out")
    search_parser.add_argument("--uniform-bits", type=int, default=8, help="QBN of --agent uniform")
    search_parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    _add_env_arguments(search_parser)
    search_parser.set_defaults(run=search)

    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as error:
        raise SystemExit(f"autoq {args.command}: {error}") from error


if __name__ == "__main__":
    main()
