"""benchmarks.ablation --quick: the whole pipeline (runs, resumption, table, figure) in seconds."""

from __future__ import annotations

import pytest

from agents.hyperparams import load_hyperparams
from agents.recording import read_episode_csv
from autoq_env.atomic_io import read_json
from benchmarks.ablation import QUICK, acceptance, best_after_warmup, earlier_yaml, main, plan
from benchmarks.runs import Run


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


def _run(method: str, seed: int, rewards: list[float], drops: list[float], agent: str = "hrl",
         search_drop: float = 0.2, test_drop: float = 0.3) -> Run:
    return Run(setting="accuracy-temporal", method=method, seed=seed,
               record={"env": {"reward_weights": {"tolerance_pts": 0.5}}, "spec": {"agent": agent}},
               report={"search": {"accuracy_drop": search_drop}, "test": {"best": {"accuracy_drop": test_drop}}},
               episodes=[{"reward": r, "accuracy_drop": d} for r, d in zip(rewards, drops, strict=True)],
               best_config={})


def test_acceptance_rows_hold_each_criterion_of_known_numbers() -> None:
    """Seed 0 passes everything but greedy; seed 1 drifts (gap 0.5, 50% within) and loses to ddpg-layer."""
    runs = [_run("default", 0, [0.0] * 20 + [0.6] * 20, [0.2] * 40),
            _run("default", 1, [0.9] + [0.4] * 39, [0.2] * 30 + [0.9] * 10, test_drop=1.5),
            _run("ddpg-layer", 0, [0.5] * 40, [0.2] * 40, agent="ddpg-layer"),
            _run("ddpg-layer", 1, [0.95] * 40, [0.2] * 40, agent="ddpg-layer"),
            _run("greedy", 0, [0.8], [0.3], agent="greedy")]
    rows = {line.split(" | ")[0]: line.split(" | ") for line in acceptance(runs) if line.startswith("| 0") or
            line.startswith("| 1")}
    assert rows["| 0"][1:] == ["+0.600", "0.20 yes", "0.30 yes", "+0.600 (0.000) yes", "100% yes", "+0.100 yes",
                               "-0.200 **no** |"]
    assert rows["| 1"][3:] == ["1.50 **no**", "+0.400 (0.500) **no**", "50% **no**", "-0.050 **no**", "+0.100 yes |"]
    assert acceptance([run for run in runs if run.method != "default"]) == []
    assert acceptance(runs, "ddpg-layer")[0] == "## Acceptance (issue 13), `ddpg-layer`, seed by seed"


def test_best_after_the_warmup_leaves_the_warmup_episodes_out() -> None:
    learner = _run("default", 0, [0.9, 0.1, 0.3, 0.2], [0.2] * 4)
    learner.record["settings"] = {"hyperparams": {"values": {"warmup_episodes": 2}}}
    assert best_after_warmup(learner) == 0.3
    assert best_after_warmup(_run("greedy", 0, [0.1, 0.8], [0.3] * 2, agent="greedy")) == 0.8  # no warm-up


def test_runs_made_with_an_earlier_yaml_are_marked_with_what_differed() -> None:
    today = load_hyperparams("hrl")
    current, earlier = _run("default", 0, [0.1], [0.2]), _run("default", 1, [0.1], [0.2])
    current.record["settings"] = {"hyperparams": {"values": dict(today)}}
    earlier.record["settings"] = {"hyperparams": {"values": {**today, "tau": today["tau"] / 2}}}
    assert earlier_yaml([current], "default") == ""
    assert earlier_yaml([current, earlier], "default") == (
        f"; its runs used an earlier `hrl.yml`: tau {today['tau'] / 2!r} (now {today['tau']!r})")
