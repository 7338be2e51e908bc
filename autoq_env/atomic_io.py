"""Atomic file writes (a crash leaves either the old file or the new one, never a torn one) and
checked reads (a torn or corrupt file gives a ``ValueError`` that names it)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open supports mode 'w' or 'wb', got {mode!r}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_name, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    """Atomically write ``text`` to ``path``."""
    with atomic_open(path, "w") as handle:
        handle.write(text)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Atomically write ``data`` to ``path``."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Atomically write ``data`` as indented JSON to ``path``."""
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def torch_save(path: str | os.PathLike, obj: Any) -> None:
    """Atomically ``torch.save`` ``obj`` to ``path``."""
    import torch

    with atomic_open(path, "wb") as handle:
        torch.save(obj, handle)


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; raise ``FileNotFoundError`` or ``ValueError`` (naming the file) when it is
    missing, torn or not JSON."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"'{path}' does not exist") from None
    except (UnicodeDecodeError, IsADirectoryError) as error:
        raise ValueError(f"'{path}' is not a readable JSON file: {error}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"'{path}' is not valid JSON (truncated or corrupt?): {error}") from None


def read_torch(path: str | os.PathLike, what: str, weights_only: bool = True, map_location: Any = "cpu") -> Any:
    """``torch.load`` a file; raise ``FileNotFoundError`` or ``ValueError`` naming ``what`` and the file
    when it is missing, torn or not a torch file. ``weights_only=False`` only for the project's own files."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} '{path}' does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=weights_only)
    except Exception as error:
        raise ValueError(f"{what} '{path}' cannot be read (truncated, corrupt or not made by torch.save): "
                         f"{type(error).__name__}: {error}") from error
