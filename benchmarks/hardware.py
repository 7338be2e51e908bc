"""What the accelerator models predict for a network, layer by layer, and how they compare with published figures.

    python -m benchmarks.hardware --model resnet18 --accelerator spatial [--preset P] [--batch B] [--out DIR]
    python -m benchmarks.hardware --validate [--out DIR]

The first form prints per-layer and total latency and energy of ``--model`` (random weights: only shapes matter)
at uniform 8, 4 and 2 bits and for a kernel-wise example (kernels alternating 3 and 5 bits, activations 4 bits)
with and without kernel grouping, and saves a bar chart and the raw numbers (JSON) into ``--out``. The second
prints the model-vs-paper table and the grouped-vs-ungrouped table of ``docs/hardware.md`` and saves them as
``validation.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from autoq_env.atomic_io import write_json, write_text
from autoq_env.data import DatasetInfo
from autoq_env.hardware import (
    ACCELERATORS,
    PRESETS,
    Accelerator,
    SpatialAccelerator,
    TemporalAccelerator,
    get_accelerator,
    uniform_config,
)
from autoq_env.models import CIFAR_RESNETS, TORCHVISION_MODELS, build_model
from autoq_env.workload import LayerSpec, extract_layers
from benchmarks.figures import save_png

DEFAULT_OUT = Path("benchmarks/results/hardware")
KERNEL_WISE = "w3/5 a4"  # kernels alternating 3 and 5 bits, activations 4 bits


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
    # a layer that fills the BitFusion array exactly (256 input channels = 16 rows x pf 16 at 2 bits) and is
    # compute bound at every precision: its MACs per compute cycle is the array's sustained rate
    full = LayerSpec("full", "conv", 256, 256, (3, 3), 1, 1, 14, 14, 14, 14, 256 * 14 * 14 * 256 * 9)
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
    parser.add_argument("--validate", action="store_true", help="print and save the model-vs-paper table instead")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} exists and is not a folder")
    if args.validate:
        table = validation_table() + "\n" + grouping_table()
        print(table, end="")
        write_text(args.out / "validation.md", table)
        print(f"saved {args.out / 'validation.md'}")
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
