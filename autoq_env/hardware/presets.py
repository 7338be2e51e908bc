"""Every number the accelerator models use, each with its source. Nothing else in the package hard-codes one.

Units are in the field names: ``_hz``, ``_bytes``, ``_bits``, ``_pj`` (picojoules). A preset is a frozen
dataclass, so a user can describe another build with ``dataclasses.replace(BITFUSION_EYERISS, ...)`` and pass it
to ``get_accelerator``.
"""

from __future__ import annotations

from dataclasses import dataclass


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


@dataclass(frozen=True)
class ArrayPreset:
    """What the shared tiled-array model (``TiledAccelerator``) needs: clock, buffers, DRAM and energies."""

    name: str
    frequency_hz: float
    weight_buffer_bytes: int
    input_buffer_bytes: int
    usable_buffer_fraction: float  # share of a buffer one tile may fill (the rest is the double buffer)
    dram_bits_per_cycle: int
    output_bits: int  # width at which outputs (partial sums) are written to the output buffer and to DRAM
    array_pj_per_cycle: float  # energy of one busy cycle of the whole compute array
    weight_buffer_read_pj_per_bit: float
    weight_buffer_write_pj_per_bit: float
    input_buffer_read_pj_per_bit: float
    input_buffer_write_pj_per_bit: float
    output_buffer_read_pj_per_bit: float
    output_buffer_write_pj_per_bit: float
    dram_pj_per_bit: float
    source: str


@dataclass(frozen=True)
class BitFusionPreset(ArrayPreset):
    """A BitFusion array: ``rows x columns`` Fusion Units of ``bricks_per_unit`` ``brick_bits``-bit BitBricks."""

    rows: int  # reduction (input-channel) dimension
    columns: int  # output channels
    brick_bits: int
    max_bits: int


@dataclass(frozen=True)
class BismoPreset(ArrayPreset):
    """A BISMO overlay: a ``dm x dk x dn`` dot-product array of binary (AND + popcount) units."""

    dm: int  # rows of the left-hand (activation) matrix processed at once
    dk: int  # bits of the reduction dimension per dot-product unit and cycle
    dn: int  # columns of the right-hand (weight) matrix = output channels processed at once


@dataclass(frozen=True)
class BitopsPreset:
    """The BitOPs proxy: a nominal rate and energy per bit-operation (one bit of weight times one of activation)."""

    name: str
    bitops_per_s: float
    pj_per_bitop: float
    source: str


_BITFUSION_SOURCE = (
    "H. Sharma et al., 'Bit Fusion: Bit-Level Dynamically Composable Architecture for Accelerating Deep Neural "
    "Networks', ISCA 2018, and its public simulator (github.com/hsharma35/bitfusion): bf_e_conf.ini, the "
    "iso-area-with-Eyeriss build: a=16 rows x c=32 columns of Fusion Units, frequency 500 MHz, Wgt_SRAM 65536 B, "
    "Act_SRAM 32768 B, Out_SRAM 16384 B, if_width 192 bits, high_prec 8 / low_prec 2 bits; simulator.py uses half "
    "of each SRAM per tile ('assuming double buffering') and 32-bit outputs (oprec = 32). 45 nm energies as "
    "summarised in the AutoQ design guide section 5: array 235.1 pJ/cycle; SRAM read/write pJ per bit: weights "
    "0.021/0.029, inputs 0.059/0.114, outputs 0.033/0.073; DRAM 15 pJ/bit. The 16 KB output buffer's capacity is "
    "not a model input: outputs stream out as each output-stationary tile finishes."
)

BITFUSION_EYERISS = BitFusionPreset(
    name="bitfusion-eyeriss",
    frequency_hz=500e6,
    weight_buffer_bytes=64 * 1024,
    input_buffer_bytes=32 * 1024,
    usable_buffer_fraction=0.5,
    dram_bits_per_cycle=192,
    output_bits=32,
    array_pj_per_cycle=235.1,
    weight_buffer_read_pj_per_bit=0.021,
    weight_buffer_write_pj_per_bit=0.029,
    input_buffer_read_pj_per_bit=0.059,
    input_buffer_write_pj_per_bit=0.114,
    output_buffer_read_pj_per_bit=0.033,
    output_buffer_write_pj_per_bit=0.073,
    dram_pj_per_bit=15.0,
    rows=16,
    columns=32,
    brick_bits=2,
    max_bits=8,
    source=_BITFUSION_SOURCE,
)

# BISMO PYNQ-Z1 build. One dot-product unit per cycle ANDs dk bit pairs, popcounts them (about dk full-adder
# bits; a full-adder bit is costed as 1/8 of Horowitz's 8-bit add) and shift-accumulates the count into a 32-bit
# accumulator (one 32-bit add). Each of the dm (dn) activation (weight) memories is lmem = 1024 entries of dk bits
# = 32 KiB, so it is costed at Horowitz's 32 KB SRAM read energy; the small result buffer at the 8 KB one.
_BISMO_DM, _BISMO_DK, _BISMO_DN, _BISMO_MEMORY_DEPTH = 8, 256, 8, 1024
_BISMO_SOURCE = (
    "Y. Umuroglu, L. Rasnayake, M. Sjalander, 'BISMO: A Scalable Bit-Serial Matrix Multiplication Overlay for "
    "Reconfigurable Computing', FPL 2018, and Umuroglu et al., 'Optimizing Bit-Serial Matrix Multiplication for "
    "Reconfigurable Computing', ACM TRETS 2019: PYNQ-Z1 build Dm x Dk x Dn = 8x256x8 at 200 MHz, 6.5 binary TOPS. "
    "Buffer depth and memory port from the public code (github.com/EECS-NTNU/bismo): "
    "Makefile defaults LMEM ?= 1024 and RMEM ?= 1024 entries of Dk bits per activation/weight memory (one memory "
    "per row of Dm, Dn), ASSUMED for the 8x256x8 build: 8 x 1024 x 256 bits = 256 KiB each, 512 KiB in all, which "
    "fits the xc7z020's 630 KB of BRAM; doc/platforms.md 'PYNQZ1: uses 64-bit AXI HP0 port' (64 bits per "
    "200 MHz cycle, ASSUMED one beat per cycle); ResultStage writes 32-bit accumulators (accWidth = 32). Energies are "
    "NOT measured on the FPGA: they are 45 nm ASIC estimates from Horowitz ISSCC 2014 (array: dm*dn*(dk*add8/8 + "
    "add32) per cycle; activation/weight memories at the 32 KB SRAM figure, writes ASSUMED equal to reads; result "
    "buffer at the 8 KB figure; DRAM at the midpoint of 1.3-2.6 nJ per 64 bits). Half of each buffer per tile "
    "(double buffering) as in the BitFusion simulator."
)

BISMO_PYNQ_Z1 = BismoPreset(
    name="bismo-pynq",
    frequency_hz=200e6,
    weight_buffer_bytes=_BISMO_DN * _BISMO_MEMORY_DEPTH * _BISMO_DK // 8,
    input_buffer_bytes=_BISMO_DM * _BISMO_MEMORY_DEPTH * _BISMO_DK // 8,
    usable_buffer_fraction=0.5,
    dram_bits_per_cycle=64,
    output_bits=32,
    array_pj_per_cycle=_BISMO_DM * _BISMO_DN * (_BISMO_DK * HOROWITZ_45NM.add_8bit_pj / 8
                                                + HOROWITZ_45NM.add_32bit_pj),
    weight_buffer_read_pj_per_bit=HOROWITZ_45NM.sram_read_32kb_pj_per_64bit / 64,
    weight_buffer_write_pj_per_bit=HOROWITZ_45NM.sram_read_32kb_pj_per_64bit / 64,
    input_buffer_read_pj_per_bit=HOROWITZ_45NM.sram_read_32kb_pj_per_64bit / 64,
    input_buffer_write_pj_per_bit=HOROWITZ_45NM.sram_read_32kb_pj_per_64bit / 64,
    output_buffer_read_pj_per_bit=HOROWITZ_45NM.sram_read_8kb_pj_per_64bit / 64,
    output_buffer_write_pj_per_bit=HOROWITZ_45NM.sram_read_8kb_pj_per_64bit / 64,
    dram_pj_per_bit=(HOROWITZ_45NM.dram_low_pj_per_64bit + HOROWITZ_45NM.dram_high_pj_per_64bit) / 2 / 64,
    dm=_BISMO_DM,
    dk=_BISMO_DK,
    dn=_BISMO_DN,
    source=_BISMO_SOURCE,
)

# The proxy runs at the binary peak of the BISMO PYNQ-Z1 array (dm*dk*dn one-bit multiply-accumulates per cycle at
# 200 MHz, no padding, no memory) and costs one 1-bit product as 1/64 of Horowitz's 8-bit multiply.
BITOPS_NOMINAL = BitopsPreset(
    name="nominal",
    bitops_per_s=_BISMO_DM * _BISMO_DK * _BISMO_DN * BISMO_PYNQ_Z1.frequency_hz,
    pj_per_bitop=HOROWITZ_45NM.mult_8bit_pj / 64,
    source="Nominal constants: rate = BISMO PYNQ-Z1 binary peak (8*256*8 bit-MACs per cycle at 200 MHz, "
           "Umuroglu et al. TRETS 2019); energy = Horowitz ISSCC 2014 8-bit multiply 0.2 pJ / 64 bit products. "
           "Only ratios between configurations are meaningful.",
)

SPATIAL_PRESETS: dict[str, BitFusionPreset] = {BITFUSION_EYERISS.name: BITFUSION_EYERISS}
TEMPORAL_PRESETS: dict[str, BismoPreset] = {BISMO_PYNQ_Z1.name: BISMO_PYNQ_Z1}
BITOPS_PRESETS: dict[str, BitopsPreset] = {BITOPS_NOMINAL.name: BITOPS_NOMINAL}
