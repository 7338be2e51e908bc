"""DecayingTruncatedNormalNoise: truncation, decay per reset, floor, seeding, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

from agents.noise import DecayingTruncatedNormalNoise


def test_samples_stay_within_two_sigma_with_the_truncated_normal_spread() -> None:
    noise = DecayingTruncatedNormalNoise(np.zeros(2), sigma=0.5, seed=0)
    samples = np.array([noise() for _ in range(20_000)])
    assert samples.shape == (20_000, 2) and samples.dtype == np.float32
    assert np.abs(samples).max() <= 2 * 0.5 + 1e-6
    assert np.abs(samples.mean(axis=0)).max() < 0.01
    # std of a standard normal truncated to +-2 is 0.8796
    np.testing.assert_allclose(samples.std(axis=0), 0.5 * 0.8796, rtol=0.03)


def test_sigma_decays_by_0_99_per_reset() -> None:
    noise = DecayingTruncatedNormalNoise(np.zeros(2), sigma=0.5, decay=0.99)
    for resets in range(1, 6):
        noise.reset()
        assert noise.sigma == pytest.approx(0.5 * 0.99 ** resets)
        samples = np.array([noise() for _ in range(500)])
        assert np.abs(samples).max() <= 2 * noise.sigma + 1e-6


def test_decay_waits_for_warmup_and_stops_at_the_floor() -> None:
    noise = DecayingTruncatedNormalNoise(np.zeros(1), sigma=0.5, decay=0.5, min_sigma=0.1, warmup_resets=2)
    sigmas = []
    for _ in range(6):
        noise.reset()
        sigmas.append(noise.sigma)
    assert sigmas == pytest.approx([0.5, 0.5, 0.25, 0.125, 0.1, 0.1])


def test_seeded_and_restorable() -> None:
    first = DecayingTruncatedNormalNoise(np.zeros(2), seed=7)
    second = DecayingTruncatedNormalNoise(np.zeros(2), seed=7)
    np.testing.assert_array_equal(first(), second())
    first.reset()
    state = first.get_state()
    expected = [first() for _ in range(3)]
    restored = DecayingTruncatedNormalNoise(np.zeros(2), seed=123)
    restored.set_state(state)
    assert restored.sigma == first.sigma and restored.num_resets == 1
    np.testing.assert_array_equal(expected, [restored() for _ in range(3)])


def test_repr_names_the_state() -> None:
    text = repr(DecayingTruncatedNormalNoise(np.zeros(2), sigma=0.5, decay=0.99, min_sigma=0.05))
    assert text.startswith("DecayingTruncatedNormalNoise(") and "sigma=0.5" in text and "decay=0.99" in text


@pytest.mark.parametrize("kwargs", [dict(sigma=-0.1), dict(sigma=float("nan")), dict(decay=0.0), dict(decay=1.5),
                                    dict(min_sigma=-1.0), dict(warmup_resets=-1), dict(warmup_resets=1.5)])
def test_bad_arguments_raise(kwargs) -> None:
    with pytest.raises(ValueError):
        DecayingTruncatedNormalNoise(np.zeros(2), **kwargs)


def test_perturb_truncates_to_the_bounds_around_the_action_seeded() -> None:
    noise = DecayingTruncatedNormalNoise(np.zeros(2), sigma=1.0, truncation="bounds", seed=4)
    actions = np.array([[0.9, -1.0]] * 5000)
    sample = noise.perturb(actions)
    assert sample.shape == actions.shape and np.all(np.abs(sample) <= 1.0)
    assert sample[:, 0].mean() < 0.9 and sample[:, 1].mean() > -1.0  # truncation pulls the mean inwards
    again = DecayingTruncatedNormalNoise(np.zeros(2), sigma=1.0, truncation="bounds", seed=4)
    np.testing.assert_array_equal(again.perturb(actions), sample)
    np.testing.assert_array_equal(DecayingTruncatedNormalNoise(np.zeros(1), sigma=0.0, truncation="bounds")
                                  .perturb(np.array([0.3])), np.float32([0.3]))
    with pytest.raises(TypeError, match="perturb"):
        noise()
    with pytest.raises(ValueError, match="truncation"):
        DecayingTruncatedNormalNoise(np.zeros(1), truncation="box")
