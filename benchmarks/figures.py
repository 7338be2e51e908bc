"""Figures of the benchmarks, written the way every results file is: atomically."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from autoq_env.atomic_io import write_bytes

FIGURE_DPI = 120


def save_png(figure: Any, path: Path, dpi: int = FIGURE_DPI) -> None:
    """Render a matplotlib ``figure`` to PNG in memory, write it atomically to ``path`` and close it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    write_bytes(path, buffer.getvalue())
