"""Analytical latency and energy models of quantized-CNN accelerators.

``get_accelerator(name)`` returns one of ``ACCELERATORS``: ``"temporal"`` (BISMO-style bit-serial),
``"spatial"`` (BitFusion-style bit-fusible) or ``"bitops"`` (a bit-operation proxy). Each costs a layer
(``layer_cost``) or a network (``network_cost``) for per-kernel weight QBNs and per-layer activation QBNs, given
``LayerSpec``s from ``autoq_env.workload.extract_layers``; a layer's output is written at the activation QBN of the
layers that read it (presets' ``requantize_outputs``). Formulas and sources: ``docs/hardware.md``.
"""

from __future__ import annotations

from autoq_env.hardware.base import (
    MAX_QBN,
    MIN_QBN,
    PARTIAL_SUM_BITS,
    Accelerator,
    Cost,
    TiledAccelerator,
    output_qbns,
    uniform_config,
)
from autoq_env.hardware.bitops import BitopsAccelerator
from autoq_env.hardware.presets import (
    BISMO_PYNQ_Z1,
    BISMO_ULTRA96,
    BITFUSION_EYERISS,
    BITFUSION_SWEEP,
    BITOPS_NOMINAL,
    BITOPS_PRESETS,
    HOROWITZ_45NM,
    SPATIAL_PRESETS,
    TEMPORAL_PRESETS,
    ArrayPreset,
    BismoPreset,
    BitFusionPreset,
    BitopsPreset,
    Horowitz45nm,
    simulator_view,
)
from autoq_env.hardware.spatial import SpatialAccelerator
from autoq_env.hardware.temporal import TemporalAccelerator

ACCELERATORS = ("temporal", "spatial", "bitops")
ACCELERATOR_CLASSES: dict[str, type[Accelerator]] = {
    "temporal": TemporalAccelerator, "spatial": SpatialAccelerator, "bitops": BitopsAccelerator}
PRESETS: dict[str, dict[str, object]] = {
    "temporal": TEMPORAL_PRESETS, "spatial": SPATIAL_PRESETS, "bitops": BITOPS_PRESETS}


def get_accelerator(name: str, preset: str | object | None = None, group_kernels: bool = True) -> Accelerator:
    """Build an accelerator model.

    :param name: one of ``ACCELERATORS``.
    :param preset: a preset name from ``PRESETS[name]``, a preset object of the right type, or ``None`` for the
        default (``bismo-pynq``, ``bitfusion-eyeriss``, ``nominal``).
    :param group_kernels: let the compiler group kernels of equal QBN into the same tiles (see ``docs/hardware.md``).
    """
    if name not in ACCELERATOR_CLASSES:
        raise ValueError(f"unknown accelerator {name!r}; allowed: {', '.join(ACCELERATORS)}")
    cls = ACCELERATOR_CLASSES[name]
    if preset is None:
        return cls(group_kernels=group_kernels)
    if isinstance(preset, str):
        if preset not in PRESETS[name]:
            raise ValueError(f"unknown preset {preset!r} for accelerator {name!r}; allowed: "
                             f"{', '.join(PRESETS[name])}")
        preset = PRESETS[name][preset]
    return cls(preset, group_kernels=group_kernels)


__all__ = [
    "ACCELERATORS", "ACCELERATOR_CLASSES", "BISMO_PYNQ_Z1", "BISMO_ULTRA96", "BITFUSION_EYERISS", "BITFUSION_SWEEP",
    "BITOPS_NOMINAL", "BITOPS_PRESETS", "HOROWITZ_45NM", "MAX_QBN", "MIN_QBN", "PARTIAL_SUM_BITS", "PRESETS",
    "SPATIAL_PRESETS", "TEMPORAL_PRESETS", "Accelerator", "ArrayPreset", "BismoPreset", "BitFusionPreset",
    "BitopsAccelerator", "BitopsPreset", "Cost", "Horowitz45nm", "SpatialAccelerator", "TemporalAccelerator",
    "TiledAccelerator", "get_accelerator", "output_qbns", "simulator_view", "uniform_config",
]
