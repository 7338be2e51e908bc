"""Tables and figures of a benchmark, computed from its run folders alone.

    python -m benchmarks.report DIR

Reads every ``DIR/<setting>/<method>/seed-<k>/`` written by ``python -m benchmarks.compare`` (only runs
whose ``run.json`` says ``"finished"``; the others are counted and named) and writes, atomically:

- ``DIR/report.md``: the benchmark's progress (from ``benchmark.json``'s plan: per setting, how many of the
  planned runs finished and which did not yet); the paper comparison (``benchmarks.paper``: the AutoQ
  paper's claims next to what was measured, per setting, with a verdict by fixed rules); per setting, a
  table of every method's interquartile mean (IQM) over seeds with its 95% bootstrap confidence interval;
  a table of what the policies play at the end (their last 20 episodes' share within the tolerance, mean
  search-split accuracy drop, latency and reward; the deterministic methods have no policy); the headline
  ratios of ``hrl`` to ``ddpg-layer`` and to ``ddpg-kernel`` (in resource-constrained mode also the
  difference in test accuracy at the budget); and ``hrl`` against the greedy search, paired by seed;
- ``DIR/figures/<setting>-learning-curves.png``: the best reward so far and each episode's reward (a
  10-episode trailing mean: what the policy plays) against episode, median over seeds with the 25-75% band;
- ``DIR/figures/<setting>-pareto.png``: test accuracy against latency and against energy (relative to
  the uniform 8-bit model) of every run's best configuration, with the uniform references;
- ``DIR/figures/<setting>-hrl-qbn.png``: the best HRL configuration's kernel QBNs (layers x kernels)
  next to its activation QBNs.

Definitions (also printed in the report; the statistics live in ``benchmarks.stats``):

- test accuracy drop, latency and energy: ``report.json`` -> ``test`` -> ``best``: the run's best
  configuration (by the episode objective on the search split) scored on the official test split;
  latency and energy do not depend on the split.
- final reward: the best episode objective of the run (search split).
- episodes to 90%: the first episode whose best reward so far is 90% of the way from the run's first
  reward to its final best (``benchmarks.stats.episodes_to_fraction``).
- headline ratios: for each seed that both ``hrl`` and the baseline (``ddpg-layer``, ``ddpg-kernel``) ran,
  the latency (energy) of ``hrl``'s best configuration within the accuracy tolerance (search-split drop at
  most ``run.json`` -> ``env`` -> ``reward_weights`` -> ``tolerance_pts``) divided by the baseline's; IQM
  and interval over those paired seeds (``benchmarks.runs.cost_ratios``). In resource-constrained mode
  also accuracy at the budget: ``hrl``'s test accuracy drop minus the baseline's, paired by seed
  (``benchmarks.runs.paired_difference``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autoq_env.atomic_io import read_json, write_text
from benchmarks import paper
from benchmarks.compare import QUICK_NOTICE, SEARCH_METHODS, SETTINGS, UNIFORM_BITS, plan_runs
from benchmarks.figures import save_png
from benchmarks.runs import (
    CONVERGENCE_FRACTION,
    Run,
    absent,
    best_test_drop,
    cost_ratios,
    episodes_to_convergence,
    late_mean,
    load_runs,
    paired_difference,
    share_within_tolerance,
)
from benchmarks.stats import running_best, summarise, trailing_mean

HEADLINE_METHOD = paper.HRL  # kernel-wise HRL (AutoQ) against HAQ's layer-wise DDPG and flat kernel-wise DDPG
HEADLINE_BASELINES = (paper.LAYER_WISE, paper.FLAT_KERNEL_WISE)
GREEDY = "greedy"  # the greedy sensitivity search (agents/search.py): the strongest non-RL baseline
UNIFORM_METHODS = tuple(f"uniform-{bits}bit" for bits in UNIFORM_BITS)
METHOD_ORDER = (*SEARCH_METHODS, *UNIFORM_METHODS)
BAND_PERCENTILES = (25, 75)


def _ordered(names: set[str], order: tuple[str, ...]) -> list[str]:
    """``names`` in ``order``, then any others alphabetically."""
    return [name for name in order if name in names] + sorted(names - set(order))


# -- the table ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Metric:
    """One column of a setting's table: a number per run, summarised over seeds."""

    title: str
    digits: int
    of_run: Callable[[Run], float]


def final_reward(run: Run) -> float:
    """The run's best episode objective on the search split (the table's "final reward")."""
    return run.report["search"]["reward_objective"]


METRICS = (
    Metric("test accuracy drop (points)", 2, best_test_drop),
    Metric("latency vs 8-bit", 3, lambda run: run.report["test"]["best"]["latency_rel"]),
    Metric("energy vs 8-bit", 3, lambda run: run.report["test"]["best"]["energy_rel"]),
    Metric("final reward", 3, final_reward),
    Metric(f"episodes to {CONVERGENCE_FRACTION:.0%}", 1, episodes_to_convergence),
    Metric("search wall time (s)", 1, lambda run: run.report["wall_time_s"]),
)


LATE = paper.LATE_EPISODES
LATE_METRICS = (  # what a policy plays once its search is over: the means over a run's last LATE episodes
    Metric(f"last {LATE} within tolerance", 2, lambda run: share_within_tolerance(run, LATE)),
    Metric("mean search accuracy drop (points)", 2, lambda run: late_mean(run, "accuracy_drop", LATE)),
    Metric("mean latency vs 8-bit", 3, lambda run: late_mean(run, "latency_rel", LATE)),
    Metric("mean reward", 3, lambda run: late_mean(run, "reward", LATE)),
)


def method_table(runs: list[Run], metrics: tuple[Metric, ...] = METRICS) -> list[str]:
    """Markdown rows: per method, the IQM [95% CI] over seeds of every metric."""
    methods = _ordered({run.method for run in runs}, METHOD_ORDER)
    lines = ["| method | seeds | " + " | ".join(metric.title for metric in metrics) + " |",
             "|---|---|" + "---|" * len(metrics)]
    for method in methods:
        of_method = [run for run in runs if run.method == method]
        cells = [summarise([metric.of_run(run) for run in of_method]).format(metric.digits) for metric in metrics]
        lines.append(f"| {method} | {len(of_method)} | " + " | ".join(cells) + " |")
    return lines


def late_table(runs: list[Run]) -> list[str]:
    """The late-episode table of the methods with a policy (not the deterministic greedy search and uniform
    references), with the sentence that introduces it; nothing when none ran."""
    with_policy = [run for run in runs if not run.deterministic]
    if not with_policy:
        return []
    return [f"What the policies play at the end: their last {LATE} episodes (search split), IQM over seeds "
            "[95% CI]; the deterministic methods are left out.", "", *method_table(with_policy, LATE_METRICS), ""]


# -- the figures ------------------------------------------------------------------------------------
def _title(setting: str, what: str, notice: str | None) -> str:
    return f"{setting}: {what}" + (f"\n{notice}" if notice else "")


LEARNING_CURVE_WINDOW = 10  # episodes averaged in the right panel's curve of episode rewards
UNIFORM_LINESTYLES = (":", "--", "-.")  # the uniform references in the learning curves, in UNIFORM_METHODS' order
UNIFORM_MARKERS = ("*", "P", "X")  # and in the Pareto scatter


def uniform_label(run: Run) -> str:
    """A uniform reference's legend entry; in resource-constrained mode it says when it exceeds the budget
    (``report.json`` -> ``search`` -> ``budget_met``), as a reference that no search could have returned."""
    over = run.report["search"].get("budget_met") is False
    return f"{run.method} (over the budget)" if over else run.method


def plot_learning_curves(runs: list[Run], setting: str, notice: str | None, path: Path) -> None:
    """Left, the best reward so far; right, each episode's reward (mean over the last
    ``LEARNING_CURVE_WINDOW`` episodes), what the policy plays. Median over seeds with the 25-75% band; the
    uniform references as lines. A symlog scale: linear in [-1, 1], where good configurations differ by tenths,
    logarithmic beyond, where hopeless episodes (down to about -50) would otherwise flatten them."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, panels = plt.subplots(1, 2, figsize=(14.5, 5), sharey=True)
    curves_of = (running_best, lambda rewards: trailing_mean(rewards, LEARNING_CURVE_WINDOW))
    for method in _ordered({run.method for run in runs}, METHOD_ORDER):
        of_method = [run for run in runs if run.method == method]
        if method in UNIFORM_METHODS:
            reward = of_method[0].report["search"]["reward_objective"]
            for axes in panels:
                axes.axhline(reward, color="black", linewidth=1, label=uniform_label(of_method[0]),
                             linestyle=UNIFORM_LINESTYLES[UNIFORM_METHODS.index(method) % len(UNIFORM_LINESTYLES)])
            continue
        length = min(len(run.episodes) for run in of_method)
        episodes = np.arange(1, length + 1)
        for axes, curve_of in zip(panels, curves_of):
            curves = np.array([curve_of(run.rewards[:length]) for run in of_method])
            line, = axes.plot(episodes, np.median(curves, axis=0), label=f"{method} ({paper.seeds(len(of_method))})",
                              marker="o" if length == 1 else None)  # a single episode is a point
            low, high = np.percentile(curves, BAND_PERCENTILES, axis=0)
            axes.fill_between(episodes, low, high, color=line.get_color(), alpha=0.2)
    for axes, what in zip(panels, ("best reward so far", f"episode reward, mean of the last {LEARNING_CURVE_WINDOW}")):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_yscale("symlog", linthresh=1.0)
        axes.set_xlabel("episode (evaluation, for the search baselines)")
        axes.set_title(what)
    panels[0].set_ylabel("reward (search split; symlog scale, linear in [-1, 1])")
    panels[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: it hides no curve
    figure.suptitle(_title(setting, "learning curves (median over seeds, 25-75% band)", notice))
    figure.tight_layout()
    save_png(figure, path)


def plot_pareto(runs: list[Run], setting: str, notice: str | None, path: Path) -> None:
    """Test accuracy of each run's best configuration against its latency and its energy."""
    import matplotlib.pyplot as plt

    figure, panels = plt.subplots(1, 2, figsize=(12.5, 5), sharey=True)
    for method in _ordered({run.method for run in runs}, METHOD_ORDER):
        best = [run.report["test"]["best"] for run in runs if run.method == method]
        label, style = method, {"alpha": 0.7}
        if method in UNIFORM_METHODS:
            label = uniform_label(next(run for run in runs if run.method == method))
            style = {"marker": UNIFORM_MARKERS[UNIFORM_METHODS.index(method) % len(UNIFORM_MARKERS)], "s": 90,
                     "color": "black"}
        for panel, cost in zip(panels, ("latency_rel", "energy_rel")):
            panel.scatter([m[cost] for m in best], [m["accuracy"] for m in best], label=label, **style)
    float_accuracy = runs[0].report["float_test_accuracy"]
    for panel, cost in zip(panels, ("latency", "energy")):
        panel.axhline(float_accuracy, color="grey", linestyle=":", linewidth=1, label="float model")
        panel.set_xlabel(f"{cost} relative to uniform 8-bit")
    panels[0].set_ylabel("test accuracy (%)")
    panels[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: it hides no point
    figure.suptitle(_title(setting, "best configuration of every run (test split)", notice))
    figure.tight_layout()
    save_png(figure, path)


def plot_hrl_qbn(run: Run, notice: str | None, path: Path) -> None:
    """Heat maps of a configuration: kernel QBNs (layers x kernels, blank past a layer's last kernel)
    next to activation QBNs."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    kernel_qbn = run.best_config["kernel_qbn"]
    kernels = np.full((len(kernel_qbn), max(map(len, kernel_qbn))), np.nan)
    for layer, qbns in enumerate(kernel_qbn):
        kernels[layer, :len(qbns)] = qbns
    activations = np.array(run.best_config["activation_qbn"], dtype=float)[:, None]
    b_min, b_max = run.record["env"]["bits"]
    colours = {"cmap": plt.get_cmap("viridis", b_max - b_min + 1), "vmin": b_min - 0.5, "vmax": b_max + 0.5,
               "aspect": "auto", "interpolation": "nearest"}  # one colour per QBN
    figure, (kernel_axes, activation_axes) = plt.subplots(
        1, 2, figsize=(12, 6), sharey=True, gridspec_kw={"width_ratios": [12, 1]}, layout="constrained")
    image = kernel_axes.imshow(kernels, **colours)
    activation_axes.imshow(activations, **colours)
    kernel_axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    kernel_axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    kernel_axes.set_xlabel("kernel (output channel)")
    kernel_axes.set_ylabel("layer")
    activation_axes.set_xticks([])
    activation_axes.set_xlabel("activation")
    figure.colorbar(image, ax=[kernel_axes, activation_axes], label="QBN (bits)", ticks=range(b_min, b_max + 1))
    figure.suptitle(_title(run.setting, f"best HRL configuration (seed {run.seed}, reward "
                                        f"{run.report['search']['reward_objective']:+.3f})", notice))
    save_png(figure, path)


# -- the report -------------------------------------------------------------------------------------
DEFINITIONS = f"""\
Each cell is the interquartile mean (IQM: the mean of the middle 50% of the seeds' values) with its 95%
percentile-bootstrap confidence interval over seeds (`scipy.stats.bootstrap`, 10,000 resamples, seed 0);
"(n/a)" marks a single run, where there is no interval. Accuracy drop, latency and energy are those of
each run's best configuration (by the episode objective on the search split) on the official test split,
latency and energy relative to the uniform 8-bit model on the same accelerator. Final reward: the best
episode objective (search split). Episodes to {CONVERGENCE_FRACTION:.0%}: the first episode whose best
reward so far is {CONVERGENCE_FRACTION:.0%} of the way from the run's first reward to its final best
(well defined for negative rewards). Search wall time: the search alone, without the final test-split
scoring. Headline ratios: for every seed run by both `{HEADLINE_METHOD}` and the baseline
({' and '.join(f'`{baseline}`' for baseline in HEADLINE_BASELINES)}), the latency (energy) of
`{HEADLINE_METHOD}`'s best configuration within the accuracy tolerance (search-split drop at most the env's
`tolerance_pts`) over the baseline's; IQM [95% CI] over those seeds; below 1 means `{HEADLINE_METHOD}` is
cheaper at the same accuracy. In resource-constrained mode, where every configuration meets the latency
budget, a second headline compares accuracy at the budget: `{HEADLINE_METHOD}`'s test accuracy drop minus the
baseline's, paired by seed; below 0 means `{HEADLINE_METHOD}` is more accurate. A deterministic method
(greedy, the uniform references: run once, at seed 0) pairs with every seed of the other.

{paper.RULES}"""


def _setting_description(runs: list[Run]) -> str:
    env = runs[0].record["env"]
    budget = f", budget {env['budget']} of 8-bit {env['budget_metric']}" if env["mode"] == "resource" else ""
    return (f"accelerator `{env['accelerator']}`, mode `{env['mode']}`{budget}, {env['search_samples']} search "
            f"images, tolerance {runs[0].tolerance_pts} points")


def _seed_ranges(seeds: list[int]) -> str:
    """``[0, 1, 2, 4]`` as ``0-2, 4``."""
    ranges: list[list[int]] = []
    for seed in sorted(seeds):
        if ranges and seed == ranges[-1][-1] + 1:
            ranges[-1].append(seed)
        else:
            ranges.append([seed])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in ranges)


def progress_lines(benchmark: dict, runs: list[Run]) -> list[str]:
    """Markdown rows: per setting of ``benchmark.json``'s plan (its latest invocation), the planned runs,
    how many of them finished, and the seeds of each method not finished yet."""
    planned = plan_runs(list(benchmark["settings"]), benchmark["methods"], benchmark["seeds"], benchmark["episodes"],
                        benchmark["settings"], benchmark["profile"])
    finished = {(run.setting, run.method, run.seed) for run in runs}
    lines = ["| setting | planned runs | finished | not finished yet (method: seeds) |", "|---|---|---|---|"]
    left_total = 0
    for setting in benchmark["settings"]:
        of_setting = [run for run in planned if run.setting == setting]
        missing: dict[str, list[int]] = {}
        for run in of_setting:
            if (setting, run.method, run.spec.seed) not in finished:
                missing.setdefault(run.method, []).append(run.spec.seed)
        left = "; ".join(f"{method}: {_seed_ranges(seeds)}" for method, seeds in missing.items()) or "none"
        left_count = sum(map(len, missing.values()))
        left_total += left_count
        lines.append(f"| {setting} | {len(of_setting)} | {len(of_setting) - left_count} | {left} |")
    lines += ["", f"{len(planned) - left_total} of {len(planned)} planned runs finished. Runs not finished go on with "
                  f"`{' '.join(['python', *benchmark['command'][1:]])}`."]
    return lines


def headline_line(runs: list[Run], baseline: str) -> str:
    """The headline ratio of ``HEADLINE_METHOD`` to ``baseline``, as one sentence."""
    name = f"Headline ratio {HEADLINE_METHOD} / {baseline}"
    missing = absent(runs, (HEADLINE_METHOD, baseline))
    if missing:
        return f"{name}: n/a (not run: {', '.join(missing)})."
    ratios = cost_ratios(runs, HEADLINE_METHOD, baseline)
    if ratios is None:
        return f"{name}: n/a (no seed where both have a configuration within the tolerance)."
    latency, energy = ratios["latency_rel"], ratios["energy_rel"]
    return (f"{name} within the tolerance, paired by seed ({paper.seeds(latency.n)}): latency {latency.format(3)}, "
            f"energy {energy.format(3)}.")


# one paired difference in a sentence: (what, value of a run, digits, unit after the interval)
Difference = tuple[str, Callable[[Run], float], int, str]
TEST_DROP: Difference = ("test accuracy drop", best_test_drop, 2, " points")
FINAL_REWARD: Difference = ("final reward", final_reward, 3, "")


def differences_line(runs: list[Run], baseline: str, name: str, differences: tuple[Difference, ...]) -> str:
    """``HEADLINE_METHOD`` minus ``baseline``, each of ``differences`` paired by seed (``paired_difference``), as
    one sentence that starts with ``name``; n/a when either did not run or they share no seed."""
    missing = absent(runs, (HEADLINE_METHOD, baseline))
    if missing:
        return f"{name}: n/a (not run: {', '.join(missing)})."
    parts, seeds = [], 0
    for what, value, digits, unit in differences:
        difference = paired_difference(runs, HEADLINE_METHOD, baseline, value)
        if difference is None:
            return f"{name}: n/a (no seed run by both)."
        parts.append(f"{what} {difference.format(digits)}{unit}")
        seeds = difference.n
    return f"{name}, paired by seed ({paper.seeds(seeds)}): {', '.join(parts)}."


def budget_line(runs: list[Run], baseline: str) -> str:
    """Resource-constrained mode: ``HEADLINE_METHOD``'s test accuracy drop minus ``baseline``'s, as one sentence."""
    return differences_line(runs, baseline, f"Headline accuracy at the budget, {HEADLINE_METHOD} minus {baseline}",
                            (TEST_DROP,))


def greedy_line(runs: list[Run]) -> str:
    """``HEADLINE_METHOD`` against the strongest non-RL baseline, the greedy sensitivity search with the same
    number of evaluations: final reward and test accuracy drop, paired by seed (greedy is deterministic: its
    one run pairs with every seed)."""
    return differences_line(runs, GREEDY, f"Against the greedy search, {HEADLINE_METHOD} minus {GREEDY}",
                            (FINAL_REWARD, TEST_DROP))


def write_report(out: Path) -> Path:
    """Write ``out/report.md`` and ``out/figures/*.png`` from the run folders; return the report's path."""
    import matplotlib

    matplotlib.use("Agg")
    runs, unfinished = load_runs(out)
    if not runs:
        raise SystemExit(f"{out} holds no finished run (looked for {out}/<setting>/<method>/seed-<k>/run.json)")
    benchmark_path = out / "benchmark.json"
    benchmark = read_json(benchmark_path) if benchmark_path.is_file() else {}
    quick = benchmark.get("profile") == "quick" or any(
        (run.record.get("settings") or {}).get("profile") == "quick" for run in runs)
    notice = QUICK_NOTICE if quick else None
    figures = out / "figures"
    lines = [f"# Benchmark report: {out.name}", ""]
    if notice:
        lines += [f"**{notice}**", ""]
    lines += [f"Made by `python -m benchmarks.report {out}` from the run folders "
              f"`{out}/<setting>/<method>/seed-<k>/` alone (written by `python -m benchmarks.compare`; "
              "settings, hyper-parameters, commit and machine in `benchmark.json`).", ""]
    if benchmark:
        lines += [f"Command: `{' '.join(benchmark['command'])}`; commit `{benchmark['git']['commit']}`"
                  f"{' with uncommitted changes' if benchmark['git']['uncommitted_changes'] else ''}; "
                  f"{benchmark['machine']['cpu_count']} CPUs, torch {benchmark['machine']['torch']}.", ""]
    if {"settings", "methods"} <= benchmark.keys():  # a record of benchmarks.compare, which holds its plan
        lines += ["## Progress", "", *progress_lines(benchmark, runs), ""]
    lines += ["## Definitions", "", DEFINITIONS, ""]
    settings = _ordered({run.setting for run in runs}, tuple(SETTINGS))
    lines += ["## Paper comparison", "", *([f"**{notice}**", ""] if notice else []),
              *paper.comparison_table([row for setting in settings for row in paper.comparison_rows(
                  [run for run in runs if run.setting == setting], setting)]), ""]
    for setting in settings:
        of_setting = [run for run in runs if run.setting == setting]
        lines += [f"## {setting}", "", _setting_description(of_setting) + ".", ""]
        if notice:
            lines += [f"**{notice}**", ""]
        lines += [*method_table(of_setting), "", *late_table(of_setting)]
        for baseline in HEADLINE_BASELINES:
            lines += [headline_line(of_setting, baseline), ""]
        if of_setting[0].record["env"]["mode"] == "resource":
            for baseline in HEADLINE_BASELINES:
                lines += [budget_line(of_setting, baseline), ""]
        lines += [greedy_line(of_setting), ""]
        left = [folder for folder in unfinished if folder.parent.parent.name == setting]
        if left:
            lines += [f"Left out, unfinished: {', '.join(f'`{f.relative_to(out)}`' for f in left)}.", ""]
        plot_learning_curves(of_setting, setting, notice, figures / f"{setting}-learning-curves.png")
        plot_pareto(of_setting, setting, notice, figures / f"{setting}-pareto.png")
        lines += [f"![learning curves](figures/{setting}-learning-curves.png)",
                  f"![test accuracy against cost](figures/{setting}-pareto.png)"]
        hrl_runs = [run for run in of_setting if run.method == HEADLINE_METHOD]
        if hrl_runs:
            best = max(hrl_runs, key=lambda run: run.report["search"]["reward_objective"])
            plot_hrl_qbn(best, notice, figures / f"{setting}-hrl-qbn.png")
            lines.append(f"![best HRL configuration](figures/{setting}-hrl-qbn.png)")
        lines.append("")
    path = out / "report.md"
    write_text(path, "\n".join(lines))
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, metavar="DIR", help="a folder written by python -m benchmarks.compare")
    args = parser.parse_args(argv)
    if not args.out.is_dir():
        parser.error(f"{args.out} is not a folder")
    try:
        print(f"wrote {write_report(args.out)}")
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"benchmarks.report: {error}") from error


if __name__ == "__main__":
    main()
