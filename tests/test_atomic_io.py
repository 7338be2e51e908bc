"""Atomic writes leave the old file or the new one, never a torn one; checked reads name the file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from autoq_env import atomic_io


def _listing(folder) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_a_write_replaces_the_file_with_the_usual_permissions(tmp_path) -> None:
    path = tmp_path / "run.json"
    atomic_io.write_json(path, {"a": 1})
    atomic_io.write_json(path, {"a": 2})
    assert atomic_io.read_json(path) == {"a": 2}
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert _listing(tmp_path) == ["run.json"]


def test_an_error_while_writing_keeps_the_old_file_and_no_temporary(tmp_path) -> None:
    path = tmp_path / "report.md"
    atomic_io.write_text(path, "old\n")
    with pytest.raises(RuntimeError), atomic_io.atomic_open(path) as handle:
        handle.write("half of the new")
        raise RuntimeError("crash while writing")
    assert path.read_text() == "old\n" and _listing(tmp_path) == ["report.md"]


def test_a_full_disk_keeps_the_old_file(tmp_path) -> None:
    """A real write failure: the child may write at most 4 KiB per file (RLIMIT_FSIZE), then EFBIG."""
    path = tmp_path / "best_config.json"
    atomic_io.write_json(path, {"old": True})
    script = textwrap.dedent(f"""
        import resource, signal
        from autoq_env import atomic_io
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            atomic_io.write_json({str(path)!r}, {{"new": "x" * 100_000}})
        except OSError as error:
            print("refused:", error.errno)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.stdout.startswith("refused:"), result.stderr
    assert atomic_io.read_json(path) == {"old": True} and _listing(tmp_path) == ["best_config.json"]


def test_sigkill_while_writing_leaves_the_old_file_whole(tmp_path) -> None:
    path = tmp_path / "report.json"
    atomic_io.write_json(path, {"old": True})
    script = textwrap.dedent(f"""
        import time
        from autoq_env import atomic_io
        with atomic_io.atomic_open({str(path)!r}) as handle:
            handle.write('{{"new": ')
            handle.flush()
            print("writing", flush=True)
            time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "writing\n"
    time.sleep(0.1)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    assert json.loads(path.read_text()) == {"old": True}  # a temporary may stay beside it, never a torn file


def test_checked_reads_name_the_file_and_what_is_wrong(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.json' does not exist"):
        atomic_io.read_json(tmp_path / "missing.json")
    torn = tmp_path / "torn.json"
    torn.write_text('{"status": "fini')
    with pytest.raises(ValueError, match="torn.json' is not valid JSON"):
        atomic_io.read_json(torn)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match="binary.json' is not a readable JSON file"):
        atomic_io.read_json(binary)
    weights = tmp_path / "weights.pt"
    atomic_io.torch_save(weights, {"w": torch.ones(3)})
    assert torch.equal(atomic_io.read_torch(weights, "weights")["w"], torch.ones(3))
    weights.write_bytes(weights.read_bytes()[:50])
    with pytest.raises(ValueError, match="weights '.*weights.pt' cannot be read"):
        atomic_io.read_torch(weights, "weights")
