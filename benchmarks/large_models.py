"""The large-model path as it is today: ResNet-18, ResNet-50 and MobileNetV2 on 224 x 224 inputs.

    OMP_NUM_THREADS=1 python -m benchmarks.large_models [--models resnet18 resnet50 mobilenet_v2]
                                                       [--repeats 3] [--out benchmarks/results/large_models.json]

For each model, in a process of its own (so that each peak is that model's alone), with random
weights (``checkpoint=None``) on a tiny ImageNet-style folder made in a temporary directory
(``CLASSES`` classes of random RGB images; ``autoq_env.data`` resizes each to 256 and crops 224 x 224):

- ``build_s``: wall time of ``gym.make("AutoQ-<Model>-ImageNet-v0", ...)``: data, calibration, the
  per-(kernel, QBN) weight table, the Fisher pass and the float accuracy;
- ``float64_sum_layers``: the layers whose integer sums could exceed what float32 holds exactly, so
  that the evaluator sums them in float64 (``autoq_env.evaluator.accumulation_dtype``);
- ``rss_before_build_mib`` / ``peak_rss_mib``: the process's resident memory after its imports, and
  its high-water mark after the build and one episode (``VmHWM`` of ``/proc/self/status``);
- ``episode_steps`` and ``episode_s``: one episode of uniformly random actions, and ``step_s`` its
  mean time per step without the final evaluation (``evaluation_s``);
- ``float_forward_ms_per_image`` and ``quantized_forward_ms_per_image``: the best of ``--repeats``
  passes over the search split (``search_images`` images, one batch) with the float model and with
  uniform 6-bit weights and activations, and their ratio (the project's rule: speed as a ratio
  against a baseline measured in the same run).

The figures depend on the machine and on its load: the JSON names both (torch threads, CPU count, load
average at the start and the end); on a shared machine compare only the ratios.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

MODEL_IDS = {"resnet18": "AutoQ-ResNet18-ImageNet-v0", "resnet50": "AutoQ-ResNet50-ImageNet-v0",
             "mobilenet_v2": "AutoQ-MobileNetV2-ImageNet-v0"}
CLASSES = 2
TRAIN_IMAGES_PER_CLASS = 10  # 20 training images: 2 calibration and 4 search images held out (autoq_env.data)
VAL_IMAGES_PER_CLASS = 2
IMAGE_PIXELS = 64  # stored size; the loader resizes to 256 and crops 224
QUANTIZED_QBN = 6
DEFAULT_OUT = Path("benchmarks/results/large_models.json")


def make_image_folder(root: Path, classes: int = CLASSES, train_per_class: int = TRAIN_IMAGES_PER_CLASS,
                      val_per_class: int = VAL_IMAGES_PER_CLASS, pixels: int = IMAGE_PIXELS) -> None:
    """``root/train`` and ``root/val``, one folder of random ``pixels`` x ``pixels`` RGB PNGs per class."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", train_per_class), ("val", val_per_class)):
        for label in range(classes):
            folder = root / split / f"n{label:08d}"
            folder.mkdir(parents=True)
            for index in range(count):
                image = rng.integers(0, 256, (pixels, pixels, 3), dtype=np.uint8)
                Image.fromarray(image).save(folder / f"{index}.png")


def peak_rss_mib() -> float:
    """The process's resident-memory high-water mark (``VmHWM``), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def best_time_s(function: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def measure(model: str, repeats: int) -> dict[str, Any]:
    """Every figure of one model, in this process."""
    import gymnasium as gym
    import torch

    import autoq_env  # noqa: F401  (registers the ids)
    from autoq_env.data import held_out_sizes

    with tempfile.TemporaryDirectory() as folder:
        make_image_folder(Path(folder))
        search_images = held_out_sizes(CLASSES * TRAIN_IMAGES_PER_CLASS)[1]
        before = rss_mib()
        started = time.perf_counter()
        env = gym.make(MODEL_IDS[model], data_root=folder, checkpoint=None, search_samples=search_images)
        build_s = time.perf_counter() - started
        core = env.unwrapped
        rng = np.random.default_rng(0)
        env.reset(seed=0)
        started, terminated, steps, info = time.perf_counter(), False, 0, {}
        while not terminated:
            _, _, terminated, _, info = env.step(rng.uniform(-1, 1, 2).astype(np.float32))
            steps += 1
        episode_s = time.perf_counter() - started
        problem = core.problem
        activation_qbn = [QUANTIZED_QBN] * len(problem.specs)
        kernel_qbn = [np.full(count, QUANTIZED_QBN) for count in problem.num_kernels]
        float_s = best_time_s(lambda: problem.accuracy(None, None, "search"), repeats)
        quantized_s = best_time_s(lambda: problem.accuracy(activation_qbn, kernel_qbn, "search"), repeats)
        return {
            "model": model, "env_id": MODEL_IDS[model],
            "quantizable_weights": sum(layer.weight.numel() for layer in problem.evaluator.layers),
            "layers": len(problem.specs), "kernels": int(sum(problem.num_kernels)),
            "float64_sum_layers": sum(dtype == torch.float64 for dtype in problem.evaluator.accumulation_dtypes),
            "build_s": build_s, "rss_before_build_mib": before, "peak_rss_mib": peak_rss_mib(),
            "episode_steps": steps, "episode_s": episode_s, "evaluation_s": info["evaluation_time_s"],
            "step_s": (episode_s - info["evaluation_time_s"]) / steps,
            "search_images": search_images, "image_size": problem.info.image_size,
            "float_forward_ms_per_image": 1e3 * float_s / search_images,
            "quantized_forward_ms_per_image": 1e3 * quantized_s / search_images,
            "quantized_over_float": quantized_s / float_s,
            "torch_threads": torch.get_num_threads(),
        }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.large_models", description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=tuple(MODEL_IDS), default=list(MODEL_IDS))
    parser.add_argument("--repeats", type=int, default=3, help="forward passes timed per model (the best counts)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    parser.add_argument("--one", choices=tuple(MODEL_IDS), help=argparse.SUPPRESS)  # a child process: one model
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.one:  # the child: print one model's figures as JSON
        print(json.dumps(measure(args.one, args.repeats)))
        return
    from autoq_env import atomic_io
    from benchmarks.compare import machine

    started_on = machine()
    rows = []
    for model in args.models:
        done = subprocess.run([sys.executable, "-m", "benchmarks.large_models", "--one", model, "--repeats",
                               str(args.repeats)], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{model} failed:\n{done.stderr[-3000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        row = rows[-1]
        print(f"{model}: build {row['build_s']:.1f} s, peak RSS {row['peak_rss_mib']:.0f} MiB, "
              f"{row['episode_steps']} steps in {row['episode_s']:.1f} s ({1e3 * row['step_s']:.2f} ms/step), "
              f"forward {row['float_forward_ms_per_image']:.1f} ms/img float, "
              f"{row['quantized_forward_ms_per_image']:.1f} ms/img quantized ({row['quantized_over_float']:.2f}x)",
              flush=True)
    record = {"command": [sys.executable, "-m", "benchmarks.large_models", *(sys.argv[1:] if argv is None else argv)],
              "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": {**started_on, "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                          "load_average_at_end": [round(load, 2) for load in os.getloadavg()]},
              "classes": CLASSES, "rows": rows}
    atomic_io.write_json(args.out, record)
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
