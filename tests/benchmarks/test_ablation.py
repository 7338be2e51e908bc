"""benchmarks.ablation --quick: the whole pipeline (runs, resumption, table, figure) in seconds."""

from __future__ import annotations

import pytest

from agents.recording import read_episode_csv
from autoq_env.atomic_io import read_json
from benchmarks.ablation import QUICK, main, plan


def test_quick_ablation_writes_the_table_and_a_rerun_keeps_the_finished_runs(tmp_path) -> None:
    out = tmp_path / "ablation"
    main(["--quick", "--out", str(out)])
    for variant in QUICK["variants"]:
        run = out / "accuracy-temporal" / variant / "seed-0"
        assert read_json(run / "run.json")["status"] == "finished"
        assert len(read_episode_csv(run / "episodes.csv")) == QUICK["episodes"]
    assert read_json(out / "accuracy-temporal" / "credit-shaped" / "seed-0" / "run.json")["spec"]["hyperparams"] == {
        "credit_assignment": "shaped"}
    table = (out / "ablation.md").read_text()
    assert "QUICK PROFILE: NOT A RESULT" in table and "| default | 1 |" in table and "| credit-shaped | 1 |" in table
    assert (out / "figures" / "ablation-learning-curves.png").stat().st_size > 1000
    main(["--quick", "--out", str(out)])  # resumable: nothing left to run
    assert read_json(out / "benchmark.json")["runs_already_finished"] == len(QUICK["variants"])


def test_deterministic_baselines_run_once_and_baselines_can_run_alone() -> None:
    runs = plan([], ["greedy", "ddpg-layer", "uniform-6bit"], 3, 5, {}, "ablation")
    by_method = {name: sorted(run.spec.seed for run in runs if run.method == name)
                 for name in ("greedy", "ddpg-layer", "uniform-6bit")}
    assert by_method == {"greedy": [0], "ddpg-layer": [0, 1, 2], "uniform-6bit": [0]}


def test_nothing_to_run_is_refused(tmp_path) -> None:
    with pytest.raises(SystemExit, match="nothing to run"):
        main(["--quick", "--out", str(tmp_path / "none"), "--variants"])
    assert not (tmp_path / "none").exists()
