"""Resident memory over a long search: does it stay flat once the replay buffers are full?

    python -m benchmarks.memory [--agent hrl] [--episodes 500] [--checkpoints 50 100 200 300 400 500]
                                [--search-samples 100] [--buffer-episodes 25] [--gradient-steps 16]
                                [--max-growth-mib 20] [--out benchmarks/results/memory.json]

Runs one agent (default ``HierarchicalDDPG``; ``ddpg-layer`` and ``ddpg-kernel`` are the flat SB3
DDPG baselines of ``agents/flat.py``) on ``AutoQ-ResNet-v0`` for ``--episodes`` episodes, with an
``EpisodeRecorder`` as in a real search, and reads the process's resident set size (``VmRSS`` in
``/proc/self/status``) after each checkpoint episode: after that episode's training, at the next
env step (or at the end of ``learn`` for the last one). The configuration is small so the run is
cheap, and the replay buffers are sized in episodes (``--buffer-episodes``, default 25) so they are
full well before the first checkpoint: from then on every bounded structure has its final size, and
what still grows is what is kept per episode (the recorder's rows and the agent's episode log, both
measured and reported in bytes per episode) or a leak. Note that a replay buffer's arrays are
allocated with ``np.zeros`` and become resident only as they are written, which is why a buffer that
is still filling shows up as growth.

Prints a table (episode, RSS, change since the first checkpoint, buffer fill) and the verdict: the
growth from the first to the last checkpoint, in MiB and per episode, against ``--max-growth-mib``;
exits with status 1 if it is exceeded. Writes the machine, the settings and the rows to ``--out``
(JSON, written atomically).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback

import autoq_env  # noqa: F401  (registers the envs)
from agents.cli import positive_int
from agents.flat import WRAPPERS, make_flat_ddpg
from agents.hierarchical import HierarchicalDDPG
from agents.recording import EpisodeRecorder
from autoq_env import atomic_io
from autoq_env.data import SEARCH_POOL_SAMPLES
from benchmarks.compare import git_state, machine

AGENTS = ("hrl", *WRAPPERS)
DEFAULT_CHECKPOINTS = (50, 100, 200, 300, 400, 500)
DEFAULT_OUT = Path("benchmarks/results/memory.json")
MIB = 1024 * 1024


def proc_status_kib(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``: resident now, ``VmHWM``: resident at peak), in KiB."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            name, _, value = line.partition(":")
            if name == field:
                return int(value.split()[0])
    raise RuntimeError(f"/proc/self/status has no {field} line (Linux only)")


def deep_size(obj: Any, seen: set[int] | None = None) -> int:
    """Bytes of ``obj`` and everything it holds through dicts, lists and tuples, each object counted once
    (so dictionary keys shared by every row count once, keys built per row count per row)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(deep_size(key, seen) + deep_size(value, seen) for key, value in obj.items())
    elif isinstance(obj, (list, tuple)):
        size += sum(deep_size(item, seen) for item in obj)
    return size


def replay_buffers(model: Any) -> dict[str, Any]:
    """The replay buffers of an agent, by name: ``hlc`` and ``llc`` for HRL, ``ddpg`` for SB3's DDPG."""
    if isinstance(model, HierarchicalDDPG):
        return {"hlc": model.hlc.replay_buffer, "llc": model.llc.replay_buffer}
    return {"ddpg": model.replay_buffer}


def buffer_bytes(buffer: Any) -> int:
    """Bytes allocated by a stable-baselines3 ``ReplayBuffer``'s arrays (resident once written)."""
    return sum(array.nbytes for array in vars(buffer).values() if isinstance(array, np.ndarray))


class MemorySampler(BaseCallback):
    """Read the resident memory after each checkpoint episode, and note when each replay buffer filled.

    An episode is over for this callback at the next env step, or at the end of ``learn`` for the last
    one: by then its training has run (after its last step, in ``HierarchicalDDPG`` and SB3's DDPG
    alike) and its last transition is stored (SB3's DDPG stores it after calling the callbacks).

    :param checkpoints: episode numbers (from 1) after which to sample.
    :param recorder: the ``EpisodeRecorder`` of the run, whose rows are counted.
    """

    def __init__(self, checkpoints: list[int], recorder: EpisodeRecorder, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.checkpoints = set(checkpoints)
        self.recorder = recorder
        self.episodes = 0
        self.rows: list[dict[str, Any]] = []
        self.filled_at: dict[str, int | None] = {}
        self._ended: int | None = None  # an episode that ended at the previous step
        self._started = time.perf_counter()

    def _on_training_start(self) -> None:
        self.filled_at = {name: None for name in replay_buffers(self.model)}
        self._started = time.perf_counter()

    def _on_step(self) -> bool:
        self._after_episode()
        for done in np.atleast_1d(self.locals["dones"]):
            if done:
                self.episodes += 1
                self._ended = self.episodes
        return True

    def _on_training_end(self) -> None:
        self._after_episode()

    def _after_episode(self) -> None:
        if self._ended is None:
            return
        episode, self._ended = self._ended, None
        for name, buffer in replay_buffers(self.model).items():
            if self.filled_at[name] is None and buffer.full:
                self.filled_at[name] = episode
        if episode in self.checkpoints:
            self.sample(episode)

    def sample(self, episode: int) -> dict[str, Any]:
        """Record one row: resident memory, buffer fill, what is kept per episode, live Python objects."""
        row: dict[str, Any] = {"episode": episode, "rss_mib": proc_status_kib("VmRSS") / 1024,
                               "peak_rss_mib": proc_status_kib("VmHWM") / 1024,
                               "wall_time_s": time.perf_counter() - self._started}
        for name, buffer in replay_buffers(self.model).items():
            row[f"{name}_buffer_fill"] = buffer.size() / buffer.buffer_size
        episode_log = getattr(self.model, "episode_log", None)
        row["recorder_rows"] = len(self.recorder.rows)
        row["recorder_rows_bytes"] = deep_size(self.recorder.rows)
        row["episode_log_rows"] = None if episode_log is None else len(episode_log)
        row["episode_log_bytes"] = None if episode_log is None else deep_size(episode_log)
        row["gc_objects"] = len(gc.get_objects())  # containers tracked by the garbage collector
        self.rows.append(row)
        return row


def _checkpoints(text: str) -> list[int]:
    values = [positive_int(part) for part in text.replace(",", " ").split()]
    if not values:
        raise argparse.ArgumentTypeError("expected episode numbers, e.g. 50,100,200")
    return values


def _search_samples(text: str) -> int:
    value = positive_int(text)
    if value > SEARCH_POOL_SAMPLES:
        raise argparse.ArgumentTypeError(f"expected at most {SEARCH_POOL_SAMPLES} search images, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from error
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--agent", choices=AGENTS, default="hrl",
                        help="hrl (HierarchicalDDPG, default) or a flat SB3 DDPG baseline")
    parser.add_argument("--episodes", type=positive_int, default=500, help="episodes to run (default 500)")
    parser.add_argument("--checkpoints", type=_checkpoints, default=list(DEFAULT_CHECKPOINTS),
                        help="episodes after which to read the resident memory, comma- or space-separated, "
                             "increasing, at most --episodes; growth is measured from the first to the last "
                             f"(default {','.join(map(str, DEFAULT_CHECKPOINTS))})")
    parser.add_argument("--search-samples", type=_search_samples, default=100,
                        help="images in the search split (default 100: a cheap accuracy evaluation)")
    parser.add_argument("--buffer-episodes", type=positive_int, default=25,
                        help="replay buffer capacity in episodes of transitions (default 25: full long before "
                             "the first checkpoint); HRL: LLC kernel steps and HLC layer steps of that many episodes")
    parser.add_argument("--warmup-episodes", type=positive_int, default=5,
                        help="episodes of random actions before learning (default 5)")
    parser.add_argument("--gradient-steps", type=positive_int, default=16,
                        help="gradient steps per episode: HRL's LLC and the flat DDPG (default 16)")
    parser.add_argument("--hlc-gradient-steps", type=positive_int, default=4,
                        help="HRL's HLC gradient steps per episode (default 4)")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="minibatch size (default 64)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
    parser.add_argument("--max-growth-mib", type=_non_negative_float, default=20.0,
                        help="largest acceptable RSS growth from the first to the last checkpoint (default 20)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results file (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    if len(args.checkpoints) < 2:
        parser.error("--checkpoints needs at least two episodes: growth is measured from the first to the last")
    if any(b <= a for a, b in zip(args.checkpoints, args.checkpoints[1:])):
        parser.error(f"--checkpoints must be strictly increasing, got {args.checkpoints}")
    if args.checkpoints[-1] > args.episodes:
        parser.error(f"--checkpoints must be at most --episodes ({args.episodes}), got {args.checkpoints[-1]}")
    return args


def build_agent(args: argparse.Namespace, env: gym.Env) -> tuple[Any, int, dict[str, Any]]:
    """The agent, its env steps per episode and the hyper-parameters given to it."""
    core = env.unwrapped
    if args.agent == "hrl":
        hyperparams = dict(warmup_episodes=args.warmup_episodes, batch_size=args.batch_size,
                           llc_gradient_steps=args.gradient_steps, hlc_gradient_steps=args.hlc_gradient_steps,
                           llc_buffer_size=args.buffer_episodes * (core.steps_per_episode - core.num_layers),
                           hlc_buffer_size=args.buffer_episodes * core.num_layers)
        return HierarchicalDDPG(env, seed=args.seed, **hyperparams), core.steps_per_episode, hyperparams
    hyperparams = dict(warmup_episodes=args.warmup_episodes, batch_size=args.batch_size,
                       buffer_episodes=args.buffer_episodes, gradient_steps=args.gradient_steps)
    model = make_flat_ddpg(args.agent, env, seed=args.seed, **hyperparams)
    return model, model.get_env().get_attr("steps_per_episode")[0], hyperparams


def growth(rows: list[dict[str, Any]]) -> dict[str, float | int]:
    """RSS change from the first to the last sampled checkpoint: in MiB, in KiB per episode, and the span."""
    first, last = rows[0], rows[-1]
    episodes = last["episode"] - first["episode"]
    mib = last["rss_mib"] - first["rss_mib"]
    return {"from_episode": first["episode"], "to_episode": last["episode"], "mib": mib,
            "kib_per_episode": mib * 1024 / episodes if episodes else 0.0}


def per_episode_bytes(rows: list[dict[str, Any]], key: str, count: str) -> float | None:
    """Bytes per kept row of ``key`` between the first and the last checkpoint (``None``: nothing kept)."""
    first, last = rows[0], rows[-1]
    if first[key] is None or last[count] == first[count]:
        return None
    return (last[key] - first[key]) / (last[count] - first[count])


def print_report(result: dict[str, Any]) -> None:
    rows, buffers = result["rows"], result["buffers"]
    names = list(buffers)
    print(f"agent {result['settings']['agent']}, {result['settings']['episodes']} episodes of "
          f"{result['steps_per_episode']} steps, search_samples={result['settings']['search_samples']}, "
          f"{result['wall_time_s']:.0f} s; RSS before learning {result['rss_before_learn_mib']:.1f} MiB")
    for name, info in buffers.items():
        filled = "not full" if info["filled_at_episode"] is None else f"full at episode {info['filled_at_episode']}"
        print(f"  {name} replay buffer: {info['capacity']} transitions, {info['mib']:.1f} MiB, {filled}")
    first = rows[0]
    print(f"| episode | RSS MiB | change since episode {first['episode']} MiB | "
          + " | ".join(f"{name} fill" for name in names) + " | recorder rows | gc objects |")
    print("|---|---|---|" + "---|" * len(names) + "---|---|")
    for row in rows:
        fills = " | ".join(f"{row[f'{name}_buffer_fill']:.0%}" for name in names)
        print(f"| {row['episode']} | {row['rss_mib']:.1f} | {row['rss_mib'] - first['rss_mib']:+.1f} | {fills} | "
              f"{row['recorder_rows']} | {row['gc_objects']} |")
    kept = result["kept_per_episode_bytes"]
    for name, value in kept.items():
        if value is not None:
            print(f"  {name}: {value:.0f} bytes per episode")
    g, verdict = result["growth"], result["verdict"]
    print(f"RSS growth from episode {g['from_episode']} to {g['to_episode']}: {g['mib']:+.2f} MiB "
          f"({g['kib_per_episode']:+.2f} KiB per episode); limit {result['settings']['max_growth_mib']:g} MiB: "
          f"{verdict}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit status (0: growth within the limit, 1: exceeded)."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    env = gym.make("AutoQ-ResNet-v0", search_samples=args.search_samples)
    model, steps_per_episode, hyperparams = build_agent(args, env)
    recorder = EpisodeRecorder()
    sampler = MemorySampler(args.checkpoints, recorder)
    rss_before_mib = proc_status_kib("VmRSS") / 1024
    started = time.perf_counter()
    model.learn(total_timesteps=args.episodes * steps_per_episode, callback=[recorder, sampler])
    wall_time_s = time.perf_counter() - started
    rows = sampler.rows
    if [row["episode"] for row in rows] != args.checkpoints:
        raise RuntimeError(f"sampled episodes {[row['episode'] for row in rows]}, expected {args.checkpoints}")
    result_growth = growth(rows)
    verdict = "flat" if result_growth["mib"] <= args.max_growth_mib else "GROWS"
    result = {
        "benchmark": "memory",
        "command": [sys.executable, "-m", "benchmarks.memory", *(sys.argv[1:] if argv is None else argv)],
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git": git_state(), "machine": {**machine(), "mem_total_mib": _mem_total_mib()},
        "settings": {key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()},
        "env": {"id": "AutoQ-ResNet-v0", "search_samples": args.search_samples},
        "hyperparams": hyperparams, "steps_per_episode": steps_per_episode, "wall_time_s": wall_time_s,
        "rss_before_learn_mib": rss_before_mib,
        "buffers": {name: {"capacity": buffer.buffer_size, "mib": buffer_bytes(buffer) / MIB,
                           "filled_at_episode": sampler.filled_at[name]}
                    for name, buffer in replay_buffers(model).items()},
        "kept_per_episode_bytes": {
            "recorder_rows": per_episode_bytes(rows, "recorder_rows_bytes", "recorder_rows"),
            "episode_log": per_episode_bytes(rows, "episode_log_bytes", "episode_log_rows")},
        "growth": result_growth, "verdict": verdict, "rows": rows,
    }
    atomic_io.write_json(args.out, result)
    print_report(result)
    print(f"saved {args.out}")
    return 0 if verdict == "flat" else 1


def _mem_total_mib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


if __name__ == "__main__":
    sys.exit(main())
