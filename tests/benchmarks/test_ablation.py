"""benchmarks.ablation --quick: the whole pipeline (runs, resumption, table, figure) in seconds."""

from __future__ import annotations

from agents.recording import read_episode_csv
from autoq_env.atomic_io import read_json
from benchmarks.ablation import QUICK, main


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
