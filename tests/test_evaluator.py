"""The fused quantized forward: bit for bit the hook path's logits (compiled and not)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import autoq_env  # noqa: F401  (registers the envs)
from tests.conftest import SMALL_SEARCH_SAMPLES


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


def test_compiled_fused_forward_gives_the_same_logits_on_every_search_image() -> None:
    # a search problem of its own (problems are cached per process by their settings): the session's compiles by
    # itself once its tests pass COMPILE_AFTER_IMAGES, for whatever batch shape comes then, and a batch of another
    # shape takes the hooks, so nothing would be compared
    core = gym.make("AutoQ-ResNet-v0", search_samples=SMALL_SEARCH_SAMPLES // 2).unwrapped
    evaluator = core.problem.evaluator
    batches = core.problem.search_batches
    if not evaluator.compile_fused(batches[0][0]):
        pytest.skip("torch.compile is not available here")
    assert all(tuple(images.shape) == tuple(batches[0][0].shape) for images, _ in batches)
    images_total = sum(len(labels) for _, labels in batches)
    seen = evaluator.hook_images
    for activation, kernels in _configs(core):
        evaluator.apply(activation, kernels)
        hooks = _logits(evaluator, evaluator.model, batches)
        compiled = [evaluator._forward(images) for images, _ in batches]
        assert all(torch.equal(h, c) for h, c in zip(hooks, compiled))
        assert core.problem.accuracy(activation, kernels) == 100.0 * sum(
            int((h.argmax(1) == labels).sum()) for h, (_, labels) in zip(hooks, batches)) / images_total
    assert evaluator.hook_images == seen  # every quantized forward above ran the compiled graph
    # use_fused=False: the hook path, though a compiled graph is there (benchmarks.env_speed times both)
    evaluator.use_fused = False
    try:
        assert all(torch.equal(h, evaluator._forward(images)) for h, (images, _) in zip(hooks, batches))
    finally:
        evaluator.use_fused = True
    assert evaluator.hook_images == seen + images_total
    evaluator._forward(batches[0][0])
    assert evaluator.hook_images == seen + images_total  # the compiled graph again


def test_fused_graph_runs_no_forward_hooks(small_env) -> None:
    fused = small_env.unwrapped.problem.evaluator.fused
    assert not any(module._forward_pre_hooks or module._forward_hooks for module in fused.modules())


def test_a_layer_whose_sums_float32_cannot_hold_sums_in_float64_exactly(small_env) -> None:
    """A linear layer over 12,544 inputs whose sums exceed 2^24 accumulates in float64: its logits equal an
    int64 computation of the same codes and bias codes, rounded once; the float model is restored exactly."""
    from torch import nn

    from autoq_env.evaluator import QuantizedEvaluator

    problem = small_env.unwrapped.problem
    channels, size = problem.info.in_channels, problem.info.image_size
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(channels, 16, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(16 * size * size, 10))
    with torch.no_grad():  # positive weights: dense inputs and sums that add up, far beyond 2^24
        model[0].weight.uniform_(0.0, 1.0)
        model[3].weight.uniform_(0.5, 1.0)
    batches = [(images[:50], labels[:50]) for images, labels in problem.calibration_batches[:1]]
    evaluator = QuantizedEvaluator(model, ["0", "3"], batches, range(2, 9))
    assert evaluator.accumulation_dtypes == [torch.float32, torch.float64]
    images = batches[0][0]
    with torch.inference_mode():
        float_logits = evaluator.model(images)
    kernels = [np.full(16, 8), np.random.default_rng(0).integers(2, 9, 10)]
    evaluator.apply([8, 8], kernels)
    with torch.inference_mode():
        logits = evaluator.model(images)
        assert torch.equal(logits, evaluator.fused(images))
        conv, linear = evaluator.layers
        hidden = []
        handle = linear.register_forward_pre_hook(lambda module, args: hidden.append(args[0]))
        evaluator.model(images)
        handle.remove()
        integers = evaluator.layer_integers(1, 8, kernels[1])
        exact = (hidden[0].long() @ integers.weight_codes.long().T * 2 ** integers.fraction_bits
                 + integers.bias_codes.long()).float()
        expected = exact * integers.output_scale  # int64 sums with the bias codes, rounded once to float32
    assert hidden[0].dtype == torch.float64
    assert float(exact.abs().max()) > 2 ** 24  # float32 sums would have rounded
    assert torch.equal(logits, expected)
    evaluator.apply([8, 2], kernels)  # 2-bit inputs: this configuration's sums fit float32 in the hook path
    assert evaluator.layer_integers(1, 2, kernels[1]).dtype == torch.float32
    with torch.inference_mode():
        assert torch.equal(evaluator.model(images), evaluator.fused(images))  # the fused graph sums in float64
    evaluator.apply(None, None)
    with torch.inference_mode():
        assert torch.equal(evaluator.model(images), float_logits)
    with pytest.raises(ValueError, match="give both"):
        evaluator.apply([8, 8], None)
