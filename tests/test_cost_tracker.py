"""The env's cost bookkeeping on the real ResNet-20 layers: the estimate, and budget caps that are exact."""

from __future__ import annotations

import numpy as np
import pytest

from autoq_env.cost_tracker import CostTracker
from autoq_env.data import DatasetInfo
from autoq_env.hardware import get_accelerator
from autoq_env.models import build_model
from autoq_env.reward import RewardWeights
from autoq_env.workload import extract_layers


@pytest.fixture(scope="module")
def specs():
    model = build_model("resnet20", DatasetInfo("fashion-mnist", 1, 10, 28), checkpoint=None)
    return extract_layers(model, (1, 28, 28))


def completion_cost(tracker: CostTracker, episode, metric: str, layer: int, kernel: int, qbn: int) -> float:
    """Exact network cost with one more choice and everything unassigned at b_min."""
    completion = episode.completion
    activation = completion.activation_qbn.copy()
    kernels = [k.copy() for k in completion.kernel_qbn]
    if kernel < 0:
        activation[layer] = qbn
    else:
        kernels[layer][kernel] = qbn
    cost = tracker.accelerator.network_cost(tracker.specs, {"activation_qbn": activation, "kernel_qbn": kernels})
    return getattr(cost, metric)


@pytest.mark.parametrize("accelerator, metric, budget", [("temporal", "latency", 0.25), ("spatial", "energy", 0.7)])
def test_caps_are_exact_and_every_episode_ends_within_budget(specs, accelerator, metric, budget):
    """Each cap is the largest QBN whose cheapest completion fits (cap + 1 does not), although a layer's output width
    depends on its consumers' activation QBNs; a random episode capped this way ends within the budget."""
    tracker = CostTracker(get_accelerator(accelerator), specs, 2, 8, RewardWeights(), "resource", budget,
                          "latency" if metric == "latency" else "energy")
    field = "latency_s" if metric == "latency" else "energy_j"
    limit = tracker.budget_value * (1 + 1e-9)
    rng = np.random.default_rng(0)
    episode = tracker.start()
    checked = 0
    for layer, spec in enumerate(specs):
        for kernel in range(-1, spec.c_out):
            cap = tracker.activation_cap(episode, layer) if kernel < 0 else tracker.kernel_cap(episode, layer, kernel)
            if kernel < 0 or rng.random() < 0.05:  # check every activation cap and a sample of kernel caps
                assert completion_cost(tracker, episode, field, layer, kernel, cap) <= limit
                if cap < 8:
                    assert completion_cost(tracker, episode, field, layer, kernel, cap + 1) > tracker.budget_value
                checked += 1
            qbn = min(int(rng.integers(2, 9)), cap)
            if kernel < 0:
                tracker.assign_activation(episode, layer, qbn)
            else:
                tracker.assign_kernel(episode, layer, kernel, qbn)
    final = {"activation_qbn": episode.completion.activation_qbn, "kernel_qbn": episode.completion.kernel_qbn}
    assert getattr(tracker.accelerator.network_cost(specs, final), field) <= limit
    assert np.array_equal(episode.estimate.activation_qbn, episode.completion.activation_qbn)
    assert checked > len(specs)


def test_estimate_is_the_exact_cost_with_unassigned_qbns_at_b_max(specs):
    tracker = CostTracker(get_accelerator("spatial"), specs, 2, 8, RewardWeights(), "accuracy")
    episode = tracker.start()
    assert tracker.estimate(episode) == pytest.approx((tracker.reference_cost.latency_s,
                                                       tracker.reference_cost.energy_j), rel=1e-12)
    assert tracker.potential(episode) == pytest.approx(0.0, abs=1e-12)
    tracker.assign_activation(episode, 3, 2)  # changes layer 3 and its producer, layer 2 (written at 2 bits)
    for kernel in range(specs[3].c_out):
        tracker.assign_kernel(episode, 3, kernel, 3)
    config = {"activation_qbn": np.full(len(specs), 8), "kernel_qbn": [np.full(s.c_out, 8) for s in specs]}
    config["activation_qbn"][3] = 2
    config["kernel_qbn"][3][:] = 3
    exact = tracker.accelerator.network_cost(specs, config)
    assert tracker.estimate(episode) == pytest.approx((exact.latency_s, exact.energy_j), rel=1e-12)
    assert tracker.producers[3] == [2]
    assert tracker.potential(episode) > 0  # cheaper than 8 bits: the cost term rewards it


def test_an_infeasible_budget_is_refused(specs):
    with pytest.raises(ValueError, match=r"budget 0.001 is infeasible: even every QBN at b_min=2 costs"):
        CostTracker(get_accelerator("temporal"), specs, 2, 8, RewardWeights(), "resource", 0.001, "latency")
