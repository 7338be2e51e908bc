"""Per-kernel loss estimates of an AutoQ env, and the bit allocation they suggest inside a layer.

``kernel_loss_table`` reads the env's second-order (Fisher) estimate of the loss increase of every
kernel at every QBN (``QuantizedEvaluator.loss_increase_estimate``: squared loss gradients on the
calibration split, no evaluation of the search split). ``water_filling_offsets`` turns it into the
allocation that minimises a layer's summed loss estimate for a given mean QBN: with a kernel's loss
falling as ``c_k 4^-b`` (each bit halves the quantization step, a quarter of the squared error), the
Lagrangian optimum of ``sum_k c_k 4^-b_k`` under ``sum_k b_k = const`` is
``b_k = mean + 0.5 (log2 c_k - mean_j log2 c_j)`` (reverse water-filling, as in rate-distortion bit
allocation; Gersho and Gray, *Vector Quantization and Signal Compression*, 1992, section 8.3).
"""

from __future__ import annotations

import numpy as np

from autoq_env.env import AutoQEnv

MAX_OFFSET_QBN = 2.0  # the allocation moves a kernel at most this many bits from the layer's mean
LOSS_FLOOR = 1e-30  # a dead kernel (all-zero weights or gradients) estimates 0: the floor keeps log2 finite


def kernel_loss_table(core: AutoQEnv) -> list[np.ndarray]:
    """``[layer] -> (c_out, b_max - b_min + 1)``: each kernel's estimated loss increase at each QBN."""
    evaluator = core.problem.evaluator
    by_qbn = [evaluator.loss_increase_estimate(qbn) for qbn in range(core.b_min, core.b_max + 1)]
    return [np.stack([estimate[layer] for estimate in by_qbn], axis=1) for layer in range(core.num_layers)]


def water_filling_offsets(loss_table: list[np.ndarray], max_offset_qbn: float = MAX_OFFSET_QBN) -> list[np.ndarray]:
    """``[layer] -> (c_out,)``: each kernel's QBN minus the layer's mean QBN in the loss-minimising
    allocation, clipped to ``+-max_offset_qbn``. ``c_k`` is the geometric mean over QBNs of
    ``loss_k(b) 4^b``, so the offsets do not depend on one QBN's estimate."""
    offsets = []
    for loss in loss_table:
        qbns = np.arange(loss.shape[1])
        log2_c = (np.log2(np.maximum(loss, LOSS_FLOOR)) + 2.0 * qbns).mean(axis=1)
        offsets.append(np.clip(0.5 * (log2_c - log2_c.mean()), -max_offset_qbn, max_offset_qbn))
    return offsets
