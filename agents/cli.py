"""The ``autoq`` command line.

``autoq demo``: score the uniform 8-bit model and one random-policy episode on the default env.

``autoq search --agent hrl --episodes 100 --seed 0 --out runs/hrl``: run one search and write its
results into ``--out`` (see ``agents.runner``). It saves a checkpoint every ``--checkpoint-every``
episodes and when interrupted (Ctrl-C, SIGTERM); ``autoq search --resume --out runs/hrl`` continues
it with the settings recorded in ``runs/hrl/run.json``.
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


DEFAULT_ENV = "AutoQ-ResNet-v0"
ENV_KEYWORDS = ("accelerator", "preset", "mode", "budget", "budget_metric", "bits", "search_samples", "device", "model",
                "dataset", "data_root", "checkpoint", "evaluation")
# What defines a search run: recorded in run.json, taken from there by --resume.
RUN_ARGUMENTS = ("agent", "episodes", "seed", "uniform_bits", "hyperparams", "env", *ENV_KEYWORDS)
RUN_DEFAULTS = {"seed": 0, "uniform_bits": 8, "env": DEFAULT_ENV}


def _make_env(args: argparse.Namespace):
    import gymnasium as gym

    import autoq_env  # noqa: F401  (registers the envs)

    kwargs = {key: getattr(args, key) for key in ENV_KEYWORDS if getattr(args, key, None) is not None}
    if "bits" in kwargs:
        kwargs["bits"] = tuple(kwargs["bits"])
    env_id = getattr(args, "env", None) or DEFAULT_ENV
    try:
        return gym.make(env_id, **kwargs)
    except gym.error.Error as error:
        raise SystemExit(f"autoq: cannot make env {env_id!r}: {error}") from error


def demo(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    started = time.perf_counter()
    env = _make_env(args)
    core = env.unwrapped
    print(f"{env.spec.id}: {core.problem.info.name}, {len(core.specs)} layers, "
          f"{sum(core.problem.num_kernels)} kernels, {core.steps_per_episode} steps per episode, "
          f"accelerator {core.signature['accelerator']}, built in {time.perf_counter() - started:.1f} s")
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


def _recorded_arguments(args: argparse.Namespace) -> argparse.Namespace:
    """``--resume``: the run's arguments as recorded in ``--out``/run.json; any given again must agree."""
    from autoq_env.atomic_io import read_json

    path = Path(args.out) / "run.json"
    if not path.is_file():
        raise FileNotFoundError(f"--resume: {args.out} holds no run (no run.json); start it without --resume")
    record = read_json(path)
    recorded = record.get("settings") if isinstance(record, dict) else None
    if not isinstance(recorded, dict) or any(key not in recorded for key in RUN_ARGUMENTS):
        raise ValueError(f"{path} does not record the arguments of an 'autoq search' run")
    different = [f"--{key.replace('_', '-')} {getattr(args, key)!r} (recorded: {recorded[key]!r})"
                 for key in RUN_ARGUMENTS if getattr(args, key) is not None and getattr(args, key) != recorded[key]]
    if different:
        raise ValueError(f"--resume continues the run recorded in {path}; these arguments differ from it: "
                         f"{', '.join(different)}. Leave them out (or start a new run in another folder)")
    return argparse.Namespace(**{**vars(args), **{key: recorded[key] for key in RUN_ARGUMENTS},
                                 "status": record.get("status")})


def search(args: argparse.Namespace) -> None:
    from agents.hyperparams import load_hyperparams
    from agents.runner import RunInterrupted, RunSpec, prepare_out, run_search

    out = Path(args.out)
    if args.resume:
        if args.overwrite:
            raise ValueError("--resume continues the run in --out; --overwrite would delete it: give one of them")
        args = _recorded_arguments(args)
        if args.status == "finished":
            print(f"{out}: this run has already finished; its report:\n")
            print((out / "report.md").read_text(encoding="utf-8"))
            return
    else:
        missing = [f"--{key}" for key in ("agent", "episodes") if getattr(args, key) is None]
        if missing:
            raise ValueError(f"{' and '.join(missing)} required (or --resume to continue the run in --out)")
        for key, value in RUN_DEFAULTS.items():
            if getattr(args, key) is None:
                setattr(args, key, value)
        prepare_out(out, args.overwrite)
    hyperparams = {} if args.hyperparams is None else load_hyperparams(args.agent, args.hyperparams)
    spec = RunSpec(agent=args.agent, episodes=args.episodes, seed=args.seed, uniform_bits=args.uniform_bits,
                   device=args.device or "cpu", hyperparams=hyperparams)
    env = _make_env(args)
    settings = {key: value for key, value in vars(args).items() if key not in ("run", "status")}
    try:
        result = run_search(spec, env, out, progress_bar=args.progress, command=sys.argv, settings=settings,
                            checkpoint_every=args.checkpoint_every, resume=args.resume)
    except RunInterrupted as stop:
        print(f"autoq search: interrupted by {stop}.\nGo on with: autoq search --resume --out {out}",
              file=sys.stderr)
        raise SystemExit(128 + stop.signum) from None
    print(result.report_markdown)


def _bounded_int(text: str, minimum: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from error
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _bounded_int(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _bounded_int(text, 0, "an integer >= 0")


def _add_env_arguments(parser: argparse.ArgumentParser) -> None:
    from autoq_env.data import DATASETS
    from autoq_env.evaluation import EVALUATIONS
    from autoq_env.hardware import ACCELERATORS
    from autoq_env.models import MODELS
    from autoq_env.reward import MODES

    group = parser.add_argument_group("env keywords (gym.make arguments; defaults are the env's)")
    group.add_argument("--env", help=f"env id (default {DEFAULT_ENV})")
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
    group.add_argument("--checkpoint", help="the model's weights: 'default' (packaged) or a state_dict file "
                                            "(not the run's checkpoint.pt: see --resume)")
    group.add_argument("--device")
    group.add_argument("--evaluation", choices=EVALUATIONS,
                       help="'sequential' (default): stop scoring a configuration early only when it is beyond the "
                            "accuracy tolerance with overwhelming confidence; 'full': the whole search split always")


def main(argv: list[str] | None = None) -> None:
    from agents.runner import AGENTS, DEFAULT_CHECKPOINT_EVERY

    parser = argparse.ArgumentParser(prog="autoq", description="Kernel-wise quantization search (AutoQ).")
    commands = parser.add_subparsers(dest="command", required=True)

    demo_parser = commands.add_parser("demo", help="score uniform 8-bit and a random policy on the default env")
    demo_parser.add_argument("--seed", type=int, default=0)
    _add_env_arguments(demo_parser)
    demo_parser.set_defaults(run=demo)

    search_parser = commands.add_parser("search", help="run one search and write its results to --out")
    search_parser.add_argument("--agent", choices=AGENTS, help="required unless --resume")
    search_parser.add_argument("--episodes", type=positive_int,
                               help="budget: episodes (RL agents) or evaluations (search baselines); "
                                    "required unless --resume")
    search_parser.add_argument("--seed", type=non_negative_int, help="default 0")
    search_parser.add_argument("--out", required=True, help="results folder (refused if it holds another run)")
    search_parser.add_argument("--overwrite", action="store_true", help="replace the results already in --out")
    search_parser.add_argument("--resume", action="store_true",
                               help="continue the interrupted run in --out from its checkpoint, with its recorded "
                                    "arguments")
    search_parser.add_argument("--checkpoint-every", type=positive_int, default=DEFAULT_CHECKPOINT_EVERY,
                               metavar="EPISODES", help=f"checkpoint period (default {DEFAULT_CHECKPOINT_EVERY}); "
                                                        "a checkpoint is also saved on Ctrl-C and SIGTERM")
    search_parser.add_argument("--hyperparams", metavar="YAML",
                               help="overrides of the RL agent's hyper-parameters: a file with a section named "
                                    "after the agent, as agents/hyperparams/*.yml")
    search_parser.add_argument("--uniform-bits", type=int, help="QBN of --agent uniform (default 8)")
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
