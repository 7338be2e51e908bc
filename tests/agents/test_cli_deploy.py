"""``autoq evaluate``, ``export``, ``finetune``: scores equal ``env.evaluate``; misfit configs are refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agents.cli import main
from tests.deploy.test_onnx_export import mixed_config

FAST = ["--search-samples", "200"]


@pytest.mark.parametrize("kind", ["uniform", "mixed"])
def test_evaluate_matches_env_evaluate(small_env, tmp_path, capsys, kind) -> None:
    core = small_env.unwrapped
    config = core.uniform_config(4) if kind == "uniform" else mixed_config(small_env, seed=1)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    main(["evaluate", str(path), "--json", "--out", str(tmp_path / "scores.json"), *FAST])
    card = json.loads(capsys.readouterr().out)
    assert json.loads((tmp_path / "scores.json").read_text()) == card
    for split in ("search", "test"):
        expected = core.evaluate(config, split)
        assert card["rows"]["config"]["accuracy"][split] == expected["accuracy"]
        assert card["rows"]["float"]["accuracy"][split] == expected["float_accuracy"]
        assert card["rows"]["uniform"]["accuracy"][split] == core.evaluate(core.uniform_config(8), split)["accuracy"]
    assert card["rows"]["config"]["cost"]["temporal"]["latency_rel"] == pytest.approx(expected["latency_rel"])
    assert card["rows"]["uniform"]["cost"]["spatial"]["energy_rel"] == 1.0


def test_evaluate_prints_a_table(small_env, tmp_path, capsys) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(small_env.unwrapped.uniform_config(6)))
    main(["evaluate", str(path), *FAST])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["search", "%"]
    assert [line.split()[0] for line in lines[1:4]] == ["configuration", "uniform", "float"]


def _spoil(config: dict, how: str) -> dict:
    if how == "layers":
        return {"activation_qbn": config["activation_qbn"][:-1], "kernel_qbn": config["kernel_qbn"][:-1]}
    if how == "kernels":
        return {**config, "kernel_qbn": [config["kernel_qbn"][0] + [4], *config["kernel_qbn"][1:]]}
    return {**config, "activation_qbn": [9, *config["activation_qbn"][1:]]}


@pytest.mark.parametrize(("how", "reason"), [("layers", "needs 22 activation QBNs"),
                                             ("kernels", r"layer 0 \(conv1\) needs 16 kernel QBNs"),
                                             ("qbn", r"bits range 2\.\.8, got 4\.\.9")])
@pytest.mark.parametrize("command", ["evaluate", "export", "finetune"])
def test_a_config_that_does_not_fit_is_refused_and_nothing_written(small_env, tmp_path, how, reason,
                                                                    command) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(_spoil(small_env.unwrapped.uniform_config(4), how)))
    out = tmp_path / {"evaluate": "scores.json", "export": "model.onnx", "finetune": "qat"}[command]
    with pytest.raises(SystemExit, match=f"autoq {command}: '{path}' does not fit this env: .*{reason}"):
        main([command, str(path), "--out", str(out), *FAST])
    assert list(tmp_path.iterdir()) == [path]


def test_export_writes_onnx_and_the_integer_files(small_env, tmp_path, capsys) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(mixed_config(small_env)))
    main(["export", str(path), "--format", "onnx", "--out", str(tmp_path / "model.onnx"), *FAST])
    main(["export", str(path), "--format", "npz", "--out", str(tmp_path / "model.npz"), *FAST])
    printed = capsys.readouterr().out
    assert "of uniform 8-bit" in printed and "of float32" in printed
    manifest = json.loads((tmp_path / "model.json").read_text())
    assert len(manifest["layers"]) == small_env.unwrapped.num_layers
    assert np.load(tmp_path / "model.npz")["conv1.codes"].dtype == np.int8
    assert (tmp_path / "model.onnx").stat().st_size > manifest["storage"]["weights"]
