"""Interrupted searches resume exactly: real ``autoq search`` processes killed with SIGKILL or stopped
with SIGINT, resumed with ``--resume``, compared with uninterrupted runs of the same seed; torn or
edited run files are refused with the reason and left as they were."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agents.checkpoint import CHECKPOINT_FILE
from agents.cli import main
from agents.recording import RUN_DEPENDENT_FIELDS, read_episode_csv

EPISODES = 6
CHECKPOINT_EVERY = 2
# Small but real agents: fewer gradient steps and warm-up episodes than the defaults, so that a run
# takes seconds; a warm-up of 2 episodes puts checkpoints both inside and after it.
HYPERPARAMS = """\
hrl:
  warmup_episodes: 2
  llc_gradient_steps: 8
  hlc_gradient_steps: 4
  llc_buffer_size: 5000
  hlc_buffer_size: 500
ddpg-layer:
  warmup_episodes: 2
  buffer_episodes: 50
"""
RL_AGENTS = ("hrl", "ddpg-layer")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("resume")
    (folder / "hyperparams.yml").write_text(HYPERPARAMS)
    return folder


def search_command(workdir: Path, agent: str, out: Path) -> list[str]:
    hyperparams = ["--hyperparams", str(workdir / "hyperparams.yml")]
    return [sys.executable, "-m", "agents.cli", "search", "--agent", agent, "--episodes", str(EPISODES), "--seed", "1",
            "--out", str(out), "--checkpoint-every", str(CHECKPOINT_EVERY), "--search-samples", "200",
            "--no-progress", *hyperparams]


def run_to_end(command: list[str]) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def start_and_signal(command: list[str], out: Path, signum: int, after_episodes: int) -> subprocess.CompletedProcess:
    """Start ``command``, send ``signum`` once ``after_episodes`` episodes are logged (the next one is
    under way), wait for the process to end."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    deadline = time.monotonic() + 600
    log = out / "episodes.csv"
    while not (log.is_file() and len(log.read_text().splitlines()) > after_episodes):
        assert process.poll() is None, f"the search ended before it was signalled: {process.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "the search logged no episodes in 10 minutes"
        time.sleep(0.05)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=600)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


_references: dict[str, Path] = {}


def reference(workdir: Path, agent: str) -> Path:
    """An uninterrupted run of ``agent`` (made once per module)."""
    if agent not in _references:
        out = workdir / f"reference-{agent}"
        run_to_end(search_command(workdir, agent, out))
        _references[agent] = out
    return _references[agent]


def assert_same_run(resumed: Path, uninterrupted: Path) -> None:
    rows, expected = read_episode_csv(resumed / "episodes.csv"), read_episode_csv(uninterrupted / "episodes.csv")
    assert [row["episode"] for row in rows] == list(range(1, EPISODES + 1))  # none lost, none repeated
    strip = [{key: value for key, value in row.items() if key not in RUN_DEPENDENT_FIELDS} for row in expected]
    assert [{key: value for key, value in row.items() if key not in RUN_DEPENDENT_FIELDS} for row in rows] == strip
    assert json.loads((resumed / "best_config.json").read_text()) == \
        json.loads((uninterrupted / "best_config.json").read_text())
    assert json.loads((resumed / "run.json").read_text())["status"] == "finished"
    assert not (resumed / CHECKPOINT_FILE).exists()  # removed once the run finished


@pytest.mark.parametrize("agent", RL_AGENTS)  # search baselines replay: tests/agents/test_search.py
def test_sigkill_mid_episode_then_resume_gives_the_uninterrupted_run(workdir, agent) -> None:
    out = workdir / f"killed-{agent}"
    killed = start_and_signal(search_command(workdir, agent, out), out, signal.SIGKILL, after_episodes=3)
    assert killed.returncode == -signal.SIGKILL
    assert (out / CHECKPOINT_FILE).is_file()
    assert json.loads((out / "run.json").read_text())["status"] == "running"
    run_to_end([sys.executable, "-m", "agents.cli", "search", "--resume", "--out", str(out), "--no-progress"])
    assert_same_run(out, reference(workdir, agent))


@pytest.fixture(scope="module")
def interrupted(workdir) -> tuple[Path, subprocess.CompletedProcess]:
    """An HRL run stopped by SIGINT during its third episode (kept unchanged: tests copy it)."""
    out = workdir / "interrupted"
    return out, start_and_signal(search_command(workdir, "hrl", out), out, signal.SIGINT, after_episodes=2)


def test_sigint_saves_a_checkpoint_says_how_to_go_on_and_resumes_exactly(workdir, interrupted) -> None:
    original, stopped = interrupted
    assert stopped.returncode == 128 + signal.SIGINT
    assert "SIGINT received; saving a checkpoint at the end of this episode" in stopped.stderr
    assert "checkpoint saved to" in stopped.stderr and f"autoq search --resume --out {original}" in stopped.stderr
    record = json.loads((original / "run.json").read_text())
    assert record["status"] == "interrupted"
    # the signal came after episode 2 was logged: during its training (the run stops after it) or during
    # episode 3 (finished and kept); either way every logged episode is in the checkpoint
    assert len(read_episode_csv(original / "episodes.csv")) == record["episodes_done"] >= 2
    out = workdir / "interrupted-resumed"
    shutil.copytree(original, out)
    resumed = run_to_end([sys.executable, "-m", "agents.cli", "search", "--resume", "--out", str(out), "--no-progress"])
    assert "| best |" in resumed.stdout
    assert_same_run(out, reference(workdir, "hrl"))
    again = run_to_end([sys.executable, "-m", "agents.cli", "search", "--resume", "--out", str(out), "--no-progress"])
    assert "already finished" in again.stdout


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def _cut(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def _edit_json(path: Path, edit) -> None:
    record = json.loads(path.read_text())
    edit(record)
    path.write_text(json.dumps(record))


CORRUPTIONS = {
    "truncated checkpoint": (lambda out: _cut(out / CHECKPOINT_FILE), "checkpoint .* cannot be read"),
    "checkpoint overwritten": (lambda out: (out / CHECKPOINT_FILE).write_bytes(b"\x00" * 64),
                               "checkpoint .* cannot be read"),
    "checkpoint of another env": (lambda out: _edit_json(out / "run.json", lambda r: r["settings"].update(
        search_samples=300)), "belongs to another run: env.search_samples: checkpoint 200 vs now 300"),
    "truncated run.json": (lambda out: _cut(out / "run.json"), "run.json' is not valid JSON"),
    "run.json without settings": (lambda out: _edit_json(out / "run.json", lambda r: r.pop("settings")),
                                  "does not record the arguments"),
    "non-numeric row in episodes.csv": (
        lambda out: (out / "episodes.csv").write_text((out / "episodes.csv").read_text().replace("\n2,", "\n2x,", 1)),
        "episodes.csv, line 3: a value is not a number"),
    "torn row in episodes.csv": (lambda out: _cut(out / "episodes.csv", 0.4), "episodes.csv"),
    "episodes.csv cut short": (
        lambda out: (out / "episodes.csv").write_text("\n".join((out / "episodes.csv").read_text().splitlines()[:2])
                                                      + "\n"), "holds 1 episodes but the checkpoint"),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_corrupt_run_files_are_refused_with_the_reason_and_left_as_they_were(workdir, interrupted, tmp_path,
                                                                              corruption) -> None:
    original, _ = interrupted
    out = tmp_path / "run"
    shutil.copytree(original, out)
    corrupt, message = CORRUPTIONS[corruption]
    corrupt(out)
    before = _snapshot(out)
    with pytest.raises(SystemExit, match=message):
        main(["search", "--resume", "--out", str(out), "--no-progress"])
    assert _snapshot(out) == before


def test_resume_refuses_arguments_that_differ_from_the_recorded_run(interrupted, tmp_path) -> None:
    original, _ = interrupted
    out = tmp_path / "run"
    shutil.copytree(original, out)
    before = _snapshot(out)
    with pytest.raises(SystemExit, match=r"--seed 2 \(recorded: 1\)"):
        main(["search", "--resume", "--out", str(out), "--seed", "2"])
    with pytest.raises(SystemExit, match="--overwrite would delete it"):
        main(["search", "--resume", "--overwrite", "--out", str(out)])
    with pytest.raises(SystemExit, match="holds no run"):
        main(["search", "--resume", "--out", str(tmp_path / "nothing")])
    assert _snapshot(out) == before
