"""Agents for AutoQ: hierarchical DDPG, flat DDPG baselines and non-RL search baselines.

    from agents import HierarchicalDDPG, layerwise_ddpg, kernelwise_ddpg, RandomSearch
"""

from agents.flat import kernelwise_ddpg, layerwise_ddpg, make_flat_ddpg
from agents.hierarchical import HierarchicalDDPG
from agents.noise import DecayingTruncatedNormalNoise
from agents.recording import EpisodeRecorder
from agents.search import GreedySensitivitySearch, RandomSearch, UniformSearch, make_search

__all__ = [
    "DecayingTruncatedNormalNoise", "EpisodeRecorder", "GreedySensitivitySearch", "HierarchicalDDPG",
    "RandomSearch", "UniformSearch", "kernelwise_ddpg", "layerwise_ddpg", "make_flat_ddpg", "make_search",
]
