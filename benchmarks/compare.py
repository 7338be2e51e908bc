"""Put the searches side by side: every method, every seed, every setting, the same episode budget.

    python -m benchmarks.compare [--out DIR] [--episodes 200] [--seeds 5] [--methods hrl ddpg-layer ...]
                                 [--resource | --settings accuracy-spatial ...] [--quick] [--search-samples N]
    python -m benchmarks.report DIR
    python -m benchmarks.compare --backend ray [--address ADDR] [--cpus-per-run N] [--device cuda --gpus-per-run F]

Each run is one ``agents.runner.run_search`` call written into ``DIR/<setting>/<method>/seed-<k>/``
(``run.json``, ``episodes.csv``, ``best_config.json``, ``report.json``, ...; see ``agents.runner``).
``benchmarks.report`` turns those folders, and nothing else, into tables and figures.

What is compared, all defined in this file:

- settings: accuracy-guaranteed mode on the temporal (BISMO) and the spatial (BitFusion) accelerator;
  with ``--resource`` also resource-constrained mode with a latency budget (``LATENCY_BUDGET_OF_8BIT``: 0.5 of
  the uniform 8-bit model's on temporal, 0.8 on spatial, where 0.5 is infeasible), on both accelerators
  (``--settings`` picks any of the four). Every other env keyword is the
  env's default.
- methods: ``hrl`` (hierarchical DDPG, AutoQ), ``ddpg-kernel`` (flat kernel-wise DDPG), ``ddpg-layer``
  (HAQ's layer-wise DDPG), ``random`` and ``greedy`` (search baselines, ``greedy`` the strong one),
  each for ``--episodes`` episodes (evaluations for the search baselines) and seeds ``0 .. --seeds - 1``
  (``greedy`` at seed 0 only: it is deterministic, its other seeds would repeat that run exactly);
  and ``uniform``: the uniform 8-, 6- and 4-bit references (one evaluation each, seed 0, as they do
  not depend on a seed).
- hyper-parameters: the agents' own versioned YAML files (``agents/hyperparams/*.yml``), copied into
  ``DIR/benchmark.json`` together with these settings, the git commit and the machine.

Resumable: a run whose ``run.json`` says ``"finished"`` is kept (after checking that it was made with
the same spec and settings); an unfinished run with a checkpoint (taken every 10 episodes and on
SIGINT/SIGTERM, see ``agents.runner``) goes on from it; any other run folder is emptied and the run
redone from its start. A run that raises is reported and the others go on; the command then exits
with an error, and running it again retries only the runs that did not finish. SIGINT or SIGTERM
stops the benchmark after the current episode, with the run's checkpoint saved.

``--backend ray`` runs every run as a Ray task, on this machine or on the cluster at ``--address``
(``benchmarks.ray_backend``: resources, retries, Ctrl-C); the results are the same files.

``--quick`` is a smoke test of the whole pipeline (2 seeds, 3 episodes, 200 search images; explicit
``--episodes``, ``--seeds`` and ``--search-samples`` still win). Its folder, ``benchmark.json`` and
every table of its report say ``QUICK PROFILE: NOT A RESULT``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import platform
import signal
import subprocess
import sys
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
from tqdm import tqdm

import autoq_env  # noqa: F401  (registers the envs)
from agents.checkpoint import CHECKPOINT_FILE, StopSignals
from agents.cli import positive_int
from agents.hierarchical.hrl import CONFIG_BEFORE_OPTIONS
from agents.hyperparams import DEFAULT_FILES, HYPERPARAMS_DIR, load_hyperparams
from agents.runner import RunInterrupted, RunSpec, prepare_out, run_search
from agents.sessions import DETERMINISTIC_AGENTS
from autoq_env import atomic_io
from autoq_env.data import SEARCH_POOL_SAMPLES

REPOSITORY = Path(__file__).resolve().parent.parent

# -- what is compared --------------------------------------------------------------------------------
# Resource-constrained mode: a latency budget, as a fraction of the uniform 8-bit model's, that lies between
# the costs of uniform 4-bit and uniform 6-bit ResNet-20 on each accelerator (batch 1, `python -m
# benchmarks.hardware --uniform-table`): temporal 0.416 and 0.646, so half the 8-bit latency; spatial
# 0.753 and 1.000 (BitFusion runs 6 bits as 8, and its 16-channel layers do not speed up below 8 bits: even
# uniform 2-bit costs 0.717), so half would be infeasible and 0.8 is the comparable budget.
LATENCY_BUDGET_OF_8BIT = {"temporal": 0.5, "spatial": 0.8}
SETTINGS: dict[str, dict[str, Any]] = {  # setting name -> gym.make("AutoQ-ResNet-v0", **keywords)
    "accuracy-temporal": {"accelerator": "temporal", "mode": "accuracy"},
    "accuracy-spatial": {"accelerator": "spatial", "mode": "accuracy"},
    "resource-temporal": {"accelerator": "temporal", "mode": "resource",
                          "budget": LATENCY_BUDGET_OF_8BIT["temporal"], "budget_metric": "latency"},
    "resource-spatial": {"accelerator": "spatial", "mode": "resource",
                         "budget": LATENCY_BUDGET_OF_8BIT["spatial"], "budget_metric": "latency"},
}
ACCURACY_SETTINGS = ("accuracy-temporal", "accuracy-spatial")
RESOURCE_SETTINGS = ("resource-temporal", "resource-spatial")
SEARCH_METHODS = ("hrl", "ddpg-kernel", "ddpg-layer", "random", "greedy")  # agent names of agents.runner
UNIFORM_BITS = (8, 6, 4)  # the ``uniform`` references, each evaluated once
METHODS = (*SEARCH_METHODS, "uniform")
ENV_ID = "AutoQ-ResNet-v0"


@dataclass(frozen=True)
class Profile:
    """Default budget of a benchmark (explicit command-line values win)."""

    name: str
    out: str
    episodes: int
    seeds: int
    search_samples: int | None  # None: the env's default


# 200 episodes: AutoQ's HRL learns kernel-wise search in ~200 (GUIDE section 1); 5 seeds: GUIDE section 6.
FULL = Profile("full", "runs/benchmark", episodes=200, seeds=5, search_samples=None)
QUICK = Profile("quick", "runs/benchmark-quick", episodes=3, seeds=2, search_samples=200)
QUICK_NOTICE = "QUICK PROFILE: NOT A RESULT"


@dataclass(frozen=True)
class PlannedRun:
    """One run of the benchmark: where it goes, what ``run_search`` gets."""

    setting: str
    method: str  # folder name: an agent name, or ``uniform-<bits>bit``
    spec: RunSpec
    settings: dict[str, Any]  # recorded in run.json by run_search

    def folder(self, out: Path) -> Path:
        return out / self.setting / self.method / f"seed-{self.spec.seed}"


def agent_hyperparams(agent: str) -> dict[str, Any] | None:
    """The agent's entry of its YAML file in ``agents/hyperparams`` (``None`` for agents without one)."""
    if agent not in DEFAULT_FILES:
        return None
    return {"file": str(DEFAULT_FILES[agent].relative_to(REPOSITORY)), "values": load_hyperparams(agent)}


def plan_runs(setting_names: list[str], methods: list[str], seeds: int, episodes: int,
              env_kwargs: dict[str, dict[str, Any]], profile: str, device: str = "cpu") -> list[PlannedRun]:
    """Every run, setting by setting: the uniform references first, then seed by seed every search method,
    a deterministic one (``DETERMINISTIC_AGENTS``: greedy) at seed 0 only, as its other seeds would repeat
    it exactly (``device``: where each run's agent networks live)."""
    runs = []
    for setting in setting_names:
        common = {"setting": setting, "env_id": ENV_ID, "env_kwargs": env_kwargs[setting], "profile": profile}
        if "uniform" in methods:
            runs += [PlannedRun(setting, f"uniform-{bits}bit", RunSpec("uniform", 1, seed=0, uniform_bits=bits,
                                                                                  device=device),
                                {**common, "hyperparams": agent_hyperparams("uniform")}) for bits in UNIFORM_BITS]
        for seed in range(seeds):
            runs += [PlannedRun(setting, method, RunSpec(method, episodes, seed=seed, device=device),
                                {**common, "hyperparams": agent_hyperparams(method)})
                     for method in methods if method != "uniform" and (seed == 0 or method not in DETERMINISTIC_AGENTS)]
    return runs


def _flatten(record: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` as ``{"a.b": 1}``, to name what differs between two records."""
    if not isinstance(record, dict) or not record:
        return {prefix: record}
    return {key: value for name, item in record.items()
            for key, value in _flatten(item, f"{prefix}.{name}" if prefix else str(name)).items()}


# A run recorded before one of its agent's hyper-parameters existed ran with the value that stands for
# it (``agents.hierarchical.hrl.CONFIG_BEFORE_OPTIONS``): it matches a plan with that value, no other.
HYPERPARAM_VALUES = "settings.hyperparams.values."
VALUES_BEFORE_OPTIONS = {"hrl": CONFIG_BEFORE_OPTIONS}
_ABSENT = object()


def finished_run(run: PlannedRun, out: Path) -> bool:
    """Whether ``run``'s folder holds it, finished; raise if it holds a finished run made differently."""
    path = run.folder(out) / "run.json"
    if not path.is_file():
        return False
    try:
        record = atomic_io.read_json(path)  # written atomically by run_search
    except ValueError as error:
        raise SystemExit(f"{error}; move that run folder away or delete it to redo the run") from error
    if record.get("status") != "finished":
        return False
    expected = _flatten(json.loads(json.dumps({"spec": asdict(run.spec), "settings": run.settings})))
    recorded = _flatten({"spec": record.get("spec"), "settings": record.get("settings")})
    legacy = {f"{HYPERPARAM_VALUES}{name}": value
              for name, value in VALUES_BEFORE_OPTIONS.get(run.spec.agent, {}).items()}
    different = [f"{key} {recorded.get(key)!r} (now {value!r})" for key, value in expected.items()
                 if recorded.get(key, legacy.get(key, _ABSENT)) != value]
    if different:
        raise SystemExit(f"{run.folder(out)} holds a finished run made with another {'; '.join(different)}: "
                         "choose another --out")
    return True


def git_state() -> dict[str, Any]:
    """The commit of the code that runs, and whether the working tree differs from it."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=REPOSITORY, capture_output=True, text=True, check=True)
        except (OSError, subprocess.CalledProcessError):
            return None
        return done.stdout.strip()

    status = git("status", "--porcelain")
    return {"commit": git("rev-parse", "HEAD"), "uncommitted_changes": None if status is None else bool(status)}


def machine() -> dict[str, Any]:
    """Where the benchmark runs, and how loaded the machine is now (load average over 1, 5 and 15 minutes:
    other jobs on the same cores inflate every time a benchmark measures)."""
    import torch

    return {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "load_average": [round(load, 2) for load in os.getloadavg()]}


def write_benchmark_record(out: Path, record: dict[str, Any]) -> None:
    """Write ``DIR/benchmark.json``; refuse a folder made by another profile; keep earlier invocations."""
    path = out / "benchmark.json"
    history: list[dict[str, Any]] = []
    if path.is_file():
        try:
            previous = atomic_io.read_json(path)
        except ValueError as error:
            raise SystemExit(f"{error}; move it away to start the benchmark record again") from error
        if previous.get("profile") != record["profile"]:
            raise SystemExit(f"{out} holds a {previous.get('profile')!r} benchmark; this is {record['profile']!r}: "
                             "choose another --out")
        history = [*previous.pop("earlier_invocations", []), previous]
    atomic_io.write_json(path, {**record, "earlier_invocations": history})


def _search_samples(text: str) -> int:
    value = positive_int(text)
    if value > SEARCH_POOL_SAMPLES:
        raise argparse.ArgumentTypeError(f"expected at most {SEARCH_POOL_SAMPLES} search images, got {value}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help=f"results folder (default {FULL.out}, with --quick {QUICK.out})")
    parser.add_argument("--episodes", type=positive_int,
                        help=f"episodes per run, the same for every method (default {FULL.episodes}, "
                             f"--quick {QUICK.episodes})")
    parser.add_argument("--seeds", type=positive_int,
                        help=f"seeds 0..N-1 per method (default {FULL.seeds}, --quick {QUICK.seeds})")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS), metavar="METHOD",
                        help=f"any of {', '.join(METHODS)} (default all; 'uniform' is the 8/6/4-bit references)")
    parser.add_argument("--resource", action="store_true",
                        help=f"also the resource-constrained settings ({', '.join(RESOURCE_SETTINGS)})")
    parser.add_argument("--settings", nargs="+", choices=tuple(SETTINGS), metavar="SETTING",
                        help=f"exactly these settings, any of {', '.join(SETTINGS)} (default "
                             f"{', '.join(ACCURACY_SETTINGS)}, and with --resource {', '.join(RESOURCE_SETTINGS)})")
    parser.add_argument("--quick", action="store_true", help=f"smoke-test profile: {QUICK_NOTICE}")
    parser.add_argument("--search-samples", type=_search_samples,
                        help="images in the search split (default the env's, --quick "
                             f"{QUICK.search_samples})")
    parser.add_argument("--jobs", type=positive_int, default=1,
                        help="runs at once, each in its own process with cpu_count/jobs torch threads (default 1: "
                             "one run at a time in this process)")
    parser.add_argument("--device", default="cpu",
                        help="torch device of every run's env and agent (default cpu; e.g. cuda)")
    parser.add_argument("--backend", choices=("local", "ray"), default="local",
                        help="local: --jobs processes of this machine (default); ray: one Ray task per run "
                             "(pip install -e '.[ray]'; see benchmarks.ray_backend)")
    parser.add_argument("--address", help="--backend ray: the Ray cluster to join, e.g. HEAD:6379 or auto "
                                          "(default: start a local Ray instance)")
    parser.add_argument("--cpus-per-run", type=positive_int, default=1,
                        help="--backend ray: CPUs each run declares, and its torch threads (default 1)")
    parser.add_argument("--gpus-per-run", type=float,
                        help="--backend ray with --device cuda: GPUs each run declares, a fraction to share one "
                             "(default 0.25)")
    args = parser.parse_args(argv)
    if args.settings and args.resource:
        parser.error("give either --settings or --resource")
    if args.backend != "ray" and (args.address or args.gpus_per_run is not None or args.cpus_per_run != 1):
        parser.error("--address, --cpus-per-run and --gpus-per-run go with --backend ray")
    if args.backend == "ray" and args.jobs != 1:
        parser.error("--jobs goes with --backend local; Ray runs as many runs at once as the cluster's resources allow")
    if args.gpus_per_run is not None and (not args.device.startswith("cuda") or not 0 < args.gpus_per_run):
        parser.error(f"--gpus-per-run needs --device cuda and a positive number, got {args.gpus_per_run} "
                     f"with --device {args.device}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    profile = QUICK if args.quick else FULL
    out = args.out if args.out is not None else Path(profile.out)
    episodes = args.episodes or profile.episodes
    seeds = args.seeds or profile.seeds
    search_samples = args.search_samples or profile.search_samples
    methods = list(dict.fromkeys(args.methods))  # in the given order, once each
    default_settings = [*ACCURACY_SETTINGS, *(RESOURCE_SETTINGS if args.resource else ())]
    setting_names = list(dict.fromkeys(args.settings or default_settings))
    env_kwargs = {name: {**SETTINGS[name], **({"search_samples": search_samples} if search_samples else {}),
                         **({"device": args.device} if args.device != "cpu" else {})}
                  for name in setting_names}

    runs = plan_runs(setting_names, methods, seeds, episodes, env_kwargs, profile.name, args.device)
    done = {run.folder(out) for run in runs if finished_run(run, out)}
    record = {
        **({"notice": QUICK_NOTICE} if args.quick else {}),
        "profile": profile.name, "episodes": episodes, "seeds": seeds, "methods": methods,
        "uniform_bits": list(UNIFORM_BITS), "env_id": ENV_ID, "settings": env_kwargs,
        "hyperparams": {path.name: path.read_text(encoding="utf-8") for path in sorted(HYPERPARAMS_DIR.glob("*.yml"))},
        "command": [sys.executable, "-m", "benchmarks.compare", *(sys.argv[1:] if argv is None else argv)],
        "git": git_state(), "machine": machine(),
        "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "runs": len(runs), "runs_already_finished": len(done),
    }
    write_benchmark_record(out, record)

    pending = [run for run in runs if run.folder(out) not in done]
    if args.backend == "ray":
        from benchmarks.ray_backend import DEFAULT_GPUS_PER_RUN, execute_runs_on_ray

        gpus_per_run = 0.0 if not args.device.startswith("cuda") else args.gpus_per_run or DEFAULT_GPUS_PER_RUN
        outcomes = execute_runs_on_ray(pending, out, record["command"], len(runs), len(done), args.address,
                                       args.cpus_per_run, gpus_per_run)
    else:
        outcomes = execute_runs(pending, out, record["command"], args.jobs, len(runs), len(done))
    failed = [folder for status, folder, _ in outcomes if status == "failed"]
    interrupted = [detail for status, _, detail in outcomes if status == "interrupted"]
    if interrupted:
        raise SystemExit("benchmark interrupted (" + "; ".join(interrupted) + "); run the same command again to go on")
    if failed:
        raise SystemExit(f"{len(failed)} of {len(runs)} runs failed (run again to retry them): "
                         + ", ".join(map(str, failed)))
    print(f"all {len(runs)} runs finished in {out}; tables and figures: python -m benchmarks.report {out}")


# -- executing runs ----------------------------------------------------------------------------------
_ENVS: dict[str, gym.Env] = {}  # per process: one env per setting, reused by its runs
_STOP_SIGNAL: Any = None  # in a worker: the parent's shared signal number (0: go on)


def execute_run(run: PlannedRun, out: Path, command: list[str]) -> tuple[str, Path, str]:
    """Run (or resume, from its checkpoint) one planned run; return ``(status, folder, detail)`` with
    status ``finished``, ``interrupted`` (SIGINT/SIGTERM, checkpoint saved) or ``failed`` (traceback)."""
    folder = run.folder(out)
    stop_signal = None if _STOP_SIGNAL is None else (lambda: _STOP_SIGNAL.value)
    if stop_signal is not None and stop_signal():
        return "skipped", folder, ""  # the benchmark was stopped before this run began
    resume = (folder / CHECKPOINT_FILE).is_file()  # an unfinished run goes on from its checkpoint,
    try:
        if not resume:  # or is redone from its start
            prepare_out(folder, overwrite=True)
        if run.setting not in _ENVS:
            _ENVS[run.setting] = gym.make(ENV_ID, **run.settings["env_kwargs"])
        run_search(run.spec, _ENVS[run.setting], folder, progress_bar=False, command=command, settings=run.settings,
                   resume=resume, stop_signal=stop_signal)
    except RunInterrupted as stop:
        return "interrupted", folder, str(stop)
    except Exception:  # one broken method must not cost the other runs; its run.json stays "running"
        return "failed", folder, traceback.format_exc()
    return "finished", folder, ""


def _init_worker(threads: int, stop_signal: Any) -> None:
    """A worker process: its own torch threads; SIGINT/SIGTERM are ignored while it waits for a run
    (``run_search`` handles them during one: it finishes the episode and saves a checkpoint). The
    parent's shared ``stop_signal`` stops its runs in the same way, and keeps it from starting more."""
    global _STOP_SIGNAL
    import torch

    torch.set_num_threads(threads)
    _STOP_SIGNAL = stop_signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def execute_runs(runs: list[PlannedRun], out: Path, command: list[str], jobs: int, total: int,
                 done: int) -> list[tuple[str, Path, str]]:
    """Execute ``runs``: in this process (``jobs=1``) or in ``jobs`` worker processes of
    ``cpu_count // jobs`` torch threads each. A signal stops new runs from starting; the runs under way
    finish their episode and save a checkpoint: the parent shares the signal with its workers (a
    queued run that a worker takes up afterwards is skipped)."""
    outcomes: list[tuple[str, Path, str]] = []

    def report(outcome: tuple[str, Path, str], bar: tqdm) -> None:
        outcomes.append(outcome)
        status, folder, detail = outcome
        if status == "failed":
            tqdm.write(f"run {folder} failed:\n{detail}", file=sys.stderr)
        bar.update()

    with tqdm(total=total, initial=done, desc="runs", unit="run") as bar:
        if jobs == 1:
            for run in runs:
                bar.set_postfix_str(str(run.folder(out).relative_to(out)))
                report(execute_run(run, out, command), bar)
                if outcomes[-1][0] == "interrupted":
                    break
            return outcomes
        threads = max(1, (os.cpu_count() or 1) // jobs)
        context = multiprocessing.get_context("spawn")  # no fork of a process that has started torch threads
        stop_signal = context.Value("i", 0)
        with StopSignals("no new runs start; the runs under way save a checkpoint after their episode") as signals, \
                ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker,
                                    initargs=(threads, stop_signal)) as pool:
            futures = [pool.submit(execute_run, run, out, command) for run in runs]
            for future in _as_completed_or_signalled(futures, signals):
                if signals.requested is not None and not stop_signal.value:
                    stop_signal.value = signals.requested
                    for future_left in futures:
                        future_left.cancel()
                if future is not None and future.result()[0] != "skipped":
                    report(future.result(), bar)
    return outcomes


def _as_completed_or_signalled(futures: list, signals: StopSignals):
    """The futures as they complete, and ``None`` every second while a signal awaits handling."""
    waiting = set(futures)
    while waiting:
        finished, waiting = wait(waiting, timeout=1.0, return_when=FIRST_COMPLETED)
        waiting = {future for future in waiting if not future.cancelled()}
        yield from (future for future in finished if not future.cancelled())
        if signals.requested is not None:
            yield None

if __name__ == "__main__":
    main()
