"""agents.sensitivity: the env's per-kernel loss estimates and the water-filling allocation."""

from __future__ import annotations

import numpy as np
import pytest

from agents.sensitivity import MAX_OFFSET_QBN, kernel_loss_table, water_filling_offsets
from autoq_env.env import AutoQEnv


def test_offsets_are_half_the_log2_ratio_to_the_layers_geometric_mean() -> None:
    qbns = np.arange(7)
    c = np.array([1.0, 4.0, 16.0])  # loss_k(b) = c_k 4^-b: each 4x more sensitive kernel gets one more bit
    (offsets,) = water_filling_offsets([c[:, None] * 4.0 ** -qbns])
    np.testing.assert_allclose(offsets, [-1.0, 0.0, 1.0])
    (clipped,) = water_filling_offsets([np.array([[1e-40], [1.0], [1e40]])])  # a dead kernel and a huge one
    assert clipped[0] == -MAX_OFFSET_QBN and clipped[2] == MAX_OFFSET_QBN and np.isfinite(clipped).all()


def test_the_env_table_and_its_allocation_put_bits_where_the_loss_estimate_is_large() -> None:
    core = AutoQEnv(search_samples=200)
    table = kernel_loss_table(core)
    assert [t.shape for t in table] == [(spec.c_out, core.b_max - core.b_min + 1) for spec in core.specs]
    assert all(np.all(np.isfinite(t) & (t >= 0)) and np.all(t[:, 0] >= t[:, -1]) for t in table)
    offsets = water_filling_offsets(table)
    for loss, offset in zip(table, offsets):
        assert np.all(np.abs(offset) <= MAX_OFFSET_QBN)
        order = np.argsort(loss[:, 0])
        assert offset[order[-1]] >= offset[order[0]]
    # on the shipped model, spreading 3 bits per kernel this way beats uniform 3 bits on the search split
    uniform = core.uniform_config(3, 8)
    mixed = {"activation_qbn": uniform["activation_qbn"],
             "kernel_qbn": [np.clip(np.round(3 + o), core.b_min, core.b_max).astype(int).tolist() for o in offsets]}
    assert core.evaluate(mixed)["accuracy"] > core.evaluate(uniform)["accuracy"]
    assert np.mean(np.concatenate(mixed["kernel_qbn"])) == pytest.approx(3.0, abs=0.05)
