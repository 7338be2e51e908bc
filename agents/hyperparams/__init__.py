"""Versioned hyper-parameters of the RL agents, one YAML file per family, one section per agent
(rl-baselines3-zoo style): ``hrl.yml`` (section ``hrl``) and ``ddpg.yml`` (``ddpg-layer``,
``ddpg-kernel``). A user's file with the same layout overrides them (``autoq search --hyperparams``)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

HYPERPARAMS_DIR = Path(__file__).resolve().parent
DEFAULT_FILES = {"hrl": HYPERPARAMS_DIR / "hrl.yml", "ddpg-layer": HYPERPARAMS_DIR / "ddpg.yml",
                 "ddpg-kernel": HYPERPARAMS_DIR / "ddpg.yml"}


def load_hyperparams(agent: str, path: str | Path | None = None) -> dict[str, Any]:
    """The section ``agent`` of a hyper-parameter YAML file (default: the agent's shipped file).

    Raises ``FileNotFoundError`` or ``ValueError`` naming the file when it is missing, not YAML, or
    has no mapping named ``agent``.
    """
    if path is None:
        if agent not in DEFAULT_FILES:
            raise ValueError(f"unknown agent {agent!r}; agents with hyper-parameters: {', '.join(DEFAULT_FILES)}")
        path = DEFAULT_FILES[agent]
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"hyper-parameter file '{path}' does not exist")
    try:
        table = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ValueError(f"'{path}' is not a readable YAML file: {error}") from None
    if not isinstance(table, dict) or not isinstance(table.get(agent), dict):
        sections = ", ".join(map(repr, table)) if isinstance(table, dict) else "none"
        raise ValueError(f"'{path}' has no mapping for agent {agent!r} (sections: {sections}); write e.g. "
                         f"'{agent}:\\n  batch_size: 64'")
    return copy.deepcopy(table[agent])
