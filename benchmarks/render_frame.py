"""One frame of ``render_mode="rgb_array"``, saved as a PNG (the picture in the README).

    python -m benchmarks.render_frame [--out docs/render-frame.png] [--fraction 0.6] [--seed 0]

Plays the kernel-wise id with seeded uniform random actions, stops after ``--fraction`` of the
episode's steps, and saves ``env.render()``: finished layers, the layer under way (its unassigned
kernels blank) and the layers still to come (blank). Also prints what a frame costs: the mean wall
time of ``--renders`` calls of ``render()``, next to the mean time of the kernel-wise steps played
(measured in the same run; on a shared machine only the ratio means much).
"""

from __future__ import annotations

import argparse
import io
import time

import gymnasium as gym
import numpy as np
from matplotlib import image

import autoq_env  # noqa: F401  (registers the ids)
from autoq_env.atomic_io import write_bytes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="docs/render-frame.png")
    parser.add_argument("--fraction", type=float, default=0.6, help="share of the episode's steps to play")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--renders", type=int, default=200, help="render() calls to time")
    args = parser.parse_args(argv)
    if not 0 < args.fraction < 1:
        parser.error(f"--fraction must be in (0, 1), got {args.fraction}")
    env = gym.make("AutoQ-ResNet-KernelWise-v0", search_samples=200, render_mode="rgb_array")
    env.reset(seed=args.seed)
    env.action_space.seed(args.seed)
    steps = int(args.fraction * env.get_wrapper_attr("steps_per_episode"))
    if steps == 0 or args.renders < 1:
        parser.error("--fraction must leave at least one step to play, and --renders must be at least 1")
    started = time.perf_counter()
    for _ in range(steps):
        env.step(env.action_space.sample())
    step_s = (time.perf_counter() - started) / steps
    started = time.perf_counter()
    for _ in range(args.renders):
        frame = env.render()
    render_s = (time.perf_counter() - started) / args.renders
    buffer = io.BytesIO()
    image.imsave(buffer, np.ascontiguousarray(frame), format="png")
    write_bytes(args.out, buffer.getvalue())
    print(f"{args.out}: {frame.shape[1]}x{frame.shape[0]} frame after {steps} of "
          f"{env.get_wrapper_attr('steps_per_episode')} kernel-wise steps (seed {args.seed})")
    print(f"render(): {render_s * 1e3:.2f} ms per frame; a kernel-wise step: {step_s * 1e3:.2f} ms "
          f"(render / step = {render_s / step_s:.1f})")


if __name__ == "__main__":
    main()
