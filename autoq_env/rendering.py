"""The picture of a (partial) configuration: ``render_mode="rgb_array"`` of ``AutoQEnv``.

A fixed-size ``uint8`` RGB frame, drawn with numpy alone so that it is cheap enough to film every
step (``gymnasium.wrappers.RecordVideo``)::

    +-------------------------------------------+   +--+   +--+ 2
    | kernel QBNs: one row per layer (forward   |   |a |   |  | 3
    | order, top to bottom), one column per     |   |c |   |  | ...   one swatch per QBN,
    | kernel (output channel), blank past a     |   |t |   |  | 8     labelled with its QBN
    | layer's last kernel and where unassigned  |   |  |   +--+
    +-------------------------------------------+   +--+
                                        activation QBNs   legend

It is the report's heat map (``benchmarks/report.py``, ``plot_hrl_qbn``): one colour per QBN from
matplotlib's ``viridis`` resampled to ``b_max - b_min + 1`` colours, the same scale for kernels and
activations. Cells are mapped to pixels by nearest neighbour: a network with more layers or kernels
than the map has pixels shows a sample of them (ResNet-20's 22 x 64 cells are 16 x 8 pixels each).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FRAME_HEIGHT, FRAME_WIDTH = 384, 640  # multiples of 16, the macro-block size of common video codecs
MARGIN = 16  # pixels around and between the regions
ACTIVATION_WIDTH = 32  # the activation column
LEGEND_SWATCH = (24, 16)  # height, width of one legend swatch
GLYPH_SCALE = 3  # legend digits: 3 x 5 glyphs drawn at 3x, 9 x 15 pixels
BACKGROUND = np.array([255, 255, 255], np.uint8)  # also the colour of blank cells
BORDER = np.array([160, 160, 160], np.uint8)  # outline of the kernel map and the activation column
INK = np.array([0, 0, 0], np.uint8)
COLORMAP = "viridis"  # as the report's heat map

# 3 x 5 pixel digits ("#" = ink), enough to label QBNs 0..9
_DIGITS = {
    "0": ("###", "#.#", "#.#", "#.#", "###"), "1": (".#.", "##.", ".#.", ".#.", "###"),
    "2": ("###", "..#", "###", "#..", "###"), "3": ("###", "..#", "###", "..#", "###"),
    "4": ("#.#", "#.#", "###", "..#", "..#"), "5": ("###", "#..", "###", "..#", "###"),
    "6": ("###", "#..", "###", "#.#", "###"), "7": ("###", "..#", "..#", "..#", "..#"),
    "8": ("###", "#.#", "###", "#.#", "###"), "9": ("###", "#.#", "###", "..#", "###"),
}


def _glyph(digit: str) -> np.ndarray:
    """A digit as a boolean mask, scaled by ``GLYPH_SCALE``."""
    mask = np.array([[c == "#" for c in row] for row in _DIGITS[digit]])
    return np.kron(mask, np.ones((GLYPH_SCALE, GLYPH_SCALE), bool)).astype(bool)


def qbn_colours(b_min: int, b_max: int) -> np.ndarray:
    """RGB (``uint8``) of every QBN ``b_min..b_max``, row ``b - b_min``: viridis resampled to one colour per QBN."""
    from matplotlib import colormaps  # once per heat map, not per frame

    rgba = colormaps[COLORMAP].resampled(b_max - b_min + 1)(np.arange(b_max - b_min + 1))
    return np.round(rgba[:, :3] * 255).astype(np.uint8)


class QBNHeatMap:
    """Draws configurations of one network as frames of shape ``(FRAME_HEIGHT, FRAME_WIDTH, 3)``.

    :param num_kernels: kernels (output channels) of each layer, in forward order.
    :param b_min: the smallest QBN; :param b_max: the largest (the colour scale spans ``b_min..b_max``).
    """

    def __init__(self, num_kernels: Sequence[int], b_min: int, b_max: int) -> None:
        if len(num_kernels) == 0 or min(num_kernels) < 1:
            raise ValueError(f"num_kernels needs at least one layer and one kernel per layer, got {list(num_kernels)}")
        if not 0 < b_min <= b_max <= 9:
            raise ValueError(f"the heat map needs 1 <= b_min <= b_max <= 9, got ({b_min}, {b_max})")
        self.num_kernels = [int(k) for k in num_kernels]
        self.b_min, self.b_max = b_min, b_max
        # palette row 0 is blank; row 1 + (b - b_min) is QBN b
        self.palette = np.vstack([BACKGROUND, qbn_colours(b_min, b_max)])
        num_layers, widest = len(self.num_kernels), max(self.num_kernels)
        map_height = FRAME_HEIGHT - 2 * MARGIN
        legend_width = LEGEND_SWATCH[1] + 2 + 3 * GLYPH_SCALE
        map_width = FRAME_WIDTH - 4 * MARGIN - ACTIVATION_WIDTH - legend_width
        self.map_box = (MARGIN, MARGIN, map_height, map_width)  # top, left, height, width
        self.activation_box = (MARGIN, 2 * MARGIN + map_width, map_height, ACTIVATION_WIDTH)
        self.legend_origin = (MARGIN, 3 * MARGIN + map_width + ACTIVATION_WIDTH)
        # nearest-neighbour cell of every pixel row and column; a frame repeats each kernel column by its
        # pixel count, then picks each pixel row's layer (two contiguous copies, no per-pixel gather)
        self._pixel_layer = np.arange(map_height) * num_layers // map_height
        self._kernel_repeats = np.bincount(np.arange(map_width) * widest // map_width, minlength=widest)
        self._grid = np.zeros((num_layers, widest), np.int64)  # the QBNs of the cells, reused per frame
        self._template = self._blank_frame()

    # -- geometry -----------------------------------------------------------------------------------
    def kernel_pixel(self, layer: int, kernel: int) -> tuple[int, int]:
        """A pixel ``(row, column)`` inside the cell of ``kernel`` of ``layer`` (its middle pixel)."""
        top, left, _, _ = self.map_box
        rows = np.flatnonzero(self._pixel_layer == layer)
        first_column = int(self._kernel_repeats[:kernel].sum())
        if rows.size == 0 or self._kernel_repeats[kernel] == 0:
            raise ValueError(f"cell ({layer}, {kernel}) has no pixel in a {FRAME_HEIGHT}x{FRAME_WIDTH} frame")
        return top + int(rows[rows.size // 2]), left + first_column + int(self._kernel_repeats[kernel]) // 2

    def activation_pixel(self, layer: int) -> tuple[int, int]:
        """A pixel ``(row, column)`` inside the activation cell of ``layer``."""
        row, _ = self.kernel_pixel(layer, 0)
        _, left, _, width = self.activation_box
        return row, left + width // 2

    def colour(self, qbn: int) -> np.ndarray:
        """The RGB colour of ``qbn`` (``uint8``, shape ``(3,)``)."""
        if not self.b_min <= qbn <= self.b_max:
            raise ValueError(f"QBN {qbn} lies outside the colour scale {self.b_min}..{self.b_max}")
        return self.palette[1 + qbn - self.b_min].copy()

    # -- drawing ------------------------------------------------------------------------------------
    def _blank_frame(self) -> np.ndarray:
        """Background, region outlines and the legend: everything that does not change."""
        frame = np.empty((FRAME_HEIGHT, FRAME_WIDTH, 3), np.uint8)
        frame[:] = BACKGROUND
        for top, left, height, width in (self.map_box, self.activation_box):
            frame[top - 1, left - 1:left + width + 1] = frame[top + height, left - 1:left + width + 1] = BORDER
            frame[top - 1:top + height + 1, left - 1] = frame[top - 1:top + height + 1, left + width] = BORDER
        top, left = self.legend_origin
        swatch_height, swatch_width = LEGEND_SWATCH
        for index, qbn in enumerate(range(self.b_min, self.b_max + 1)):
            y = top + index * swatch_height
            frame[y:y + swatch_height, left:left + swatch_width] = self.palette[1 + index]
            glyph = _glyph(str(qbn))
            gy, gx = y + (swatch_height - glyph.shape[0]) // 2, left + swatch_width + 2
            frame[gy:gy + glyph.shape[0], gx:gx + glyph.shape[1]][glyph] = INK
        return frame

    def draw(self, activation_qbn: Sequence[int], kernel_qbn: Sequence[Sequence[int]]) -> np.ndarray:
        """The frame of a configuration; a QBN of 0 (or ``None``) is unassigned and drawn blank.

        :param activation_qbn: one QBN per layer.
        :param kernel_qbn: one sequence of QBNs per layer, one per kernel.
        :return: a new ``uint8`` array of shape ``(FRAME_HEIGHT, FRAME_WIDTH, 3)``.
        """
        if len(activation_qbn) != len(self.num_kernels) or len(kernel_qbn) != len(self.num_kernels):
            raise ValueError(f"the heat map draws {len(self.num_kernels)} layers, got {len(activation_qbn)} "
                             f"activation QBNs and {len(kernel_qbn)} kernel rows")
        grid = self._grid
        grid[:] = 0
        for layer, (qbns, kernels) in enumerate(zip(kernel_qbn, self.num_kernels)):
            if len(qbns) != kernels:
                raise ValueError(f"layer {layer} has {kernels} kernels, got {len(qbns)} kernel QBNs")
            grid[layer, :kernels] = _as_qbns(qbns)
        cells = self.palette[self._palette_rows(grid)]  # (layers, widest kernels, 3)
        activations = self.palette[self._palette_rows(_as_qbns(activation_qbn))]  # (layers, 3)
        frame = self._template.copy()
        top, left, height, width = self.map_box
        frame[top:top + height, left:left + width] = cells.repeat(self._kernel_repeats, axis=1)[self._pixel_layer]
        top, left, height, width = self.activation_box
        frame[top:top + height, left:left + width] = activations[self._pixel_layer, None]
        return frame

    def _palette_rows(self, qbns: np.ndarray) -> np.ndarray:
        """Palette rows of QBNs: 0 for unassigned (0), ``1 + b - b_min`` for QBN ``b``."""
        wrong = (qbns != 0) & ((qbns < self.b_min) | (qbns > self.b_max))
        if wrong.any():
            raise ValueError(f"QBNs must be 0 (unassigned) or in {self.b_min}..{self.b_max}, got "
                             f"{sorted(set(qbns[wrong].tolist()))}")
        return np.where(qbns == 0, 0, qbns - self.b_min + 1)


def _as_qbns(qbns: Sequence[int | None]) -> np.ndarray:
    """QBNs as an int64 array, ``None`` (unassigned, as in ``AutoQEnv.config``) as 0."""
    values = np.asarray(qbns)
    if values.dtype == object:
        values = np.array([0 if q is None else q for q in values.tolist()])
    return values.astype(np.int64, copy=False)
