"""``Configuration``: validation, JSON round trip, content hash and summaries."""

from __future__ import annotations

import numpy as np
import pytest

from autoq_env.configuration import Configuration, partial_config

KERNELS = [3, 2]
BITS = (2, 8)


def test_json_round_trip_and_dict_form() -> None:
    config = Configuration.from_dict({"activation_qbn": [4, 8], "kernel_qbn": [[2, 3, 4], [8, 7]]}, KERNELS, BITS)
    assert Configuration.from_json(config.to_json(), KERNELS, BITS) == config
    assert config.to_dict() == {"activation_qbn": [4, 8], "kernel_qbn": [[2, 3, 4], [8, 7]]}
    assert all(type(v) is int for v in config.to_dict()["kernel_qbn"][0])


def test_digest_tells_configurations_apart() -> None:
    base = Configuration.uniform(KERNELS, 4, 4)
    one_kernel = Configuration.from_dict({"activation_qbn": [4, 4], "kernel_qbn": [[4, 4, 4], [4, 5]]}, KERNELS, BITS)
    one_activation = Configuration.from_dict({"activation_qbn": [5, 4], "kernel_qbn": [[4] * 3, [4] * 2]},
                                             KERNELS, BITS)
    moved = Configuration.uniform([2, 3], 4, 4)  # the same QBNs, another split into layers
    digests = {c.digest() for c in (base, one_kernel, one_activation, moved)}
    assert len(digests) == 4
    assert base == Configuration.uniform(KERNELS, 4, 4) and hash(base) == hash(Configuration.uniform(KERNELS, 4, 4))


def test_value_cannot_change_under_its_digest() -> None:
    kernels = [np.array([4, 4, 4]), np.array([4, 4])]
    config = Configuration((4, 4), tuple(kernels))
    kernels[0][0] = 8  # the caller's array, not the configuration's
    assert config.kernel_qbn[0][0] == 4
    with pytest.raises(ValueError):
        config.kernel_qbn[0][0] = 8


@pytest.mark.parametrize("bad, error, words", [
    ({"activation_qbn": [4]}, ValueError, "exactly the keys"),
    ({"activation_qbn": [4], "kernel_qbn": [[4, 4, 4]]}, ValueError, "needs 2 activation QBNs"),
    ({"activation_qbn": [4, 4], "kernel_qbn": [[4, 4], [4, 4]]}, ValueError, "needs 3 kernel QBNs"),
    ({"activation_qbn": [4, 4], "kernel_qbn": [[4, 4, None], [4, 4]]}, TypeError, "must be an integer"),
    ({"activation_qbn": [4, 9], "kernel_qbn": [[4, 4, 4], [4, 4]]}, ValueError, "bits range 2..8, got 4..9"),
])
def test_validation_says_what_is_wrong(bad, error, words) -> None:
    with pytest.raises(error, match=words):
        Configuration.from_dict(bad, KERNELS, BITS)


def test_summaries() -> None:
    config = Configuration.from_dict({"activation_qbn": [4, 8], "kernel_qbn": [[2, 3, 4], [8, 8]]}, KERNELS, BITS)
    assert config.mean_weight_qbn() == pytest.approx(25 / 5)
    assert config.mean_weight_qbn_by_params([1, 10]) == pytest.approx((2 + 3 + 4 + 80 + 80) / 23)
    assert config.mean_activation_qbn() == 6.0
    assert partial_config([4, 0], [[2, 0, 0], [0, 0]]) == {"activation_qbn": [4, None],
                                                          "kernel_qbn": [[2, None, None], [None, None]]}
