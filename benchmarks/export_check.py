"""The ONNX export against the evaluator, image by image, on the whole test split.

    python -m benchmarks.export_check [--config best_config.json ...] [--checkpoint model.pt] [--out FILE]

For each configuration (default: uniform 4-bit and a seeded random mix of kernel QBNs 2..6 and
activation QBNs 3..8), exports the env's model to ONNX (QuantizeLinear, ConvInteger/MatMulInteger, then
a float rescale), runs it in onnxruntime on the CPU over the test split, and compares every image's
top-1 prediction with the project's evaluator (``env.evaluate``'s model). Also runs onnxruntime with
its graph optimisations on (constant folding and operator fusions): reported for information, not
required to agree. Exits 1 if any prediction of the unoptimised graph differs.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from autoq_env import atomic_io
from autoq_env.deploy.config import load_config
from autoq_env.deploy.integer import quantize_network
from autoq_env.deploy.onnx_export import onnx_predict, to_onnx
from autoq_env.env import AutoQEnv


def random_mix(env: AutoQEnv, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {"activation_qbn": rng.integers(3, 9, env.num_layers).tolist(),
            "kernel_qbn": [rng.integers(2, 7, n).tolist() for n in env.problem.num_kernels]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", nargs="*", default=[], help="configuration files (default: see above)")
    parser.add_argument("--checkpoint", default="default", help="the model's weights (e.g. a fine-tuned model.pt)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random mix")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)

    env = AutoQEnv(checkpoint=args.checkpoint)
    problem = env.problem
    images = torch.cat([x for x, _ in problem.test_batches])
    labels = torch.cat([y for _, y in problem.test_batches]).numpy()
    onnx_images = images.contiguous().numpy()
    configs = {path: load_config(env, path) for path in args.config} or {
        "uniform 4-bit": env.uniform_config(4), f"random mix (seed {args.seed})": random_mix(env, args.seed)}
    results = {"torch": torch.__version__, "threads": torch.get_num_threads(), "test_images": len(labels),
               "checkpoint": args.checkpoint, "rows": []}
    for name, config in configs.items():
        problem.evaluator.apply(*env.check_config(config))
        with torch.inference_mode():
            evaluator_top1 = torch.cat([problem.evaluator.model(x).argmax(1) for x, _ in problem.test_batches]).numpy()
        model = to_onnx(quantize_network(env, config)).SerializeToString()
        row = {"config": name, "evaluator_accuracy": env.evaluate(config, "test")["accuracy"],
               "mean_weight_qbn": float(np.mean(np.concatenate(config["kernel_qbn"])))}
        for optimize in (False, True):
            started = time.perf_counter()
            onnx_top1 = onnx_predict(model, onnx_images, optimize=optimize).argmax(1)
            key = "onnxruntime_optimized" if optimize else "onnxruntime"
            row[key] = {"accuracy": 100.0 * float((onnx_top1 == labels).mean()),
                        "images_disagreeing": int((onnx_top1 != evaluator_top1).sum()),
                        "seconds": time.perf_counter() - started}
        results["rows"].append(row)
        print(f"{name}: evaluator {row['evaluator_accuracy']:.2f}%, onnxruntime {row['onnxruntime']['accuracy']:.2f}% "
              f"({row['onnxruntime']['images_disagreeing']} of {len(labels)} predictions differ); with graph "
              f"optimisations {row['onnxruntime_optimized']['accuracy']:.2f}% "
              f"({row['onnxruntime_optimized']['images_disagreeing']} differ)", flush=True)
    if args.out:
        atomic_io.write_json(args.out, results)
    if any(row["onnxruntime"]["images_disagreeing"] for row in results["rows"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
