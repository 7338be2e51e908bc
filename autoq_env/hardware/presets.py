"""Every number the accelerator models use, each with its source. Nothing else in the package hard-codes one.

Units are in the field names: ``_hz``, ``_bytes``, ``_bits``, ``_pj`` (picojoules). A preset is a frozen
dataclass, so a user can describe another build with ``dataclasses.replace(BITFUSION_EYERISS, ...)`` and pass it
to ``get_accelerator``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Horowitz45nm:
    """Energy per operation at 45 nm (M. Horowitz, "Computing's energy problem", ISSCC 2014)."""

    add_8bit_pj: float
    add_32bit_pj: float
    mult_8bit_pj: float
    sram_read_8kb_pj_per_64bit: float
    sram_read_32kb_pj_per_64bit: float
    dram_low_pj_per_64bit: float
    dram_high_pj_per_64bit: float
    source: str


HOROWITZ_45NM = Horowitz45nm(
    add_8bit_pj=0.03,
    add_32bit_pj=0.1,
    mult_8bit_pj=0.2,
    sram_read_8kb_pj_per_64bit=10.0,
    sram_read_32kb_pj_per_64bit=20.0,
    dram_low_pj_per_64bit=1300.0,
    dram_high_pj_per_64bit=2600.0,
    source="M. Horowitz, 'Computing's energy problem (and what we can do about it)', ISSCC 2014, 45 nm table: "
           "8b add 0.03 pJ, 32b add 0.1 pJ, 8b mult 0.2 pJ; 64-bit SRAM read 10 pJ (8 KB), 20 pJ (32 KB); "
           "DRAM 1.3-2.6 nJ per 64 bits",
)


def _check_fields(preset: object, positive_ints: tuple[str, ...], positive_floats: tuple[str, ...],
                  non_negative_floats: tuple[str, ...]) -> None:
    """Raise ``ValueError`` naming the field and its allowed range for any field out of range."""
    kind = type(preset).__name__
    for name in positive_ints:
        value = getattr(preset, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{kind} {preset.name!r}: {name} must be an integer >= 1, got {value!r}")
    for name, low_ok in [(n, False) for n in positive_floats] + [(n, True) for n in non_negative_floats]:
        value = getattr(preset, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or value < 0 or (value == 0 and not low_ok):
            raise ValueError(f"{kind} {preset.name!r}: {name} must be a finite number "
                             f"{'>= 0' if low_ok else '> 0'}, got {value!r}")
    for name in ("requantize_outputs", "widen_when_cheaper"):
        if not isinstance(getattr(preset, name), bool):
            raise ValueError(f"{kind} {preset.name!r}: {name} must be True or False, got {getattr(preset, name)!r}")


@dataclass(frozen=True)
class ArrayPreset:
    """What every tiled-array model needs: clock, DRAM, energies and how outputs are written back.

    ``requantize_outputs=True`` (default): each layer's output leaves the chip at the activation QBN of the layer(s)
    that read it, the network's last layer at 32 bits. ``False``: 32-bit write-back, as both public simulators do
    (used to validate against them). ``widen_when_cheaper=True`` (default): the compiler may run an operand or an
    output wider than its QBN when that is cheaper (keeps every cost monotone in every QBN); ``False``: exactly the
    simulator's choice at each width.
    """

    name: str
    frequency_hz: float
    dram_bits_per_cycle: int
    array_pj_per_cycle: float  # energy of one busy cycle of the whole compute array
    weight_buffer_read_pj_per_bit: float
    weight_buffer_write_pj_per_bit: float
    input_buffer_read_pj_per_bit: float
    input_buffer_write_pj_per_bit: float
    output_buffer_read_pj_per_bit: float
    output_buffer_write_pj_per_bit: float
    dram_pj_per_bit: float
    source: str
    requantize_outputs: bool
    widen_when_cheaper: bool  # the compiler may run an operand or output at a wider width when that costs less

    _ENERGIES = ("weight_buffer_read_pj_per_bit", "weight_buffer_write_pj_per_bit", "input_buffer_read_pj_per_bit",
                 "input_buffer_write_pj_per_bit", "output_buffer_read_pj_per_bit", "output_buffer_write_pj_per_bit",
                 "dram_pj_per_bit", "array_pj_per_cycle")


@dataclass(frozen=True)
class BitFusionPreset(ArrayPreset):
    """A BitFusion array: ``rows x columns`` Fusion Units of 2-bit BitBricks, as the public simulator models it.

    ``store_at_fused_width=True`` (default): operands are stored and moved at their fused width (2, 4 or 8 bits,
    the widths BitFusion computes at); ``False``: at their QBN, as the simulator counts traffic.
    """

    rows: int  # N: reduction (input-channel) side
    columns: int  # M: output channels
    brick_bits: int  # narrowest width the bricks compute at (pmin)
    max_bits: int  # widest fused width (pmax)
    weight_buffer_bytes: int
    input_buffer_bytes: int
    output_buffer_bytes: int
    store_at_fused_width: bool

    def __post_init__(self) -> None:
        _check_fields(self, ("dram_bits_per_cycle", "rows", "columns", "brick_bits", "max_bits",
                             "weight_buffer_bytes", "input_buffer_bytes", "output_buffer_bytes"),
                      ("frequency_hz",), self._ENERGIES)
        if self.max_bits % self.brick_bits or (self.max_bits // self.brick_bits) & (self.max_bits // self.brick_bits
                                                                                     - 1):
            raise ValueError(f"BitFusionPreset {self.name!r}: max_bits must be brick_bits times a power of two, got "
                             f"brick_bits={self.brick_bits}, max_bits={self.max_bits}")


@dataclass(frozen=True)
class BismoPreset(ArrayPreset):
    """A BISMO overlay: a ``dm x dk x dn`` dot-product array of binary (AND + popcount) units fed by ``dm`` left-hand
    and ``dn`` right-hand memories of ``lmem`` / ``rmem`` entries of ``dk`` bits each."""

    dm: int  # rows of the left-hand (weight) matrix per cycle = output channels processed at once
    dk: int  # bits of the reduction dimension per dot-product unit and cycle
    dn: int  # columns of the right-hand (activation) matrix per cycle = output pixels processed at once
    lmem_entries: int
    rmem_entries: int
    exec_overhead_cycles: int  # cycles each execute instruction adds to its tiles_k cycles (issue)
    exec_drain_cycles: int  # execute pipeline depth, waited out before each result tile is written

    def __post_init__(self) -> None:
        _check_fields(self, ("dram_bits_per_cycle", "dm", "dk", "dn", "lmem_entries", "rmem_entries"),
                      ("frequency_hz",), self._ENERGIES)
        for name in ("exec_overhead_cycles", "exec_drain_cycles"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"BismoPreset {self.name!r}: {name} must be an integer >= 0, got {value!r}")
        if self.lmem_entries < 2 or self.rmem_entries < 2:
            raise ValueError(f"BismoPreset {self.name!r}: lmem_entries and rmem_entries must be >= 2 (two regions "
                             f"for double buffering), got {self.lmem_entries} and {self.rmem_entries}")


@dataclass(frozen=True)
class BitopsPreset:
    """The BitOPs proxy: a nominal rate and energy per bit-operation (one bit of weight times one of activation)."""

    name: str
    bitops_per_s: float
    pj_per_bitop: float
    source: str


_BITFUSION_SOURCE = (
    "H. Sharma et al., 'Bit Fusion: Bit-Level Dynamically Composable Architecture for Accelerating Deep Neural "
    "Networks', ISCA 2018, and its public simulator (github.com/hsharma35/bitfusion, commit 04ec1c8): bf_e_conf.ini, "
    "the iso-area-with-Eyeriss build: a=16 rows x c=32 columns of Fusion Units, frequency 500 MHz, Wgt_SRAM 65536 B, "
    "Act_SRAM 32768 B, Out_SRAM 16384 B, if_width 192 bits, high_prec 8 / low_prec 2 bits; half of each SRAM per "
    "tile (double buffering) and 32-bit partial sums (optimizer.py). Configurations 2-5 from "
    "bitfusion-generate-graphs.ipynb: M and all three buffers of config 1 times 1, 2, 4, 8 with a 4096-bit "
    "interface. 45 nm energies as summarised in the AutoQ design guide section 5: array 235.1 pJ/cycle for 16x32 "
    "FUs (scaled with the number of FUs for the wider configurations, as the simulator scales its synthesis "
    "figures); SRAM read/write pJ per bit: weights 0.021/0.029, inputs 0.059/0.114, outputs 0.033/0.073 (the same "
    "per-bit figures for every configuration: ASSUMED); DRAM 15 pJ/bit (stats.py dram_cost)."
)
_BITFUSION_SRAM_PJ = dict(weight_buffer_read_pj_per_bit=0.021, weight_buffer_write_pj_per_bit=0.029,
                          input_buffer_read_pj_per_bit=0.059, input_buffer_write_pj_per_bit=0.114,
                          output_buffer_read_pj_per_bit=0.033, output_buffer_write_pj_per_bit=0.073)


def _bitfusion(name: str, scale: int, dram_bits_per_cycle: int) -> BitFusionPreset:
    """Config 1 (``scale=1``, 192-bit interface) or configs 2-5: columns and every buffer times ``scale``."""
    return BitFusionPreset(
        name=name, frequency_hz=500e6, dram_bits_per_cycle=dram_bits_per_cycle, array_pj_per_cycle=235.1 * scale,
        **_BITFUSION_SRAM_PJ, dram_pj_per_bit=15.0, source=_BITFUSION_SOURCE, requantize_outputs=True,
        widen_when_cheaper=True,
        rows=16, columns=32 * scale, brick_bits=2, max_bits=8, weight_buffer_bytes=65536 * scale,
        input_buffer_bytes=32768 * scale, output_buffer_bytes=16384 * scale, store_at_fused_width=True)


BITFUSION_EYERISS = _bitfusion("bitfusion-eyeriss", 1, 192)  # reference config 1
BITFUSION_SWEEP = (BITFUSION_EYERISS, _bitfusion("bitfusion-m32-if4096", 1, 4096),
                   _bitfusion("bitfusion-m64-if4096", 2, 4096), _bitfusion("bitfusion-m128-if4096", 4, 4096),
                   _bitfusion("bitfusion-m256-if4096", 8, 4096))  # reference configs 1-5, in order


def simulator_view(preset: BitFusionPreset) -> BitFusionPreset:
    """``preset`` as the public simulator runs it: 32-bit write-back, traffic at each operand's QBN, and at each width
    exactly the schedule its search picks."""
    return replace(preset, name=preset.name + "-simulator", requantize_outputs=False, store_at_fused_width=False,
                   widen_when_cheaper=False)


# BISMO. Array energy per busy cycle: each of the dm*dn dot-product units ANDs dk bit pairs, popcounts them (about dk
# full-adder bits; a full-adder bit is costed as 1/8 of Horowitz's 8-bit add) and shift-accumulates the count into a
# 32-bit accumulator (one 32-bit add). Each left/right memory holds lmem = 1024 entries of dk = 256 bits = 32 KiB,
# costed at Horowitz's 32 KB SRAM read energy; the small result buffer at the 8 KB one.
_BISMO_SOURCE = (
    "Y. Umuroglu, L. Rasnayake, M. Sjalander, 'BISMO: A Scalable Bit-Serial Matrix Multiplication Overlay for "
    "Reconfigurable Computing', FPL 2018, and Umuroglu et al., 'Optimizing Bit-Serial Matrix Multiplication for "
    "Reconfigurable Computing', ACM TRETS 2019: PYNQ-Z1 build Dm x Dk x Dn = 8x256x8 at 200 MHz (6.5 binary TOPS), "
    "Ultra96 build 10x256x10 at 300 MHz. Public code (github.com/EECS-NTNU/bismo): Makefile defaults LMEM ?= 1024 "
    "and RMEM ?= 1024 entries of Dk bits per memory (one memory per row of Dm / Dn): Dm * LMEM * Dk / 8 bytes per "
    "side, ASSUMED for both builds; hls/FetchInstrGen.cpp: per right-hand tile one fetch of bits_r * tiles_k * "
    "Dn*Dk/8 bytes, then per left-hand tile bits_l * tiles_k * Dm*Dk/8 bytes, each memory split into two regions "
    "(nbufs_fetch_exec = 2); hls/ExecInstrGen.cpp: one execute instruction of tiles_k cycles per bit-plane pair and "
    "result tile; ResultStage writes Dm x Dn 32-bit accumulators (accWidth = 32); doc/platforms.md: 64-bit AXI HP "
    "port (one 8-byte beat per cycle ASSUMED, also for Ultra96). Execute timing: 1 cycle to issue each instruction "
    "(ASSUMED), and before each result tile is written the execute pipeline drains, ExecStageParams.getLatency() = "
    "3 BRAM cycles + DotProductArray latency (1 + DPU ~5 + popcount ~2), about 11 cycles: ESTIMATED from the Chisel "
    "parameters, not measured. Energies are NOT measured on the "
    "FPGA: they are 45 nm ASIC estimates from Horowitz ISSCC 2014 (array: dm*dn*(dk*add8/8 + add32) per busy cycle; "
    "left/right memories at the 32 KB SRAM figure, writes ASSUMED equal to reads; result buffer at the 8 KB figure; "
    "DRAM at the midpoint of 1.3-2.6 nJ per 64 bits)."
)


def _bismo(name: str, dm: int, dn: int, frequency_hz: float) -> BismoPreset:
    dk = 256
    sram_32kb = HOROWITZ_45NM.sram_read_32kb_pj_per_64bit / 64
    return BismoPreset(
        name=name, frequency_hz=frequency_hz, dram_bits_per_cycle=64,
        array_pj_per_cycle=dm * dn * (dk * HOROWITZ_45NM.add_8bit_pj / 8 + HOROWITZ_45NM.add_32bit_pj),
        weight_buffer_read_pj_per_bit=sram_32kb, weight_buffer_write_pj_per_bit=sram_32kb,
        input_buffer_read_pj_per_bit=sram_32kb, input_buffer_write_pj_per_bit=sram_32kb,
        output_buffer_read_pj_per_bit=HOROWITZ_45NM.sram_read_8kb_pj_per_64bit / 64,
        output_buffer_write_pj_per_bit=HOROWITZ_45NM.sram_read_8kb_pj_per_64bit / 64,
        dram_pj_per_bit=(HOROWITZ_45NM.dram_low_pj_per_64bit + HOROWITZ_45NM.dram_high_pj_per_64bit) / 2 / 64,
        source=_BISMO_SOURCE, requantize_outputs=True, widen_when_cheaper=True, dm=dm, dk=dk, dn=dn,
        lmem_entries=1024, rmem_entries=1024, exec_overhead_cycles=1, exec_drain_cycles=11)


BISMO_PYNQ_Z1 = _bismo("bismo-pynq", 8, 8, 200e6)
BISMO_ULTRA96 = _bismo("bismo-ultra96", 10, 10, 300e6)

# The proxy runs at the binary peak of the BISMO PYNQ-Z1 array (dm*dk*dn one-bit multiply-accumulates per cycle at
# 200 MHz, no padding, no memory) and costs one 1-bit product as 1/64 of Horowitz's 8-bit multiply.
BITOPS_NOMINAL = BitopsPreset(
    name="nominal",
    bitops_per_s=BISMO_PYNQ_Z1.dm * BISMO_PYNQ_Z1.dk * BISMO_PYNQ_Z1.dn * BISMO_PYNQ_Z1.frequency_hz,
    pj_per_bitop=HOROWITZ_45NM.mult_8bit_pj / 64,
    source="Nominal constants: rate = BISMO PYNQ-Z1 binary peak (8*256*8 bit-MACs per cycle at 200 MHz, "
           "Umuroglu et al. TRETS 2019); energy = Horowitz ISSCC 2014 8-bit multiply 0.2 pJ / 64 bit products. "
           "Only ratios between configurations are meaningful.",
)

SPATIAL_PRESETS: dict[str, BitFusionPreset] = {preset.name: preset for preset in BITFUSION_SWEEP}
TEMPORAL_PRESETS: dict[str, BismoPreset] = {preset.name: preset for preset in (BISMO_PYNQ_Z1, BISMO_ULTRA96)}
BITOPS_PRESETS: dict[str, BitopsPreset] = {BITOPS_NOMINAL.name: BITOPS_NOMINAL}
