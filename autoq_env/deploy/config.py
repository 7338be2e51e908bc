"""Read a configuration file and check it against an env (layer count, kernel counts, QBN range)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import gymnasium as gym

from autoq_env import atomic_io


def load_config(env: gym.Env, config: str | os.PathLike | Mapping[str, Any]) -> dict:
    """A configuration (a file path or a dict) checked against ``env``, as plain JSON-able lists.

    :raise ValueError, TypeError: with the reason, when it does not fit the env (``env.check_config``).
    :raise FileNotFoundError: when the file does not exist.
    """
    data = atomic_io.read_json(config) if isinstance(config, (str, os.PathLike)) else config
    try:
        activation, kernels = env.unwrapped.check_config(data)
    except (ValueError, TypeError) as error:
        where = f"'{config}'" if isinstance(config, (str, os.PathLike)) else "the configuration"
        raise type(error)(f"{where} does not fit this env: {error}") from error
    return {"activation_qbn": activation, "kernel_qbn": [k.tolist() for k in kernels]}
