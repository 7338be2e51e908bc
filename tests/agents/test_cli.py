"""``autoq``: the demo, a short search, its result files, and refusals that lose nothing."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys

import pytest

from agents.cli import main

FAST = ["--search-samples", "200"]


def test_search_writes_every_result(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    main(["search", "--agent", "random", "--episodes", "3", "--seed", "0", "--out", str(out), "--no-progress", *FAST])
    for name in ("run.json", "episodes.csv", "best_config.json", "report.json", "report.md"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader(open(out / "episodes.csv")))
    assert [int(r["episode"]) for r in rows] == [1, 2, 3]
    report = json.loads((out / "report.json").read_text())
    assert set(report["test"]) == {"best", "uniform 8-bit"}
    assert report["search"]["reward_objective"] == max(float(r["reward"]) for r in rows)
    assert json.loads((out / "run.json").read_text())["status"] == "finished"
    assert "| best |" in capsys.readouterr().out


def test_a_search_that_runs_out_of_configurations_finishes_with_what_it_evaluated(tmp_path) -> None:
    """``uniform`` proposes one configuration: asked for three episodes, it finishes after one and says so."""
    out = tmp_path / "uniform"
    main(["search", "--agent", "uniform", "--episodes", "3", "--out", str(out), "--no-progress", *FAST])
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "finished" and record["episodes_done"] == 1
    assert len(list(csv.DictReader(open(out / "episodes.csv")))) == 1
    assert json.loads((out / "report.json").read_text())["episodes_done"] == 1
    assert "no more configurations to propose after 1 of the 3 episodes" in (out / "report.md").read_text()


def test_hrl_search_saves_a_loadable_agent_refused_by_another_env(tmp_path) -> None:
    from agents.hierarchical import HierarchicalDDPG
    from autoq_env.env import AutoQEnv

    out = tmp_path / "hrl"
    main(["search", "--agent", "hrl", "--episodes", "1", "--out", str(out), "--no-progress", *FAST])
    agent = HierarchicalDDPG.load(out / "agent.pt")
    assert agent.num_episodes == 1
    assert json.loads((out / "best_config.json").read_text()) == agent.best_config
    with pytest.raises(ValueError, match="search_samples: saved 200 vs env 300"):
        HierarchicalDDPG.load(out / "agent.pt", env=AutoQEnv(search_samples=300))


def test_demo_prints_both_summaries(capsys) -> None:
    main(["demo", *FAST])
    printed = capsys.readouterr().out
    assert "uniform 8-bit" in printed and "random policy" in printed
    returned = re.search(r"episode return ([-+.\d]+), reward objective ([-+.\d]+)", printed)
    assert returned and float(returned[1]) == pytest.approx(float(returned[2]), abs=1e-5)


def test_refuses_a_folder_with_another_runs_results(tmp_path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "episodes.csv").write_text("episode,reward\n1,0.5\n")
    with pytest.raises(SystemExit, match="already holds a run's results"):
        main(["search", "--agent", "random", "--episodes", "2", "--out", str(out), *FAST])
    assert (out / "episodes.csv").read_text() == "episode,reward\n1,0.5\n"  # nothing lost


@pytest.mark.parametrize("arguments, message", [
    (["--agent", "sac"], "invalid choice: 'sac'"),
    (["--agent", "random", "--episodes", "0"], "expected a positive integer, got 0"),
    (["--agent", "random", "--episodes", "-3"], "expected a positive integer"),
])
def test_bad_arguments_are_refused_with_the_reason(tmp_path, arguments, message) -> None:
    if "--episodes" not in arguments:
        arguments = [*arguments, "--episodes", "2"]
    result = subprocess.run([sys.executable, "-m", "agents.cli", "search", *arguments, "--out", str(tmp_path / "x")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and message in result.stderr
    assert not (tmp_path / "x").exists()


def test_evaluation_flag_turns_sequential_evaluation_off(small_env) -> None:
    import argparse

    from agents.cli import ENV_KEYWORDS, _make_env

    for flag in ("full", "sequential"):
        args = argparse.Namespace(**{**dict.fromkeys(ENV_KEYWORDS), "evaluation": flag, "search_samples": 200})
        assert _make_env(args).unwrapped.evaluation == flag
