"""Score a configuration next to the float model and uniform 8-bit (``autoq evaluate``).

Accuracy on the search split (what the search optimised) and the test split (never seen by the
search), from ``env.evaluate``; latency and energy on both accelerator models (the env's own, with its
preset, and the other one at its default preset), absolute and relative to uniform 8-bit on the same
accelerator. Where the env's bits range stops below 8, the reference is uniform at its largest QBN.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from autoq_env.deploy.config import load_config
from autoq_env.hardware import get_accelerator

ACCELERATOR_NAMES = ("temporal", "spatial")
SPLIT_NAMES = ("search", "test")


def _costs(env: gym.Env, config: dict, references: dict[str, Any]) -> dict[str, dict[str, float]]:
    core = env.unwrapped
    out = {}
    for name, (accelerator, reference) in references.items():
        cost = accelerator.network_cost(core.specs, config)
        out[name] = {"latency_s": cost.latency_s, "energy_j": cost.energy_j,
                     "latency_rel": cost.latency_s / reference.latency_s,
                     "energy_rel": cost.energy_j / reference.energy_j}
    return out


def scorecard(env: gym.Env, config: Any) -> dict[str, Any]:
    """Rows ``config``, ``uniform`` (8-bit) and ``float``: accuracy per split, cost per accelerator.

    :param config: a configuration dict or file; refused with the reason when it does not fit ``env``.
    """
    config = load_config(env, config)
    core = env.unwrapped
    reference_qbn = min(8, core.b_max)
    uniform = core.uniform_config(reference_qbn)
    settings = core.signature
    references = {}
    for name in ACCELERATOR_NAMES:
        accelerator = get_accelerator(name, settings["preset"] if name == settings["accelerator"] else None)
        references[name] = (accelerator, accelerator.network_cost(core.specs, uniform))
    rows: dict[str, dict[str, Any]] = {}
    for row, row_config in (("config", config), ("uniform", uniform)):
        metrics = {split: core.evaluate(row_config, split) for split in SPLIT_NAMES}
        kernels = np.concatenate([np.asarray(k) for k in row_config["kernel_qbn"]])
        rows[row] = {
            "accuracy": {split: metrics[split]["accuracy"] for split in SPLIT_NAMES},
            "accuracy_drop": {split: metrics[split]["accuracy_drop"] for split in SPLIT_NAMES},
            "mean_weight_qbn": float(kernels.mean()),
            "mean_activation_qbn": float(np.mean(row_config["activation_qbn"])),
            "cost": _costs(env, row_config, references),
        }
    rows["float"] = {"accuracy": {split: core.problem.float_accuracy(split) for split in SPLIT_NAMES}}
    return {"env": {key: settings[key] for key in ("model", "dataset", "checkpoint", "accelerator", "preset", "bits",
                                                   "search_samples")},
            "reference_qbn": reference_qbn, "rows": rows, "config": config}


def format_scorecard(card: dict[str, Any]) -> str:
    """A plain-text table of a ``scorecard``."""
    reference = f"uniform {card['reference_qbn']}-bit"
    header = (f"{'':<16}{'search %':>9}{'test %':>8}{'drop':>7}{'w bits':>7}{'a bits':>7}"
              + "".join(f"{name + ' ms':>13}{'rel':>6}{name + ' uJ':>13}{'rel':>6}" for name in ACCELERATOR_NAMES))
    lines = [header]
    for row, label in (("config", "configuration"), ("uniform", reference), ("float", "float")):
        values = card["rows"][row]
        line = f"{label:<16}{values['accuracy']['search']:>9.2f}{values['accuracy']['test']:>8.2f}"
        if row == "float":
            lines.append(line)
            continue
        line += (f"{values['accuracy_drop']['test']:>+7.2f}{values['mean_weight_qbn']:>7.2f}"
                 f"{values['mean_activation_qbn']:>7.2f}")
        for name in ACCELERATOR_NAMES:
            cost = values["cost"][name]
            line += (f"{cost['latency_s'] * 1e3:>13.4f}{cost['latency_rel']:>6.3f}"
                     f"{cost['energy_j'] * 1e6:>13.3f}{cost['energy_rel']:>6.3f}")
        lines.append(line)
    env = card["env"]
    lines.append(f"env: {env['model']} on {env['dataset']} (checkpoint {env['checkpoint']}), bits {env['bits']}, "
                 f"{env['search_samples']} search images; drop = float minus configuration, test split; "
                 f"rel = relative to {reference} on the same accelerator")
    return "\n".join(lines)
