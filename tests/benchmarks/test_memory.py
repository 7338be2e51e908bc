"""``benchmarks.memory``: a tiny run of each kind writes the expected rows; bad arguments are refused."""

from __future__ import annotations

import json

import pytest

from benchmarks.memory import deep_size, growth, main, parse_args, proc_status_kib

TINY = ["--episodes", "6", "--checkpoints", "2,6", "--search-samples", "50", "--buffer-episodes", "1",
        "--warmup-episodes", "1", "--gradient-steps", "2", "--hlc-gradient-steps", "1", "--batch-size", "8",
        "--max-growth-mib", "1000"]


def test_hrl_run_writes_rows_at_the_checkpoints(tmp_path, capsys) -> None:
    out = tmp_path / "memory.json"
    assert main([*TINY, "--out", str(out)]) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    rows = result["rows"]
    assert [row["episode"] for row in rows] == [2, 6]
    for row in rows:
        assert 0 < row["rss_mib"] <= row["peak_rss_mib"]
        # sampled after the checkpoint episode ended: the recorder and the agent's log hold it
        assert row["recorder_rows"] == row["episode"] and row["episode_log_rows"] == row["episode"]
        assert row["hlc_buffer_fill"] == row["llc_buffer_fill"] == 1.0
    assert rows[0]["wall_time_s"] < rows[1]["wall_time_s"]
    kernels = result["steps_per_episode"] - 22  # ResNet-20: 22 layers, one layer step each
    assert result["buffers"]["llc"]["capacity"] == kernels and result["buffers"]["hlc"]["capacity"] == 22
    assert result["buffers"]["llc"]["filled_at_episode"] == result["buffers"]["hlc"]["filled_at_episode"] == 1
    assert result["hyperparams"]["llc_gradient_steps"] == 2 and result["hyperparams"]["llc_buffer_size"] == kernels
    assert result["growth"]["mib"] == pytest.approx(rows[1]["rss_mib"] - rows[0]["rss_mib"])
    assert result["verdict"] == "flat"
    assert 100 < result["kept_per_episode_bytes"]["recorder_rows"] < 5000
    assert result["settings"]["episodes"] == 6 and result["machine"]["torch_threads"] == 1
    printed = capsys.readouterr().out
    assert "| 6 |" in printed and "limit 1000 MiB: flat" in printed


def test_flat_ddpg_run_and_the_exit_status(tmp_path) -> None:
    out = tmp_path / "memory.json"
    status = main([*TINY, "--agent", "ddpg-layer", "--max-growth-mib", "0", "--out", str(out)])
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["buffers"]["ddpg"]["capacity"] == 22 and result["buffers"]["ddpg"]["filled_at_episode"] == 1
    assert all(row["ddpg_buffer_fill"] == 1.0 for row in result["rows"])
    assert [row["recorder_rows"] for row in result["rows"]] == [2, 6]
    assert result["rows"][0]["episode_log_rows"] is None and result["kept_per_episode_bytes"]["episode_log"] is None
    assert status == (0 if result["growth"]["mib"] <= 0 else 1)
    assert result["verdict"] == ("flat" if status == 0 else "GROWS")


def test_growth_in_mib_and_per_episode() -> None:
    rows = [{"episode": 50, "rss_mib": 100.0}, {"episode": 100, "rss_mib": 99.0}, {"episode": 500, "rss_mib": 109.0}]
    assert growth(rows) == {"from_episode": 50, "to_episode": 500, "mib": 9.0, "kib_per_episode": 9.0 * 1024 / 450}


def test_rss_and_deep_size() -> None:
    assert 0 < proc_status_kib("VmRSS") <= proc_status_kib("VmHWM")
    shared_key = "reward"
    rows = [{shared_key: float(i)} for i in range(10)]
    one = deep_size([{shared_key: 1.0}])
    assert deep_size(rows) < 10 * one  # the key is counted once


@pytest.mark.parametrize("argv, message", [
    (["--episodes", "0"], "positive integer"),
    (["--episodes", "ten"], "positive integer"),
    (["--checkpoints", "50,0"], "positive integer"),
    (["--checkpoints", "50"], "at least two"),
    (["--checkpoints", "100,50"], "strictly increasing"),
    (["--checkpoints", "50,50"], "strictly increasing"),
    (["--episodes", "100", "--checkpoints", "50,200"], "at most --episodes"),
    (["--checkpoints", ","], "expected episode numbers"),
    (["--search-samples", "999999"], "at most"),
    (["--max-growth-mib", "-1"], ">= 0"),
    (["--max-growth-mib", "nan"], ">= 0"),
    (["--agent", "ppo"], "invalid choice"),
])
def test_bad_arguments_are_refused(argv, message, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_defaults() -> None:
    args = parse_args([])
    assert (args.agent, args.episodes, args.checkpoints) == ("hrl", 500, [50, 100, 200, 300, 400, 500])
    assert args.max_growth_mib == 20.0 and str(args.out) == "benchmarks/results/memory.json"
