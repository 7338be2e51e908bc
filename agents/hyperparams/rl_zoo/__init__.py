"""rl-zoo3 hyper-parameters for the flat AutoQ ids, derived from ``agents/hyperparams/ddpg.yml``.

rl-zoo3 (``python -m rl_zoo3.train``) reads a ``-conf`` Python file's ``hyperparams``: one entry per
env id, for the algorithm given by ``--algo``. It does not pass the algorithm to the file, so there is
one file per algorithm beside this module (``ddpg.py``, ``td3.py``, ``sac.py``, ``ppo.py``), each
``hyperparams = zoo_hyperparams("<algo>")``::

    python -m rl_zoo3.train --algo ddpg --env AutoQ-ResNet-LayerWise-v0 --gym-packages autoq_env \\
        -conf agents/hyperparams/rl_zoo/ddpg.py

Values come from ``ddpg.yml`` (HAQ's DDPG; ``ddpg-layer`` for the layer-wise id, ``ddpg-kernel`` for
the kernel-wise one) wherever the plain SB3 algorithm that rl-zoo3 runs has the same argument; sizes
given there in episodes are converted to steps with the episode length of the id's registered model
and data set (ResNet-20 on Fashion-MNIST). What plain SB3 cannot express is left out, and listed in
``NOT_EXPRESSIBLE``: the critic's own learning rate (SB3 has one ``learning_rate``; ``agents.flat``
adds ``qf_learning_rate``) and the decay of the exploration noise (rl-zoo3's noise is a constant
normal of width ``noise_sigma``; ``agents.flat`` uses HAQ's decaying truncated normal). So rl-zoo3's
``ddpg`` is SB3's DDPG with HAQ's settings, not ``agents.flat.layerwise_ddpg`` itself.

For another model or data set (``--env-kwargs model:"'resnet56'"``), the episode-based sizes are still
those of ResNet-20; give ``-params learning_starts:N buffer_size:M n_timesteps:T`` for that network.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import gymnasium as gym
from stable_baselines3 import DDPG, PPO, SAC, TD3

import autoq_env  # noqa: F401  (registers the ids)
from agents.flat import EPISODE_KEYS, NOISE_KEYS
from agents.hyperparams import load_hyperparams
from autoq_env.data import load_splits
from autoq_env.models import build_model
from autoq_env.workload import extract_layers

ALGORITHMS = {"ddpg": DDPG, "td3": TD3, "sac": SAC, "ppo": PPO}
ENV_AGENTS = {"AutoQ-ResNet-LayerWise-v0": "ddpg-layer", "AutoQ-ResNet-KernelWise-v0": "ddpg-kernel"}
NOT_EXPRESSIBLE = {"qf_learning_rate": "SB3 has one learning_rate for actor and critic",
                   "noise_decay": "rl-zoo3's action noise has a constant width",
                   "noise_min_sigma": "rl-zoo3's action noise has a constant width"}
TRAINING_EPISODES = 200  # n_timesteps: the benchmark's budget per method (AutoQ's HRL learns in ~200, GUIDE s. 1)
PPO_ROLLOUT_EPISODES = 16  # PPO's n_steps: at least this many episodes (about 12 policy updates in TRAINING_EPISODES)


def episode_lengths(env_id: str) -> dict[str, int]:
    """Steps per episode of the flat views of ``env_id``'s registered model and data set
    (``{"layer": layers, "kernel": kernels}``), from the model's shapes alone (no weights, no evaluation)."""
    kwargs = gym.spec(env_id).kwargs
    info = load_splits(kwargs["dataset"], kwargs.get("data_root"), search_samples=1).info
    specs = extract_layers(build_model(kwargs["model"], info, checkpoint=None),
                           (info.in_channels, info.image_size, info.image_size))
    return {"layer": len(specs), "kernel": sum(spec.c_out for spec in specs)}


def _arguments(algo: str) -> set[str]:
    return set(inspect.signature(ALGORITHMS[algo].__init__).parameters) - {"self", "env", "_init_setup_model"}


def _entry(algo: str, agent: str, episode_length: int) -> dict[str, Any]:
    """rl-zoo3's entry for ``algo`` on the id of ``agent`` (``ddpg-layer`` or ``ddpg-kernel``)."""
    params = load_hyperparams(agent)
    arguments = _arguments(algo)
    entry: dict[str, Any] = {"n_timesteps": TRAINING_EPISODES * episode_length}
    left_out = []
    for key, value in params.items():
        if key in EPISODE_KEYS and EPISODE_KEYS[key] in arguments:
            entry[EPISODE_KEYS[key]] = int(value * episode_length)
        elif key == "noise_sigma" and algo in ("ddpg", "td3"):  # SAC and PPO explore by their own policy
            entry["noise_type"], entry["noise_std"] = "normal", value
        elif key in arguments:
            entry[key] = value
        elif key not in NOT_EXPRESSIBLE and key not in NOISE_KEYS and key not in EPISODE_KEYS and not any(
                key in _arguments(other) for other in ALGORITHMS):  # e.g. a key added to ddpg.yml later
            left_out.append(key)
    if algo == "ppo":
        batch_size = entry["batch_size"]  # whole mini-batches (SB3 warns about a truncated last one)
        entry["n_steps"] = -(-PPO_ROLLOUT_EPISODES * episode_length // batch_size) * batch_size
        net_arch = entry.get("policy_kwargs", {}).get("net_arch")
        if isinstance(net_arch, dict) and "qf" in net_arch:  # PPO's critic is a value function
            entry["policy_kwargs"]["net_arch"] = {"pi": net_arch["pi"], "vf": net_arch["qf"]}
    if left_out:
        warnings.warn(f"{agent} hyper-parameters {sorted(left_out)} are no argument of any SB3 algorithm here; "
                      "rl-zoo3 runs without them", stacklevel=2)
    return entry


def zoo_hyperparams(algo: str) -> dict[str, dict[str, Any]]:
    """rl-zoo3's ``hyperparams`` for ``algo`` (``ddpg``, ``td3``, ``sac`` or ``ppo``): one entry per flat id."""
    if algo not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algo!r}; rl-zoo3 files exist for {', '.join(ALGORITHMS)}")
    lengths = episode_lengths(next(iter(ENV_AGENTS)))
    return {env_id: _entry(algo, agent, lengths[agent.removeprefix("ddpg-")]) for env_id, agent in ENV_AGENTS.items()}
