"""The rgb_array picture: the QBN heat map of the configuration so far, read back pixel by pixel."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest

from autoq_env.rendering import BACKGROUND, FRAME_HEIGHT, FRAME_WIDTH, QBNHeatMap
from autoq_env.wrappers import LayerWise
from tests.conftest import SMALL_SEARCH_SAMPLES

FRAME_SHAPE = (FRAME_HEIGHT, FRAME_WIDTH, 3)


@pytest.fixture(scope="module")
def rgb_env() -> gym.Env:
    return gym.make("AutoQ-ResNet-v0", search_samples=SMALL_SEARCH_SAMPLES, render_mode="rgb_array")


def heat_map_of(env: gym.Env) -> QBNHeatMap:
    core = env.unwrapped
    return QBNHeatMap(core.problem.num_kernels, core.b_min, core.b_max)


def map_region(heat_map: QBNHeatMap, frame: np.ndarray) -> np.ndarray:
    top, left, height, width = heat_map.map_box
    return frame[top:top + height, left:left + width]


def test_frames_before_the_first_step_and_after_reset_are_blank_valid_images(rgb_env) -> None:
    heat_map = heat_map_of(rgb_env)
    rgb_env.reset(seed=0)
    first = rgb_env.render()
    assert first.dtype == np.uint8 and first.shape == FRAME_SHAPE
    assert np.all(map_region(heat_map, first) == BACKGROUND)  # nothing assigned: every cell blank
    for action in np.random.default_rng(0).uniform(-1, 1, (30, 2)):
        rgb_env.step(action.astype(np.float32))
    assert not np.array_equal(rgb_env.render(), first)
    rgb_env.reset(seed=1)
    np.testing.assert_array_equal(rgb_env.render(), first)


def test_a_finished_episode_shows_its_configuration(rgb_env) -> None:
    env = LayerWise(rgb_env)
    core = env.unwrapped
    heat_map = heat_map_of(env)
    env.reset(seed=0)
    actions = np.random.default_rng(1).uniform(-1, 1, (env.steps_per_episode, 2)).astype(np.float32)
    for action in actions:
        _, _, terminated, _, info = env.step(action)
    assert terminated
    frame = env.render()
    assert frame.shape == FRAME_SHAPE and frame.dtype == np.uint8
    config = info["config"]
    widest = max(core.problem.num_kernels)
    for layer, kernels in enumerate(config["kernel_qbn"]):
        for kernel in (0, len(kernels) - 1):
            np.testing.assert_array_equal(frame[heat_map.kernel_pixel(layer, kernel)], heat_map.colour(kernels[kernel]))
        if len(kernels) < widest:  # past the layer's last kernel: blank
            np.testing.assert_array_equal(frame[heat_map.kernel_pixel(layer, widest - 1)], BACKGROUND)
        np.testing.assert_array_equal(frame[heat_map.activation_pixel(layer)],
                                      heat_map.colour(config["activation_qbn"][layer]))
    # the frame survives pickling (the heat map is rebuilt from the env's keywords)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(env)).render(), frame)


def test_a_partial_layer_shows_its_chosen_kernels_and_blanks(rgb_env) -> None:
    heat_map = heat_map_of(rgb_env)
    core = rgb_env.unwrapped
    rgb_env.reset(seed=0)
    rgb_env.step(np.array([1.0, 0.0], np.float32))  # layer 0: activation at b_max
    for _ in range(3):
        rgb_env.step(np.array([-1.0, 0.0], np.float32))  # kernels 0..2 at b_min
    frame = rgb_env.render()
    for kernel in range(3):
        np.testing.assert_array_equal(frame[heat_map.kernel_pixel(0, kernel)], heat_map.colour(core.b_min))
    np.testing.assert_array_equal(frame[heat_map.kernel_pixel(0, 3)], BACKGROUND)
    np.testing.assert_array_equal(frame[heat_map.activation_pixel(0)], heat_map.colour(core.b_max))
    np.testing.assert_array_equal(frame[heat_map.activation_pixel(1)], BACKGROUND)


def test_one_distinct_colour_per_qbn_and_none_blank() -> None:
    heat_map = QBNHeatMap([3, 5], 2, 8)
    colours = {tuple(heat_map.colour(qbn)) for qbn in range(2, 9)}
    assert len(colours) == 7 and tuple(BACKGROUND) not in colours
    # the same scale for kernels and activations, and None marks unassigned as 0 does
    frame = heat_map.draw([4, None], [[4, 0, 8], [None, 2, 2, 2, 2]])
    np.testing.assert_array_equal(frame[heat_map.activation_pixel(0)], frame[heat_map.kernel_pixel(0, 0)])
    for layer, kernel in ((0, 1), (1, 0)):
        np.testing.assert_array_equal(frame[heat_map.kernel_pixel(layer, kernel)], BACKGROUND)
    np.testing.assert_array_equal(frame[heat_map.activation_pixel(1)], BACKGROUND)


def test_bad_input_raises() -> None:
    with pytest.raises(ValueError, match="at least one layer"):
        QBNHeatMap([], 2, 8)
    with pytest.raises(ValueError, match="b_min <= b_max"):
        QBNHeatMap([4], 5, 3)
    heat_map = QBNHeatMap([2, 2], 2, 8)
    with pytest.raises(ValueError, match="2 layers"):
        heat_map.draw([2], [[2, 2]])
    with pytest.raises(ValueError, match="layer 1 has 2 kernels, got 3"):
        heat_map.draw([2, 2], [[2, 2], [2, 2, 2]])
    with pytest.raises(ValueError, match="0 \\(unassigned\\) or in 2..8"):
        heat_map.draw([2, 2], [[9, 2], [2, 2]])
    with pytest.raises(ValueError, match="outside the colour scale"):
        heat_map.colour(1)
