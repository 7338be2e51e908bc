"""``benchmarks.fused_widths``: a configuration raised to BitFusion's widths costs the same, and the script
scores a real run's best configuration both ways."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agents.recording import EPISODE_FIELDS
from autoq_env.hardware import get_accelerator
from benchmarks import fused_widths


@pytest.fixture(scope="module")
def spatial():
    return get_accelerator("spatial")


def test_qbns_rise_to_the_width_bitfusion_computes_them_at(spatial) -> None:
    config = {"activation_qbn": [2, 3, 4, 5, 6, 7, 8], "kernel_qbn": [[3, 5], [2, 8]]}
    raised = fused_widths.raise_to_fused_widths(config, spatial)
    assert raised == {"activation_qbn": [2, 4, 4, 8, 8, 8, 8], "kernel_qbn": [[4, 8], [2, 8]]}
    assert fused_widths.count_raised(config, raised) == 6  # 3, 5, 6, 7 of the activations; 3 and 5 of the kernels


def test_a_raised_configuration_costs_the_same_on_the_default_preset(env, spatial) -> None:
    rng = np.random.default_rng(0)
    config = {"activation_qbn": rng.integers(2, 9, env.num_layers).tolist(),
              "kernel_qbn": [rng.integers(2, 9, n).tolist() for n in env.problem.num_kernels]}
    raised = fused_widths.raise_to_fused_widths(config, spatial)
    assert fused_widths.count_raised(config, raised) > 0
    as_found, at_fused = spatial.network_cost(env.specs, config), spatial.network_cost(env.specs, raised)
    assert at_fused.latency_s == pytest.approx(as_found.latency_s, rel=1e-12)
    assert at_fused.energy_j == pytest.approx(as_found.energy_j, rel=1e-12)


def test_a_folder_without_spatial_runs_is_refused_with_the_reason(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        fused_widths.main([str(tmp_path)])
    assert "holds no finished run on the spatial accelerator" in capsys.readouterr().err


def test_a_uniform_5_bit_run_is_scored_as_found_and_at_8_bits(tmp_path: Path, env) -> None:
    """A finished run folder of the spatial setting whose best configuration is uniform 5-bit weights: every
    kernel computes at 8 bits, so all 794 rise, at the same cost (the script checks it)."""
    folder = tmp_path / "bench" / "accuracy-spatial" / "greedy" / "seed-0"
    folder.mkdir(parents=True)
    settings = {"setting": "accuracy-spatial", "env_id": "AutoQ-ResNet-v0",
                "env_kwargs": {"accelerator": "spatial", "mode": "accuracy"}}
    (folder / "run.json").write_text(json.dumps({"status": "finished", "settings": settings, "env": {}}))
    (folder / "report.json").write_text(json.dumps({"search": {}, "test": {}}))
    (folder / "episodes.csv").write_text(",".join(EPISODE_FIELDS) + "\n")
    (folder / "best_config.json").write_text(json.dumps(env.uniform_config(5, 8)))
    report = tmp_path / "fused.md"

    fused_widths.main([str(tmp_path / "bench"), "--report", str(report)])

    row = next(line for line in report.read_text().splitlines() if line.startswith("| accuracy-spatial | greedy |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[2:4] == ["0", str(sum(env.problem.num_kernels))]  # seed 0; every kernel raised, no activation
    as_found, raised, change = float(cells[4]), float(cells[5]), float(cells[6])
    assert change == pytest.approx(raised - as_found, abs=0.011)  # rounded to 2 decimals each
    assert raised == pytest.approx(env.evaluate(env.uniform_config(8, 8), split="test")["accuracy_drop"], abs=0.005)
