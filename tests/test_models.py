"""User-supplied model checkpoints: one that fits loads; any other is refused with the reason."""

from __future__ import annotations

import pytest
import torch

from autoq_env.data import DatasetInfo
from autoq_env.models import build_model

FASHION = DatasetInfo("fashion-mnist", 1, 10, 28)


@pytest.fixture
def resnet20_file(tmp_path):
    path = tmp_path / "resnet20.pt"
    model = build_model("resnet20", FASHION, checkpoint=None)
    torch.save(model.state_dict(), path)
    return path, model


def test_a_fitting_checkpoint_loads_its_weights(resnet20_file) -> None:
    path, saved = resnet20_file
    loaded = build_model("resnet20", FASHION, checkpoint=path)
    assert all(torch.equal(a, b) for a, b in zip(saved.state_dict().values(), loaded.state_dict().values()))


def test_another_architecture_is_refused_naming_the_keys(resnet20_file) -> None:
    path, _ = resnet20_file
    with pytest.raises(ValueError, match=r"does not fit resnet32: missing keys \['layers\.10\.bn1\.bias'"):
        build_model("resnet32", FASHION, checkpoint=path)


def test_another_number_of_classes_is_refused_naming_the_shapes(resnet20_file) -> None:
    path, _ = resnet20_file
    with pytest.raises(ValueError, match=r"wrong number of classes or channels\?\): .*\(10, 64\) vs model \(2, 64\)"):
        build_model("resnet20", DatasetInfo("fashion-mnist", 1, 2, 28), checkpoint=path)


def test_torn_missing_or_foreign_files_are_refused(resnet20_file, tmp_path) -> None:
    path, _ = resnet20_file
    torn = tmp_path / "torn.pt"
    torn.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="model checkpoint .* cannot be read"):
        build_model("resnet20", FASHION, checkpoint=torn)
    with pytest.raises(FileNotFoundError, match="model checkpoint .* does not exist"):
        build_model("resnet20", FASHION, checkpoint=tmp_path / "nothing.pt")
    listing = tmp_path / "list.pt"
    torch.save([1, 2, 3], listing)
    with pytest.raises(ValueError, match="holds a list, not a state_dict"):
        build_model("resnet20", FASHION, checkpoint=listing)
