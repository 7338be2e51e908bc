"""``AutoQEnv``: kernel-wise mixed-precision quantization as a Gymnasium environment."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from autoq_env.configuration import Configuration, partial_config
from autoq_env.cost_tracker import CostTracker
from autoq_env.data import DATASETS, SEARCH_POOL_SAMPLES
from autoq_env.evaluation import EVALUATIONS, SequentialRule, score
from autoq_env.hardware import ACCELERATORS, get_accelerator
from autoq_env.keywords import (
    check_bits,
    check_choice,
    check_device,
    check_path,
    check_reward_weights,
    check_search_samples,
)
from autoq_env.models import MODELS, NAMED_CHECKPOINTS
from autoq_env.problem import QuantizationProblem, get_problem, normalise_path
from autoq_env.reward import MODES, RewardWeights

DEFAULT_SEARCH_SAMPLES = 5_000
BUDGET_METRICS = ("latency", "energy")

OBSERVATION_FEATURES = (
    "is_layer_step",  # 1 on a layer step, 0 on a kernel step
    "layer_index",  # l / (L - 1)
    "c_in", "c_out", "kernel_size", "stride", "feature_map",  # each / its largest value in the network
    "params",  # weights of the layer / the largest layer's
    "macs_share", "latency_share_8bit", "energy_share_8bit",  # share of the network's total
    "is_depthwise", "is_linear",
    "prev_activation_qbn", "prev_mean_kernel_qbn",  # previous layer's choices (b_max before layer 0)
    "activation_qbn", "goal", "layer_mean_qbn",  # current layer; 0 until chosen
    "kernel_position",  # k / c_out of the kernel to choose (0 on a layer step)
    "kernel_std", "kernel_max_abs",  # relative to the layer's largest
    "kernel_error_min_qbn", "kernel_error_max_qbn",  # 1 + log10(relative squared error) / 6, in [0, 1]
    "kernel_sensitivity_layer",  # Fisher loss-increase estimate at b_min / the layer's largest
    "kernel_sensitivity_network",  # log10(estimate / network median) / 3, in [-1, 1]
    "qbn_cap",  # largest QBN the budget still allows (1 in accuracy mode)
    "latency_rel_estimate", "energy_rel_estimate",  # running estimate, unassigned at b_max
    "progress",  # steps taken / steps per episode
)
FEATURE_INDEX = {name: index for index, name in enumerate(OBSERVATION_FEATURES)}
LAYER_FEATURES = OBSERVATION_FEATURES[1:15]
KERNEL_FEATURES = OBSERVATION_FEATURES[18:25]


class AutoQEnv(gym.Env):
    """Kernel-wise quantization of a trained CNN, one layer and then one kernel at a time.

    ## Description

    An episode quantizes the whole network once, following AutoQ (Lou et al., ICLR 2020): for every
    quantizable layer (``Conv2d`` or ``Linear``) in forward order, a **layer step** picks the layer's
    activation QBN (quantization bit number) and a **goal**, the average weight QBN its kernels should
    reach; then one **kernel step** per output channel picks that kernel's weight QBN. ResNet-20 on
    Fashion-MNIST (the default) has 22 layers and 794 kernels: 816 steps per episode. When the last
    kernel is chosen, the quantized model is evaluated on the search split and on the accelerator.

    ## Action Space

    ``Box(-1, 1, (2,), float32)``. On a layer step ``action[0]`` sets the activation QBN and
    ``action[1]`` the goal; on a kernel step ``action[0]`` sets the kernel's QBN and ``action[1]`` is
    ignored. A QBN comes from ``[-1, 1]`` cut into ``b_max - b_min + 1`` equal bins (bin ``i`` gives
    ``b_min + i``); the goal maps linearly onto ``[b_min, b_max]``. Finite values outside ``[-1, 1]``
    are clipped; NaN, infinity or a wrong shape raise ``ValueError``, values that are not real numbers
    (strings, complex, ...) ``TypeError``. In ``mode="resource"`` a QBN is lowered to ``qbn_cap`` when
    needed, so that the budget can still be met (see Rewards).

    ## Observation Space

    ``Box(-1, 1, (29,), float32)``; the features are named in ``OBSERVATION_FEATURES`` (index by
    ``FEATURE_INDEX``). Feature 0 says which step comes next. Layer features (1–14): index, shape
    (``c_in``, ``c_out``, kernel size, stride, output feature-map size, weights), its share of the
    network's MACs and of the uniform 8-bit latency and energy, depthwise and linear flags, and the
    previous layer's activation and mean kernel QBNs. The current layer's activation QBN, goal and
    running mean kernel QBN (15–17). Kernel features (18–24, zero on layer steps): position, weight
    std and max-abs relative to the layer, relative quantization error at ``b_min`` and ``b_max`` and
    a Fisher estimate of the loss increase at ``b_min`` (squared gradients on the calibration split).
    Then the budget cap, the running latency and energy estimates relative to 8-bit, and progress.
    QBNs are normalised as ``(b - b_min) / (b_max - b_min)``.

    ## Rewards

    The episode objective ``R`` (``autoq_env.reward``), with ``acc`` and ``acc_fp`` the quantized and
    float accuracy on the search split and ``lat``, ``en`` latency and energy relative to the uniform
    8-bit model on the same accelerator:

    - ``mode="accuracy"``: ``R = psi_a log(acc/acc_fp) - psi_l log(lat) - psi_e log(en)
      - psi_t min(cap, max(0, acc_fp - acc - tol))`` (defaults ``psi_a=10, psi_l=psi_e=0.5, tol=0.5``
      points, ``psi_t=3`` per point, ``cap=10`` points).
    - ``mode="resource"``: ``R = psi_a log(acc/acc_fp)``. The budget (a fraction of the 8-bit
      model's latency or energy) is never a penalty: before each choice, ``qbn_cap`` is the largest
      QBN for which the exact cost of the layers chosen so far, this choice, and every remaining
      kernel and activation at ``b_min`` stays within the budget, and the choice is capped to it.
      Every episode therefore ends within budget.

    Intermediate rewards are potential-based: each step pays ``phi(s') - phi(s)`` with ``phi`` the
    cost term of a running estimate (unassigned QBNs at ``b_max``; 0 in resource mode) and
    ``phi(s_0) = 0``; the final step pays ``R - phi(s_T-1)``. So an episode's rewards sum to ``R``.
    A layer's output is written at its consumers' activation QBN, so an activation choice also changes
    the cost of the layers feeding it; the estimate and the caps recompute exactly those layers
    (``autoq_env.cost_tracker``), so both stay exact.

    ## Starting State

    Nothing is assigned; the first step is the layer step of layer 0. The env is deterministic: the
    same actions give the same observations, rewards and accuracy.

    ## Episode End

    Termination after the last kernel of the last layer. No truncation (wrap with ``TimeLimit`` if
    needed). At the end, ``info`` holds ``accuracy``, ``float_accuracy``, ``accuracy_drop``,
    ``latency_s``, ``energy_j``, ``latency_rel``, ``energy_rel``, ``reward_objective``, ``config``,
    ``evaluation_time_s`` (wall time of the final evaluation), ``images_used`` (search images the
    accuracy was measured on), ``stopped_early``, ``accuracy_drop_se`` (standard error of the drop
    when stopped early, else 0) and ``cache_hit`` (the accuracy came from ``autoq_env.evaluation``'s
    cache).
    Every step's ``info`` holds ``step_kind``, ``layer``, ``kernel`` (-1 on layer steps) and ``qbn``.

    ## Arguments

    ``gym.make("AutoQ-ResNet-v0", model="resnet20", dataset="fashion-mnist", data_root=None,
    checkpoint="default", accelerator="temporal", preset=None, mode="accuracy", budget=None,
    budget_metric="latency", bits=(2, 8), search_samples=5000, reward_weights=None, device="cpu",
    evaluation="sequential", render_mode=None)``

    - ``model``: one of ``autoq_env.models.MODELS``; ``checkpoint``: ``"default"`` (the packaged
      weights where they exist), ``"torchvision"`` (torchvision's ImageNet weights from torch's hub
      cache, for its models), a ``state_dict`` path, or ``None`` (random weights).
    - ``dataset``: ``"fashion-mnist"``, ``"cifar10"`` or ``"imagenet-folder"``; ``data_root`` its folder.
    - ``accelerator``: ``"temporal"`` (BISMO bit-serial), ``"spatial"`` (BitFusion) or ``"bitops"``;
      ``preset`` names the accelerator preset (its default when ``None``).
    - ``mode``: ``"accuracy"`` or ``"resource"``; ``budget`` in (0, 1] (resource mode only, default
      0.5) of the 8-bit model's ``budget_metric`` (``"latency"`` or ``"energy"``).
    - ``bits``: ``(b_min, b_max)`` within 1..8. ``search_samples``: images in the search split
      (1..5000). ``reward_weights``: a ``RewardWeights`` or a dict of its fields.
    - ``device``: where forward passes run (``"cpu"``, ``"cuda"``, ...).
    - ``render_mode``: ``None``, ``"ansi"`` (one text line per layer) or ``"rgb_array"`` (the QBN heat
      map of the configuration so far, ``autoq_env.rendering``, a fixed-size ``uint8`` image).
    - ``evaluation``: ``"sequential"`` (default): in accuracy mode the search split is scored in fixed
      batches and a configuration stops early only when it is beyond the accuracy tolerance with
      overwhelming confidence (``autoq_env.evaluation``; a configuration within the tolerance gets
      its full-split reward except with probability at most 0.1%); ``"full"``: every configuration
      on the whole split. Resource mode and the test split are always scored whole.

    ## Version History

    - v0: initial version.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(self, model: str = "resnet20", dataset: str = "fashion-mnist", data_root: str | None = None,
                 checkpoint: str | None = "default", accelerator: str = "temporal", preset: str | None = None,
                 mode: str = "accuracy", budget: float | None = None, budget_metric: str = "latency",
                 bits: tuple[int, int] = (2, 8), search_samples: int = DEFAULT_SEARCH_SAMPLES,
                 reward_weights: RewardWeights | Mapping[str, float] | None = None, device: str = "cpu",
                 evaluation: str = "sequential", render_mode: str | None = None) -> None:
        self._kwargs = dict(model=model, dataset=dataset, data_root=data_root, checkpoint=checkpoint,
                            accelerator=accelerator, preset=preset, mode=mode, budget=budget,
                            budget_metric=budget_metric, bits=bits, search_samples=search_samples,
                            reward_weights=reward_weights, device=device, evaluation=evaluation,
                            render_mode=render_mode)
        check_choice("model", model, MODELS)
        check_choice("dataset", dataset, DATASETS)
        check_choice("accelerator", accelerator, ACCELERATORS)
        self.mode = check_choice("mode", mode, MODES)
        self.budget_metric = check_choice("budget_metric", budget_metric, BUDGET_METRICS)
        self.evaluation = check_choice("evaluation", evaluation, EVALUATIONS)
        self.sequential_rule = SequentialRule()
        if render_mode is not None:
            check_choice("render_mode", render_mode, tuple(self.metadata["render_modes"]))
        self.render_mode = render_mode
        self.b_min, self.b_max = check_bits(bits)
        search_samples = check_search_samples(search_samples, SEARCH_POOL_SAMPLES)
        self.budget = self._check_budget(budget)
        self.reward_weights = check_reward_weights(reward_weights)
        check_device(device)
        check_path("data_root", data_root)
        check_path("checkpoint", checkpoint)
        self.accelerator = get_accelerator(accelerator, preset)

        self.problem: QuantizationProblem = get_problem(
            model, dataset, normalise_path(data_root),
            checkpoint if checkpoint is None or checkpoint in NAMED_CHECKPOINTS else normalise_path(checkpoint),
            range(self.b_min, self.b_max + 1), int(search_samples), device)
        self.specs = self.problem.specs
        self.num_layers = len(self.specs)
        self.steps_per_episode = self.num_layers + sum(self.problem.num_kernels)
        self._prepare_costs()
        self._layer_features = self._static_layer_features()
        self._kernel_features = self._static_kernel_features()

        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(len(OBSERVATION_FEATURES),), dtype=np.float32)
        self._reset_state()

    # -- construction helpers -----------------------------------------------------------------------
    def _check_budget(self, budget: Any) -> float | None:
        if self.mode == "accuracy":
            if budget is not None:
                raise ValueError("budget only applies to mode='resource'; leave it None in mode='accuracy'")
            return None
        if budget is None:
            return 0.5
        if isinstance(budget, bool) or not isinstance(budget, (int, float, np.floating, np.integer)) \
                or not 0 < budget <= 1:  # also rejects NaN; no math.isfinite: it overflows on huge ints
            raise ValueError(f"budget must be a fraction of the 8-bit model's {self.budget_metric} in (0, 1], "
                             f"got {budget!r}")
        return float(budget)

    def _uniform(self, weight_qbn: int, activation_qbn: int) -> dict:
        return Configuration.uniform(self.problem.num_kernels, weight_qbn, activation_qbn).to_dict()

    def _prepare_costs(self) -> None:
        """Reference costs, per-kernel cost tables, running estimate and budget caps: ``autoq_env.cost_tracker``."""
        self._cost_tracker = CostTracker(self.accelerator, self.specs, self.b_min, self.b_max, self.reward_weights,
                                         self.mode, self.budget, self.budget_metric)
        self.reference_cost = self._cost_tracker.reference_cost
        self.kernel_latency_s = self._cost_tracker.kernel_latency_s
        self.kernel_energy_j = self._cost_tracker.kernel_energy_j
        self._latency_share = self._cost_tracker.latency_share
        self._energy_share = self._cost_tracker.energy_share
        self._budget_value = self._cost_tracker.budget_value

    def _metric(self, cost) -> float:
        return cost.latency_s if self.budget_metric == "latency" else cost.energy_j

    def _static_layer_features(self) -> np.ndarray:
        specs = self.specs
        c_in = np.array([s.c_in for s in specs], float)
        c_out = np.array([s.c_out for s in specs], float)
        kernel = np.array([max(s.kernel_size) for s in specs], float)
        stride = np.array([s.stride for s in specs], float)
        fmap = np.array([s.out_h * s.out_w for s in specs], float)
        params = np.array([s.weight_count for s in specs], float)
        macs = np.array([s.macs for s in specs], float)
        index = np.arange(self.num_layers) / max(self.num_layers - 1, 1)
        return np.stack([index, c_in / c_in.max(), c_out / c_out.max(), kernel / kernel.max(), stride / stride.max(),
                         fmap / fmap.max(), params / params.max(), macs / macs.sum(), self._latency_share,
                         self._energy_share, np.array([s.is_depthwise for s in specs], float),
                         np.array([s.is_linear for s in specs], float)], axis=1).astype(np.float32)

    def _static_kernel_features(self) -> list[np.ndarray]:
        stats = self.problem.kernel_stats
        median = float(np.median(np.concatenate([s.loss_increase_min_qbn for s in stats]))) or 1e-30

        def log_error(error: np.ndarray) -> np.ndarray:
            return np.clip(1 + np.log10(np.maximum(error, 1e-12)) / 6, 0, 1)

        out = []
        for spec, s in zip(self.specs, stats):
            increase = np.maximum(s.loss_increase_min_qbn, 1e-30)
            out.append(np.stack([
                np.arange(spec.c_out) / spec.c_out,
                s.std / max(s.std.max(), 1e-12),
                s.max_abs / max(s.max_abs.max(), 1e-12),
                log_error(s.relative_error_min_qbn),
                log_error(s.relative_error_max_qbn),
                increase / increase.max(),
                np.clip(np.log10(increase / median) / 3, -1, 1),
            ], axis=1).astype(np.float32))
        return out

    # -- episode state ------------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self._layer = 0
        self._kernel = -1  # -1: the layer step of self._layer comes next
        self._steps = 0
        self._activation_qbn = np.zeros(self.num_layers, dtype=np.int64)  # 0: unassigned
        self._kernel_qbn = [np.zeros(spec.c_out, dtype=np.int64) for spec in self.specs]
        self._goal = 0.0
        self._qbn_sum = 0
        self._episode_costs = self._cost_tracker.start()
        self._latency_estimate, self._energy_estimate = self._cost_tracker.estimate(self._episode_costs)
        self._phi_start = self._cost_potential()
        self._potential = 0.0
        self._done = False
        self._cap = self.b_max  # largest QBN the next step may take; set with each observation

    def _move_estimate(self, layer: int, kernel: int, qbn: int) -> None:
        """Assign ``qbn`` to ``layer``'s activation (``kernel=-1``) or to one of its kernels, and update the costs."""
        if kernel < 0:
            self._cost_tracker.assign_activation(self._episode_costs, layer, qbn)
        else:
            self._cost_tracker.assign_kernel(self._episode_costs, layer, kernel, qbn)
        self._latency_estimate, self._energy_estimate = self._cost_tracker.estimate(self._episode_costs)

    def _cost_potential(self) -> float:
        return self._cost_tracker.potential(self._episode_costs)

    def _norm(self, qbn: float) -> float:
        return 1.0 if self.b_max == self.b_min else (qbn - self.b_min) / (self.b_max - self.b_min)

    def _observation(self) -> np.ndarray:
        layer = min(self._layer, self.num_layers - 1)
        obs = np.zeros(len(OBSERVATION_FEATURES), dtype=np.float32)
        obs[1:13] = self._layer_features[layer]
        if layer == 0:
            obs[13] = obs[14] = 1.0
        else:
            obs[13] = self._norm(self._activation_qbn[layer - 1])
            obs[14] = self._norm(self._kernel_qbn[layer - 1].mean())
        if self._kernel < 0:
            obs[0] = 1.0
            self._cap = self._activation_cap() if self.mode == "resource" and not self._done else self.b_max
        else:
            obs[15] = self._norm(self._activation_qbn[layer])
            obs[16] = self._norm(self._goal)
            obs[17] = self._norm(self._qbn_sum / self._kernel) if self._kernel > 0 else 0.0
            obs[18:25] = self._kernel_features[layer][self._kernel]
            self._cap = self._kernel_cap() if self.mode == "resource" else self.b_max
        obs[25] = self._norm(self._cap)
        obs[26] = self._latency_estimate / self.reference_cost.latency_s
        obs[27] = self._energy_estimate / self.reference_cost.energy_j
        obs[28] = self._steps / self.steps_per_episode
        return np.clip(obs, -1.0, 1.0)

    # -- budget caps (resource mode) ----------------------------------------------------------------
    def _activation_cap(self) -> int:
        """Largest activation QBN for which the cheapest completion (everything else at b_min) fits the budget."""
        return self._cost_tracker.activation_cap(self._episode_costs, self._layer)

    def _kernel_cap(self) -> int:
        """Largest QBN for the current kernel that keeps a within-budget completion possible."""
        return self._cost_tracker.kernel_cap(self._episode_costs, self._layer, self._kernel)

    # -- gym API ------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._reset_state()
        return self._observation(), {"step_kind": "layer", "layer": 0, "kernel": -1}

    def action_to_qbn(self, value: float) -> int:
        """The QBN of one action value in ``[-1, 1]`` (equal-width bins over ``b_min..b_max``); values
        outside ``[-1, 1]`` are clipped, NaN raises ``ValueError``."""
        clipped = min(max(value, -1.0), 1.0)
        if clipped != clipped:
            raise ValueError(f"an action value must be a number in [-1, 1], got {value!r}")
        bins = self.b_max - self.b_min + 1
        return self.b_min + min(int((clipped + 1.0) / 2.0 * bins), bins - 1)

    def check_action(self, action: Any) -> np.ndarray:
        """``action`` as a float array clipped to ``[-1, 1]``; a wrong shape or non-finite value raises.

        Real numbers (float, int or bool arrays, or sequences of real numbers) are accepted; strings,
        bytes, complex numbers, dates and records raise ``TypeError``.
        """
        try:
            raw = np.asarray(action)
            if raw.dtype.kind not in "biuf" and not (
                    raw.dtype.kind == "O" and all(isinstance(v, numbers.Real) for v in raw.flat)):
                raise TypeError(f"not an array of real numbers (dtype {raw.dtype})")
            array = raw.astype(np.float64)
        except (TypeError, ValueError) as error:
            raise TypeError(f"action must be an array of 2 floats in [-1, 1], got {action!r}") from error
        except OverflowError as error:  # a Python int beyond float's range
            raise ValueError(f"action must be finite (no NaN or infinity), got {action!r}") from error
        if array.shape != (2,):
            raise ValueError(f"action must have shape (2,), got shape {array.shape}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"action must be finite (no NaN or infinity), got {array.tolist()}")
        return np.clip(array, -1.0, 1.0)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._done:
            raise RuntimeError("the episode has ended; call reset() before step()")
        action = self.check_action(action)
        layer = self._layer
        spec = self.specs[layer]
        if self._kernel < 0:  # layer step: activation QBN and goal
            cap = self._cap
            qbn = min(self.action_to_qbn(action[0]), cap)
            self._activation_qbn[layer] = qbn
            self._goal = self.b_min + (action[1] + 1.0) / 2.0 * (self.b_max - self.b_min)
            self._move_estimate(layer, -1, qbn)
            self._kernel, self._qbn_sum = 0, 0
            info = {"step_kind": "layer", "layer": layer, "kernel": -1, "qbn": qbn, "goal": self._goal, "qbn_cap": cap}
        else:  # kernel step
            kernel = self._kernel
            cap = self._cap
            qbn = min(self.action_to_qbn(action[0]), cap)
            self._kernel_qbn[layer][kernel] = qbn
            self._qbn_sum += qbn
            self._move_estimate(layer, kernel, qbn)
            info = {"step_kind": "kernel", "layer": layer, "kernel": kernel, "qbn": qbn, "qbn_cap": cap}
            self._kernel += 1
            if self._kernel == spec.c_out:  # layer finished
                self._layer += 1
                self._kernel = -1
        self._steps += 1
        terminated = self._layer == self.num_layers
        if terminated:
            self._done = True
            metrics = self.evaluate(self.config)
            reward = metrics["reward_objective"] - self._potential
            info.update(metrics)
        else:
            potential = self._cost_potential() - self._phi_start
            reward = potential - self._potential
            self._potential = potential
        return self._observation(), float(reward), terminated, False, info

    def render(self) -> str | np.ndarray | None:
        """``render_mode="ansi"``: one line per layer; ``"rgb_array"``: the QBN heat map of the configuration
        so far (``autoq_env.rendering.QBNHeatMap``), ``uint8`` of the fixed shape ``(FRAME_HEIGHT, FRAME_WIDTH, 3)``
        of that module; ``None``: nothing."""
        if self.render_mode == "rgb_array":
            if getattr(self, "_heat_map", None) is None:  # built on first use (and again after unpickling)
                from autoq_env.rendering import QBNHeatMap

                self._heat_map = QBNHeatMap(self.problem.num_kernels, self.b_min, self.b_max)
            return self._heat_map.draw(self._activation_qbn, self._kernel_qbn)
        if self.render_mode != "ansi":
            return None
        lines = [f"AutoQEnv step {self._steps}/{self.steps_per_episode}"]
        for index, spec in enumerate(self.specs):
            chosen = self._kernel_qbn[index][self._kernel_qbn[index] > 0]
            kernels = f"mean {chosen.mean():.2f} over {chosen.size}/{spec.c_out}" if chosen.size else "-"
            lines.append(f"{index:3d} {spec.name:<28} a={self._activation_qbn[index] or '-'} w: {kernels}")
        return "\n".join(lines)

    @property
    def signature(self) -> dict:
        """The settings that define this search problem (saved with agents and results, checked on load)."""
        from autoq_env import __version__

        settings = {key: value for key, value in self._kwargs.items() if key not in ("device", "render_mode")}
        settings["bits"] = [self.b_min, self.b_max]
        settings["budget"] = self.budget
        settings["reward_weights"] = asdict(self.reward_weights)
        settings["num_kernels"] = self.problem.num_kernels
        settings["autoq_version"] = __version__
        return settings

    # -- configurations -----------------------------------------------------------------------------
    @property
    def config(self) -> dict:
        """The current assignment, JSON-serialisable (``None`` where nothing is chosen yet)."""
        return partial_config(self._activation_qbn, self._kernel_qbn)

    def uniform_config(self, weight_qbn: int, activation_qbn: int | None = None) -> dict:
        """Every kernel at ``weight_qbn`` and every activation at ``activation_qbn`` (default the same)."""
        config = self._uniform(weight_qbn, weight_qbn if activation_qbn is None else activation_qbn)
        self.check_config(config)
        return config

    def lower_to_budget(self, config: Any) -> dict:
        """The configuration an episode whose actions ask for ``config``'s QBNs ends with: in ``mode="resource"``
        each QBN lowered to its budget cap in step order (``qbn_cap``), so the result meets the budget; in
        ``mode="accuracy"`` ``config`` itself. Search baselines use it to get the env's feasibility rule."""
        activation_qbn, kernel_qbn = self.check_config(config)
        activation_qbn, kernel_qbn = self._cost_tracker.lower_to_budget(activation_qbn, kernel_qbn)
        return {"activation_qbn": activation_qbn, "kernel_qbn": kernel_qbn}

    def check_configuration(self, config: Any) -> Configuration:
        """Validate a configuration (a dict as ``config`` gives, or a ``Configuration``) for this env."""
        return Configuration.from_dict(config, self.problem.num_kernels, (self.b_min, self.b_max),
                                       [spec.name for spec in self.specs])

    def check_config(self, config: Any) -> tuple[list[int], list[np.ndarray]]:
        """Validate a configuration and return it as (activation QBNs, kernel QBN arrays)."""
        configuration = self.check_configuration(config)
        return list(configuration.activation_qbn), [k.copy() for k in configuration.kernel_qbn]

    def evaluate(self, config: Mapping | Configuration, split: str = "search") -> dict:
        """Score any configuration without stepping: accuracy, cost and the episode objective
        (``autoq_env.evaluation.score``; sequential on the search split unless ``evaluation="full"``).

        :param config: ``{"activation_qbn": [...], "kernel_qbn": [[...], ...]}``, e.g. ``env.config``.
        :param split: ``"search"`` (the reward's split) or ``"test"`` (final reports only, always whole).
        """
        return score(self, config, split)

    # -- pickling: rebuild from the keywords (the problem is cached per process) ---------------------
    def __getstate__(self) -> dict:
        state = {name: getattr(self, name) for name in (
            "_layer", "_kernel", "_steps", "_activation_qbn", "_kernel_qbn", "_goal", "_qbn_sum",
            "_latency_estimate", "_energy_estimate", "_potential", "_done", "_episode_costs", "_cap")}
        return {"kwargs": self._kwargs, "episode": state, "np_random": self._np_random,
                "spec": getattr(self, "spec", None)}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state["kwargs"])
        for name, value in state["episode"].items():
            setattr(self, name, value)
        self._np_random = state["np_random"]
        self.spec = state.get("spec")  # gym.make sets it; keep it through pickle and deepcopy
