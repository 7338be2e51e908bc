"""Tables and figures of a benchmark, computed from its run folders alone.

    python -m benchmarks.report DIR

Reads every ``DIR/<setting>/<method>/seed-<k>/`` written by ``python -m benchmarks.compare`` (only runs
whose ``run.json`` says ``"finished"``; the others are counted and named) and writes, atomically:

- ``DIR/report.md``: per setting, a table of every method's interquartile mean (IQM) over seeds with its
  95% bootstrap confidence interval, and the headline ratio of ``hrl`` to ``ddpg-layer``;
- ``DIR/figures/<setting>-learning-curves.png``: best reward so far against episode, median over seeds
  with the 25-75% band;
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
- headline ratio: for each seed that both ``hrl`` and ``ddpg-layer`` ran, the latency (energy) of
  ``hrl``'s best configuration within the accuracy tolerance (search-split drop at most ``run.json`` ->
  ``env`` -> ``reward_weights`` -> ``tolerance_pts``) divided by ``ddpg-layer``'s; IQM and interval over
  those paired seeds.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.recording import read_episode_csv
from autoq_env.atomic_io import read_json, write_text
from benchmarks.compare import QUICK_NOTICE, SEARCH_METHODS, SETTINGS, UNIFORM_BITS
from benchmarks.figures import save_png
from benchmarks.stats import Summary, episodes_to_fraction, running_best, summarise

CONVERGENCE_FRACTION = 0.9  # "episodes to 90% of the final reward"
HEADLINE = ("hrl", "ddpg-layer")  # kernel-wise HRL against HAQ's layer-wise DDPG (GUIDE section 1)
UNIFORM_METHODS = tuple(f"uniform-{bits}bit" for bits in UNIFORM_BITS)
METHOD_ORDER = (*SEARCH_METHODS, *UNIFORM_METHODS)
BAND_PERCENTILES = (25, 75)


@dataclass
class Run:
    """One finished run folder, as read from its files."""

    setting: str
    method: str
    seed: int
    record: dict[str, Any]  # run.json
    report: dict[str, Any]  # report.json
    episodes: list[dict[str, float]]  # episodes.csv
    best_config: dict[str, Any]  # best_config.json

    @property
    def rewards(self) -> np.ndarray:
        return np.array([row["reward"] for row in self.episodes])

    @property
    def tolerance_pts(self) -> float:
        return float(self.record["env"]["reward_weights"]["tolerance_pts"])


def load_runs(out: Path) -> tuple[list[Run], list[Path]]:
    """The finished runs under ``out`` and the folders of the unfinished ones."""
    finished, unfinished = [], []
    for path in sorted(out.glob("*/*/seed-*/run.json")):
        folder = path.parent
        record = read_json(path)
        if record.get("status") != "finished":
            unfinished.append(folder)
            continue
        episodes = read_episode_csv(folder / "episodes.csv")
        finished.append(Run(setting=folder.parent.parent.name, method=folder.parent.name,
                            seed=int(folder.name.removeprefix("seed-")), record=record,
                            report=read_json(folder / "report.json"), episodes=episodes,
                            best_config=read_json(folder / "best_config.json")))
    return finished, unfinished


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


METRICS = (
    Metric("test accuracy drop (points)", 2, lambda run: run.report["test"]["best"]["accuracy_drop"]),
    Metric("latency vs 8-bit", 3, lambda run: run.report["test"]["best"]["latency_rel"]),
    Metric("energy vs 8-bit", 3, lambda run: run.report["test"]["best"]["energy_rel"]),
    Metric("final reward", 3, lambda run: run.report["search"]["reward_objective"]),
    Metric(f"episodes to {CONVERGENCE_FRACTION:.0%}", 1,
           lambda run: episodes_to_fraction(run.rewards, CONVERGENCE_FRACTION)),
    Metric("search wall time (s)", 1, lambda run: run.report["wall_time_s"]),
)


def method_table(runs: list[Run]) -> list[str]:
    """Markdown rows: per method, the IQM [95% CI] over seeds of every metric."""
    methods = _ordered({run.method for run in runs}, METHOD_ORDER)
    lines = ["| method | seeds | " + " | ".join(metric.title for metric in METRICS) + " |",
             "|---|---|" + "---|" * len(METRICS)]
    for method in methods:
        of_method = [run for run in runs if run.method == method]
        cells = [summarise([metric.of_run(run) for run in of_method]).format(metric.digits) for metric in METRICS]
        lines.append(f"| {method} | {len(of_method)} | " + " | ".join(cells) + " |")
    return lines


def best_within_tolerance(run: Run) -> dict[str, float] | None:
    """The run's highest-reward episode whose search-split drop is within the tolerance (``None``: none is)."""
    within = [row for row in run.episodes if row["accuracy_drop"] <= run.tolerance_pts]
    return max(within, key=lambda row: row["reward"]) if within else None


def headline_ratios(runs: list[Run]) -> dict[str, Summary] | None:
    """Latency and energy of ``hrl`` over ``ddpg-layer``, paired by seed, within the tolerance."""
    numerator, denominator = ({run.seed: best_within_tolerance(run) for run in runs if run.method == method}
                              for method in HEADLINE)
    seeds = sorted(seed for seed in numerator.keys() & denominator.keys()
                   if numerator[seed] is not None and denominator[seed] is not None)
    if not seeds:
        return None
    return {metric: summarise([numerator[seed][metric] / denominator[seed][metric] for seed in seeds])
            for metric in ("latency_rel", "energy_rel")}


# -- the figures ------------------------------------------------------------------------------------
def _title(setting: str, what: str, notice: str | None) -> str:
    return f"{setting}: {what}" + (f"\n{notice}" if notice else "")


def plot_learning_curves(runs: list[Run], setting: str, notice: str | None, path: Path) -> None:
    """Best reward so far against episode: median over seeds, 25-75% band; uniform references as lines."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, axes = plt.subplots(figsize=(8, 5))
    for method in _ordered({run.method for run in runs}, METHOD_ORDER):
        of_method = [run for run in runs if run.method == method]
        if method in UNIFORM_METHODS:
            axes.axhline(of_method[0].report["search"]["reward_objective"], color="black", linestyle=":",
                         linewidth=1)
            axes.annotate(method, (1, of_method[0].report["search"]["reward_objective"]), fontsize=8,
                          textcoords="offset points", xytext=(2, 2))
            continue
        length = min(len(run.episodes) for run in of_method)
        curves = np.array([running_best(run.rewards[:length]) for run in of_method])
        episodes = np.arange(1, length + 1)
        line, = axes.plot(episodes, np.median(curves, axis=0), label=f"{method} ({len(of_method)} seeds)",
                          marker="o" if length == 1 else None)  # a single episode is a point
        low, high = np.percentile(curves, BAND_PERCENTILES, axis=0)
        axes.fill_between(episodes, low, high, color=line.get_color(), alpha=0.2)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("episode (evaluation, for the search baselines)")
    axes.set_ylabel("best reward so far (search split)")
    axes.set_title(_title(setting, "learning curves (median, 25-75% band)", notice))
    axes.legend(fontsize=8)
    figure.tight_layout()
    save_png(figure, path)


def plot_pareto(runs: list[Run], setting: str, notice: str | None, path: Path) -> None:
    """Test accuracy of each run's best configuration against its latency and its energy."""
    import matplotlib.pyplot as plt

    figure, panels = plt.subplots(1, 2, figsize=(11, 5), sharey=True)
    for method in _ordered({run.method for run in runs}, METHOD_ORDER):
        best = [run.report["test"]["best"] for run in runs if run.method == method]
        style = {"marker": "*", "s": 120, "color": "black"} if method in UNIFORM_METHODS else {"alpha": 0.7}
        for panel, cost in zip(panels, ("latency_rel", "energy_rel")):
            panel.scatter([m[cost] for m in best], [m["accuracy"] for m in best], label=method, **style)
            if method in UNIFORM_METHODS:
                panel.annotate(method, (best[0][cost], best[0]["accuracy"]), fontsize=8,
                               textcoords="offset points", xytext=(4, -10))
    float_accuracy = runs[0].report["float_test_accuracy"]
    for panel, cost in zip(panels, ("latency", "energy")):
        panel.axhline(float_accuracy, color="grey", linestyle=":", linewidth=1, label="float model")
        panel.set_xlabel(f"{cost} relative to uniform 8-bit")
    panels[0].set_ylabel("test accuracy (%)")
    panels[1].legend(fontsize=8)
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
scoring. Headline ratio: for every seed run by both `{HEADLINE[0]}` and `{HEADLINE[1]}`, the latency
(energy) of `{HEADLINE[0]}`'s best configuration within the accuracy tolerance (search-split drop at most
the env's `tolerance_pts`) over `{HEADLINE[1]}`'s; IQM [95% CI] over those seeds; below 1 means
`{HEADLINE[0]}` is cheaper at the same accuracy."""


def _setting_description(runs: list[Run]) -> str:
    env = runs[0].record["env"]
    budget = f", budget {env['budget']} of 8-bit {env['budget_metric']}" if env["mode"] == "resource" else ""
    return (f"accelerator `{env['accelerator']}`, mode `{env['mode']}`{budget}, {env['search_samples']} search "
            f"images, tolerance {runs[0].tolerance_pts} points")


def _headline_line(runs: list[Run]) -> str:
    ratios = headline_ratios(runs)
    if ratios is None:
        return (f"Headline ratio {HEADLINE[0]} / {HEADLINE[1]}: n/a (no seed where both have a configuration "
                "within the tolerance).")
    latency, energy = ratios["latency_rel"], ratios["energy_rel"]
    return (f"Headline ratio {HEADLINE[0]} / {HEADLINE[1]} within the tolerance, paired by seed ({latency.n} "
            f"seeds): latency {latency.format(3)}, energy {energy.format(3)}.")


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
    lines += ["## Definitions", "", DEFINITIONS, ""]
    for setting in _ordered({run.setting for run in runs}, tuple(SETTINGS)):
        of_setting = [run for run in runs if run.setting == setting]
        lines += [f"## {setting}", "", _setting_description(of_setting) + ".", ""]
        if notice:
            lines += [f"**{notice}**", ""]
        lines += [*method_table(of_setting), "", _headline_line(of_setting), ""]
        left = [folder for folder in unfinished if folder.parent.parent.name == setting]
        if left:
            lines += [f"Left out, unfinished: {', '.join(f'`{f.relative_to(out)}`' for f in left)}.", ""]
        plot_learning_curves(of_setting, setting, notice, figures / f"{setting}-learning-curves.png")
        plot_pareto(of_setting, setting, notice, figures / f"{setting}-pareto.png")
        lines += [f"![learning curves](figures/{setting}-learning-curves.png)",
                  f"![test accuracy against cost](figures/{setting}-pareto.png)"]
        hrl_runs = [run for run in of_setting if run.method == HEADLINE[0]]
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
