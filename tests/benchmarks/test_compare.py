"""``benchmarks.compare`` and ``benchmarks.report``: tables from known numbers, every figure, the whole
pipeline from scratch, and a benchmark killed mid-way that resumes without redoing or duplicating a run."""

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

from agents.recording import EPISODE_FIELDS
from benchmarks import compare, report
from benchmarks.runs import Run, best_within_tolerance, load_runs, paired_by_seed
from benchmarks.stats import episodes_to_fraction

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REPOSITORY = Path(__file__).resolve().parents[2]
TOLERANCE_PTS = 0.5


# -- a synthetic run tree, written by hand ------------------------------------------------------------
def write_run(root: Path, setting: str, method: str, seed: int, episodes: list[tuple[float, float, float, float]],
              test_best: dict[str, float], status: str = "finished") -> None:
    """One run folder as ``agents.runner`` writes it.

    :param episodes: per episode (reward, search-split accuracy drop, latency_rel, energy_rel).
    :param test_best: test-split ``accuracy_drop``, ``latency_rel`` and ``energy_rel`` of the best configuration.
    """
    folder = root / setting / method / f"seed-{seed}"
    folder.mkdir(parents=True)
    mode = setting.split("-")[0]
    env = {"accelerator": setting.split("-")[1], "mode": mode, "budget": 0.5 if mode == "resource" else None,
           "budget_metric": "latency", "search_samples": 200, "bits": [2, 8],
           "reward_weights": {"tolerance_pts": TOLERANCE_PTS}}
    agent = "uniform" if method.startswith("uniform-") else method
    record = {"spec": {"agent": agent, "seed": seed}, "settings": {"profile": "full"}, "env": env, "status": status}
    (folder / "run.json").write_text(json.dumps(record))
    with open(folder / "episodes.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=EPISODE_FIELDS)
        writer.writeheader()
        for number, (reward, drop, latency, energy) in enumerate(episodes, start=1):
            writer.writerow({**dict.fromkeys(EPISODE_FIELDS, 0.0), "episode": number, "reward": reward,
                             "accuracy_drop": drop, "latency_rel": latency, "energy_rel": energy})
    float_accuracy = 91.0
    best = {**test_best, "accuracy": float_accuracy - test_best["accuracy_drop"]}
    (folder / "report.json").write_text(json.dumps({
        "float_test_accuracy": float_accuracy,
        "test": {"best": best, "uniform 8-bit": {"accuracy": 91.0, "accuracy_drop": 0.0, "latency_rel": 1.0,
                                                 "energy_rel": 1.0}},
        "search": {"reward_objective": max(e[0] for e in episodes)},
        "wall_time_s": 10.0 * (seed + 1),
    }))
    (folder / "best_config.json").write_text(json.dumps({"activation_qbn": [8, 4, 6],
                                                         "kernel_qbn": [[8, 7], [2, 3, 4, 5], [6]]}))


HRL_TEST_LATENCY = [0.3, 0.4, 0.5, 0.6, 0.9]  # IQM over 5 seeds: one cut from each end, (0.4 + 0.5 + 0.6) / 3
HRL_REWARDS = [[-2.0, -1.0, 0.5, 1.0], [-3.0, 0.0, 0.0, -1.0], [1.0, 2.0, 2.0, 2.0], [-1.0, -1.0, -1.0, -1.0],
               [0.0, 4.0, 4.5, 5.0]]
# per seed, ddpg-layer's best latency within the tolerance; hrl's is HRL_WITHIN[seed]: ratios 0.4, 0.5, 0.5, 0.5, 0.6
HRL_WITHIN = [0.2, 0.25, 0.3, 0.35, 0.3]
DDPG_WITHIN = [0.5, 0.5, 0.6, 0.7, 0.5]
# per seed, how many of ddpg-kernel's 6 episodes (latency 0.6, energy 0.8) are within the tolerance; hrl's: 5 of 6
KERNEL_EPISODES_WITHIN = [0, 1, 2, 3, 4]
SPATIAL_HRL_BEST_AT = [50, 60, 70]  # accuracy-spatial: 200-episode hrl runs whose reward steps up at these episodes
SPATIAL_KERNEL_LATE_WITHIN = [0, 5, 10]  # ... and ddpg-kernel's, with this many of the last 20 within the tolerance


@pytest.fixture
def synthetic_benchmark(tmp_path: Path) -> Path:
    """Three settings: accuracy-temporal with 5 seeds of hrl, ddpg-layer and ddpg-kernel, greedy at seed 0, a
    uniform reference and an unfinished run; accuracy-spatial with 3 seeds of hrl and ddpg-kernel of 200
    episodes; resource-spatial with one run of hrl and one of ddpg-layer, none of whose episodes is within the
    tolerance."""
    root = tmp_path / "bench"
    for seed in range(5):
        hrl_episodes = [(reward, 0.3, HRL_WITHIN[seed], 0.5) for reward in HRL_REWARDS[seed]]
        hrl_episodes.append((min(HRL_REWARDS[seed]) - 1, 0.5, 0.9, 0.9))  # within (drop = tolerance), low reward
        hrl_episodes.append((max(HRL_REWARDS[seed]) + 1, 2.0, 0.05, 0.05))  # best reward, beyond the tolerance
        write_run(root, "accuracy-temporal", "hrl", seed, hrl_episodes,
                  {"accuracy_drop": 0.1 * seed, "latency_rel": HRL_TEST_LATENCY[seed], "energy_rel": 0.5})
        write_run(root, "accuracy-temporal", "ddpg-layer", seed, [(-1.0, 0.1, DDPG_WITHIN[seed], 1.0)],
                  {"accuracy_drop": 0.2, "latency_rel": 0.8, "energy_rel": 0.9})
        write_run(root, "accuracy-temporal", "ddpg-kernel", seed,
                  [(-1.0, 0.1 if episode < KERNEL_EPISODES_WITHIN[seed] else 3.0, 0.6, 0.8) for episode in range(6)],
                  {"accuracy_drop": 1.5, "latency_rel": 0.6, "energy_rel": 0.8})
    write_run(root, "accuracy-temporal", "greedy", 0, [(0.5, 0.2, 0.45, 0.55), (0.7, 0.4, 0.4, 0.5)],
              {"accuracy_drop": 0.3, "latency_rel": 0.4, "energy_rel": 0.5})
    for seed, best_at in enumerate(SPATIAL_HRL_BEST_AT):
        write_run(root, "accuracy-spatial", "hrl", seed,
                  [(0.0 if episode < best_at else 1.0, 0.1, 0.7, 0.8) for episode in range(1, 201)],
                  {"accuracy_drop": 0.2, "latency_rel": 0.7, "energy_rel": 0.8})
        late_within = SPATIAL_KERNEL_LATE_WITHIN[seed]
        write_run(root, "accuracy-spatial", "ddpg-kernel", seed,
                  [(-1.0, 0.1 if 180 <= episode < 180 + late_within else 3.0, 0.8, 0.9) for episode in range(200)],
                  {"accuracy_drop": 2.0, "latency_rel": 0.8, "energy_rel": 0.9})
    write_run(root, "accuracy-temporal", "hrl", 5, [(9.0, 0.0, 0.1, 0.1)],
              {"accuracy_drop": 0.0, "latency_rel": 0.1, "energy_rel": 0.1}, status="running")
    write_run(root, "accuracy-temporal", "uniform-8bit", 0, [(0.0, 0.0, 1.0, 1.0)],
              {"accuracy_drop": -0.05, "latency_rel": 1.0, "energy_rel": 1.0})
    write_run(root, "resource-spatial", "hrl", 0, [(-0.2, 0.1, 0.45, 0.6), (-0.1, 0.2, 0.5, 0.6)],
              {"accuracy_drop": 0.4, "latency_rel": 0.5, "energy_rel": 0.6})
    write_run(root, "resource-spatial", "ddpg-layer", 0, [(-0.5, 1.0, 0.5, 0.6)],
              {"accuracy_drop": 0.7, "latency_rel": 0.5, "energy_rel": 0.6})
    return root


def table_row(markdown: str, setting: str, method: str) -> list[str]:
    """The cells of ``method``'s row in ``setting``'s table."""
    section = markdown.split(f"## {setting}\n", 1)[1].split("\n## ", 1)[0]
    line = next(line for line in section.splitlines() if line.startswith(f"| {method} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def section_of(markdown: str, setting: str) -> str:
    return markdown.split(f"## {setting}\n", 1)[1].split("\n## ", 1)[0]


def assert_figures(root: Path, settings: list[str], hrl_settings: list[str]) -> None:
    for setting in settings:
        names = ["learning-curves", "pareto", *(["hrl-qbn"] if setting in hrl_settings else [])]
        for name in names:
            path = root / "figures" / f"{setting}-{name}.png"
            assert path.read_bytes().startswith(PNG_SIGNATURE), path
            assert f"(figures/{setting}-{name}.png)" in (root / "report.md").read_text()
    assert not list((root / "figures").glob(".*.tmp"))  # no temporary file left behind


def test_report_tables_hold_the_statistics_of_known_numbers(synthetic_benchmark: Path) -> None:
    root = synthetic_benchmark
    markdown = report.write_report(root).read_text()
    assert compare.QUICK_NOTICE not in markdown

    hrl = table_row(markdown, "accuracy-temporal", "hrl")
    assert hrl[1] == "5"  # the unfinished seed-5 run is left out...
    assert "`accuracy-temporal/hrl/seed-5`" in section_of(markdown, "accuracy-temporal")  # ...and named
    titles = ["method", "seeds", *(metric.title for metric in report.METRICS)]
    cells = dict(zip(titles, hrl))
    assert cells["latency vs 8-bit"].startswith(f"{(0.4 + 0.5 + 0.6) / 3:.3f} [")
    assert cells["test accuracy drop (points)"].startswith(f"{(0.1 + 0.2 + 0.3) / 3:.2f} [")
    assert cells["energy vs 8-bit"] == "0.500 [0.500, 0.500]"
    # final reward: each seed's best (the beyond-tolerance episode): 2, 1, 3, 0, 6 -> middle three 1, 2, 3
    assert cells["final reward"].startswith(f"{(1 + 2 + 3) / 3:.3f} [")
    to_ninety = sorted(episodes_to_fraction([*rewards, min(rewards) - 1, max(rewards) + 1], 0.9)
                       for rewards in HRL_REWARDS)  # every seed: the last episode, 6
    assert cells["episodes to 90%"] == f"{sum(to_ninety[1:4]) / 3:.1f} [6.0, 6.0]"
    assert cells["search wall time (s)"].startswith(f"{(20 + 30 + 40) / 3:.1f} [")

    uniform = dict(zip(titles, table_row(markdown, "accuracy-temporal", "uniform-8bit")))
    assert uniform["seeds"] == "1" and uniform["latency vs 8-bit"] == "1.000 (n/a)"
    greedy = dict(zip(titles, table_row(markdown, "accuracy-temporal", "greedy")))  # deterministic: seed 0 only
    assert greedy["seeds"] == "1" and greedy["latency vs 8-bit"] == "0.400 (n/a)"
    # hrl minus greedy, greedy's one run paired with every seed: final rewards 2, 1, 3, 0, 6 minus 0.7 (IQM of
    # -0.7, 0.3, 1.3, 2.3, 5.3: the middle three), test drops 0.0-0.4 minus 0.3 (middle three: -0.2, -0.1, 0.0)
    assert ("Against the greedy search, hrl minus greedy, paired by seed (5 seeds): final reward 1.300 ["
            in section_of(markdown, "accuracy-temporal"))
    assert "test accuracy drop -0.10 [" in section_of(markdown, "accuracy-temporal")
    assert "hrl minus greedy: n/a (not run: greedy)." in section_of(markdown, "accuracy-spatial")

    ratios = sorted(h / d for h, d in zip(HRL_WITHIN, DDPG_WITHIN))  # 0.4, 0.5, 0.5, 0.5, 0.6
    headline = next(line for line in section_of(markdown, "accuracy-temporal").splitlines()
                    if line.startswith("Headline ratio"))
    assert f"(5 seeds): latency {sum(ratios[1:4]) / 3:.3f} [" in headline
    assert "energy 0.500 [0.500, 0.500]" in headline  # hrl's within-tolerance energy 0.5 over ddpg-layer's 1.0
    # against ddpg-kernel: seed 0 has no episode within the tolerance; seeds 1-4 latency 0.6, energy 0.8
    kernel_ratios = sorted(HRL_WITHIN[seed] / 0.6 for seed in range(1, 5))  # IQM of 4: the middle two
    kernel_headline = next(line for line in section_of(markdown, "accuracy-temporal").splitlines()
                           if line.startswith("Headline ratio hrl / ddpg-kernel"))
    assert f"(4 seeds): latency {sum(kernel_ratios[1:3]) / 2:.3f} [" in kernel_headline
    assert "energy 0.625 [0.625, 0.625]" in kernel_headline

    resource = section_of(markdown, "resource-spatial")
    assert "budget 0.5 of 8-bit latency" in resource
    assert table_row(markdown, "resource-spatial", "hrl")[2] == "0.40 (n/a)"
    assert "Headline ratio hrl / ddpg-layer: n/a (no seed where both have a configuration within the" in resource
    assert "Headline ratio hrl / ddpg-kernel: n/a (not run: ddpg-kernel)." in resource
    # accuracy at the budget: hrl's test drop 0.4 minus ddpg-layer's 0.7, one seed
    assert ("Headline accuracy at the budget, hrl minus ddpg-layer, paired by seed (1 seed): test accuracy drop "
            "-0.30 (n/a) points.") in resource
    assert "Headline accuracy at the budget, hrl minus ddpg-kernel: n/a (not run: ddpg-kernel)." in resource
    assert "Headline accuracy at the budget" not in section_of(markdown, "accuracy-temporal")
    settings = ["accuracy-temporal", "accuracy-spatial", "resource-spatial"]
    assert_figures(root, settings, settings)


def paper_row(markdown: str, setting: str, claim: str) -> dict[str, str]:
    """The cells of the paper comparison's row of ``setting`` whose claim starts with ``claim``."""
    section = markdown.split("## Paper comparison\n", 1)[1].split("\n## ", 1)[0]
    line = next(line for line in section.splitlines() if line.startswith(f"| {setting} | {claim}"))
    return dict(zip(("setting", "claim", "paper", "measured", "verdict"),
                    (cell.strip() for cell in line.strip("|").split("|"))))


def test_paper_comparison_rows_follow_the_rules_on_known_numbers(synthetic_benchmark: Path) -> None:
    markdown = report.write_report(synthetic_benchmark).read_text()
    assert markdown.index("## Paper comparison") < markdown.index("## accuracy-temporal")

    # hrl / ddpg-layer latency 0.4, 0.5, 0.5, 0.5, 0.6: IQM 0.5, the paper's 0.459 inside the interval
    latency = paper_row(markdown, "accuracy-temporal", "latency vs ddpg-layer")
    assert latency["paper"] == "0.459 (-54.06%)"
    assert latency["measured"].startswith("0.500 [") and latency["measured"].endswith(", 5 seeds")
    assert latency["verdict"].startswith("agrees")
    energy = paper_row(markdown, "accuracy-temporal", "energy vs ddpg-layer")  # 0.5 on every seed
    assert energy["measured"] == "0.500 [0.500, 0.500], 5 seeds"
    assert energy["verdict"].startswith("HRL cuts less than the paper says (our interval lies between its 0.493 and 1)")

    # late episodes within the tolerance: hrl 5 of 6 on every seed, ddpg-kernel 0 to 4 of 6
    flat = paper_row(markdown, "accuracy-temporal", "flat kernel-wise DDPG fails")
    differences = sorted(5 / 6 - within / 6 for within in KERNEL_EPISODES_WITHIN)
    assert flat["measured"].startswith("hrl 0.83 [0.83, 0.83], ddpg-kernel 0.33 [")
    assert f"difference {sum(differences[1:4]) / 3:.2f} [" in flat["measured"]
    too_short = "n/a: the shortest run has 6 of the paper's 200 episodes, too few to show it"
    assert flat["verdict"] == too_short
    assert paper_row(markdown, "accuracy-temporal", "HRL learns")["verdict"] == too_short

    # accuracy-spatial: 200 episodes; hrl's best reward reached at episodes 50, 60, 70, its late episodes all
    # within the tolerance; ddpg-kernel's 0, 5 and 10 of its last 20: differences 1, 0.75, 0.5
    episodes = paper_row(markdown, "accuracy-spatial", "HRL learns")
    assert [episodes_to_fraction([0.0] * (k - 1) + [1.0] * (201 - k), 0.9) for k in SPATIAL_HRL_BEST_AT] == [50, 60, 70]
    assert episodes["measured"] == "60.0 [50.0, 70.0], 3 seeds"
    assert episodes["verdict"].startswith("HRL reaches 90% of its final best sooner than the paper's 200 episodes")
    for claim in ("latency vs", "energy vs"):
        assert paper_row(markdown, "accuracy-spatial", claim)["verdict"] == "n/a (not run: ddpg-layer)"
    flat = paper_row(markdown, "accuracy-spatial", "flat")
    assert flat["measured"] == ("hrl 1.00 [1.00, 1.00], ddpg-kernel 0.25 [0.00, 0.50]; difference 0.75 [0.50, 1.00], "
                                "3 seeds")
    assert flat["verdict"] == ("agrees: ddpg-kernel's late episodes are within the tolerance less often than HRL's "
                               "(after 200 episodes, the paper's 250)")

    # resource mode: accuracy at the budget instead of latency and energy, one seed: no verdict
    budget = paper_row(markdown, "resource-spatial", "accuracy at the budget")
    assert budget["paper"].startswith("no figure") and budget["measured"] == "-0.30 (n/a) points, 1 seed"
    assert budget["verdict"] == "one seed: no interval, so no verdict"
    assert not any(row.startswith("| resource-spatial | latency") for row in markdown.splitlines())


def test_the_late_table_says_what_each_policy_plays_in_its_last_episodes(synthetic_benchmark: Path) -> None:
    """Each synthetic hrl run has 6 episodes (fewer than 20: all count): 4 at drop 0.3, one at 0.5, one at 2.0."""
    markdown = report.write_report(synthetic_benchmark).read_text()
    late = section_of(markdown, "accuracy-temporal").split("What the policies play at the end", 1)[1]
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.strip("|").split("|")]
            for line in late.splitlines() if line.startswith("| ")}
    titles = ["method", "seeds", *(metric.title for metric in report.LATE_METRICS)]
    hrl = dict(zip(titles, rows["hrl"]))
    assert hrl["last 20 within tolerance"] == "0.83 [0.83, 0.83]"  # drop <= 0.5 in 5 of 6, every seed
    assert hrl["mean search accuracy drop (points)"] == f"{(4 * 0.3 + 0.5 + 2.0) / 6:.2f} [0.62, 0.62]"
    assert {"hrl", "ddpg-layer", "ddpg-kernel"} <= rows.keys()
    assert not {"greedy", "uniform-8bit"} & rows.keys()  # deterministic: no policy to play


@pytest.mark.parametrize("search, label", [
    ({"budget_met": False}, "uniform-8bit (over the budget)"),  # resource mode, over the budget
    ({"budget_met": True}, "uniform-8bit"),  # resource mode, within it
    ({}, "uniform-8bit"),  # accuracy mode: no budget
])
def test_a_uniform_reference_over_the_budget_says_so_in_the_legend(search: dict, label: str) -> None:
    run = Run(setting="resource-temporal", method="uniform-8bit", seed=0, record={}, report={"search": search},
              episodes=[], best_config={})
    assert report.uniform_label(run) == label


def test_a_deterministic_method_pairs_with_every_seed(synthetic_benchmark: Path) -> None:
    runs = [run for run in load_runs(synthetic_benchmark)[0] if run.setting == "accuracy-temporal"]
    assert [run.deterministic for run in runs if run.method in ("greedy", "hrl", "uniform-8bit")].count(True) == 2
    assert paired_by_seed(runs, "hrl", "greedy", lambda run: run.seed) == [(seed, 0) for seed in range(5)]
    assert paired_by_seed(runs, "greedy", "hrl", lambda run: run.seed) == [(0, seed) for seed in range(5)]
    assert paired_by_seed(runs, "hrl", "ddpg-layer", lambda run: run.seed) == [(seed, seed) for seed in range(5)]
    assert paired_by_seed(runs, "hrl", "ddpg-kernel", best_within_tolerance)[0][0]["latency_rel"] == HRL_WITHIN[1]


def test_quick_runs_say_so_above_every_table(synthetic_benchmark: Path) -> None:
    (synthetic_benchmark / "benchmark.json").write_text(json.dumps({
        "profile": "quick", "notice": compare.QUICK_NOTICE, "command": ["python", "-m", "benchmarks.compare"],
        "git": {"commit": "abc", "uncommitted_changes": True}, "machine": {"cpu_count": 2, "torch": "2"}}))
    markdown = report.write_report(synthetic_benchmark).read_text()
    for setting in ("accuracy-temporal", "resource-spatial"):
        section = section_of(markdown, setting)
        assert section.index(compare.QUICK_NOTICE) < section.index("| method |")
    comparison = markdown.split("## Paper comparison\n", 1)[1]
    assert comparison.index(compare.QUICK_NOTICE) < comparison.index("| setting |")
    assert "commit `abc` with uncommitted changes" in markdown


def test_progress_counts_the_planned_runs_finished_and_names_the_others(synthetic_benchmark: Path) -> None:
    """The plan of benchmark.json: 3 uniform references, hrl and ddpg-layer at seeds 0-5, greedy at seed 0; the
    synthetic tree finished hrl and ddpg-layer at seeds 0-4 (hrl's seed 5 is running), greedy and uniform 8-bit;
    its ddpg-kernel runs are not in the plan and do not count."""
    (synthetic_benchmark / "benchmark.json").write_text(json.dumps({
        "profile": "full", "episodes": 200, "seeds": 6, "methods": ["hrl", "ddpg-layer", "greedy", "uniform"],
        "settings": {"accuracy-temporal": compare.SETTINGS["accuracy-temporal"]},
        "command": ["/venv/bin/python", "-m", "benchmarks.compare", "--jobs", "2"],
        "git": {"commit": "abc", "uncommitted_changes": False}, "machine": {"cpu_count": 2, "torch": "2"}}))
    markdown = report.write_report(synthetic_benchmark).read_text()
    progress = markdown.split("## Progress\n", 1)[1].split("\n## ", 1)[0]
    assert "| accuracy-temporal | 16 | 12 | uniform-6bit: 0; uniform-4bit: 0; hrl: 5; ddpg-layer: 5 |" in progress
    assert "12 of 16 planned runs finished" in progress
    assert "`python -m benchmarks.compare --jobs 2`" in progress
    assert report._seed_ranges([4, 0, 1, 2, 7, 8]) == "0-2, 4, 7-8"


def test_report_refuses_a_folder_without_runs(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no finished run"):
        report.write_report(tmp_path)


@pytest.mark.parametrize(("arguments", "message"), [
    (["--methods", "hrl", "ppo"], "invalid choice: 'ppo'"),
    (["--seeds", "0"], "expected a positive integer, got 0"),
    (["--episodes", "-3"], "expected a positive integer, got -3"),
    (["--episodes", "many"], "expected a positive integer, got 'many'"),
    (["--search-samples", "9000"], "at most 5000"),
    (["--settings", "accuracy-spatial", "--resource"], "either --settings or --resource"),
])
def test_compare_refuses_bad_arguments_with_the_reason(arguments, message, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        compare.main(arguments)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_plan_runs_every_method_seed_and_setting_once() -> None:
    kwargs = {name: compare.SETTINGS[name] for name in compare.SETTINGS}
    runs = compare.plan_runs(list(compare.SETTINGS), ["hrl", "uniform", "random", "greedy"], seeds=3, episodes=7,
                             env_kwargs=kwargs, profile="full")
    folders = [run.folder(Path("out")) for run in runs]
    assert len(folders) == len(set(folders)) == 4 * (3 + 2 * 3 + 1)  # greedy is deterministic: seed 0 only
    assert {run.spec.seed for run in runs if run.method == "greedy"} == {0}
    uniform = [run for run in runs if run.spec.agent == "uniform"]
    assert {(run.method, run.spec.episodes, run.spec.seed) for run in uniform} == {
        ("uniform-8bit", 1, 0), ("uniform-6bit", 1, 0), ("uniform-4bit", 1, 0)}
    assert all(run.spec.episodes == 7 for run in runs if run.spec.agent != "uniform")
    hrl = next(run for run in runs if run.method == "hrl")
    assert hrl.settings["hyperparams"]["file"] == "agents/hyperparams/hrl.yml"


# -- the real pipeline -------------------------------------------------------------------------------
KILL_DEADLINE_S = 600
QUICK_ARGUMENTS = ["--quick", "--methods", "hrl", "uniform", "--episodes", "1", "--seeds", "2",
                   "--settings", "accuracy-temporal"]


def _statuses(out: Path) -> dict[Path, str]:
    return {path.parent: json.loads(path.read_text())["status"] for path in out.glob("*/*/seed-*/run.json")}


def test_quick_compare_killed_resumes_then_reports_every_table_and_figure(tmp_path: Path) -> None:
    """Kill ``compare --quick`` once a run has finished; run it again: the finished runs are kept as they
    were, the one under way is redone from its start, none is duplicated; then the report."""
    out = tmp_path / "quick"
    command = [sys.executable, "-m", "benchmarks.compare", *QUICK_ARGUMENTS, "--out", str(out)]
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    log = tmp_path / "first.log"
    with open(log, "w") as handle:
        first = subprocess.Popen(command, cwd=REPOSITORY, env=environment, stdout=handle, stderr=handle)
    deadline = time.monotonic() + KILL_DEADLINE_S
    while first.poll() is None and time.monotonic() < deadline:
        if "finished" in _statuses(out).values():
            break
        time.sleep(0.05)
    assert first.poll() is None, f"compare ended before it could be killed:\n{log.read_text()}"
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert "finished" in _statuses(out).values(), f"no run finished in {KILL_DEADLINE_S} s:\n{log.read_text()}"
    before = {folder: (folder / "run.json").stat().st_mtime_ns for folder, status in _statuses(out).items()
              if status == "finished"}

    second = subprocess.run(command, cwd=REPOSITORY, env=environment, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    expected = {out / "accuracy-temporal" / method / f"seed-{seed}"
                for method, seed in [("uniform-8bit", 0), ("uniform-6bit", 0), ("uniform-4bit", 0), ("hrl", 0),
                                     ("hrl", 1)]}
    assert set(_statuses(out)) == expected
    assert set(_statuses(out).values()) == {"finished"}
    for folder, mtime_ns in before.items():
        assert (folder / "run.json").stat().st_mtime_ns == mtime_ns, f"{folder} was redone"
    for folder in expected:
        rows = list(csv.DictReader(open(folder / "episodes.csv")))
        assert [row["episode"] for row in rows] == ["1"], f"{folder}: episodes duplicated or missing"
    benchmark = json.loads((out / "benchmark.json").read_text())
    assert benchmark["notice"] == compare.QUICK_NOTICE
    assert benchmark["runs_already_finished"] == len(before) and len(benchmark["earlier_invocations"]) == 1
    assert set(benchmark["hyperparams"]) >= {"hrl.yml", "ddpg.yml"}
    assert benchmark["machine"]["cpu_count"] == os.cpu_count()

    report.main([str(out)])
    markdown = (out / "report.md").read_text()
    section = section_of(markdown, "accuracy-temporal")
    assert section.index(compare.QUICK_NOTICE) < section.index("| method |")
    for method in ("hrl", "uniform-8bit", "uniform-6bit", "uniform-4bit"):
        assert table_row(markdown, "accuracy-temporal", method)[1] == ("2" if method == "hrl" else "1")
    comparison = markdown.split("## Paper comparison\n", 1)[1]
    assert comparison.index(compare.QUICK_NOTICE) < comparison.index("| setting |")
    assert paper_row(markdown, "accuracy-temporal", "latency vs")["verdict"] == "n/a (not run: ddpg-layer)"
    assert paper_row(markdown, "accuracy-temporal", "flat")["verdict"] == "n/a (not run: ddpg-kernel)"
    assert paper_row(markdown, "accuracy-temporal", "HRL learns")["measured"].endswith(", 2 seeds")
    assert "| accuracy-temporal | 5 | 5 | none |" in markdown and "5 of 5 planned runs finished" in markdown
    assert_figures(out, ["accuracy-temporal"], ["accuracy-temporal"])


def _planned_hrl_run(out: Path) -> tuple[compare.PlannedRun, Path]:
    """A 3-episode hrl run of the full profile and its (new, empty) folder under ``out``."""
    run = compare.plan_runs(["accuracy-temporal"], ["hrl"], seeds=1, episodes=3,
                            env_kwargs={"accuracy-temporal": compare.SETTINGS["accuracy-temporal"]},
                            profile="full")[0]
    folder = run.folder(out)
    folder.mkdir(parents=True)
    return run, folder


def test_a_finished_run_made_otherwise_is_never_overwritten(tmp_path: Path) -> None:
    run, folder = _planned_hrl_run(tmp_path)
    (folder / "run.json").write_text(json.dumps({"status": "finished", "spec": {**run.spec.__dict__, "episodes": 5},
                                                 "settings": run.settings}))
    with pytest.raises(SystemExit, match="spec.episodes 5 \\(now 3\\)"):
        compare.finished_run(run, tmp_path)
    (folder / "run.json").write_text(json.dumps({"status": "running"}))
    assert not compare.finished_run(run, tmp_path)


def test_a_run_recorded_before_a_hyperparameter_existed_matches_only_the_value_it_ran_with(tmp_path: Path) -> None:
    run, folder = _planned_hrl_run(tmp_path)
    settings = json.loads(json.dumps(run.settings))
    del settings["hyperparams"]["values"]["hlc_critic"]  # a run made before the option existed
    (folder / "run.json").write_text(json.dumps({"status": "finished", "spec": run.spec.__dict__,
                                                 "settings": settings}))
    assert run.settings["hyperparams"]["values"]["hlc_critic"] == "transition"
    assert compare.finished_run(run, tmp_path)  # what it ran with, before the option existed
    run.settings["hyperparams"]["values"]["hlc_critic"] = "additive"
    with pytest.raises(SystemExit, match="hlc_critic None \\(now 'additive'\\)"):
        compare.finished_run(run, tmp_path)


def test_parallel_jobs_finish_every_run_each_once(tmp_path: Path) -> None:
    out = tmp_path / "parallel"
    compare.main(["--quick", "--methods", "random", "uniform", "--episodes", "2", "--seeds", "2",
                  "--settings", "accuracy-temporal", "--jobs", "2", "--out", str(out)])
    statuses = _statuses(out)
    assert len(statuses) == 5 and set(statuses.values()) == {"finished"}  # 3 uniform references, 2 seeds of random
    for folder in statuses:
        rows = list(csv.DictReader(open(folder / "episodes.csv")))
        assert [row["episode"] for row in rows] == (["1"] if "uniform" in folder.parent.name else ["1", "2"])


def test_sigterm_stops_parallel_runs_with_checkpoints_and_the_rerun_finishes_them(tmp_path: Path) -> None:
    out = tmp_path / "parallel"
    command = [sys.executable, "-m", "benchmarks.compare", "--quick", "--methods", "hrl", "--episodes", "16",
               "--seeds", "3", "--settings", "accuracy-temporal", "--jobs", "2", "--out", str(out)]
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    first = subprocess.Popen(command, cwd=REPOSITORY, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    logs = [out / "accuracy-temporal" / "hrl" / f"seed-{seed}" / "episodes.csv" for seed in (0, 1)]
    deadline = time.monotonic() + KILL_DEADLINE_S
    while not all(log.is_file() and log.read_text().count("\n") >= 3 for log in logs):
        assert first.poll() is None, first.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the runs logged no episodes in time"
        time.sleep(0.05)
    first.send_signal(signal.SIGTERM)  # to the benchmark only: it passes the signal on to its workers
    _, stderr = first.communicate(timeout=KILL_DEADLINE_S)
    assert first.returncode != 0 and "benchmark interrupted" in stderr, stderr[-3000:]
    for log in logs:
        assert (log.parent / "checkpoint.pt").is_file()
        assert json.loads((log.parent / "run.json").read_text())["status"] == "interrupted"
    assert "running" not in _statuses(out).values()  # the queued third run did not start after the signal
    second = subprocess.run(command, cwd=REPOSITORY, env=environment, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr[-3000:]
    assert set(_statuses(out).values()) == {"finished"} and len(_statuses(out)) == 3
    for log in logs:
        assert [row["episode"] for row in csv.DictReader(open(log))] == [str(e) for e in range(1, 17)]
        assert not (log.parent / "checkpoint.pt").exists()


def test_every_resource_setting_has_a_feasible_budget_between_uniform_4_and_6_bits() -> None:
    """Each resource setting's budget can be met (uniform ``b_min`` fits) and binds (uniform 6-bit does not fit)."""
    from autoq_env.data import DatasetInfo
    from autoq_env.hardware import get_accelerator, uniform_config
    from autoq_env.models import build_model
    from autoq_env.workload import extract_layers

    specs = extract_layers(build_model("resnet20", DatasetInfo("fashion-mnist", 1, 10, 28), checkpoint=None),
                           (1, 28, 28))
    for name in compare.RESOURCE_SETTINGS:
        keywords = compare.SETTINGS[name]
        accelerator = get_accelerator(keywords["accelerator"])
        reference = accelerator.network_cost(specs, uniform_config(specs, 8, 8)).latency_s
        relative = {bits: accelerator.network_cost(specs, uniform_config(specs, bits, bits)).latency_s / reference
                    for bits in (2, 4, 6)}
        assert relative[2] <= relative[4] < keywords["budget"] < relative[6], (name, relative)
