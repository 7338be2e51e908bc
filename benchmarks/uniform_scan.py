"""Uniform configurations on the default env: the measurements behind the reward defaults.

    python -m benchmarks.uniform_scan [--accelerator temporal] [--search-samples 5000]

For uniform weight/activation QBNs, prints the accuracy drop from float on the search split with its
standard error (paired: the same images scored by the float and the quantized model; the error of
the difference the reward's tolerance tests) and on the test split, latency and energy relative to
8-bit and the episode objective. Also prints the absolute standard error of the search split's
accuracy. These numbers set ``search_samples`` and the reward's tolerance (see the README).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from autoq_env.env import AutoQEnv
from autoq_env.hardware import ACCELERATORS

UNIFORM = ((8, 8), (6, 6), (5, 5), (4, 8), (4, 4), (3, 8), (3, 4), (2, 8), (2, 2))


def _correct(env: AutoQEnv, split: str, config: dict | None) -> np.ndarray:
    """Per image: whether the model under ``config`` (``None``: float) classifies it correctly."""
    problem = env.problem
    problem.evaluator.apply(*(env.check_config(config) if config is not None else (None, None)))
    batches = problem.search_batches if split == "search" else problem.test_batches
    with torch.inference_mode():
        return torch.cat([problem.evaluator.model(x).argmax(1) == y for x, y in batches]).numpy()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accelerator", default="temporal", choices=ACCELERATORS)
    parser.add_argument("--search-samples", type=int, default=5000)
    args = parser.parse_args(argv)
    env = AutoQEnv(accelerator=args.accelerator, search_samples=args.search_samples)
    n = args.search_samples
    float_search, float_test = _correct(env, "search", None), _correct(env, "test", None)
    p = float_search.mean()
    print(f"float: search {100 * p:.2f}%, test {100 * float_test.mean():.2f}%; absolute SE of the search split's "
          f"accuracy {100 * np.sqrt(p * (1 - p) / n):.2f} points (n={n})")
    print("| config | search drop | paired SE | test drop | latency vs 8-bit | energy vs 8-bit | reward |")
    print("|---|---|---|---|---|---|---|")
    for weight_qbn, activation_qbn in UNIFORM:
        if not env.b_min <= min(weight_qbn, activation_qbn):
            continue
        config = env.uniform_config(weight_qbn, activation_qbn)
        difference = float_search.astype(float) - _correct(env, "search", config)
        test_drop = 100 * (float_test.mean() - _correct(env, "test", config).mean())
        metrics = env.evaluate(config)
        print(f"| w{weight_qbn}a{activation_qbn} | {100 * difference.mean():+.2f} | "
              f"{100 * difference.std() / np.sqrt(n):.2f} | {test_drop:+.2f} | {metrics['latency_rel']:.3f} | "
              f"{metrics['energy_rel']:.3f} | {metrics['reward_objective']:+.3f} |")


if __name__ == "__main__":
    main()
