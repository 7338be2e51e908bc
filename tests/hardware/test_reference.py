"""The spatial model against the public BitFusion simulator's shipped per-layer results (220 rows, batch 16).

The reference lives beside the repository: ``../shared/hardware-reference/bitfusion-sim-batch16.csv`` (see the
README there). Acceptance: cycles within 10% where the simulator's stalls are under 10% of its cycles, within 30%
elsewhere; DRAM traffic within 30%.
"""

from __future__ import annotations

import pytest

from benchmarks.hardware import REFERENCE_CSV, compare_with_reference, read_reference


@pytest.fixture(scope="module")
def comparison():
    if not REFERENCE_CSV.exists():
        pytest.skip(f"BitFusion reference data not found at {REFERENCE_CSV} (the shared hardware-reference folder "
                    "beside the repository); nothing to validate against")
    return compare_with_reference(read_reference(REFERENCE_CSV))


def test_every_reference_row_is_compared(comparison):
    assert len(comparison) == 220
    assert {row["config_id"] for row in comparison} == {1, 2, 3, 4, 5}


def test_cycles_and_dram_traffic_agree_with_the_simulator_on_every_row(comparison):
    failures = []
    for row in comparison:
        cycle_tolerance = 0.10 if row["reference_stall_share"] < 0.10 else 0.30
        if abs(row["cycle_error"]) > cycle_tolerance or abs(row["dram_error"]) > 0.30:
            failures.append(f"{row['network']} {row['layer']} config {row['config_id']}: cycles "
                            f"{row['cycle_error']:+.1%}, DRAM {row['dram_error']:+.1%}")
    assert not failures, "\n".join(failures)


def test_first_layers_are_lowered_with_im2col(comparison):
    first = [row for row in comparison if row["first_layer"]]
    assert len(first) == 35  # 7 first layers x 5 configurations
    assert all(abs(row["cycle_error"]) <= 0.10 for row in first)
