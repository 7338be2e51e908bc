"""Cost bookkeeping of an AutoQ episode: reference cost, per-kernel cost tables, the running estimate, the shaping
potential and the resource-mode budget caps.

A layer's cost depends on its kernels' QBNs, its activation QBN and the QBN its output is written at, which is the
largest activation QBN among the layers reading it (``LayerSpec.consumers``; the network's last layer writes 32
bits). So choosing layer ``l``'s activation QBN changes the cost of ``l`` and of every layer whose output ``l`` reads
(its producers). The tracker keeps a configuration in progress with every unassigned QBN at a fill value and each
layer's exact cost under it, and recomputes exactly the layers a choice touches:

- the **estimate** fills with ``b_max``: it is the exact cost of the configuration the episode would end with if
  every remaining choice were ``b_max`` (observation features and the shaping potential);
- the **completion** (resource mode) fills with ``b_min``: the cheapest way to finish (costs are monotone in every
  QBN), so a choice is feasible exactly when the completion with that choice stays within the budget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from autoq_env.hardware import Accelerator, Cost
from autoq_env.reward import RewardWeights
from autoq_env.workload import LayerSpec

BUDGET_TOLERANCE = 1e-12  # relative slack for float sums taken in different orders


@dataclass
class PartialConfig:
    """A configuration in progress: unassigned QBNs at ``fill``, and each layer's exact latency and energy under it."""

    fill: int
    activation_qbn: np.ndarray
    kernel_qbn: list[np.ndarray]
    latency_s: np.ndarray
    energy_j: np.ndarray


@dataclass
class EpisodeCosts:
    """The episode's cost state (plain data: pickled with the env)."""

    estimate: PartialConfig
    completion: PartialConfig | None


class CostTracker:
    """Everything the env computes from the accelerator model.

    :param accelerator: the cost model.
    :param specs: the network's layers (with ``consumers``).
    :param b_min: smallest QBN an action can choose; :param b_max: largest.
    :param reward_weights: gives the cost term of the potential (accuracy mode).
    :param mode: ``"accuracy"`` or ``"resource"``.
    :param budget: resource mode: fraction of the 8-bit model's ``budget_metric``.
    :param budget_metric: ``"latency"`` or ``"energy"``.
    """

    def __init__(self, accelerator: Accelerator, specs: Sequence[LayerSpec], b_min: int, b_max: int,
                 reward_weights: RewardWeights, mode: str, budget: float | None = None,
                 budget_metric: str = "latency") -> None:
        self.accelerator, self.specs = accelerator, list(specs)
        self.b_min, self.b_max, self.mode = b_min, b_max, mode
        self.reward_weights = reward_weights
        self.budget_metric = budget_metric
        self.num_layers = len(self.specs)
        self.producers = [[j for j, spec in enumerate(self.specs) if layer in spec.consumers]
                          for layer in range(self.num_layers)]
        eight_bit = self._fill(8)
        self.reference_cost = accelerator.network_cost(
            self.specs, {"activation_qbn": eight_bit.activation_qbn, "kernel_qbn": eight_bit.kernel_qbn})
        self.latency_share = eight_bit.latency_s / self.reference_cost.latency_s
        self.energy_share = eight_bit.energy_j / self.reference_cost.energy_j
        # kernel_latency_s[l, w - b_min, a - b_min]: layer l with every kernel at w bits, activations at a bits and
        # its output written at a bits too (32 for the last layer), divided by its number of kernels (likewise
        # kernel_energy_j): per-kernel shares for the search baselines; exact for uniform configurations.
        qbns = range(b_min, b_max + 1)
        self.kernel_latency_s = np.zeros((self.num_layers, len(qbns), len(qbns)))
        self.kernel_energy_j = np.zeros_like(self.kernel_latency_s)
        for index, spec in enumerate(self.specs):
            for i, w in enumerate(qbns):
                for j, a in enumerate(qbns):
                    cost = accelerator.layer_cost(spec, w, a, output_qbn=a if spec.consumers else None)
                    self.kernel_latency_s[index, i, j] = cost.latency_s / spec.c_out
                    self.kernel_energy_j[index, i, j] = cost.energy_j / spec.c_out
        self.budget_value = None
        if mode == "resource":
            self.budget_value = budget * self._metric(self.reference_cost)
            cheapest = self._metric_of(self._fill(b_min)).sum()
            if cheapest > self.budget_value * (1 + BUDGET_TOLERANCE):
                raise ValueError(f"budget {budget} is infeasible: even every QBN at b_min={b_min} costs "
                                 f"{cheapest / self._metric(self.reference_cost):.4f} of the 8-bit model's "
                                 f"{budget_metric}; raise the budget or lower b_min")

    # -- partial configurations ---------------------------------------------------------------------
    def _metric(self, cost: Cost) -> float:
        return cost.latency_s if self.budget_metric == "latency" else cost.energy_j

    def _metric_of(self, partial: PartialConfig) -> np.ndarray:
        return partial.latency_s if self.budget_metric == "latency" else partial.energy_j

    def _layer_cost(self, layer: int, kernel_qbn: np.ndarray, activation_qbn: np.ndarray) -> Cost:
        spec = self.specs[layer]
        output = int(max(activation_qbn[c] for c in spec.consumers)) if spec.consumers else None
        return self.accelerator.layer_cost(spec, kernel_qbn, int(activation_qbn[layer]), output_qbn=output)

    def _fill(self, qbn: int) -> PartialConfig:
        partial = PartialConfig(qbn, np.full(self.num_layers, qbn, dtype=np.int64),
                                [np.full(spec.c_out, qbn, dtype=np.int64) for spec in self.specs],
                                np.zeros(self.num_layers), np.zeros(self.num_layers))
        self._recompute(partial, range(self.num_layers))
        return partial

    def _recompute(self, partial: PartialConfig, layers) -> None:
        for layer in layers:
            cost = self._layer_cost(layer, partial.kernel_qbn[layer], partial.activation_qbn)
            partial.latency_s[layer], partial.energy_j[layer] = cost.latency_s, cost.energy_j

    def _partials(self, episode: EpisodeCosts) -> list[PartialConfig]:
        return [p for p in (episode.estimate, episode.completion) if p is not None]

    # -- the episode ----------------------------------------------------------------------------------
    def start(self) -> EpisodeCosts:
        """Cost state of an episode with nothing assigned."""
        return EpisodeCosts(self._fill(self.b_max), self._fill(self.b_min) if self.mode == "resource" else None)

    def assign_activation(self, episode: EpisodeCosts, layer: int, qbn: int) -> None:
        """Layer ``layer``'s activation QBN is ``qbn``: it and the layers whose output it reads change cost."""
        for partial in self._partials(episode):
            partial.activation_qbn[layer] = qbn
            self._recompute(partial, [layer, *self.producers[layer]])

    def assign_kernel(self, episode: EpisodeCosts, layer: int, kernel: int, qbn: int) -> None:
        """Kernel ``kernel`` of ``layer`` has weight QBN ``qbn``."""
        for partial in self._partials(episode):
            partial.kernel_qbn[layer][kernel] = qbn
            self._recompute(partial, [layer])

    def estimate(self, episode: EpisodeCosts) -> tuple[float, float]:
        """Latency (s) and energy (J) of the configuration with every unassigned QBN at ``b_max``."""
        return float(episode.estimate.latency_s.sum()), float(episode.estimate.energy_j.sum())

    def potential(self, episode: EpisodeCosts) -> float:
        """The cost term of the estimate relative to 8 bits (accuracy mode; 0 in resource mode)."""
        if self.mode != "accuracy":
            return 0.0
        latency_s, energy_j = self.estimate(episode)
        return self.reward_weights.cost_term(latency_s / self.reference_cost.latency_s,
                                             energy_j / self.reference_cost.energy_j)

    # -- budget caps (resource mode) ------------------------------------------------------------------
    def activation_cap(self, episode: EpisodeCosts, layer: int) -> int:
        """Largest activation QBN for ``layer`` with which the cheapest completion stays within the budget."""
        completion = episode.completion
        affected = [layer, *self.producers[layer]]
        trial = completion.activation_qbn.copy()

        def cost(qbn: int) -> float:
            trial[layer] = qbn
            return sum(self._metric(self._layer_cost(j, completion.kernel_qbn[j], trial)) for j in affected)
        return self._largest_feasible(completion, affected, cost)

    def kernel_cap(self, episode: EpisodeCosts, layer: int, kernel: int) -> int:
        """Largest QBN for kernel ``kernel`` of ``layer`` with which the cheapest completion stays within budget."""
        completion = episode.completion
        trial = completion.kernel_qbn[layer].copy()

        def cost(qbn: int) -> float:
            trial[kernel] = qbn
            return self._metric(self._layer_cost(layer, trial, completion.activation_qbn))
        return self._largest_feasible(completion, [layer], cost)

    def lower_to_budget(self, activation_qbn: Sequence[int], kernel_qbn: Sequence[Sequence[int]]
                        ) -> tuple[list[int], list[list[int]]]:
        """The configuration an episode choosing these QBNs ends with: in the env's step order (each layer's
        activation QBN, then its kernels) every QBN is lowered to its budget cap, exactly as ``AutoQEnv.step``
        does. Unchanged in accuracy mode."""
        if self.mode != "resource":
            return [int(q) for q in activation_qbn], [[int(q) for q in kernels] for kernels in kernel_qbn]
        episode = self.start()
        activations, kernels = [], []
        for layer, spec in enumerate(self.specs):
            qbn = min(int(activation_qbn[layer]), self.activation_cap(episode, layer))
            self.assign_activation(episode, layer, qbn)
            activations.append(qbn)
            kernels.append([])
            for kernel in range(spec.c_out):
                qbn = min(int(kernel_qbn[layer][kernel]), self.kernel_cap(episode, layer, kernel))
                self.assign_kernel(episode, layer, kernel, qbn)
                kernels[-1].append(qbn)
        return activations, kernels

    def _largest_feasible(self, completion: PartialConfig, affected: list[int], cost: Callable[[int], float]) -> int:
        """Binary search over QBNs, relying on cost being monotone in every QBN (tested in hardware). ``b_min`` is
        feasible by the episode's invariant (the completion is within budget)."""
        metric = self._metric_of(completion)
        allowance = self.budget_value * (1 + BUDGET_TOLERANCE) - (metric.sum() - metric[affected].sum())
        if cost(self.b_max) <= allowance:
            return self.b_max
        low, high = self.b_min, self.b_max
        while high - low > 1:
            middle = (low + high) // 2
            if cost(middle) <= allowance:
                low = middle
            else:
                high = middle
        return low
