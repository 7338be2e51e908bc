"""``benchmarks.compare --backend ray``: a local Ray instance started here runs a tiny benchmark; one of its
worker processes is killed mid-run; every run still finishes with exactly its episodes; a rerun redoes
nothing; the report is the local backend's for the same seeds."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from benchmarks import compare, report

ray = pytest.importorskip("ray")

REPOSITORY = Path(__file__).resolve().parents[2]
EPISODES = 3
ARGUMENTS = ["--quick", "--methods", "random", "greedy", "--episodes", str(EPISODES), "--seeds", "2",
             "--settings", "accuracy-temporal"]
RUN_TASK_TITLE = b"ray::_run_task"  # the process title Ray gives a worker while it executes a run
DEADLINE_S = 600
WALL_TIME_COLUMN = "search wall time (s)"


@pytest.fixture(scope="module")
def ray_address() -> str:
    """A local Ray instance for this module, as light as this machine needs (2 CPUs, no dashboard)."""
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 1024 * 1024, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def run_task_workers() -> list[int]:
    """The pids of the Ray workers executing a run now."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(RUN_TASK_TITLE):
                pids.append(int(entry.name))
        except OSError:  # the process ended meanwhile
            continue
    return pids


def statuses(out: Path) -> dict[Path, str]:
    return {path.parent: json.loads(path.read_text())["status"] for path in out.glob("*/*/seed-*/run.json")}


def report_without_wall_times(out: Path) -> list[str]:
    """The report's table rows, without the methods' wall-time column (the only one that depends on the machine)."""
    report.write_report(out)
    rows = [line for line in (out / "report.md").read_text().splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in next(row for row in rows if row.startswith("| method |")).strip("|").split("|")]
    wall = header.index(WALL_TIME_COLUMN)
    return ["|".join(cell for index, cell in enumerate(row.strip("|").split("|")) if index != wall) for row in rows]


@pytest.mark.parametrize(("arguments", "message"), [
    (["--address", "127.0.0.1:6379"], "--address, --cpus-per-run and --gpus-per-run go with --backend ray"),
    (["--backend", "ray", "--jobs", "2"], "--jobs goes with --backend local"),
    (["--backend", "ray", "--gpus-per-run", "0.5"], "--gpus-per-run needs --device cuda"),
    (["--backend", "ray", "--device", "cuda", "--gpus-per-run", "0"], "a positive number, got 0.0"),
    (["--backend", "dask"], "invalid choice: 'dask'"),
])
def test_compare_refuses_ray_arguments_that_do_not_go_together(arguments, message, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        compare.main(arguments)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_ray_benchmark_survives_a_killed_worker_and_matches_the_local_backend(tmp_path: Path, ray_address) -> None:
    out = tmp_path / "ray"
    command = [sys.executable, "-m", "benchmarks.compare", *ARGUMENTS, "--out", str(out), "--backend", "ray",
               "--address", ray_address]
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY), "OMP_NUM_THREADS": "1"}
    log = tmp_path / "driver.log"
    with open(log, "w") as handle:
        driver = subprocess.Popen(command, cwd=REPOSITORY, env=environment, stdout=handle, stderr=handle)
    deadline = time.monotonic() + DEADLINE_S
    killed = None
    while killed is None and driver.poll() is None and time.monotonic() < deadline:
        under_way = [folder for folder, status in statuses(out).items() if status == "running"]
        workers = run_task_workers()
        if under_way and workers:
            killed = workers[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    assert killed is not None, f"no run was under way to kill:\n{log.read_text()}"
    assert driver.wait(timeout=DEADLINE_S) == 0, log.read_text()[-3000:]

    folders = {out / "accuracy-temporal" / method / f"seed-{seed}"
               for method, seeds in (("random", (0, 1)), ("greedy", (0,))) for seed in seeds}  # greedy: deterministic
    assert statuses(out) == dict.fromkeys(folders, "finished")
    for folder in folders:
        episodes = [row["episode"] for row in csv.DictReader(open(folder / "episodes.csv"))]
        assert episodes == [str(e) for e in range(1, EPISODES + 1)], f"{folder}: episodes repeated or missing"
        assert not (folder / "checkpoint.pt").exists()

    written = {folder: (folder / "run.json").stat().st_mtime_ns for folder in folders}
    compare.main([*ARGUMENTS, "--out", str(out), "--backend", "ray", "--address", ray_address])  # nothing left to do
    assert {folder: (folder / "run.json").stat().st_mtime_ns for folder in folders} == written
    benchmark = json.loads((out / "benchmark.json").read_text())
    assert benchmark["runs_already_finished"] == len(folders)

    local = tmp_path / "local"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the Ray tasks (--cpus-per-run 1): the same sums, bit for bit
    try:
        compare.main([*ARGUMENTS, "--out", str(local)])
    finally:
        torch.set_num_threads(threads)
    assert report_without_wall_times(out) == report_without_wall_times(local)


def test_sigint_stops_the_ray_runs_with_checkpoints_and_the_rerun_finishes_them(tmp_path: Path, ray_address) -> None:
    """Ctrl-C to the driver: the runs under way (2 CPUs, 1 per run) save a checkpoint after their episode,
    the queued third never starts; the same command again finishes all three, each episode once.

    A quick random episode takes about 0.15 s and a worker needs seconds to build its env, so one run can
    be far ahead of the other: the signal goes once both runs have logged an episode, or once the first
    is a third of the way through (the second then had not started, and is a queued run too)."""
    out = tmp_path / "stopped"
    episodes = 60
    command = [sys.executable, "-m", "benchmarks.compare", "--quick", "--methods", "random", "--episodes",
               str(episodes), "--seeds", "3", "--settings", "accuracy-temporal", "--out", str(out), "--backend", "ray",
               "--address", ray_address]
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY), "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(command, cwd=REPOSITORY, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    logs = [out / "accuracy-temporal" / "random" / f"seed-{seed}" / "episodes.csv" for seed in range(3)]

    def logged(log: Path) -> int:
        return log.read_text().count("\n") - 1 if log.is_file() else 0

    deadline = time.monotonic() + DEADLINE_S
    while not (all(logged(log) >= 1 for log in logs[:2]) or max(logged(log) for log in logs) >= episodes // 3):
        assert first.poll() is None, first.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the runs logged no episodes in time"
        time.sleep(0.05)
    first.send_signal(signal.SIGINT)
    _, stderr = first.communicate(timeout=DEADLINE_S)
    assert first.returncode != 0 and "benchmark interrupted" in stderr, stderr[-3000:]
    started = statuses(out)
    assert 1 <= len(started) <= 2, f"the queued run started: {sorted(started)}"
    for folder, status in started.items():
        assert status == "interrupted" and (folder / "checkpoint.pt").is_file(), folder
        assert 0 < logged(folder / "episodes.csv") < episodes
    second = subprocess.run(command, cwd=REPOSITORY, env=environment, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr[-3000:]
    assert set(statuses(out).values()) == {"finished"} and len(statuses(out)) == 3
    for folder in statuses(out):
        assert [row["episode"] for row in csv.DictReader(open(folder / "episodes.csv"))] == [
            str(e) for e in range(1, episodes + 1)]
