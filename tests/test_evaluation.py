"""Sequential evaluation and the evaluation cache, on the real default env (5,000 search images)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from autoq_env import evaluation
from autoq_env import problem as problem_module
from autoq_env.configuration import Configuration
from autoq_env.env import AutoQEnv
from autoq_env.evaluation import CACHE, AccuracyOutcome, EvaluationCache, SequentialRule

TIMING = ("evaluation_time_s", "cache_hit")


@pytest.fixture(scope="module")
def full_env(env) -> AutoQEnv:
    return AutoQEnv(evaluation="full")  # the same problem (cached per process), every split whole


def _random_config(core, rng, low, high) -> dict:
    return {"activation_qbn": rng.integers(low, high + 1, core.num_layers).tolist(),
            "kernel_qbn": [rng.integers(low, high + 1, n).tolist() for n in core.problem.num_kernels]}


def test_within_tolerance_gets_exactly_the_full_reward(env, full_env) -> None:
    for bits in (8, 6):  # 8 bits is within the tolerance; 6 bits just beyond it, not confidently so
        sequential, full = env.evaluate(env.uniform_config(bits)), full_env.evaluate(env.uniform_config(bits))
        assert bits != 8 or sequential["accuracy_drop"] <= env.reward_weights.tolerance_pts
        assert sequential["images_used"] == 5000 and not sequential["stopped_early"]
        assert {k: v for k, v in sequential.items() if k not in TIMING} == \
            {k: v for k, v in full.items() if k not in TIMING}


def test_hopeless_configuration_stops_early_on_the_images_it_saw(env) -> None:
    config = env.uniform_config(2)
    metrics = env.evaluate(config)
    assert metrics["stopped_early"] and metrics["images_used"] == SequentialRule().min_images == 500
    problem = env.problem
    problem.evaluator.apply(*env.check_config(config))
    images, labels = problem.search_batches[0]
    differences = problem.float_correct()[0].int() - problem.evaluator.correct(images, labels).int()
    assert metrics["accuracy"] == pytest.approx(problem.float_accuracy() - 100 * differences.float().mean().item())
    assert metrics["accuracy_drop_se"] > 0
    assert metrics["reward_objective"] == pytest.approx(env.reward_weights.reward(
        metrics["accuracy"], metrics["float_accuracy"], metrics["latency_rel"], metrics["energy_rel"], "accuracy"))


def test_full_evaluation_gives_the_unfused_whole_split_accuracy(full_env) -> None:
    config = _random_config(full_env, np.random.default_rng(1), 3, 8)
    metrics = full_env.evaluate(config)
    assert metrics["images_used"] == 5000
    assert metrics["accuracy"] == full_env.problem.accuracy(*full_env.check_config(config))  # hooks, uncached


def test_test_split_is_scored_whole(env) -> None:
    assert env.evaluate(env.uniform_config(8), split="test")["images_used"] == 10_000


def test_same_actions_same_rewards_without_the_cache(env) -> None:
    actions = np.random.default_rng(3).uniform(-1, 1, (env.steps_per_episode, 2))
    runs = []
    for _ in range(2):
        CACHE.clear()
        env.reset(seed=0)
        rewards = [env.step(action)[1] for action in actions]
        runs.append(rewards)
    assert runs[0] == runs[1]


def test_cache_returns_identical_metrics_and_tells_configurations_apart(env) -> None:
    rng = np.random.default_rng(2)
    first = _random_config(env, rng, 4, 8)
    second = copy.deepcopy(first)
    second["kernel_qbn"][5][0] = 4 if first["kernel_qbn"][5][0] != 4 else 5  # one kernel differs
    a, b = env.evaluate(first), env.evaluate(second)
    again = env.evaluate(first)
    assert again["cache_hit"] and not a["cache_hit"] and not b["cache_hit"]
    assert {k: v for k, v in again.items() if k not in TIMING} == {k: v for k, v in a.items() if k not in TIMING}
    uncached = [evaluation.measure_accuracy(env.problem, env.check_configuration(c), "search",
                                            env.sequential_rule, env.reward_weights.tolerance_pts).accuracy
                for c in (first, second)]
    assert [a["accuracy"], b["accuracy"]] == uncached


def test_cache_keys_never_confuse_problems_splits_or_rules(env, small_env) -> None:
    config = Configuration.uniform(env.problem.num_kernels, 4, 4)
    rule = SequentialRule()
    keys = {evaluation.cache_key(env.problem.signature, "search", rule, 0.5, config),
            evaluation.cache_key(small_env.unwrapped.problem.signature, "search", rule, 0.5, config),  # search split
            evaluation.cache_key(env.problem.signature, "test", rule, 0.5, config),
            evaluation.cache_key(env.problem.signature, "search", None, None, config),
            evaluation.cache_key(env.problem.signature, "search", rule, 1.0, config),
            evaluation.cache_key(env.problem.signature, "search", SequentialRule(min_images=1000), 0.5, config)}
    assert len(keys) == 6


def test_problem_signature_covers_model_data_and_bits(env) -> None:
    problem = env.problem
    model = copy.deepcopy(problem.evaluator.model)
    settings = ("resnet20", "fashion-mnist", 2, 9, 5000, "cpu")
    splits = [problem.search_batches]
    base = problem_module._content_signature(settings, model, splits)
    assert base == problem_module._content_signature(settings, model, splits)
    other_bits = problem_module._content_signature(("resnet20", "fashion-mnist", 3, 9, 5000, "cpu"), model, splits)
    other_data = problem_module._content_signature(settings, model, [problem.search_batches[:-1]])
    with_other_weight = copy.deepcopy(model)
    next(with_other_weight.parameters()).data.view(-1)[0] += 1e-3
    other_model = problem_module._content_signature(settings, with_other_weight, splits)
    assert len({base, other_bits, other_data, other_model}) == 4


def test_cache_is_bounded_least_recently_used() -> None:
    cache = EvaluationCache(max_entries=2)
    outcome = AccuracyOutcome(90.0, 500, 500, False, 0.0)
    cache.put("a", outcome)
    cache.put("b", outcome)
    assert cache.get("a") is outcome  # "a" is now the most recent
    cache.put("c", outcome)
    assert cache.get("b") is None and cache.get("a") is outcome and len(cache) == 2
    with pytest.raises(ValueError, match="positive integer"):
        EvaluationCache(0)


def test_rule_looks_and_bonferroni_quantile() -> None:
    rule = SequentialRule()
    assert rule.looks([500] * 10) == list(range(500, 5000, 500))
    assert rule.z(9) == pytest.approx(3.69, abs=0.01)
    assert not rule.stops(0.0, 0.0, 500, 5000, 0.5, rule.z(9))  # no discordant image: no evidence
    assert rule.stops(60.0, 60.0, 500, 5000, 0.5, rule.z(9))  # 12 points worse, with little spread
    with pytest.raises(ValueError, match="false_stop_probability"):
        SequentialRule(false_stop_probability=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_a_gpu_the_search_images_stay_there_and_score_as_on_the_cpu(env) -> None:
    gpu_env = AutoQEnv(device="cuda")
    assert all(images.device.type == "cuda" for images, _ in gpu_env.problem.search_batches)
    for bits in (8, 4):  # cuDNN may sum in another order (or TF32): the same accuracy to a few images
        on_gpu, on_cpu = gpu_env.evaluate(gpu_env.uniform_config(bits)), env.evaluate(env.uniform_config(bits))
        assert on_gpu["images_used"] == on_cpu["images_used"]
        assert on_gpu["accuracy"] == pytest.approx(on_cpu["accuracy"], abs=0.1)
