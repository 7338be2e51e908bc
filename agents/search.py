"""Search baselines that score configurations only through ``env.unwrapped.evaluate(config)``.

Each baseline spends a budget counted in evaluations, the unit the RL agents spend as episodes
(one episode ends with exactly one evaluation on the search split), so the methods compare at the
same budget::

    import gymnasium as gym, autoq_env
    from agents.search import GreedySensitivitySearch
    result = GreedySensitivitySearch(gym.make("AutoQ-ResNet-v0")).search(budget=200)
    result.best_config, result.best_metrics["reward_objective"], result.history[:3]

* ``UniformSearch``: one uniform configuration (one evaluation);
* ``RandomSearch``: independent uniformly random QBNs;
* ``GreedySensitivitySearch``: greedy bit lowering by estimated loss increase per unit of cost saved.

Every method keeps the best configuration by the episode objective ``reward_objective`` (in
``mode="resource"`` only configurations within the budget count) and one history row per evaluation
(``HISTORY_FIELDS``), ready for ``csv.DictWriter``.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from agents.sensitivity import kernel_loss_table
from autoq_env.env import AutoQEnv
from autoq_env.evaluator import QuantizedEvaluator
from autoq_env.problem import QuantizationProblem

HISTORY_FIELDS = ("evaluation", "reward", "accuracy", "latency_rel", "energy_rel", "mean_weight_qbn",
                  "mean_activation_qbn", "budget_met", "best_reward", "wall_time_s")
SENSITIVITY_BATCH_SIZE = 100  # images per loss gradient, as in QuantizedEvaluator's weight Fisher
MOVES_PER_UPDATE = 8  # greedy moves made between two recomputations of every unit's best move
MAX_SCALE_REFINEMENTS = 3  # resource mode: levels of midpoint scales tried when the grid's configurations repeat
BUDGET_SEARCH_STEP = 0.002  # resource mode: log-cost step by which a path goes on when the exact cost is over


@dataclass
class SearchResult:
    """What a search found.

    :param best_config: the best configuration (``None`` when no evaluated configuration counted).
    :param best_metrics: its ``evaluate`` metrics, plus ``evaluation`` (its index in ``history``, from 1).
    :param history: one row per evaluation, keys ``HISTORY_FIELDS``.
    """

    best_config: dict | None
    best_metrics: dict | None
    history: list[dict] = field(default_factory=list)


def check_budget(budget: Any) -> int:
    """Return ``budget`` (a number of evaluations) as ``int``, or raise ``ValueError`` unless it is >= 1."""
    if isinstance(budget, (bool, np.bool_)) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ValueError(f"budget must be a positive integer number of evaluations, got {budget!r}")
    return int(budget)


class SearchBaseline(ABC):
    """A search that proposes configurations and scores each with one ``evaluate`` call.

    Subclasses implement ``_configs``, a generator of configurations; ``search`` evaluates them, at most
    ``budget`` of them, and keeps the history and the best.

    :param env: an AutoQ env (``gym.make("AutoQ-ResNet-v0", ...)``, an ``AutoQEnv`` or a wrapper of one).
    """

    def __init__(self, env: gym.Env) -> None:
        if not isinstance(env.unwrapped, AutoQEnv):
            raise TypeError(f"{type(self).__name__} needs an AutoQ env (e.g. gym.make('AutoQ-ResNet-v0')), "
                            f"got {env.unwrapped!r}")
        self.env = env
        self.core: AutoQEnv = env.unwrapped
        self.best_config: dict | None = None
        self.best_metrics: dict | None = None
        self.history: list[dict] = []
        self.evaluations: list[dict] = []  # every evaluation's metrics, in order (what ``replay`` takes)

    @abstractmethod
    def _configs(self, budget: int, rng: np.random.Generator) -> Iterator[dict]:
        """The configurations to evaluate, in order (``search`` stops after ``budget`` of them)."""

    def proposals(self, budget: int, seed: int | None = None) -> list[dict]:
        """The configurations ``search(budget, seed)`` would evaluate, in order, without evaluating them
        (fewer than ``budget`` when the method runs out, as the greedy path does at ``b_min``)."""
        return list(itertools.islice(self._configs(check_budget(budget), np.random.default_rng(seed)), budget))

    def search(self, budget: int, seed: int | None = None, callback: Callable[[dict], Any] | None = None,
               progress_bar: bool = False, replay: list[dict] | None = None) -> SearchResult:
        """Evaluate up to ``budget`` configurations and return the best and the history.

        :param budget: the number of evaluations allowed (>= 1).
        :param seed: seed of the method's random generator (unused by deterministic methods).
        :param callback: called after each evaluation with its metrics (``evaluate``'s dict, as an RL
            episode's final ``info``, plus ``evaluation``, its index from 1); returning ``False`` stops
            the search (e.g. ``agents.recording.EpisodeRecorder().record``).
        :param progress_bar: show a tqdm progress bar over the evaluations.
        :param replay: the metrics of this search's first evaluations from an earlier, interrupted run
            with the same seed (``evaluations``): they are taken instead of evaluated again (no
            callback), after checking that the search proposes the same configurations.
        """
        budget = check_budget(budget)
        replay = list(replay or [])
        if len(replay) > budget:
            raise ValueError(f"{len(replay)} evaluations to replay exceed the budget of {budget}")
        self.best_config, self.best_metrics, self.history, self.evaluations = None, None, [], []
        started = time.perf_counter()
        configs = itertools.islice(self._configs(budget, np.random.default_rng(seed)), budget)
        bar = tqdm(configs, total=budget, disable=not progress_bar, desc=type(self).__name__)
        for index, config in enumerate(bar):
            if index < len(replay):
                if self.core.check_configuration(replay[index]["config"]) != self.core.check_configuration(config):
                    raise ValueError(f"evaluation {index + 1} to replay is not the configuration this search "
                                     "proposes: the run was made by another method, seed or env")
                self._record(replay[index], started)
                continue
            metrics = self._record({**self.core.evaluate(config), "evaluation": index + 1}, started)
            if callback is not None and callback(metrics) is False:
                break
        return SearchResult(self.best_config, self.best_metrics, list(self.history))

    def _record(self, metrics: dict, started: float) -> dict:
        """Keep an evaluation's metrics (with ``evaluation``, its index from 1), update the best and the
        history; return the metrics."""
        self.evaluations.append(metrics)
        budget_met = bool(metrics.get("budget_met", True))
        if budget_met and (self.best_metrics is None
                           or metrics["reward_objective"] > self.best_metrics["reward_objective"]):
            self.best_config, self.best_metrics = metrics["config"], metrics
        row = {"reward": metrics["reward_objective"], "budget_met": budget_met,
               "best_reward": None if self.best_metrics is None else self.best_metrics["reward_objective"],
               "wall_time_s": time.perf_counter() - started}
        self.history.append({key: row[key] if key in row else metrics[key] for key in HISTORY_FIELDS})
        return metrics


class UniformSearch(SearchBaseline):
    """One evaluation of a uniform configuration (every kernel at ``weight_qbn``).

    :param env: an AutoQ env.
    :param weight_qbn: the QBN of every kernel.
    :param activation_qbn: the QBN of every activation layer (default: ``weight_qbn``).
    """

    def __init__(self, env: gym.Env, weight_qbn: int, activation_qbn: int | None = None) -> None:
        super().__init__(env)
        self.config = self.core.uniform_config(weight_qbn, activation_qbn)  # raises on QBNs out of range

    def _configs(self, budget: int, rng: np.random.Generator) -> Iterator[dict]:
        yield self.config


class RandomSearch(SearchBaseline):
    """Independent uniformly random configurations: every kernel and activation QBN uniform in
    ``[b_min, b_max]``, drawn from ``seed``; one evaluation each, the best kept by reward.

    In ``mode="resource"`` each draw is lowered to the budget the way the env lowers an agent's actions
    (``AutoQEnv.lower_to_budget``: every QBN capped by ``qbn_cap`` in step order), so every evaluated
    configuration meets the budget, as every RL episode does.

    :param env: an AutoQ env.
    """

    def _configs(self, budget: int, rng: np.random.Generator) -> Iterator[dict]:
        core = self.core
        while True:
            yield core.lower_to_budget(
                {"activation_qbn": rng.integers(core.b_min, core.b_max + 1, core.num_layers).tolist(),
                 "kernel_qbn": [rng.integers(core.b_min, core.b_max + 1, spec.c_out).tolist()
                                for spec in core.specs]})


def activation_loss_increase_estimate(evaluator: QuantizedEvaluator, batches: list[tuple[torch.Tensor, torch.Tensor]],
                                      ) -> np.ndarray:
    """Per layer and activation QBN: ``0.5 * sum_i g_i^2 (x_q,i - x_i)^2``, averaged over batches.

    The activation counterpart of ``QuantizedEvaluator.loss_increase_estimate`` (the same diagonal
    Fisher estimate, with ``g`` the gradient of the mean loss of a batch of ``SENSITIVITY_BATCH_SIZE``
    images with respect to the layer's float input ``x``, and ``x_q`` its quantized value), so that
    weight and activation estimates are in the same units.

    :param evaluator: the problem's evaluator (its float model is used; its configuration is reset).
    :param batches: ``(images, labels)`` batches, e.g. the calibration split.
    :return: array ``(num_layers, len(evaluator.qbns))``.
    """
    inputs: list[torch.Tensor] = []
    handles = [layer.register_forward_pre_hook(lambda module, args: inputs.append(args[0]))
               for layer in evaluator.layers]
    evaluator.apply(None, None)
    qbns = evaluator.qbns
    total = torch.zeros(len(evaluator.layers), len(qbns), dtype=torch.float64)
    count = 0
    try:
        for images, labels in batches:
            for start in range(0, len(labels), SENSITIVITY_BATCH_SIZE):
                inputs.clear()
                x = images[start:start + SENSITIVITY_BATCH_SIZE].to(evaluator.device).requires_grad_(True)
                loss = F.cross_entropy(evaluator.model(x), labels[start:start + SENSITIVITY_BATCH_SIZE]
                                       .to(evaluator.device))
                grads = torch.autograd.grad(loss, inputs)
                with torch.no_grad():
                    for index, (value, grad) in enumerate(zip(inputs, grads)):
                        quantizer, squared_grad = evaluator.activation_quantizers[index], grad.pow(2)
                        for column, qbn in enumerate(qbns):
                            error = quantizer(value, qbn).sub_(value)
                            total[index, column] += 0.5 * float(torch.dot(squared_grad.flatten(),
                                                                          error.pow_(2).flatten()))
                count += 1
    finally:
        for handle in handles:
            handle.remove()
    return (total / max(count, 1)).numpy()


@functools.lru_cache(maxsize=4)
def _calibration_activation_loss(problem: QuantizationProblem) -> np.ndarray:
    """``activation_loss_increase_estimate`` on the calibration split, computed once per problem."""
    estimate = activation_loss_increase_estimate(problem.evaluator, problem.calibration_batches)
    estimate.flags.writeable = False
    return estimate


class GreedySensitivitySearch(SearchBaseline):
    """Greedy bit lowering: cut the bits that cost the least estimated loss per unit of cost saved.

    **Units and estimates.** Every kernel and every activation layer is a unit with a QBN, all at
    ``b_max`` at the start. The loss increase of a kernel at each QBN is the env's Fisher estimate
    ``problem.evaluator.loss_increase_estimate(qbn)`` (squared loss gradients on the calibration
    split); that of an activation layer is its counterpart, ``activation_loss_increase_estimate``
    (squared gradients of the loss with respect to the layer's input, times the squared activation
    quantization error), on the same calibration split. The cost of a kernel at weight QBN ``w`` with
    activation QBN ``a`` is its share of the layer's cost, ``kernel_latency_s[l, w, a]`` and
    ``kernel_energy_j[l, w, a]``. The configuration's cost score is the reward's cost term with its
    weights, ``S = psi_l log(latency) + psi_e log(energy)`` (from the tables; weights 1 and 1 if the
    reward puts no weight on cost), or ``log`` of the budget metric in ``mode="resource"``.

    **Greedy path.** Repeatedly, for every unit, find the lower QBN with the smallest ratio
    ``(estimated loss increase) / (decrease of S)`` (looking past QBNs that save nothing, such as the
    non-powers of two on BitFusion); apply the ``MOVES_PER_UPDATE`` moves with the smallest ratios and
    recompute (an activation move changes the cost of its layer's kernels, so the batch stops there).
    The path runs from all ``b_max`` down to all ``b_min``.

    **Evaluations.** In ``mode="accuracy"`` the ``budget`` evaluations are spread evenly in ``S``
    along the path, from uniform ``b_max`` (the first evaluation) down to the cost of the uniform
    ``final_qbn`` configuration (default ``b_min + 1``: aggressive, every QBN one bit above the
    floor); each evaluated configuration is cheaper than the one before. In ``mode="resource"`` the
    reward is accuracy alone and the best point of a path is where it first meets the budget (exact
    cost from the accelerator model), so each evaluation is that point on a path with the activation
    estimates scaled by a different factor ``lambda`` (log-spaced in
    ``[1/activation_scale_range, activation_scale_range]``, starting at 1; a configuration already
    evaluated is skipped, and when nearby scales agree so often that the grid holds fewer than
    ``budget`` distinct configurations, the midpoints between its scales are tried next, up to
    ``MAX_SCALE_REFINEMENTS`` times, so that greedy spends the evaluations the other methods get):
    this spends the budget on the least certain part of the estimate, how
    activation bits trade against weight bits. The best
    configuration by reward is kept; in resource mode every evaluated configuration meets the budget.

    The search is deterministic (``seed`` is unused).

    :param env: an AutoQ env.
    :param final_qbn: the uniform QBN whose cost ends the accuracy-mode sweep (default ``b_min + 1``,
        at most ``b_max``).
    :param activation_scale_range: resource mode: the largest factor by which activation estimates
        are scaled up or down across evaluations (>= 1).
    """

    def __init__(self, env: gym.Env, final_qbn: int | None = None, activation_scale_range: float = 10.0) -> None:
        super().__init__(env)
        core = self.core
        self.final_qbn = min(core.b_min + 1, core.b_max) if final_qbn is None else final_qbn
        core.uniform_config(self.final_qbn)  # raises unless an integer in [b_min, b_max]
        if not isinstance(activation_scale_range, (int, float)) or isinstance(activation_scale_range, bool) \
                or not 1 <= activation_scale_range < math.inf:
            raise ValueError(f"activation_scale_range must be a finite number >= 1, got {activation_scale_range!r}")
        self.activation_scale_range = float(activation_scale_range)
        self.kernel_loss = kernel_loss_table(core)  # [layer] -> (c_out, n_qbn)
        self.activation_loss = _calibration_activation_loss(core.problem)
        if core.mode == "accuracy":
            weights = core.reward_weights
            self.score_weights = (weights.latency, weights.energy) if weights.latency + weights.energy > 0 else (1, 1)
        else:
            self.score_weights = (1.0, 0.0) if core.budget_metric == "latency" else (0.0, 1.0)

    def _configs(self, budget: int, rng: np.random.Generator) -> Iterator[dict]:
        if self.core.mode == "accuracy":
            path = _GreedyPath(self, activation_scale=1.0)
            final = _GreedyPath(self, activation_scale=1.0, start_qbn=self.final_qbn).score()
            for target in np.linspace(path.score(), final, budget):
                if not path.descend_to(target):
                    return
                yield path.config()
        else:
            seen = []
            for exponents in itertools.islice(_centred_exponents(budget), 1 + MAX_SCALE_REFINEMENTS):
                found_before = len(seen)
                for exponent in exponents:
                    path = _GreedyPath(self, activation_scale=self.activation_scale_range ** exponent)
                    if path.descend_within_budget() and path.config() not in seen:  # nearby scales may agree
                        seen.append(path.config())
                        yield seen[-1]
                if len(seen) == found_before:
                    return  # finer scales found nothing new: the search has no more to propose


def _centred_exponents(count: int) -> Iterator[np.ndarray]:
    """Exponents in [-1, 1], level by level: first ``count`` values, evenly spaced, 0 first, then by
    distance from 0; then, at each further level, the midpoints between all the values so far, in the
    same order."""
    grid = np.linspace(-1.0, 1.0, count if count % 2 else count + 1)
    yield grid[np.argsort(np.abs(grid), kind="stable")][:count]
    while True:
        midpoints = (grid[:-1] + grid[1:]) / 2
        yield midpoints[np.argsort(np.abs(midpoints), kind="stable")]
        grid = np.sort(np.concatenate([grid, midpoints]))


class _GreedyPath:
    """One greedy descent of ``GreedySensitivitySearch``: the current QBNs and the cost bookkeeping.

    Kernels are held in arrays padded to the widest layer, ``(layers, max_c_out, n_qbn)``, so that
    every unit's best move is recomputed in a few vectorised operations. QBNs are held as indices
    ``qbn - b_min``.
    """

    def __init__(self, search: GreedySensitivitySearch, activation_scale: float, start_qbn: int | None = None) -> None:
        core = search.core
        self.core, self.score_weights = core, search.score_weights
        n_qbn = core.b_max - core.b_min + 1
        c_out = np.array([spec.c_out for spec in core.specs])
        self.kernel_mask = np.arange(c_out.max())[None, :] < c_out[:, None]  # (layers, max_c_out)
        self.kernel_loss = np.zeros((core.num_layers, c_out.max(), n_qbn))
        for layer, loss in enumerate(search.kernel_loss):
            self.kernel_loss[layer, :len(loss)] = loss
        self.activation_loss = activation_scale * search.activation_loss
        start = n_qbn - 1 if start_qbn is None else start_qbn - core.b_min
        self.kernel_index = np.full(self.kernel_mask.shape, start)
        self.activation_index = np.full(core.num_layers, start)
        self.latency_table, self.energy_table = core.kernel_latency_s, core.kernel_energy_j  # (layers, w, a)
        self.latency_s = self._layer_totals(self.latency_table).sum()
        self.energy_j = self._layer_totals(self.energy_table).sum()

    # -- bookkeeping --------------------------------------------------------------------------------
    def _kernel_counts(self) -> np.ndarray:
        """``(layers, n_qbn)``: how many kernels of each layer sit at each QBN."""
        n_qbn = self.kernel_loss.shape[2]
        one_hot = (self.kernel_index[..., None] == np.arange(n_qbn)) & self.kernel_mask[..., None]
        return one_hot.sum(axis=1)

    def _layer_totals(self, table: np.ndarray) -> np.ndarray:
        """Per layer: the sum over its kernels of ``table[l, w_k, a_l]``."""
        per_weight_qbn = table[np.arange(len(table)), :, self.activation_index]  # (layers, n_qbn)
        return (self._kernel_counts() * per_weight_qbn).sum(axis=1)

    def score(self) -> float:
        """The cost score ``S``: weighted log latency and log energy (estimated from the tables)."""
        latency_weight, energy_weight = self.score_weights
        return latency_weight * math.log(self.latency_s) + energy_weight * math.log(self.energy_j)

    def config(self) -> dict:
        core = self.core
        return {"activation_qbn": (self.activation_index + core.b_min).tolist(),
                "kernel_qbn": [(self.kernel_index[layer, :spec.c_out] + core.b_min).tolist()
                               for layer, spec in enumerate(core.specs)]}

    # -- moves --------------------------------------------------------------------------------------
    def _best_moves(self) -> list[tuple[int, int, int]]:
        """The ``MOVES_PER_UPDATE`` best moves over all units, best first: each unit's lower QBN with the
        smallest ratio, as ``(layer, kernel or -1 for the activation, new QBN index)``."""
        latency_weight, energy_weight = self.score_weights
        # marginal decrease of S per unit of each cost, at the current totals: the value of a kernel's cost
        value = (latency_weight / self.latency_s) * self.latency_table \
            + (energy_weight / self.energy_j) * self.energy_table
        layers = np.arange(len(value))
        n_qbn = value.shape[1]
        below = np.arange(n_qbn)

        kernel_value = value[layers, :, self.activation_index]  # (layers, n_qbn) per kernel
        current_value = np.take_along_axis(kernel_value, self.kernel_index, axis=1)  # (layers, max_c_out)
        saving = current_value[..., None] - kernel_value[:, None, :]
        current_loss = np.take_along_axis(self.kernel_loss, self.kernel_index[..., None], axis=2)
        kernel_ratio = _ratios(self.kernel_loss - current_loss, saving,
                               (below < self.kernel_index[..., None]) & self.kernel_mask[..., None])

        layer_value = np.einsum("lw,lwa->la", self._kernel_counts(), value)  # (layers, n_qbn activation)
        current = self.activation_index[:, None]
        activation_ratio = _ratios(self.activation_loss - np.take_along_axis(self.activation_loss, current, axis=1),
                                   np.take_along_axis(layer_value, current, axis=1) - layer_value, below < current)

        kernel_target = kernel_ratio.argmin(axis=-1)  # (layers, max_c_out)
        activation_target = activation_ratio.argmin(axis=-1)  # (layers,)
        best = np.concatenate([np.take_along_axis(kernel_ratio, kernel_target[..., None], axis=-1).ravel(),
                               np.take_along_axis(activation_ratio, activation_target[:, None], axis=-1).ravel()])
        moves = []
        for unit in np.argsort(best, kind="stable")[:MOVES_PER_UPDATE]:
            if not np.isfinite(best[unit]):
                break
            if unit < kernel_target.size:
                layer, kernel = divmod(int(unit), kernel_target.shape[1])
                moves.append((int(layer), kernel, int(kernel_target[layer, kernel])))
            else:
                layer = int(unit) - kernel_target.size
                moves.append((layer, -1, int(activation_target[layer])))
        return moves

    def _apply(self, layer: int, kernel: int, index: int) -> None:
        if kernel >= 0:
            old = self.kernel_index[layer, kernel]
            activation = self.activation_index[layer]
            self.latency_s += self.latency_table[layer, index, activation] - self.latency_table[layer, old, activation]
            self.energy_j += self.energy_table[layer, index, activation] - self.energy_table[layer, old, activation]
            self.kernel_index[layer, kernel] = index
        else:
            counts = self._kernel_counts()[layer]
            old = self.activation_index[layer]
            self.latency_s += counts @ (self.latency_table[layer, :, index] - self.latency_table[layer, :, old])
            self.energy_j += counts @ (self.energy_table[layer, :, index] - self.energy_table[layer, :, old])
            self.activation_index[layer] = index

    def descend_to(self, target: float) -> bool:
        """Make greedy moves until ``score() <= target``; ``False`` if the path ends before."""
        while self.score() > target:
            moves = self._best_moves()
            if not moves:
                return False
            for layer, kernel, index in moves:
                self._apply(layer, kernel, index)
                if kernel < 0 or self.score() <= target:
                    break
        return True

    def descend_within_budget(self) -> bool:
        """Resource mode: descend until the exact cost (accelerator model) meets the budget."""
        core = self.core
        metric = core.budget_metric + ("_s" if core.budget_metric == "latency" else "_j")
        budget = core.budget * getattr(core.reference_cost, metric)
        target = math.log(budget)
        while self.descend_to(target):
            cost = core.accelerator.network_cost(core.specs, self.config())
            if getattr(cost, metric) <= budget * (1 + 1e-9):
                return True
            target = min(target, self.score()) - BUDGET_SEARCH_STEP
        return False


def _ratios(loss_increase: np.ndarray, saving: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """``loss_increase / saving`` where a move is allowed and saves something, ``inf`` elsewhere."""
    valid = allowed & (saving > 0)
    return np.where(valid, loss_increase / np.where(valid, saving, 1.0), np.inf)


SEARCHES: dict[str, type[SearchBaseline]] = {
    "uniform": UniformSearch, "random": RandomSearch, "greedy": GreedySensitivitySearch}


def make_search(name: str, env: gym.Env, **kwargs: Any) -> SearchBaseline:
    """Build a search baseline by name (``"uniform"``, ``"random"`` or ``"greedy"``).

    :param name: a key of ``SEARCHES``.
    :param env: an AutoQ env.
    :param kwargs: the method's own arguments (``weight_qbn`` for ``"uniform"``, ...).
    """
    if name not in SEARCHES:
        raise ValueError(f"unknown search method {name!r}; known: {', '.join(map(repr, SEARCHES))}")
    method = SEARCHES[name]
    accepted = set(inspect.signature(method.__init__).parameters) - {"self", "env"}
    unknown = set(kwargs) - accepted
    if unknown:
        raise ValueError(f"search method {name!r} takes no argument {', '.join(sorted(unknown))}; its arguments: "
                         f"{', '.join(sorted(accepted)) or 'none'}")
    return method(env, **kwargs)
