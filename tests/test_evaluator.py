"""The fused quantized forward: bit for bit the hook path's logits (compiled and not)."""

from __future__ import annotations

import numpy as np
import pytest
import torch


def _configs(core) -> list[tuple[list[int], list[np.ndarray]]]:
    rng = np.random.default_rng(0)
    random = {"activation_qbn": rng.integers(core.b_min, core.b_max + 1, core.num_layers).tolist(),
              "kernel_qbn": [rng.integers(core.b_min, core.b_max + 1, n).tolist() for n in core.problem.num_kernels]}
    return [core.check_config(c) for c in (core.uniform_config(4), core.uniform_config(3, 6), random)]


def _logits(evaluator, model, batches) -> list[torch.Tensor]:
    with torch.inference_mode():
        return [model(images) for images, _ in batches]


def test_fused_graph_matches_the_hooks_exactly(small_env) -> None:
    core = small_env.unwrapped
    evaluator = core.problem.evaluator
    assert evaluator.fused is not None
    for activation, kernels in _configs(core):
        evaluator.apply(activation, kernels)
        hooks = _logits(evaluator, evaluator.model, core.problem.search_batches)
        fused = _logits(evaluator, evaluator.fused, core.problem.search_batches)
        assert all(torch.equal(h, f) for h, f in zip(hooks, fused))


def test_compiled_fused_forward_gives_the_same_logits_on_every_search_image(small_env) -> None:
    core = small_env.unwrapped
    evaluator = core.problem.evaluator
    batches = core.problem.search_batches
    if not evaluator.compile_fused(batches[0][0]):
        pytest.skip("torch.compile is not available here")
    for activation, kernels in _configs(core):
        evaluator.apply(activation, kernels)
        hooks = _logits(evaluator, evaluator.model, batches)
        compiled = [evaluator._forward(images) for images, _ in batches]
        assert all(torch.equal(h, c) for h, c in zip(hooks, compiled))
        assert core.problem.accuracy(activation, kernels) == 100.0 * sum(
            int((h.argmax(1) == labels).sum()) for h, (_, labels) in zip(hooks, batches)) / 200


def test_fused_graph_runs_no_forward_hooks(small_env) -> None:
    fused = small_env.unwrapped.problem.evaluator.fused
    assert not any(module._forward_pre_hooks or module._forward_hooks for module in fused.modules())
