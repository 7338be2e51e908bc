"""The ``autoq`` command line.

``autoq demo``: score the uniform 8-bit model and one random-policy episode on the default env.

``autoq search --agent hrl --episodes 100 --seed 0 --out runs/hrl``: run one search and write its
results into ``--out`` (see ``agents.runner``). It saves a checkpoint every ``--checkpoint-every``
episodes and when interrupted (Ctrl-C, SIGTERM); ``autoq search --resume --out runs/hrl`` continues
it with the settings recorded in ``runs/hrl/run.json``.

After a search (``autoq_env.deploy``): ``autoq evaluate runs/hrl/best_config.json`` scores it next to
float and uniform 8-bit; ``autoq finetune runs/hrl/best_config.json --epochs 2 --out runs/hrl/qat``
fine-tunes at it; ``autoq export runs/hrl/best_config.json --format onnx --out model.onnx
[--checkpoint runs/hrl/qat/model.pt]`` writes an ONNX graph of integer convolutions (QuantizeLinear,
ConvInteger/MatMulInteger, float rescale) (``--format npz``: integer codes, scales and bits with a JSON manifest).
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


def evaluate_config(args: argparse.Namespace) -> None:
    import json

    from autoq_env.atomic_io import write_json
    from autoq_env.deploy.scorecard import format_scorecard, scorecard

    card = scorecard(_make_env(args), args.config)  # refuses a configuration that does not fit, before writing
    print(json.dumps(card, indent=2) if args.json else format_scorecard(card))
    if args.out:
        write_json(args.out, card)


def finetune_config(args: argparse.Namespace) -> None:
    from autoq_env.deploy.finetune import FinetuneSettings, finetune

    settings = FinetuneSettings(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                                train_samples=args.train_samples, seed=args.seed,
                                scale_every_steps=args.scale_every)
    report = finetune(_make_env(args), args.config, args.out, settings, resume=args.resume,
                      progress_bar=args.progress)
    for row in report["history"]:
        print(f"epoch {row['epoch']}: test accuracy {row['accuracy']:.2f}%"
              + (f", mean training loss {row['loss']:.4f}" if "loss" in row else " (before fine-tuning)"))
    float_accuracy = report["float_accuracy"]
    print(f"float {float_accuracy:.2f}%; drop before {float_accuracy - report['accuracy_before']:+.2f}, after "
          f"{float_accuracy - report['accuracy_after']:+.2f} points; {report['train_wall_s']:.0f} s of fine-tuning "
          f"on {report['train_images']} images.\nScore it: autoq evaluate {args.config} --checkpoint {report['model']}")


def export_config(args: argparse.Namespace) -> None:
    from autoq_env.deploy.integer import quantize_network, save_integer
    from autoq_env.deploy.onnx_export import save_onnx

    network = quantize_network(_make_env(args), args.config)  # refuses a configuration that does not fit
    if args.format == "onnx":
        size = save_onnx(network, args.out)
        print(f"wrote {args.out} ({size} bytes, ONNX with QuantizeLinear and ConvInteger/MatMulInteger)")
    else:
        save_integer(network, args.out)
        print(f"wrote {args.out} and {Path(args.out).with_suffix('.json')}")
    storage = network.storage()
    print(f"quantized weights: {storage['packed_bytes'] / 1024:.1f} KiB packed at a mean "
          f"{storage['mean_weight_qbn']:.2f} bits ({storage['packed_vs_8bit']:.3f} of uniform 8-bit, "
          f"{storage['uniform_8bit_bytes'] / 1024:.1f} KiB; "
          f"{storage['packed_vs_float32']:.3f} of float32, {storage['float32_bytes'] / 1024:.1f} KiB), per-kernel "
          f"float32 steps included; biases {storage['bias_bytes'] / 1024:.1f} KiB float32")


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


def _add_deploy_commands(commands) -> None:
    """``evaluate``, ``finetune`` and ``export``: what comes after a search (``autoq_env.deploy``)."""
    from autoq_env.deploy.finetune import FinetuneSettings

    defaults = FinetuneSettings()
    evaluate_parser = commands.add_parser("evaluate", help="score a configuration next to float and uniform 8-bit "
                                                           "on both splits and both accelerators")
    evaluate_parser.add_argument("config", help="a configuration file, e.g. a search's best_config.json")
    evaluate_parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    evaluate_parser.add_argument("--out", metavar="FILE", help="also write the scores as JSON to FILE")
    _add_env_arguments(evaluate_parser)
    evaluate_parser.set_defaults(run=evaluate_config)

    finetune_parser = commands.add_parser("finetune", help="quantization-aware fine-tuning at a configuration")
    finetune_parser.add_argument("config", help="a configuration file, e.g. a search's best_config.json")
    finetune_parser.add_argument("--out", required=True, help="run folder: model.pt, checkpoint.pt, report.json")
    finetune_parser.add_argument("--epochs", type=positive_int, default=1)
    finetune_parser.add_argument("--lr", type=float, default=defaults.lr, help="peak learning rate "
                                 f"(cosine to 0 within each epoch; default {defaults.lr})")
    finetune_parser.add_argument("--batch-size", type=positive_int, default=defaults.batch_size)
    finetune_parser.add_argument("--train-samples", type=positive_int,
                                 help="fine-tune on the first N images of the train split (default all)")
    finetune_parser.add_argument("--scale-every", type=positive_int, default=defaults.scale_every_steps,
                                 metavar="STEPS", help="re-choose the MSE-optimal weight steps every STEPS steps")
    finetune_parser.add_argument("--seed", type=non_negative_int, default=0)
    finetune_parser.add_argument("--resume", action="store_true",
                                 help="continue the run in --out from its last epoch (--epochs may be raised)")
    finetune_parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    _add_env_arguments(finetune_parser)
    finetune_parser.set_defaults(run=finetune_config)

    export_parser = commands.add_parser("export", help="export a configuration: ONNX integer graph, or integers")
    export_parser.add_argument("config", help="a configuration file, e.g. a search's best_config.json")
    export_parser.add_argument("--format", choices=("onnx", "npz"), default="onnx",
                               help="onnx: QuantizeLinear + ConvInteger/MatMulInteger graph; npz: integer codes, "
                                    "scales, bits and a JSON manifest beside it")
    export_parser.add_argument("--out", required=True, help="the .onnx or .npz file")
    _add_env_arguments(export_parser)
    export_parser.set_defaults(run=export_config)


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

    _add_deploy_commands(commands)

    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as error:
        raise SystemExit(f"autoq {args.command}: {error}") from error


if __name__ == "__main__":
    main()
