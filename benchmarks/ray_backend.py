"""Run a benchmark's runs as Ray tasks: ``python -m benchmarks.compare --backend ray [--address ADDR]``.

Every planned (setting, method, seed) run is one Ray task declaring its resources (``num_cpus``, and
a fractional ``num_gpus`` with ``--device cuda`` so that several small runs share a GPU). A task
calls ``benchmarks.compare.execute_run``, the very function the local backend calls, so each run
writes the same files into the same folder (``--out`` must be a path every node sees, e.g. a shared
file system) and ``benchmarks.report`` and resume work unchanged.

Fault tolerance, Ray's and ours together:

- a task whose worker process (or node) dies is retried by Ray (``max_retries``); the retry goes on
  from the run's last checkpoint (``agents.runner``: every 10 episodes; episodes logged after it are
  dropped from ``episodes.csv`` and run again), or from the run's start when it had none, so the
  finished run holds exactly its episodes, none lost or repeated;
- a retried task whose run had already finished (the worker died after ``run.json`` said so) keeps
  it: a finished run is never redone;
- SIGINT/SIGTERM to the driver (Ctrl-C) is handled by ``compare``'s ``StopSignals``: the driver writes
  the signal's number into ``DIR/STOP_FILE``, which the runs under way read between episodes, so they
  save a checkpoint after their episode and stop; runs that had not started yet are skipped. (A file
  in the shared folder rather than a Ray actor: a task that blocks in ``ray.get`` lends its CPU to
  the next queued task, so polling an actor would run more tasks than the declared resources allow.) The driver
  waits for them and exits; running the same command again goes on. A second Ctrl-C stops the driver
  at once: the runs under way are then killed with it, and go on from their last checkpoint next time.

Ray is an optional dependency (``pip install -e ".[ray]"``). Without ``--address`` the driver starts
a local Ray instance sized to this machine (no dashboard, a small object store: the tasks return
only a status line); with ``--address`` it joins an existing cluster (``ray start --head`` on one
node, ``ray start --address HEAD:6379`` on the others; see README). Every node needs this project
installed at the same commit (Ray adds the driver's working directory to the workers' import path,
which covers a shared checkout).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from agents.checkpoint import StopSignals
from autoq_env import atomic_io
from benchmarks import compare

MAX_RETRIES = 3  # retries of a task whose worker died (Ray's own default for tasks)
LOCAL_OBJECT_STORE_BYTES = 100 * 1024 * 1024  # tasks exchange a few hundred bytes: keep a local instance light
WAIT_S = 1.0  # how often the driver looks at its signals while it waits for the tasks
DEFAULT_GPUS_PER_RUN = 0.25  # with --device cuda: four runs share one GPU unless told otherwise
STOP_FILE = "stop-requested"  # in the benchmark folder while the driver asks its runs to stop


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise SystemExit("--backend ray needs Ray: pip install -e \".[ray]\" (or pip install 'ray>=2.9')") from error
    return ray


@dataclass(frozen=True)
class _FileStopSignal:
    """``compare.execute_run``'s shared stop signal (its ``value``, as a ``multiprocessing.Value``'s):
    the signal number in the driver's stop file, 0 while there is none."""

    path: Path

    @property
    def value(self) -> int:
        try:
            return int(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return 0


def _run_task(run: compare.PlannedRun, out: Path, command: list[str], threads: int) -> tuple[str, Path, str]:
    """One run in a Ray worker: ``compare.execute_run`` with ``threads`` torch threads, unless a
    previous attempt of this task finished it already."""
    import torch

    torch.set_num_threads(threads)
    if compare.finished_run(run, out):
        return "finished", run.folder(out), ""
    compare._STOP_SIGNAL = _FileStopSignal(out / STOP_FILE)
    return compare.execute_run(run, out, command)


def execute_runs_on_ray(runs: list[compare.PlannedRun], out: Path, command: list[str], total: int, done: int,
                        address: str | None, cpus_per_run: int, gpus_per_run: float) -> list[tuple[str, Path, str]]:
    """Execute ``runs`` as Ray tasks and return their ``(status, folder, detail)`` as
    ``compare.execute_runs`` does (``detail`` of a failed run: its traceback, or Ray's error once the
    retries are spent).

    :param address: the Ray cluster to join (``None``: start a local instance on this machine).
    :param cpus_per_run: CPUs each task declares, and its torch threads.
    :param gpus_per_run: GPUs each task declares (a fraction shares one GPU; 0 on the CPU).
    """
    outcomes: list[tuple[str, Path, str]] = []
    if not runs:
        return outcomes
    ray = _import_ray()
    if address is None:
        ray.init(include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE_BYTES)
    else:
        ray.init(address=address)
    stop_file = out.resolve() / STOP_FILE
    stop_file.unlink(missing_ok=True)  # left by a driver that was killed
    try:
        task = ray.remote(_run_task).options(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=MAX_RETRIES)
        folders = {task.remote(run, out.resolve(), command, cpus_per_run): run.folder(out) for run in runs}
        waiting = list(folders)
        with StopSignals("no new runs start; the runs under way save a checkpoint after their episode") as signals, \
                tqdm(total=total, initial=done, desc="runs", unit="run") as bar:
            stop_sent = False
            while waiting:
                finished, waiting = ray.wait(waiting, num_returns=1, timeout=WAIT_S)
                for ref in finished:
                    try:
                        outcome = ray.get(ref)
                    except ray.exceptions.RayError as error:  # the retries are spent (or the task could not run)
                        outcome = ("failed", folders[ref], f"{type(error).__name__}: {error}")
                    if outcome[0] == "skipped":
                        continue
                    outcome = (outcome[0], folders[ref], outcome[2])  # the folder as the driver names it
                    outcomes.append(outcome)
                    if outcome[0] == "failed":
                        tqdm.write(f"run {outcome[1]} failed:\n{outcome[2]}", file=sys.stderr)
                    bar.update()
                if signals.requested is not None and not stop_sent:
                    atomic_io.write_text(stop_file, str(signals.requested))
                    stop_sent = True
    finally:
        stop_file.unlink(missing_ok=True)
        ray.shutdown()
    return outcomes
