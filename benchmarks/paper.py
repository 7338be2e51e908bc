"""The benchmark next to the AutoQ paper's claims: per setting, one row per claim with what was measured
and a verdict sentence chosen by fixed rules from the numbers (``benchmarks.report`` prints the table).

The claims (Lou et al., "AutoQ: Automated Kernel-Wise Neural Network Quantization", ICLR 2020; its
abstract and the project's GUIDE section 1):

- against the state-of-the-art DRL scheme (HAQ's layer-wise DDPG: our ``ddpg-layer``), at the same
  accuracy, "on average ... reduce the inference latency by 54.06%, and decrease the inference energy
  consumption by 50.69%" (abstract): ratios 0.4594 and 0.4931, in the accuracy-guaranteed mode;
- flat DDPG fails at kernel level: "it is difficult for even DRL DDPG-based agents to find a kernel-wise
  QBN configuration that can achieve reasonable inference accuracy" (abstract), still poor after 250
  episodes (GUIDE section 1);
- the hierarchical agent learns the kernel-wise search in about 200 episodes (GUIDE section 1).

Every verdict compares the paper's figure with our 95% bootstrap interval over seeds (``position``):
the figure inside the interval agrees, outside it does not, and a single seed (no interval) gets no
verdict. ``RULES`` below says it in the words the report prints.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.runs import (
    Run,
    absent,
    best_test_drop,
    cost_ratios,
    episodes_to_convergence,
    paired_difference,
    share_within_tolerance,
)
from benchmarks.stats import Summary, summarise

HRL = "hrl"
LAYER_WISE = "ddpg-layer"  # HAQ's layer-wise DDPG, the paper's DRL baseline
FLAT_KERNEL_WISE = "ddpg-kernel"
PAPER_COST_RATIO = {"latency_rel": 1 - 0.5406, "energy_rel": 1 - 0.5069}  # abstract: -54.06%, -50.69%
PAPER_FLAT_EPISODES = 250  # flat DDPG still poor after 250 episodes
PAPER_HRL_EPISODES = 200  # HRL learns the kernel-wise search in about 200 episodes
LATE_EPISODES = 20  # "late episodes": the last 20 of a run, what its policy does after the search
NO_INTERVAL = "one seed: no interval, so no verdict"

RULES = f"""\
Paper comparison: the AutoQ paper's claims (Lou et al., ICLR 2020: abstract; GUIDE section 1) next to
this benchmark, per setting. Every verdict is chosen by a fixed rule from our 95% interval over seeds:
"agrees" when the paper's figure lies inside it, otherwise it says on which side we are; a single seed
(no interval) gets no verdict. Latency and energy against `{LAYER_WISE}` at the same accuracy: the headline
ratio (below); the paper's 0.459 and 0.493 (-54.06%, -50.69%) are for the accuracy-guaranteed mode, so in
resource-constrained mode the row compares test accuracy at the budget instead (`{HRL}`'s test drop minus
`{LAYER_WISE}`'s, paired by seed; all configurations meet the budget), where the paper gives no figure.
Flat DDPG fails at kernel level: the share of a run's late episodes (its last {LATE_EPISODES}) whose
search-split drop is within the tolerance (in both modes; the resource-constrained reward does not use the
tolerance, here it only marks a reasonable accuracy), `{HRL}`'s minus `{FLAT_KERNEL_WISE}`'s, paired by
seed; the claim holds when the interval lies above 0. HRL learns in about {PAPER_HRL_EPISODES} episodes:
`{HRL}`'s episodes to 90% against {PAPER_HRL_EPISODES}; it dates when the best configuration was found, while
the late-episode share shows whether the policy keeps finding such configurations. These two rows need
runs of at least the {PAPER_HRL_EPISODES} episodes in which the paper's HRL learns (n/a otherwise)."""


@dataclass(frozen=True)
class Row:
    """One line of the comparison."""

    setting: str
    claim: str
    paper: str
    measured: str
    verdict: str


def position(summary: Summary, figure: float) -> str:
    """Where ``figure`` lies against ``summary``'s interval: ``"inside"``, ``"below"`` (the interval is
    above it), ``"above"`` (the interval is below it), or ``"no interval"`` (a single seed)."""
    if summary.ci is None:
        return "no interval"
    low, high = summary.ci
    if figure < low:
        return "below"
    if figure > high:
        return "above"
    return "inside"


def seeds(count: int) -> str:
    """``"1 seed"``, ``"5 seeds"``."""
    return f"{count} seed{'' if count == 1 else 's'}"


def _not_run(methods: list[str]) -> str:
    return f"n/a (not run: {', '.join(methods)})"


def _no_common_seed(method: str, baseline: str) -> str:
    return f"n/a: no seed run by both {method} and {baseline}"


def _too_short(shortest: int) -> str:
    return f"n/a: the shortest run has {shortest} of the paper's {PAPER_HRL_EPISODES} episodes, too few to show it"


def cost_verdict(ratio: Summary, paper_ratio: float) -> str:
    """The verdict on a cost ratio of ``hrl`` to ``ddpg-layer`` against the paper's."""
    where = position(ratio, paper_ratio)
    if where == "no interval":
        return NO_INTERVAL
    if where == "inside":
        return f"agrees: the paper's {paper_ratio:.3f} lies inside our interval"
    if where == "above":
        return f"HRL cuts more than the paper says (our interval lies below its {paper_ratio:.3f})"
    no_cut = position(ratio, 1.0)
    if no_cut == "above":
        return f"HRL cuts less than the paper says (our interval lies between its {paper_ratio:.3f} and 1)"
    if no_cut == "inside":
        return "HRL cuts less than the paper says: our interval includes 1, no cut at all"
    return f"disagrees: HRL costs more than {LAYER_WISE}, the opposite of the paper's claim"


def accuracy_at_budget_verdict(difference: Summary) -> str:
    """The verdict on ``hrl``'s test drop minus ``ddpg-layer``'s in resource-constrained mode."""
    return {"no interval": NO_INTERVAL,
            "inside": f"n/a for the paper's figures; no clear difference from {LAYER_WISE} in test accuracy at "
                      "the budget (our interval includes 0)",
            "above": f"n/a for the paper's figures; HRL is more accurate than {LAYER_WISE} at the budget "
                     "(our interval lies below 0)",
            "below": f"n/a for the paper's figures; HRL is less accurate than {LAYER_WISE} at the budget "
                     "(our interval lies above 0)"}[position(difference, 0.0)]


def flat_verdict(difference: Summary, episodes: int) -> str:
    """The verdict on ``hrl``'s late within-tolerance share minus ``ddpg-kernel``'s."""
    after = f"after {episodes} episodes, the paper's {PAPER_FLAT_EPISODES}"
    return {"no interval": NO_INTERVAL,
            "below": f"agrees: {FLAT_KERNEL_WISE}'s late episodes are within the tolerance less often than "
                     f"HRL's ({after})",
            "inside": f"disagrees: no clear difference between {FLAT_KERNEL_WISE} and HRL (our interval "
                      f"includes 0; {after})",
            "above": f"disagrees: {FLAT_KERNEL_WISE}'s late episodes are within the tolerance more often than "
                     f"HRL's ({after})"}[position(difference, 0.0)]


def episodes_verdict(episodes_to_90: Summary) -> str:
    """The verdict on ``hrl``'s episodes to 90% against the paper's 200."""
    figure = PAPER_HRL_EPISODES
    return {"no interval": NO_INTERVAL,
            "inside": f"agrees: the paper's {figure} lies inside our interval",
            "above": f"HRL reaches 90% of its final best sooner than the paper's {figure} episodes (when its best "
                     "was found, not whether its policy keeps it: see the late-episode row)",
            "below": f"HRL takes longer than the paper's {figure} episodes"}[position(episodes_to_90, figure)]


def cost_rows(runs: list[Run], setting: str) -> list[Row]:
    """Latency and energy against ``ddpg-layer`` (accuracy mode), or accuracy at the budget (resource mode)."""
    missing = absent(runs, (HRL, LAYER_WISE))
    if runs[0].record["env"]["mode"] == "resource":
        claim = f"accuracy at the budget vs {LAYER_WISE} (test drop, {HRL} minus {LAYER_WISE})"
        paper = "no figure (its -54%/-51% are for accuracy mode)"
        if missing:
            return [Row(setting, claim, paper, "n/a", _not_run(missing))]
        difference = paired_difference(runs, HRL, LAYER_WISE, best_test_drop)
        if difference is None:
            return [Row(setting, claim, paper, "n/a", _no_common_seed(HRL, LAYER_WISE))]
        return [Row(setting, claim, paper, f"{difference.format(2)} points, {seeds(difference.n)}",
                    accuracy_at_budget_verdict(difference))]
    ratios = None if missing else cost_ratios(runs, HRL, LAYER_WISE)
    rows = []
    for metric, paper_ratio in PAPER_COST_RATIO.items():
        claim = f"{metric.removesuffix('_rel')} vs {LAYER_WISE} at the same accuracy ({HRL} / {LAYER_WISE})"
        paper = f"{paper_ratio:.3f} ({paper_ratio - 1:+.2%})"
        if missing:
            rows.append(Row(setting, claim, paper, "n/a", _not_run(missing)))
        elif ratios is None:
            rows.append(Row(setting, claim, paper, "n/a", f"n/a: no seed where both {HRL} and {LAYER_WISE} have "
                                                            "a configuration within the tolerance"))
        else:
            rows.append(Row(setting, claim, paper, f"{ratios[metric].format(3)}, {seeds(ratios[metric].n)}",
                            cost_verdict(ratios[metric], paper_ratio)))
    return rows


def flat_row(runs: list[Run], setting: str) -> Row:
    """Flat kernel-wise DDPG against HRL: the share of late episodes within the tolerance."""
    claim = f"flat kernel-wise DDPG fails (late episodes within tolerance, {HRL} minus {FLAT_KERNEL_WISE})"
    paper = f"fails: still poor after {PAPER_FLAT_EPISODES} episodes"
    missing = absent(runs, (HRL, FLAT_KERNEL_WISE))
    if missing:
        return Row(setting, claim, paper, "n/a", _not_run(missing))

    def late_share(run: Run) -> float:
        return share_within_tolerance(run, LATE_EPISODES)

    difference = paired_difference(runs, HRL, FLAT_KERNEL_WISE, late_share)
    if difference is None:
        return Row(setting, claim, paper, "n/a", _no_common_seed(HRL, FLAT_KERNEL_WISE))
    shares = {method: summarise([late_share(run) for run in runs if run.method == method])
              for method in (HRL, FLAT_KERNEL_WISE)}
    compared = [run for run in runs if run.method in (HRL, FLAT_KERNEL_WISE)]
    shortest = min(len(run.episodes) for run in compared)
    measured = (f"{HRL} {shares[HRL].format(2)}, {FLAT_KERNEL_WISE} {shares[FLAT_KERNEL_WISE].format(2)}; "
                f"difference {difference.format(2)}, {seeds(difference.n)}")
    if shortest < PAPER_HRL_EPISODES:
        return Row(setting, claim, paper, measured, _too_short(shortest))
    return Row(setting, claim, paper, measured, flat_verdict(difference, shortest))


def episodes_row(runs: list[Run], setting: str) -> Row:
    """HRL's episodes to 90% of its final best against the paper's 200."""
    claim = f"HRL learns the kernel-wise search ({HRL}'s episodes to 90%)"
    paper = f"about {PAPER_HRL_EPISODES} episodes"
    of_hrl = [run for run in runs if run.method == HRL]
    if not of_hrl:
        return Row(setting, claim, paper, "n/a", _not_run([HRL]))
    summary = summarise([episodes_to_convergence(run) for run in of_hrl])
    measured = f"{summary.format(1)}, {seeds(summary.n)}"
    shortest = min(len(run.episodes) for run in of_hrl)
    if shortest < PAPER_HRL_EPISODES:
        return Row(setting, claim, paper, measured, _too_short(shortest))
    return Row(setting, claim, paper, measured, episodes_verdict(summary))


def comparison_rows(runs: list[Run], setting: str) -> list[Row]:
    """Every claim's row for one setting's runs."""
    return [*cost_rows(runs, setting), flat_row(runs, setting), episodes_row(runs, setting)]


def comparison_table(rows: list[Row]) -> list[str]:
    """Markdown lines of the comparison table."""
    lines = ["| setting | claim | paper | measured (IQM [95% CI]) | verdict |", "|---|---|---|---|---|"]
    return lines + [f"| {row.setting} | {row.claim} | {row.paper} | {row.measured} | {row.verdict} |" for row in rows]
