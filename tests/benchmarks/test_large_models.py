"""A ResNet-50 env (random weights, 224 x 224 inputs) builds within a stated memory bound.

The bound comes from ``benchmarks/results/large_models.json`` (``python -m benchmarks.large_models``,
measured on the shared 2-core machine: peak RSS 1796 MiB, of which 524 MiB are the imports; it was 2386
MiB when the weight table held a float copy per QBN), with 25% headroom. The build takes 4 to 5 minutes
there (the clipping search over 96 ratios per QBN and the Fisher pass), too slow for the suite: set
AUTOQ_LARGE_MODEL_TESTS=1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
RESNET50_PEAK_RSS_BOUND_MIB = 2250


@pytest.mark.skipif(not os.environ.get("AUTOQ_LARGE_MODEL_TESTS"),
                    reason="builds a ResNet-50 env for minutes on a 2-core CPU; set AUTOQ_LARGE_MODEL_TESTS=1 to run")
def test_a_resnet50_env_builds_within_its_memory_bound(tmp_path: Path) -> None:
    out = tmp_path / "large_models.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks.large_models", "--models", "resnet50", "--repeats", "1",
                           "--out", str(out)], cwd=REPOSITORY, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    (row,) = json.loads(out.read_text())["rows"]
    assert row["image_size"] == 224 and row["kernels"] > 20_000
    assert row["peak_rss_mib"] <= RESNET50_PEAK_RSS_BOUND_MIB, row
