"""Evaluation: the accuracy of a configuration on a split, sequentially where that is safe, never twice.

**Sequential evaluation** (accuracy mode, search split; ``SequentialRule``). The search split is
scored batch by batch in its fixed order (a uniformly random order of the held-out pool, fixed by
``autoq_env.data.SPLIT_SEED``, so a configuration always sees the same images). For image ``i`` let
``d_i = c_i^float - c_i`` (1 where only the float model is right, -1 where only the quantized one
is, 0 else; the float model's ``c_i^float`` are computed once per problem). After ``n`` of the
split's ``N`` images the paired estimate of the full split's accuracy drop is
``D_n = 100 mean(d)`` points with standard error ``SE_n = 100 s_d / sqrt(n) sqrt(1 - n/N)`` (the
finite-population correction: the target is the drop on these ``N`` images). Evaluation stops after
batch ``k`` (``n >= min_images``) only when ``D_n - z SE_n > tolerance + margin_pts``, with
``z = Phi^-1(1 - alpha / K)`` and ``K`` the number of looks before the full split (a Bonferroni
bound over the looks). So a configuration whose full-split drop is within the tolerance is stopped
early with probability at most ``alpha`` (``false_stop_probability``, 0.1% by default) over the
split's random order, under the normal approximation of ``D_n`` (``python -m
benchmarks.sequential_eval`` measures it on a few hundred configurations of random, greedy and
RL-like searches and finds far fewer). A stopped configuration is scored from the images it saw:
its accuracy is ``float accuracy on the full split - D_n``. Every other configuration is scored on
the whole split and its accuracy and reward are exactly the full ones.

In ``mode="resource"`` the reward is accuracy alone and every configuration meets the budget, so no
tolerance separates the ones that matter; no exact guarantee is available there, and evaluation is
full. The test split is always evaluated fully.

**Cache.** ``EvaluationCache`` keeps outcomes keyed by a SHA-256 of the problem's content
signature, the split, the rule (or ``full``), the tolerance and the configuration's content hash:
bounded (least recently used out), shared in a process by every env, search baseline and report on
the same problem (uniform references, repeated proposals, the test-split score of a best
configuration, the same configuration on another accelerator: accuracy does not depend on it).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np

from autoq_env.configuration import Configuration

if TYPE_CHECKING:
    from autoq_env.problem import QuantizationProblem

EVALUATIONS = ("sequential", "full")
SPLITS = ("search", "test")
CACHE_ENTRIES = 8192  # outcomes are a few numbers each


@dataclass(frozen=True)
class SequentialRule:
    """When sequential evaluation may stop (see the module docstring).

    :param false_stop_probability: ``alpha``, the bound on stopping early a configuration that the
        full split finds within the tolerance.
    :param min_images: no stop before this many images.
    :param margin_pts: extra accuracy points beyond the tolerance required to stop.
    """

    false_stop_probability: float = 1e-3
    min_images: int = 500
    margin_pts: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.false_stop_probability < 1:
            raise ValueError(f"false_stop_probability must be in (0, 1), got {self.false_stop_probability!r}")
        if isinstance(self.min_images, bool) or not isinstance(self.min_images, int) or self.min_images < 1:
            raise ValueError(f"min_images must be a positive integer, got {self.min_images!r}")
        if not 0 <= self.margin_pts < math.inf:
            raise ValueError(f"margin_pts must be a finite number >= 0, got {self.margin_pts!r}")

    def looks(self, batch_sizes: list[int]) -> list[int]:
        """The image counts after which the rule may stop (batch ends at or past ``min_images``, before the end)."""
        ends = np.cumsum(batch_sizes).tolist()
        return [n for n in ends[:-1] if n >= self.min_images]

    def z(self, looks: int) -> float:
        """The one-sided normal quantile of each look (Bonferroni over ``looks``)."""
        return NormalDist().inv_cdf(1 - self.false_stop_probability / max(looks, 1))

    def stops(self, drop_sum: float, drop_square_sum: float, n: int, total: int, tolerance_pts: float,
              z: float) -> bool:
        """Whether ``n`` paired differences (sum and sum of squares) put the full split's drop beyond
        ``tolerance_pts`` with the confidence of ``z``."""
        estimate_pts, se_pts = paired_drop(drop_sum, drop_square_sum, n, total)
        return estimate_pts - z * se_pts > tolerance_pts + self.margin_pts


def paired_drop(drop_sum: float, drop_square_sum: float, n: int, total: int) -> tuple[float, float]:
    """The drop estimate (points) from ``n`` of ``total`` paired differences and its standard error."""
    mean = drop_sum / n
    variance = max(drop_square_sum / n - mean * mean, 0.0) * n / max(n - 1, 1)
    se = math.sqrt(variance / n * max(1.0 - n / total, 0.0))
    return 100.0 * mean, 100.0 * se


@dataclass(frozen=True)
class AccuracyOutcome:
    """The accuracy of one configuration on one split and how it was measured."""

    accuracy: float  # percent; from the images used (a paired estimate when stopped early)
    images_used: int
    images_total: int
    stopped_early: bool
    drop_se_pts: float  # standard error of the drop (0 when the whole split was used)


class EvaluationCache:
    """A bounded least-recently-used map from evaluation keys to ``AccuracyOutcome``.

    :param max_entries: the most outcomes kept.
    """

    def __init__(self, max_entries: int = CACHE_ENTRIES) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError(f"max_entries must be a positive integer, got {max_entries!r}")
        self.max_entries = max_entries
        self._entries: OrderedDict[str, AccuracyOutcome] = OrderedDict()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> AccuracyOutcome | None:
        outcome = self._entries.get(key)
        if outcome is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return outcome

    def put(self, key: str, outcome: AccuracyOutcome) -> None:
        self._entries[key] = outcome
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
        self.hits = self.misses = 0


CACHE = EvaluationCache()  # the process's shared cache


def cache_key(problem_signature: str, split: str, rule: SequentialRule | None, tolerance_pts: float | None,
              config: Configuration) -> str:
    """SHA-256 of everything an outcome depends on."""
    parts = [problem_signature, split, "full" if rule is None else repr(sorted(asdict(rule).items())),
             "-" if rule is None else repr(float(tolerance_pts)), config.digest()]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def measure_accuracy(problem: QuantizationProblem, config: Configuration, split: str,
                     rule: SequentialRule | None = None, tolerance_pts: float | None = None) -> AccuracyOutcome:
    """Forward ``split`` under ``config``: the whole split (``rule=None``), or sequentially by ``rule``
    against ``tolerance_pts`` (uncached; see ``evaluate_accuracy``)."""
    if rule is not None and tolerance_pts is None:
        raise ValueError("sequential evaluation needs the accuracy tolerance (tolerance_pts)")
    evaluator = problem.evaluator
    batches = problem.batches(split)
    total = sum(len(labels) for _, labels in batches)
    looks = set(rule.looks([len(labels) for _, labels in batches])) if rule is not None else set()
    z = rule.z(len(looks)) if rule is not None else math.inf
    float_correct = problem.float_correct(split) if rule is not None else []
    evaluator.apply(list(config.activation_qbn), list(config.kernel_qbn))
    correct = n = 0
    drop_sum = drop_square_sum = 0.0
    for index, (images, labels) in enumerate(batches):
        right = evaluator.correct(images, labels)
        correct += int(right.sum())
        n += len(labels)
        if rule is None:
            continue
        difference = float_correct[index].to(int) - right.to(int)
        drop_sum += float(difference.sum())
        drop_square_sum += float(difference.abs().sum())  # d^2 = |d| for d in {-1, 0, 1}
        if n in looks and rule.stops(drop_sum, drop_square_sum, n, total, tolerance_pts, z):
            estimate_pts, se_pts = paired_drop(drop_sum, drop_square_sum, n, total)
            return AccuracyOutcome(problem.float_accuracy(split) - estimate_pts, n, total, True, se_pts)
    return AccuracyOutcome(100.0 * correct / total, total, total, False, 0.0)


def evaluate_accuracy(problem: QuantizationProblem, config: Configuration, split: str,
                      rule: SequentialRule | None = None, tolerance_pts: float | None = None,
                      cache: EvaluationCache | None = CACHE) -> tuple[AccuracyOutcome, bool]:
    """``measure_accuracy`` through ``cache`` (``None``: no cache); returns the outcome and whether it was
    a cache hit."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; allowed: {', '.join(map(repr, SPLITS))}")
    if split != "search":
        rule = None  # the test split is always scored whole
    key = cache_key(problem.signature, split, rule, tolerance_pts, config)
    if cache is not None:
        outcome = cache.get(key)
        if outcome is not None:
            return outcome, True
    outcome = measure_accuracy(problem, config, split, rule, tolerance_pts)
    if cache is not None:
        cache.put(key, outcome)
    return outcome, False


def score(env: Any, config: Any, split: str = "search") -> dict[str, Any]:
    """``AutoQEnv.evaluate``: accuracy (sequential on the search split in accuracy mode unless the env was
    made with ``evaluation="full"``), cost, the episode objective and how the accuracy was measured."""
    if not isinstance(split, str) or split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; allowed: {', '.join(map(repr, SPLITS))}")
    started = time.perf_counter()
    configuration = env.check_configuration(config)
    activation, kernels = list(configuration.activation_qbn), list(configuration.kernel_qbn)
    sequential = env.evaluation == "sequential" and env.mode == "accuracy" and split == "search"
    outcome, cache_hit = evaluate_accuracy(env.problem, configuration, split,
                                           env.sequential_rule if sequential else None,
                                           env.reward_weights.tolerance_pts if sequential else None)
    accuracy = outcome.accuracy
    float_accuracy = env.problem.float_accuracy(split)
    cost = env.accelerator.network_cost(env.specs, {"activation_qbn": activation, "kernel_qbn": kernels})
    latency_rel = cost.latency_s / env.reference_cost.latency_s
    energy_rel = cost.energy_j / env.reference_cost.energy_j
    metrics = {
        "split": split,
        "accuracy": accuracy,
        "float_accuracy": float_accuracy,
        "accuracy_drop": float_accuracy - accuracy,
        "latency_s": cost.latency_s,
        "energy_j": cost.energy_j,
        "latency_rel": latency_rel,
        "energy_rel": energy_rel,
        "mean_weight_qbn": configuration.mean_weight_qbn(),
        "mean_weight_qbn_by_params": configuration.mean_weight_qbn_by_params([s.reduction_size for s in env.specs]),
        "mean_activation_qbn": configuration.mean_activation_qbn(),
        "reward_objective": env.reward_weights.reward(accuracy, float_accuracy, latency_rel, energy_rel, env.mode),
        "images_used": outcome.images_used,
        "stopped_early": outcome.stopped_early,
        "accuracy_drop_se": outcome.drop_se_pts,
        "cache_hit": cache_hit,
        "config": configuration.to_dict(),
    }
    if env.mode == "resource":
        metrics["budget_rel"] = env.budget
        metrics["budget_met"] = bool(env._metric(cost) <= env._budget_value * (1 + 1e-9))
    metrics["evaluation_time_s"] = time.perf_counter() - started
    return metrics
