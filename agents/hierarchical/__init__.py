"""Hierarchical DDPG, laid out like an sb3-contrib algorithm (``hrl.py`` algorithm, ``policies.py`` networks)."""

from agents.hierarchical.hrl import HierarchicalDDPG, HRLConfig, intrinsic_reward, relabel_goal

__all__ = ["HierarchicalDDPG", "HRLConfig", "intrinsic_reward", "relabel_goal"]
