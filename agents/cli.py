"""The ``autoq`` command line.

``autoq demo`` builds the default env, scores the uniform 8-bit model and one episode of a random
policy, and prints accuracy, cost and the QBN summary of each.
"""

from __future__ import annotations

import argparse
import time

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


def demo(args: argparse.Namespace) -> None:
    import gymnasium as gym
    from tqdm import tqdm

    import autoq_env  # noqa: F401  (registers the envs)

    started = time.perf_counter()
    env = gym.make(args.env, accelerator=args.accelerator)
    core = env.unwrapped
    print(f"{args.env}: {core.problem.info.name}, {len(core.specs)} layers, {sum(core.problem.num_kernels)} kernels, "
          f"{core.steps_per_episode} steps per episode, accelerator {args.accelerator}, "
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
    print(f"random policy episode return {episode_return:+.3f} (equals its reward objective: potential-based "
          f"shaping); total time {time.perf_counter() - started:.1f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="autoq", description="Kernel-wise quantization search (AutoQ).")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="score uniform 8-bit and a random policy on the default env")
    demo_parser.add_argument("--env", default="AutoQ-ResNet-v0")
    demo_parser.add_argument("--accelerator", default="temporal", choices=("temporal", "spatial", "bitops"))
    demo_parser.add_argument("--seed", type=int, default=0)
    demo_parser.set_defaults(run=demo)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
