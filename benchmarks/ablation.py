"""Ablation of the hierarchical agent: which of its mechanisms make it learn the kernel-wise search.

    python -m benchmarks.ablation [--out DIR] [--episodes 200] [--seeds 3] [--variants default credit-shaped ...]
                                  [--baselines ddpg-layer greedy uniform-6bit ...] [--search-samples N]
                                  [--jobs N] [--quick]
    python -m benchmarks.ablation --report DIR

Every variant is ``hrl`` with a few hyper-parameters overridden (``VARIANTS`` below; the rest is
``agents/hyperparams/hrl.yml``), run for ``--episodes`` episodes with seeds ``0 .. --seeds - 1`` on the
default env (accuracy mode, temporal accelerator; ``--search-samples`` changes the search split).
``--baselines`` adds other agents of ``agents.runner`` on the same env and budget, for reference.

Each run is one ``agents.runner.run_search`` call, written into ``DIR/accuracy-temporal/<variant>/seed-<k>/``
by ``benchmarks.compare.execute_run``, so the ablation is resumable exactly as the benchmark is: a
finished run is kept, an unfinished one goes on from its checkpoint, SIGINT/SIGTERM stops after the
current episode with a checkpoint saved; running the same command again goes on.

``DIR/ablation.md`` has, per variant, the interquartile mean over seeds and its 95% bootstrap interval
(``benchmarks.stats``) of: the best episode reward; the mean reward of the last 20 episodes; the share
of the last 20 episodes within the accuracy tolerance (search-split drop at most ``tolerance_pts``);
and the best configuration's test-split drop and latency. ``DIR/figures/ablation-learning-curves.png``
plots the episode reward (mean over 10 episodes), median over seeds, per variant.

``--quick`` is a smoke test (2 variants, 1 seed, 2 episodes, 200 search images): ``QUICK PROFILE: NOT A RESULT``.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path
from typing import Any

import numpy as np

from agents.cli import positive_int
from agents.hierarchical.hrl import CONFIG_BEFORE_OPTIONS
from agents.hyperparams import load_hyperparams
from agents.runner import RunSpec
from agents.sessions import DETERMINISTIC_AGENTS
from autoq_env.atomic_io import write_text
from benchmarks.compare import (
    ENV_ID,
    QUICK_NOTICE,
    SETTINGS,
    PlannedRun,
    _search_samples,
    agent_hyperparams,
    execute_runs,
    finished_run,
    git_state,
    machine,
    write_benchmark_record,
)
from benchmarks.figures import save_png
from benchmarks.runs import Run, load_runs, paired_difference, share_within_tolerance
from benchmarks.stats import summarise

SETTING = "accuracy-temporal"  # the default env
LAST_EPISODES = 20
CURVE_WINDOW = 10  # episodes in the learning curves' running mean

# name -> overrides of agents/hyperparams/hrl.yml. "default" is the YAML as it is; each other variant
# changes one mechanism ("explore-offset-layer": the goal-offset LLC without the water-filling prior;
# "explore-kernel": absolute LLC actions, a noise draw per kernel); "before-issue-13" is the agent as it
# was (shaped rewards, unclipped, noise decay 0.99, absolute LLC actions with an independent noise draw
# per kernel of the HLC's width). "explore-kernel" and
# "explore-kernel-clip-1" are the names the probe of benchmarks/results/ablation-probe used (with the
# YAML of that time, recorded in its run.json files).
INDEPENDENT_KERNEL_NOISE = {"llc_action": "absolute", "llc_noise": "kernel", "llc_noise_scale": 1.0}
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "credit-broadcast": {"credit_assignment": "broadcast"},
    "credit-split": {"credit_assignment": "split"},
    "credit-shaped": {"credit_assignment": "shaped"},
    "no-clip": {"reward_clip": None},
    "reward-clip-1": {"reward_clip": 1.0},
    "no-symlog": {"reward_transform": "none"},
    "stale-baseline-clip-1": {"subtract_baseline": True, "reward_transform": "none", "reward_clip": 1.0},
    "explore-kernel": INDEPENDENT_KERNEL_NOISE,
    "explore-kernel-clip-1": {**INDEPENDENT_KERNEL_NOISE, "reward_clip": 1.0},
    "explore-offset-layer": {"llc_action": "offset", "llc_noise": "layer", "llc_noise_scale": 0.5},
    "explore-offset-kernel-noise": {"llc_action": "offset", "llc_noise": "kernel"},
    "hindsight-off": {"hindsight_relabel": False},
    "decay-0.99": {"noise_decay": 0.99},
    "noise-0.2": {"noise_sigma": 0.2},
    "noise-0.5": {"noise_sigma": 0.5},
    "elite-off": {"elite_episodes": 0},
    "imitation-alpha-0.5": {"imitation_alpha": 0.5},
    # replay buffers of 128 episodes, as HAQ's (rmsize 128 x layers): broadcast rewards make the critics
    # estimate the objective averaged over everything the buffer holds; the default holds ~900 episodes
    "buffer-128-episodes": {"hlc_buffer_size": 128 * 22, "llc_buffer_size": 128 * 794},
    "hlc-additive": {"hlc_critic": "additive"},
    # the additive critic's policy settles at the tolerance's edge (seed 0: last 20 episodes at latency
    # 0.51, 10% within): "anneal" lets the noise decay to nothing by the last episodes (0.2 x 0.98^190 =
    # 0.004, HAQ has no floor) instead of holding 0.05 (0.18 QBN bins per layer, enough to flip roundings);
    # "imitation" pulls the actors harder towards the elite episodes, which are within the tolerance
    "hlc-additive-anneal": {"hlc_critic": "additive", "noise_decay": 0.98, "noise_min_sigma": 0.0},
    "hlc-additive-imitation-alpha-0.5": {"hlc_critic": "additive", "imitation_alpha": 0.5},
    "warmup-policy": {"warmup_actions": "policy"},
    # warm-up episodes that play the greedy sensitivity path's configurations instead of uniform actions
    "warmup-sensitivity": {"warmup_actions": "sensitivity"},
    "hlc-additive-warmup-sensitivity": {"hlc_critic": "additive", "warmup_actions": "sensitivity"},
    # ... with the actors held closer to the elite episodes (the warm-up's best is already a good one) and,
    # in the second, half the noise near the accuracy cliff those elites sit next to
    "warmup-sensitivity-imitation-alpha-0.5": {"warmup_actions": "sensitivity", "imitation_alpha": 0.5},
    "warmup-sensitivity-imitation-alpha-0.5-noise-0.1": {"warmup_actions": "sensitivity", "imitation_alpha": 0.5,
                                                         "noise_sigma": 0.1},
    # ... and consolidating: the actors held 25x closer to the elites than by default and the noise decaying to
    # nothing (no floor), so that the policy settles on what worked instead of jittering at the cliff's edge
    "warmup-sensitivity-consolidate": {"warmup_actions": "sensitivity", "imitation_alpha": 0.1, "noise_sigma": 0.1,
                                       "noise_min_sigma": 0.0},
    # ... and annealing the critic's pull with the noise (imitation_alpha x sigma / initial sigma): without it the
    # noise-free actors still drifted between updates, and the last 20 episodes fell 0.12-0.72 below the best
    "warmup-sensitivity-consolidate-anneal": {"warmup_actions": "sensitivity", "imitation_alpha": 0.1,
                                              "noise_sigma": 0.1, "noise_min_sigma": 0.0, "imitation_anneal": True},
    # ... which alone did not stop the drift (seeds 0-1: mean QBN steady, accuracy not): Adam's steps keep their
    # size as the gradient shrinks, so the actors' learning rates decay with the noise too, and they fit their one
    # best episode rather than an average of five configurations next to the cliff
    "warmup-sensitivity-converge": {"warmup_actions": "sensitivity", "imitation_alpha": 0.1, "noise_sigma": 0.1,
                                    "noise_min_sigma": 0.0, "imitation_anneal": True, "actor_lr_anneal": True,
                                    "elite_episodes": 1},
    # ... with a margin: the elite's search-split drop is the best of many noisy evaluations of nearly the same
    # configuration, and the converged policies played configurations 0.1-0.34 points worse than their elite (seed 4
    # settled beyond the tolerance from an elite at 0.34), so only episodes 0.2 points inside the tolerance enter it
    "warmup-sensitivity-converge-margin-0.2": {"warmup_actions": "sensitivity", "imitation_alpha": 0.1,
                                               "noise_sigma": 0.1, "noise_min_sigma": 0.0, "imitation_anneal": True,
                                               "actor_lr_anneal": True, "elite_episodes": 1, "elite_margin_pts": 0.2},
    # ... without annealing the actors' learning rates: in both variants above the last 20 episodes played a few
    # kernels differently every episode at a noise of 0.0004 (same latency, mean weight QBN +-0.01), i.e. kernels
    # left at bin boundaries by an actor frozen mid-fit (learning rate x 0.004 by episode 190); with one elite the
    # imitation targets do not conflict, so the imitation alone may keep fitting at a constant rate
    "warmup-sensitivity-converge-constant-lr": {"warmup_actions": "sensitivity", "imitation_alpha": 0.1,
                                                "noise_sigma": 0.1, "noise_min_sigma": 0.0, "imitation_anneal": True,
                                                "actor_lr_anneal": False, "elite_episodes": 1},
    **{f"zeta-{zeta:g}": {"zeta": zeta} for zeta in (0.25, 0.5, 0.75, 1.0)},
    "before-issue-13": {"credit_assignment": "shaped", "reward_clip": None, "noise_sigma": 0.5, "noise_decay": 0.99,
                        "subtract_baseline": True, "reward_transform": "none", "elite_episodes": 0,
                        **INDEPENDENT_KERNEL_NOISE},
}
FULL_VARIANTS = ["default", "credit-split", "credit-shaped", "no-symlog", "stale-baseline-clip-1",
                 "explore-offset-layer", "explore-kernel", "decay-0.99", "noise-0.5", "elite-off",
                 "imitation-alpha-0.5", "buffer-128-episodes", "hlc-additive", "hlc-additive-anneal",
                 "hlc-additive-imitation-alpha-0.5", "warmup-policy", "warmup-sensitivity",
                 "hlc-additive-warmup-sensitivity", "hindsight-off",
                 "zeta-0.25", "zeta-0.5", "zeta-1", "before-issue-13"]
BASELINES: dict[str, RunSpec] = {  # folder name -> run, each for the ablation's episodes and seeds
    "ddpg-layer": RunSpec("ddpg-layer", 1), "ddpg-kernel": RunSpec("ddpg-kernel", 1),
    "greedy": RunSpec("greedy", 1), "random": RunSpec("random", 1),
    **{f"uniform-{bits}bit": RunSpec("uniform", 1, uniform_bits=bits) for bits in (8, 6, 4)},
}
# benchmarks/results/ablation holds the runs made with hrl.yml's defaults before the sensitivity warm-up
# (each variant's runs with the YAML of their time); runs on today's defaults go into a new folder
FULL = {"out": "benchmarks/results/ablation-v2", "episodes": 200, "seeds": 3, "search_samples": None,
        "variants": FULL_VARIANTS}
QUICK = {"out": "runs/ablation-quick", "episodes": 2, "seeds": 1, "search_samples": 200,
         "variants": ["default", "credit-shaped"]}


def plan(variants: list[str], baselines: list[str], seeds: int, episodes: int, env_kwargs: dict[str, Any],
         profile: str) -> list[PlannedRun]:
    """The runs: seed by seed, every variant, then every baseline (a deterministic one, ``DETERMINISTIC_AGENTS``,
    once, at seed 0: its other seeds would repeat it exactly)."""
    common = {"setting": SETTING, "env_id": ENV_ID, "env_kwargs": env_kwargs, "profile": profile}
    runs = []
    for seed in range(seeds):
        for name in variants:
            spec = RunSpec("hrl", episodes, seed=seed, hyperparams=dict(VARIANTS[name]))
            runs.append(PlannedRun(SETTING, name, spec, {**common, "hyperparams": agent_hyperparams("hrl"),
                                                         "variant": VARIANTS[name]}))
        for name in baselines:
            base = BASELINES[name]
            if base.agent in DETERMINISTIC_AGENTS and seed > 0:
                continue
            spec = RunSpec(base.agent, 1 if base.agent == "uniform" else episodes, seed=seed,
                           uniform_bits=base.uniform_bits)
            runs.append(PlannedRun(SETTING, name, spec, {**common, "hyperparams": agent_hyperparams(base.agent)}))
    return runs


# -- the table and the figure ---------------------------------------------------------------------
def last_rewards(run: Run) -> np.ndarray:
    return run.rewards[-LAST_EPISODES:]


def warmup_episodes(run: Run) -> int:
    """The run's warm-up episodes (the RL agents' ``warmup_episodes``; 0 for the search baselines)."""
    return int(run.hyperparams.get("warmup_episodes", 0))


def best_after_warmup(run: Run) -> float:
    """The best reward of the episodes after the warm-up: what the learner found itself (a warm-up that plays
    the greedy path, ``warmup_actions: sensitivity``, already holds a good configuration)."""
    return float(run.rewards[min(warmup_episodes(run), len(run.rewards) - 1):].max())


COLUMNS = (  # title, digits, number of a run
    ("best reward", 3, lambda run: float(run.rewards.max())),
    ("best after the warm-up", 3, best_after_warmup),
    (f"last-{LAST_EPISODES} mean reward", 3, lambda run: float(last_rewards(run).mean())),
    (f"last {LAST_EPISODES} within tolerance", 2, lambda run: share_within_tolerance(run, LAST_EPISODES)),
    ("best: test drop (points)", 2, lambda run: run.report["test"]["best"]["accuracy_drop"]),
    ("best: latency vs 8-bit", 3, lambda run: run.report["test"]["best"]["latency_rel"]),
    ("best found in episode", 0, lambda run: float(run.report["search"]["episode"])),
)


PAIRED_WITH = ("ddpg-layer", "uniform-6bit", "greedy")  # best reward minus theirs, paired by seed, where they ran


def best_reward_difference(runs: list[Run], name: str, other: str) -> str:
    """IQM [95% CI] over the seeds both ran of ``name``'s best reward minus ``other``'s; ``-`` if none.
    A deterministic baseline (run once, at seed 0) pairs with every seed (``benchmarks.runs.paired_by_seed``)."""
    difference = None if name == other else paired_difference(runs, name, other, lambda run: float(run.rewards.max()))
    return "-" if difference is None else difference.format(3)


def table(runs: list[Run], order: list[str]) -> list[str]:
    paired = [other for other in PAIRED_WITH if any(run.method == other for run in runs)]
    lines = ["| variant | seeds | " + " | ".join(title for title, _, _ in COLUMNS)
             + "".join(f" | best - {other} (paired by seed)" for other in paired) + " |",
             "|---|---|" + "---|" * (len(COLUMNS) + len(paired))]
    for name in order:
        of_name = [run for run in runs if run.method == name]
        if of_name:
            cells = [summarise([value(run) for run in of_name]).format(digits) for _, digits, value in COLUMNS]
            cells += [best_reward_difference(runs, name, other) for other in paired]
            lines.append(f"| {name} | {len(of_name)} | " + " | ".join(cells) + " |")
    return lines


ACCEPTANCE_VARIANT = "default"  # issue 13's acceptance is about the agent as the YAML defines it
ACCEPTANCE_SEEDS = 5  # ... over 5 seeds; another variant run on as many gets the same table (a candidate default)
TEST_DROP_LIMIT_PTS = 1.0  # the best configuration within 1 point of float on the test split
LAST_GAP_LIMIT = 0.1  # the last episodes' mean reward within 0.1 of the best
LAST_WITHIN_SHARE = 0.8  # at least 80% of the last episodes within the tolerance


def _mark(ok: bool) -> str:
    return "yes" if ok else "**no**"


def acceptance(runs: list[Run], variant: str = ACCEPTANCE_VARIANT) -> list[str]:
    """Issue 13's acceptance, seed by seed, for ``variant``: each criterion's number and whether it holds
    (beating a baseline: the best reward above the baseline's at the same seed, or above a deterministic
    baseline's single run)."""
    ours = sorted((run for run in runs if run.method == variant), key=lambda run: run.seed)
    if not ours:
        return []
    baselines = [other for other in PAIRED_WITH if any(run.method == other for run in runs)]
    lines = [f"## Acceptance (issue 13), `{variant}`, seed by seed", "",
             f"Best within the tolerance on the search split; best within {TEST_DROP_LIMIT_PTS:g} point of float "
             f"on the test split; last-{LAST_EPISODES} mean within {LAST_GAP_LIMIT:g} of the best; at least "
             f"{LAST_WITHIN_SHARE:.0%} of the last {LAST_EPISODES} within the tolerance; best above each baseline's "
             "best at the same seed.", "",
             "| seed | best reward | search drop | test drop | last-20 mean (gap) | last 20 within | "
             + " | ".join(f"above {other}" for other in baselines) + " |",
             "|---|---|---|---|---|---|" + "---|" * len(baselines)]
    for run in ours:
        best, last = float(run.rewards.max()), float(last_rewards(run).mean())
        search_drop = run.report["search"]["accuracy_drop"]
        test_drop = run.report["test"]["best"]["accuracy_drop"]
        within = share_within_tolerance(run, LAST_EPISODES)
        cells = [f"{best:+.3f}", f"{search_drop:.2f} {_mark(search_drop <= run.tolerance_pts)}",
                 f"{test_drop:.2f} {_mark(test_drop <= TEST_DROP_LIMIT_PTS)}",
                 f"{last:+.3f} ({best - last:.3f}) {_mark(best - last <= LAST_GAP_LIMIT)}",
                 f"{within:.0%} {_mark(within >= LAST_WITHIN_SHARE)}"]
        for other in baselines:
            theirs = [b for b in runs if b.method == other and (b.seed == run.seed or b.deterministic)]
            if theirs:
                their_best = float(theirs[0].rewards.max())
                cells.append(f"{best - their_best:+.3f} {_mark(best > their_best)}")
            else:
                cells.append("not run")
        lines.append(f"| {run.seed} | " + " | ".join(cells) + " |")
    return lines


def plot_curves(runs: list[Run], order: list[str], path: Path, notice: str | None) -> None:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 5.5))
    for name in order:
        curves = [np.convolve(run.rewards, np.ones(CURVE_WINDOW) / CURVE_WINDOW, mode="valid")
                  for run in runs if run.method == name and len(run.rewards) >= CURVE_WINDOW]
        if curves:
            length = min(len(curve) for curve in curves)
            median = np.median(np.stack([curve[:length] for curve in curves]), axis=0)
            axes.plot(np.arange(CURVE_WINDOW, CURVE_WINDOW + length), median, label=f"{name} ({len(curves)})")
    axes.set_yscale("symlog", linthresh=1.0)
    axes.set_xlabel("episode")
    axes.set_ylabel(f"episode reward, mean of {CURVE_WINDOW} (median over seeds; symlog)")
    axes.set_title(f"{notice + ': ' if notice else ''}ablation, {SETTING}")
    if axes.lines:
        axes.legend(fontsize=7, ncol=2)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    save_png(figure, path)


def earlier_yaml(runs: list[Run], name: str) -> str:
    """A note for a variant whose runs were made with an ``hrl.yml`` other than today's: the values that
    differ (the run's and today's), so that "no override" is read against the YAML of its time."""
    today = load_hyperparams("hrl")
    changed: dict[str, tuple[Any, Any]] = {}
    for run in runs:
        if run.method != name:
            continue
        for key, value in today.items():
            old = run.hyperparams.get(key, CONFIG_BEFORE_OPTIONS.get(key, value))
            if old != value and not (isinstance(value, list) and list(old) == value):
                changed[key] = (old, value)
    if not changed:
        return ""
    return ("; its runs used an earlier `hrl.yml`: " +
            ", ".join(f"{key} {old!r} (now {new!r})" for key, (old, new) in sorted(changed.items())))


def write_report(out: Path, notice: str | None = None) -> Path:
    """``out/ablation.md`` and its learning curves, from the finished run folders alone."""
    runs, unfinished = load_runs(out)
    runs = [run for run in runs if run.setting == SETTING]
    present = {run.method for run in runs}
    order = [name for name in (*VARIANTS, *BASELINES) if name in present]
    figure = out / "figures" / "ablation-learning-curves.png"
    plot_curves([run for run in runs if run.method in VARIANTS], order, figure, notice)
    lines = [*([f"**{notice}**", ""] if notice else []), f"# Ablation of the hierarchical agent ({SETTING})", "",
             f"IQM over seeds [95% bootstrap interval] (`benchmarks.stats`); last {LAST_EPISODES}: the final "
             f"{LAST_EPISODES} episodes of each run; within tolerance: search-split drop at most the env's "
             "`tolerance_pts`; test drop and latency: the run's best configuration on the test split. "
             "Variants (overrides of `agents/hyperparams/hrl.yml`):", ""]
    lines += [f"- `{name}`: {VARIANTS[name] or 'no override'}{earlier_yaml(runs, name)}" for name in order
              if name in VARIANTS]
    lines += ["", "The YAML values each run used are in its `run.json` (`settings.hyperparams`)."]
    lines += ["", *table(runs, order), "", "![learning curves](figures/ablation-learning-curves.png)"]
    candidates = [name for name in order if name in VARIANTS and name != ACCEPTANCE_VARIANT
                  and sum(run.method == name for run in runs) >= ACCEPTANCE_SEEDS]
    for name in (ACCEPTANCE_VARIANT, *candidates):
        if accepted := acceptance(runs, name):
            lines += ["", *accepted]
    if unfinished:
        lines += ["", f"Unfinished runs, not in the table: {', '.join(str(p.relative_to(out)) for p in unfinished)}"]
    path = out / "ablation.md"
    write_text(path, "\n".join(lines) + "\n")
    return path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ablation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help=f"results folder (default {FULL['out']}, --quick {QUICK['out']})")
    parser.add_argument("--episodes", type=positive_int, help=f"episodes per run (default {FULL['episodes']})")
    parser.add_argument("--seeds", type=positive_int, help=f"seeds 0..N-1 (default {FULL['seeds']})")
    parser.add_argument("--variants", nargs="*", choices=tuple(VARIANTS), metavar="VARIANT",
                        help=f"any of {', '.join(VARIANTS)} (default: {', '.join(FULL_VARIANTS)}; the others "
                             "repeat the defaults under the probe's names); none given: baselines only")
    parser.add_argument("--baselines", nargs="*", choices=tuple(BASELINES), default=[], metavar="BASELINE",
                        help=f"reference runs on the same env and budget, any of {', '.join(BASELINES)}")
    parser.add_argument("--search-samples", type=_search_samples, help="images in the search split (default the env's)")
    parser.add_argument("--jobs", type=positive_int, default=1,
                        help="runs at once, each in its own process with cpu_count/jobs torch threads (default 1)")
    parser.add_argument("--quick", action="store_true", help=f"smoke-test profile: {QUICK_NOTICE}")
    parser.add_argument("--report", type=Path, metavar="DIR", help="only write DIR/ablation.md from its run folders")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    notice = QUICK_NOTICE if args.quick else None
    if args.report is not None:
        print(write_report(args.report, notice).read_text(encoding="utf-8"))
        return
    profile = QUICK if args.quick else FULL
    out = args.out or Path(profile["out"])
    episodes, seeds = args.episodes or profile["episodes"], args.seeds or profile["seeds"]
    search_samples = args.search_samples or profile["search_samples"]
    variants = list(dict.fromkeys(profile["variants"] if args.variants is None else args.variants))
    if not variants and not args.baselines:
        raise SystemExit("nothing to run: give at least one variant or baseline")
    env_kwargs = {**SETTINGS[SETTING], **({"search_samples": search_samples} if search_samples else {})}
    runs = plan(variants, list(dict.fromkeys(args.baselines)), seeds, episodes, env_kwargs,
                "quick" if args.quick else "ablation")
    done = {run.folder(out) for run in runs if finished_run(run, out)}
    command = [sys.executable, "-m", "benchmarks.ablation", *(sys.argv[1:] if argv is None else argv)]
    write_benchmark_record(out, {
        **({"notice": QUICK_NOTICE} if args.quick else {}), "profile": "quick" if args.quick else "ablation",
        "episodes": episodes, "seeds": seeds, "variants": {name: VARIANTS[name] for name in variants},
        "baselines": args.baselines, "env_id": ENV_ID, "env_kwargs": env_kwargs, "command": command,
        "git": git_state(), "machine": machine(), "runs": len(runs), "runs_already_finished": len(done),
        "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")})
    outcomes = execute_runs([run for run in runs if run.folder(out) not in done], out, command, args.jobs, len(runs),
                            len(done))
    path = write_report(out, notice)
    interrupted = [detail for status, _, detail in outcomes if status == "interrupted"]
    failed = [str(folder) for status, folder, _ in outcomes if status == "failed"]
    if interrupted:
        raise SystemExit("ablation interrupted (" + "; ".join(interrupted) + "); run the same command again to go on")
    if failed:
        raise SystemExit(f"{len(failed)} runs failed (run again to retry them): {', '.join(failed)}")
    print(f"all {len(runs)} runs finished; table: {path}")


if __name__ == "__main__":
    main()
