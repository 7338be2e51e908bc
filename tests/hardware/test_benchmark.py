"""The hardware benchmark script: argument checks and one end-to-end run on ResNet-20."""

from __future__ import annotations

import json

import pytest

from benchmarks import hardware


@pytest.mark.parametrize("argv, message", [
    (["--batch", "0"], "must be an integer >= 1"),
    (["--model", "vgg16"], "invalid choice: 'vgg16'"),
    (["--accelerator", "systolic"], "invalid choice: 'systolic'"),
    (["--accelerator", "spatial", "--preset", "bismo-pynq"], "allowed: bitfusion-eyeriss"),
])
def test_bad_arguments_exit_with_a_clear_message(argv, message, capsys):
    with pytest.raises(SystemExit):
        hardware.main(argv)
    assert message in capsys.readouterr().err


def test_out_must_be_a_folder(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit):
        hardware.main(["--out", str(tmp_path / "file")])
    assert "is not a folder" in capsys.readouterr().err


def test_resnet20_report_writes_chart_and_numbers(tmp_path, capsys):
    hardware.main(["--model", "resnet20", "--accelerator", "spatial", "--batch", "2", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "w3/5 a4 grouped" in out and "w3/5 a4 ungrouped" in out and "layers.8.conv2" in out
    stem = tmp_path / "resnet20-spatial-bitfusion-eyeriss-b2"
    assert stem.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads(stem.with_suffix(".json").read_text())["results"]
    assert set(results) == {"w8a8", "w4a4", "w2a2", "w3/5 a4 grouped", "w3/5 a4 ungrouped"}
    assert len(results["w8a8"]["layer_latency_s"]) == 22
    assert sorted(path.name for path in tmp_path.iterdir()) == [stem.name + ".json", stem.name + ".png"]


def test_doc_sections_are_rewritten_between_their_markers(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("intro\n<!-- table:begin -->\nold\n<!-- table:end -->\nafter\n")
    assert hardware.update_doc_section("table", "| new |\n", doc)
    assert doc.read_text() == "intro\n<!-- table:begin -->\n| new |\n<!-- table:end -->\nafter\n"
    assert not hardware.update_doc_section("missing", "x", doc)
