"""What the accelerator models predict for a network, layer by layer, and how they compare with the public BitFusion
simulator and published figures.

    python -m benchmarks.hardware --model resnet18 --accelerator spatial [--preset P] [--batch B] [--out DIR]
    python -m benchmarks.hardware --validate [--out DIR]
    python -m benchmarks.hardware --uniform-table [--out DIR]

The first form prints per-layer and total latency and energy of ``--model`` (random weights: only shapes matter)
at uniform 8, 4 and 2 bits and for a kernel-wise example (kernels alternating 3 and 5 bits, activations 4 bits)
with and without kernel grouping, and saves a bar chart and the raw numbers (JSON) into ``--out``. The second
compares the spatial model with every row of the simulator's shipped results
(``../shared/hardware-reference/bitfusion-sim-batch16.csv``), prints and saves the tables of ``docs/hardware.md``
(``validation.md``, the per-row comparison ``reference-rows.csv`` and the scatter ``reference-cycles.png``). The
third prints and saves (``uniform.md``) the latency and energy of uniform 8/6/4/3/2 bits relative to 8 bits.
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from autoq_env.atomic_io import write_json, write_text
from autoq_env.data import DatasetInfo
from autoq_env.hardware import (
    ACCELERATORS,
    BITFUSION_SWEEP,
    PRESETS,
    Accelerator,
    SpatialAccelerator,
    TemporalAccelerator,
    get_accelerator,
    simulator_view,
    uniform_config,
)
from autoq_env.models import CIFAR_RESNETS, TORCHVISION_MODELS, build_model
from autoq_env.workload import LayerSpec, extract_layers
from benchmarks.figures import save_png

DEFAULT_OUT = Path("benchmarks/results/hardware")
KERNEL_WISE = "w3/5 a4"  # kernels alternating 3 and 5 bits, activations 4 bits
# the reference lives beside the repository: ../shared/hardware-reference/ from the repository root
REFERENCE_CSV = Path(__file__).resolve().parents[2] / "shared" / "hardware-reference" / "bitfusion-sim-batch16.csv"
DOC = Path(__file__).resolve().parents[1] / "docs" / "hardware.md"
UNIFORM_MODELS = ("resnet20", "resnet18", "mobilenet_v2")
UNIFORM_BITS = (8, 6, 4, 3, 2)


def build_specs(model_name: str) -> list[LayerSpec]:
    """Layers of ``model_name``: CIFAR-style ResNets on 28x28x1 (Fashion-MNIST), torchvision models on 224x224x3."""
    if model_name in CIFAR_RESNETS:
        info, shape = DatasetInfo("fashion-mnist", 1, 10, 28), (1, 28, 28)
    else:
        info, shape = DatasetInfo("imagenet-folder", 3, 1000, 224), (3, 224, 224)
    return extract_layers(build_model(model_name, info, checkpoint=None), shape)


def configurations(specs: list[LayerSpec]) -> dict[str, dict]:
    """The QBN configurations the report compares, by label."""
    configs = {f"w{bits}a{bits}": uniform_config(specs, bits, bits) for bits in (8, 4, 2)}
    configs[KERNEL_WISE] = {"activation_qbn": [4] * len(specs),
                            "kernel_qbn": [np.where(np.arange(spec.c_out) % 2 == 0, 3, 5) for spec in specs]}
    return configs


def report(specs: list[LayerSpec], accelerator: str, preset: str | None, batch: int) -> dict:
    """Latency and energy per layer and in total for every configuration (grouped, and ungrouped for kernel-wise)."""
    models = {grouped: get_accelerator(accelerator, preset, group_kernels=grouped) for grouped in (True, False)}
    rows: dict[str, dict] = {}
    for label, config in configurations(specs).items():
        variants = {label: models[True]}
        if label == KERNEL_WISE:
            variants = {f"{label} grouped": models[True], f"{label} ungrouped": models[False]}
        for name, model in variants.items():
            layers = [model.layer_cost(spec, kernels, act, batch=batch)
                      for spec, kernels, act in zip(specs, config["kernel_qbn"], config["activation_qbn"])]
            total = model.network_cost(specs, config, batch=batch)
            rows[name] = {"layer_latency_s": [cost.latency_s for cost in layers],
                          "layer_energy_j": [cost.energy_j for cost in layers],
                          "latency_s": total.latency_s, "energy_j": total.energy_j, "breakdown": total.breakdown}
    return rows


def print_report(specs: list[LayerSpec], rows: dict[str, dict], title: str) -> None:
    labels = list(rows)
    for key, unit in (("layer_latency_s", "us"), ("layer_energy_j", "uJ")):
        print(f"\n{title}: {key} in {unit}")
        print(f"{'layer':<28}{'shape':<26}" + "".join(f"{label:>22}" for label in labels))
        for index, spec in enumerate(specs):
            shape = (f"{spec.c_in}->{spec.c_out} k{spec.kernel_size[0]} {spec.out_h}x{spec.out_w}"
                     + (f" g{spec.groups}" if spec.groups > 1 else ""))
            values = "".join(f"{rows[label][key][index] * 1e6:>22.3f}" for label in labels)
            print(f"{spec.name[:27]:<28}{shape:<26}{values}")
    reference = rows["w8a8"]
    print(f"\n{title}: totals (relative to w8a8)")
    for label, row in rows.items():
        shares = "/".join(f"{row['breakdown'][part] / row['energy_j']:.2f}" for part in ("compute", "buffer", "dram"))
        relative = row["latency_s"] / reference["latency_s"]
        print(f"  {label:<22} latency {row['latency_s'] * 1e3:10.4f} ms ({relative:.3f})"
              f"  energy {row['energy_j'] * 1e6:12.3f} uJ ({row['energy_j'] / reference['energy_j']:.3f})"
              f"  compute/buffer/DRAM energy shares {shares}")


def save_chart(specs: list[LayerSpec], rows: dict[str, dict], title: str, path: Path) -> None:
    """Per-layer latency bars and total latency/energy relative to w8a8, as a PNG written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(rows)
    figure, (per_layer, totals) = plt.subplots(2, 1, figsize=(max(8.0, 0.35 * len(specs) + 4), 8))
    width = 0.8 / len(labels)
    for offset, label in enumerate(labels):
        positions = np.arange(len(specs)) + (offset - (len(labels) - 1) / 2) * width
        per_layer.bar(positions, np.array(rows[label]["layer_latency_s"]) * 1e6, width, label=label)
    per_layer.set_yscale("log")
    per_layer.set_ylabel("latency (us)")
    per_layer.set_xticks(np.arange(len(specs)), [str(i) for i in range(len(specs))], fontsize=6)
    per_layer.set_xlabel("layer (forward order)")
    per_layer.legend(fontsize=7, ncol=len(labels))
    per_layer.set_title(title)
    reference = rows["w8a8"]
    positions = np.arange(len(labels))
    totals.bar(positions - 0.2, [rows[label]["latency_s"] / reference["latency_s"] for label in labels], 0.4,
               label="latency")
    totals.bar(positions + 0.2, [rows[label]["energy_j"] / reference["energy_j"] for label in labels], 0.4,
               label="energy")
    totals.set_xticks(positions, labels, fontsize=8)
    totals.set_ylabel("relative to w8a8")
    totals.legend(fontsize=8)
    figure.tight_layout()
    save_png(figure, path)


def _speedup(model: Accelerator, specs: list[LayerSpec], bits: int) -> float:
    return (model.network_cost(specs, uniform_config(specs, 8, 8)).latency_s
            / model.network_cost(specs, uniform_config(specs, bits, bits)).latency_s)


def validation_table() -> str:
    """Model predictions next to published figures, as a Markdown table (regenerate with ``--validate``)."""
    spatial, temporal = SpatialAccelerator(), TemporalAccelerator()
    resnet18 = build_specs("resnet18")
    # a layer that fills the BitFusion array exactly (256 input channels = 16 rows x pf 16 at 2 bits; a 16 x 16 map
    # needs no padding of power-of-two tiles): its MACs per compute cycle is the array's sustained rate
    full = LayerSpec("full", "conv", 256, 256, (3, 3), 1, 1, 16, 16, 16, 16, 256 * 16 * 16 * 256 * 9)
    bismo_8bit = temporal.network_cost(resnet18, uniform_config(resnet18, 8, 8))
    rows = [("BISMO PYNQ-Z1 peak binary ops/s (8x256x8, 200 MHz)", temporal.peak_binary_ops_per_s, 6.5e12,
             "Umuroglu et al. FPL 2018 / TRETS 2019; BISMO README"),
            ("BISMO ResNet-18 speedup w8a8 -> w4a4", _speedup(temporal, resnet18, 4), 4.0,
             "bit-serial cost b_w*b_a (BISMO papers): ideal"),
            ("BISMO ResNet-18 speedup w8a8 -> w2a2", _speedup(temporal, resnet18, 2), 16.0,
             "bit-serial cost b_w*b_a (BISMO papers): ideal"),
            ("BISMO ResNet-18 w8a8 average power (W)", bismo_8bit.energy_j / bismo_8bit.latency_s, 5.0,
             "'under 5 W' on PYNQ-Z1 (BISMO README); model energies are 45 nm ASIC, not FPGA")]
    for weight, activation, published in ((8, 8, 512), (4, 4, 2048), (2, 8, 2048), (2, 2, 8192)):
        cost = spatial.layer_cost(full, weight, activation)
        rows.append((f"BitFusion MACs/cycle w{weight}a{activation} (16x32 FUs)",
                     full.macs / cost.breakdown["compute_cycles"], published,
                     "Sharma et al. ISCA 2018: an FU does 16 / 4 / 1 products at 2b / 4b (or 8b x 2b) / 8b"))
    for bits, ideal in ((4, 4.0), (2, 16.0)):
        rows.append((f"BitFusion ResNet-18 speedup w8a8 -> w{bits}a{bits}", _speedup(spatial, resnet18, bits), ideal,
                     "peak-rate ratio of the FU (Sharma et al. ISCA 2018): ideal"))
    lines = ["| quantity | model | published | model / published | source |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {model:.4g} | {paper:.4g} | {model / paper:.3f} | {source} |"
              for name, model, paper, source in rows]
    return "\n".join(lines) + "\n"


def grouping_table() -> str:
    """What is lost when kernels are not grouped by QBN, as a Markdown table (regenerate with ``--validate``)."""
    lines = ["| model | accelerator | kernel QBNs (activations 4 bits) | latency grouped / ungrouped (rel. to w8a8) "
             "| energy grouped / ungrouped (rel. to w8a8) | ungrouped costs more: latency, energy |",
             "|---|---|---|---|---|---|"]
    rng = np.random.default_rng(0)
    for model_name in ("resnet20", "resnet18"):
        specs = build_specs(model_name)
        patterns = {"alternating 3/5": [np.where(np.arange(spec.c_out) % 2 == 0, 3, 5) for spec in specs],
                    "alternating 2/8": [np.where(np.arange(spec.c_out) % 2 == 0, 2, 8) for spec in specs],
                    "uniform random 2..8 (seed 0)": [rng.integers(2, 9, spec.c_out) for spec in specs]}
        for accelerator in ("temporal", "spatial"):
            grouped, ungrouped = (get_accelerator(accelerator, group_kernels=flag) for flag in (True, False))
            reference = grouped.network_cost(specs, uniform_config(specs, 8, 8))
            for pattern, kernel_qbn in patterns.items():
                config = {"activation_qbn": [4] * len(specs), "kernel_qbn": kernel_qbn}
                best, worst = grouped.network_cost(specs, config), ungrouped.network_cost(specs, config)
                lines.append(
                    f"| {model_name} | {accelerator} | {pattern} "
                    f"| {best.latency_s / reference.latency_s:.3f} / {worst.latency_s / reference.latency_s:.3f} "
                    f"| {best.energy_j / reference.energy_j:.3f} / {worst.energy_j / reference.energy_j:.3f} "
                    f"| {worst.latency_s / best.latency_s - 1:+.1%}, {worst.energy_j / best.energy_j - 1:+.1%} |")
    return "\n".join(lines) + "\n"


def read_reference(path: Path) -> list[dict]:
    """The rows of the simulator's reference CSV, numbers as ints."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for key, value in row.items():
            if value.lstrip("-").isdigit():
                row[key] = int(value)
        row["first_layer"] = row["first_layer"] == "true"
    return rows


def reference_spec(row: dict) -> LayerSpec:
    """A reference row's layer as a ``LayerSpec`` (``fc`` rows: a linear layer on one position)."""
    kind = "conv" if row["kind"] == "conv" else "linear"
    return LayerSpec(row["layer"], kind, row["c_in"], row["c_out"], (row["kernel_h"], row["kernel_w"]), row["stride"],
                     row["groups"], row["in_h"], row["in_w"], row["out_h"], row["out_w"], row["macs"] // row["batch"],
                     reads_network_input=row["first_layer"])


def reference_model(row: dict) -> SpatialAccelerator:
    """The spatial model of the row's configuration, as the simulator runs it (32-bit write-back, raw widths)."""
    preset = BITFUSION_SWEEP[row["config_id"] - 1]
    expected = (row["array_rows_N"], row["array_cols_M"], row["dram_bits_per_cycle"], row["wbuf_bytes"],
                row["ibuf_bytes"], row["obuf_bytes"])
    got = (preset.rows, preset.columns, preset.dram_bits_per_cycle, preset.weight_buffer_bytes,
           preset.input_buffer_bytes, preset.output_buffer_bytes)
    if expected != got:
        raise ValueError(f"preset {preset.name} {got} does not match reference configuration {row['config_id']} "
                         f"{expected}")
    return SpatialAccelerator(simulator_view(preset))


def compare_with_reference(rows: Sequence[dict]) -> list[dict]:
    """Model against simulator on every row: cycles (through ``layer_cost``), stalls and DRAM traffic."""
    models: dict[int, SpatialAccelerator] = {}
    result = []
    for row in rows:
        model = models.setdefault(row["config_id"], reference_model(row))
        cost = model.layer_cost(reference_spec(row), row["weight_bits"], row["act_bits"], batch=row["batch"])
        reference_dram = row["dram_read_bits"] + row["dram_write_bits"]
        result.append({
            "network": row["network"], "layer": row["layer"], "config_id": row["config_id"],
            "first_layer": row["first_layer"], "act_bits": row["act_bits"], "weight_bits": row["weight_bits"],
            "reference_cycles": row["cycles"], "model_cycles": cost.cycles,
            "cycle_error": cost.cycles / row["cycles"] - 1,
            "reference_stall_share": row["memory_wait_cycles"] / row["cycles"],
            "model_stall_share": cost.breakdown["stall_cycles"] / cost.cycles,
            "reference_dram_bits": reference_dram, "model_dram_bits": cost.breakdown["dram_bits"],
            "dram_error": cost.breakdown["dram_bits"] / reference_dram - 1})
    return result


def _percent(value: float) -> str:
    return f"{value:+.2%}"


def reference_tables(comparison: Sequence[dict]) -> str:
    """Markdown: median and worst error per network and configuration, then per configuration."""
    lines = ["| network | config | layers | median cycle error | worst cycle error | stall share simulator / model "
             "| median DRAM error | worst DRAM error |", "|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple, list[dict]] = {}
    for row in sorted(comparison, key=lambda r: r["config_id"]):
        groups.setdefault((row["config_id"], row["network"]), []).append(row)
    for config in sorted({row["config_id"] for row in comparison}):
        groups[(config, "all")] = [row for row in comparison if row["config_id"] == config]
    for config, network in sorted(groups, key=lambda key: (key[0], key[1] == "all")):
        rows = groups[(config, network)]
        cycles, dram = [r["cycle_error"] for r in rows], [r["dram_error"] for r in rows]
        reference = sum(r["reference_stall_share"] * r["reference_cycles"] for r in rows) / sum(
            r["reference_cycles"] for r in rows)
        model = sum(r["model_stall_share"] * r["model_cycles"] for r in rows) / sum(r["model_cycles"] for r in rows)
        lines.append(f"| {'**all**' if network == 'all' else network} | {config} | {len(rows)} "
                     f"| {_percent(statistics.median(cycles))} | {_percent(max(cycles, key=abs))} "
                     f"| {reference:.1%} / {model:.1%} | {_percent(statistics.median(dram))} "
                     f"| {_percent(max(dram, key=abs))} |")
    return "\n".join(lines) + "\n"


def comparison_csv(comparison: Sequence[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(comparison[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(comparison)
    return buffer.getvalue()


def save_scatter(comparison: Sequence[dict], path: Path) -> None:
    """Log-log scatter of model against simulator cycles, one colour per configuration, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 6))
    for config in sorted({row["config_id"] for row in comparison}):
        rows = [row for row in comparison if row["config_id"] == config]
        axes.scatter([r["reference_cycles"] for r in rows], [r["model_cycles"] for r in rows], s=14, alpha=0.7,
                     label=f"config {config} ({BITFUSION_SWEEP[config - 1].name})")
    low = min(min(r["reference_cycles"], r["model_cycles"]) for r in comparison) / 2
    high = max(max(r["reference_cycles"], r["model_cycles"]) for r in comparison) * 2
    axes.plot([low, high], [low, high], color="black", linewidth=0.8, label="model = simulator")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("BitFusion simulator cycles (batch 16)")
    axes.set_ylabel("model cycles")
    axes.set_title(f"{len(comparison)} layers of the simulator's shipped results")
    axes.legend(fontsize=7)
    figure.tight_layout()
    save_png(figure, path)


def uniform_table() -> str:
    """Markdown: latency and energy of uniform 8/6/4/3/2 bits relative to uniform 8 bits (default presets,
    requantized outputs), per model, batch and accelerator."""
    header = " / ".join(str(b) for b in UNIFORM_BITS)
    lines = [f"| model | batch | accelerator (preset) | latency at {header} bits | energy at {header} bits |",
             "|---|---|---|---|---|"]
    for model_name in UNIFORM_MODELS:
        specs = build_specs(model_name)
        for batch in (1, 16):
            for accelerator in ("temporal", "spatial"):
                model = get_accelerator(accelerator)
                costs = [model.network_cost(specs, uniform_config(specs, b, b), batch=batch) for b in UNIFORM_BITS]
                latency = " / ".join(f"{c.latency_s / costs[0].latency_s:.3f}" for c in costs)
                energy = " / ".join(f"{c.energy_j / costs[0].energy_j:.3f}" for c in costs)
                lines.append(f"| {model_name} | {batch} | {accelerator} ({model.preset.name}) | {latency} | {energy} |")
    return "\n".join(lines) + "\n"


def update_doc_section(name: str, text: str, doc: Path = DOC) -> bool:
    """Replace what lies between ``<!-- name:begin -->`` and ``<!-- name:end -->`` in ``doc`` (atomically)."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if not doc.exists():
        return False
    current = doc.read_text()
    if current.count(begin) != 1 or current.count(end) != 1:
        return False
    head, rest = current.split(begin)
    write_text(doc, head + begin + "\n" + text + rest[rest.index(end):])
    return True


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hardware", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet20", choices=(*CIFAR_RESNETS, *TORCHVISION_MODELS))
    parser.add_argument("--accelerator", default="temporal", choices=ACCELERATORS)
    parser.add_argument("--preset", default=None, help="preset name; allowed per accelerator: " + "; ".join(
        f"{name}: {', '.join(presets)}" for name, presets in PRESETS.items()))
    parser.add_argument("--batch", type=positive_int, default=1, help="images per inference (default 1)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--validate", action="store_true",
                        help="compare with the BitFusion simulator's results and published figures instead")
    parser.add_argument("--uniform-table", action="store_true",
                        help="print and save uniform 8/6/4/3/2-bit latency and energy relative to 8 bits instead")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} exists and is not a folder")
    if args.validate:
        if not REFERENCE_CSV.exists():
            parser.error(f"the BitFusion reference data is not at {REFERENCE_CSV}")
        comparison = compare_with_reference(read_reference(REFERENCE_CSV))
        table = ("### Against the BitFusion simulator\n\n" + reference_tables(comparison)
                 + "\n### Against published figures\n\n" + validation_table()
                 + "\n### What grouping saves\n\n" + grouping_table())
        print(table, end="")
        write_text(args.out / "validation.md", table)
        write_text(args.out / "reference-rows.csv", comparison_csv(comparison))
        save_scatter(comparison, args.out / "reference-cycles.png")
        print(f"saved {args.out / 'validation.md'}, {args.out / 'reference-rows.csv'} and "
              f"{args.out / 'reference-cycles.png'}")
        if update_doc_section("validation", table):
            print(f"updated {DOC}")
        return
    if args.uniform_table:
        table = uniform_table()
        print(table, end="")
        write_text(args.out / "uniform.md", table)
        print(f"saved {args.out / 'uniform.md'}")
        if update_doc_section("uniform", table):
            print(f"updated {DOC}")
        return
    try:
        preset = get_accelerator(args.accelerator, args.preset).preset.name
    except ValueError as error:
        parser.error(str(error))

    specs = build_specs(args.model)
    title = f"{args.model} on {args.accelerator} ({preset}), batch {args.batch}"
    rows = report(specs, args.accelerator, preset, args.batch)
    print_report(specs, rows, title)
    stem = args.out / f"{args.model}-{args.accelerator}-{preset}-b{args.batch}"
    save_chart(specs, rows, title, stem.with_suffix(".png"))
    write_json(stem.with_suffix(".json"), {"model": args.model, "accelerator": args.accelerator, "preset": preset,
                                           "batch": args.batch, "layers": [spec.name for spec in specs],
                                           "results": rows})
    print(f"\nsaved {stem.with_suffix('.png')} and {stem.with_suffix('.json')}")


if __name__ == "__main__":
    main()
