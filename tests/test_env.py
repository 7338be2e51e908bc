"""AutoQEnv: the step protocol, rewards, checkers, determinism, vectorisation and bad input."""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.vec_env import DummyVecEnv

import autoq_env
from autoq_env.env import FEATURE_INDEX, OBSERVATION_FEATURES, AutoQEnv
from tests.conftest import SMALL_SEARCH_SAMPLES, run_episode


def test_registered_and_idempotent() -> None:
    import importlib

    importlib.reload(autoq_env)  # registering again must not raise or warn
    assert "AutoQ-ResNet-v0" in gym.registry


def test_make_by_module_path_in_fresh_process() -> None:
    code = ("import gymnasium as gym; env = gym.make('autoq_env:AutoQ-ResNet-v0', search_samples=100); "
            "obs, _ = env.reset(seed=0); print(env.observation_space.contains(obs))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("True")


def test_gymnasium_check_env_without_warnings(env) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(env, skip_render_check=True)
    assert [str(w.message) for w in caught] == []


def test_sb3_check_env_without_warnings(env) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb3_check_env(env, warn=True)
    assert [str(w.message) for w in caught] == []


def test_step_protocol_layer_then_kernels(env) -> None:
    observation, info = env.reset(seed=0)
    assert observation[FEATURE_INDEX["is_layer_step"]] == 1.0 and info["step_kind"] == "layer"
    _, _, _, _, info = env.step(np.array([1.0, -1.0], dtype=np.float32))  # a = b_max, goal = b_min
    assert info == {"step_kind": "layer", "layer": 0, "kernel": -1, "qbn": 8, "goal": 2.0, "qbn_cap": 8}
    for kernel in range(env.specs[0].c_out):
        observation, _, _, _, info = env.step(np.array([-1.0, 0.0], dtype=np.float32))
        assert (info["step_kind"], info["layer"], info["kernel"], info["qbn"]) == ("kernel", 0, kernel, 2)
    assert observation[FEATURE_INDEX["is_layer_step"]] == 1.0  # layer 1's layer step is next
    assert env.config["kernel_qbn"][0] == [2] * env.specs[0].c_out
    assert env.config["activation_qbn"][:2] == [8, None]


def test_actions_map_to_equal_bins(env) -> None:
    edges = np.linspace(-1, 1, 8)  # 7 QBNs (2..8): bins of width 2/7
    assert [env.action_to_qbn(v) for v in (-1.0, edges[1] - 1e-6, edges[1] + 1e-6, 0.0, 1.0)] == [2, 2, 3, 5, 8]


def test_episode_return_equals_objective_and_info(env) -> None:
    observations, rewards, info = run_episode(env, seed=3)
    assert len(rewards) == env.steps_per_episode == 22 + 794
    assert rewards.sum() == pytest.approx(info["reward_objective"], abs=1e-9)
    assert all(env.observation_space.contains(o) for o in observations)
    for key in ("accuracy", "float_accuracy", "accuracy_drop", "latency_s", "energy_j", "latency_rel",
                "energy_rel", "config"):
        assert key in info
    assert env.evaluate(info["config"])["accuracy"] == info["accuracy"]


def test_same_seed_and_actions_are_deterministic() -> None:
    actions = np.random.default_rng(7).uniform(-1, 1, size=(50, 2)).astype(np.float32)
    first = run_episode(AutoQEnv(), actions)
    second = run_episode(AutoQEnv(), actions)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert first[2]["accuracy"] == second[2]["accuracy"]


def test_uniform_8_bit_keeps_accuracy_and_2_bit_loses(env) -> None:
    eight = env.evaluate(env.uniform_config(8))
    two = env.evaluate(env.uniform_config(2))
    assert abs(eight["accuracy_drop"]) <= 0.5
    assert eight["latency_rel"] == pytest.approx(1.0) and eight["energy_rel"] == pytest.approx(1.0)
    assert two["accuracy_drop"] > eight["accuracy_drop"] + 5.0
    assert two["latency_rel"] < 0.5 and two["energy_rel"] < 0.5  # memory-bound at 2 bits (docs/hardware.md)


def test_float_accuracy_of_shipped_model(env) -> None:
    assert env.problem.float_accuracy("test") >= 92.0


def test_pickle_and_vector_envs(env) -> None:
    env.reset(seed=0)
    env.step(np.array([0.5, 0.5], dtype=np.float32))
    clone = pickle.loads(pickle.dumps(env))
    assert clone.config == env.config
    a = clone.step(np.array([0.0, 0.0], dtype=np.float32))
    b = env.step(np.array([0.0, 0.0], dtype=np.float32))
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]

    vector = gym.vector.SyncVectorEnv([lambda: gym.make("AutoQ-ResNet-v0") for _ in range(2)])
    observations, _ = vector.reset(seed=0)
    assert observations.shape == (2, len(OBSERVATION_FEATURES))
    observations, rewards, terminated, truncated, _ = vector.step(np.zeros((2, 2), dtype=np.float32))
    assert observations.shape == (2, len(OBSERVATION_FEATURES)) and not terminated.any()
    vector.close()

    dummy = DummyVecEnv([lambda: gym.make("AutoQ-ResNet-v0")])
    assert dummy.reset().shape == (1, len(OBSERVATION_FEATURES))
    dummy.step(np.zeros((1, 2), dtype=np.float32))


@pytest.mark.parametrize("budget_metric", ["latency", "energy"])
def test_resource_mode_always_meets_budget(budget_metric: str) -> None:
    env = AutoQEnv(mode="resource", budget=0.6, budget_metric=budget_metric)
    actions = np.ones((1, 2), dtype=np.float32)  # always ask for b_max: the caps must hold the budget
    _, rewards, info = run_episode(env, actions)
    assert info["budget_met"]
    assert info[f"{budget_metric}_rel"] <= 0.6 + 1e-9
    assert info[f"{budget_metric}_rel"] > 0.55  # the caps bind late, not from the start
    assert rewards.sum() == pytest.approx(info["reward_objective"], abs=1e-9)


def test_lower_to_budget_is_the_configuration_an_episode_asking_for_it_ends_with() -> None:
    """Stepping with actions that ask for a random configuration's QBNs ends with ``lower_to_budget`` of it (so the
    search baselines get the agents' feasibility rule), which meets the budget; accuracy mode leaves it alone."""
    env = AutoQEnv(mode="resource", budget=0.5)
    rng = np.random.default_rng(3)
    asked = {"activation_qbn": rng.integers(2, 9, env.num_layers).tolist(),
             "kernel_qbn": [rng.integers(2, 9, spec.c_out).tolist() for spec in env.specs]}
    bins = env.b_max - env.b_min + 1
    env.reset(seed=0)
    for layer in range(env.num_layers):  # the action at the centre of each QBN's bin
        for qbn in [asked["activation_qbn"][layer], *asked["kernel_qbn"][layer]]:
            _, _, terminated, _, info = env.step(np.array([-1 + (2 * (qbn - env.b_min) + 1) / bins, 0.0]))
    assert terminated and info["budget_met"]
    lowered = env.lower_to_budget(asked)
    assert lowered == env.config != asked
    assert all(low <= high for low, high in zip(lowered["activation_qbn"], asked["activation_qbn"]))
    assert env.evaluate(lowered)["budget_met"] and not env.evaluate(asked)["budget_met"]
    assert AutoQEnv().lower_to_budget(asked) == asked


@pytest.mark.parametrize("kwargs, message", [
    ({"model": "vgg11"}, "unknown model 'vgg11'; allowed: 'resnet20'"),
    ({"dataset": "mnist"}, "unknown dataset 'mnist'; allowed: 'fashion-mnist'"),
    ({"accelerator": "tpu"}, "unknown accelerator 'tpu'; allowed: 'temporal', 'spatial', 'bitops'"),
    ({"mode": "fast"}, "unknown mode 'fast'; allowed: 'accuracy', 'resource'"),
    ({"bits": (6, 3)}, "needs b_min <= b_max, got (6, 3)"),
    ({"bits": (0, 8)}, "bits must lie in 1..8"),
    ({"bits": (2, 9)}, "bits must lie in 1..8"),
    ({"bits": (2.0, 8)}, "bits must be a pair of integers"),
    ({"mode": "resource", "budget": 0.0}, "budget must be a fraction of the 8-bit model's latency in (0, 1]"),
    ({"mode": "resource", "budget": 1.5}, "in (0, 1], got 1.5"),
    ({"mode": "resource", "budget": float("nan")}, "in (0, 1], got nan"),
    ({"mode": "resource", "budget": 0.001}, "budget 0.001 is infeasible"),
    ({"budget": 0.5}, "budget only applies to mode='resource'"),
    ({"budget_metric": "area"}, "unknown budget_metric 'area'"),
    ({"search_samples": 0}, "search_samples must be an integer in 1..5000"),
    ({"reward_weights": {"speed": 1.0}}, "unknown reward weights ['speed']"),
    ({"reward_weights": {"latency": -1.0}}, "reward weight latency must be a number in [0, 1e+06]"),
    ({"preset": "eyeriss"}, "eyeriss"),
])
def test_bad_keywords_say_what_is_allowed(kwargs: dict, message: str) -> None:
    with pytest.raises((ValueError, TypeError)) as error:
        AutoQEnv(**kwargs)
    assert message in str(error.value)


@pytest.mark.parametrize("action, message", [
    (np.array([np.nan, 0.0]), "must be finite"),
    (np.array([np.inf, 0.0]), "must be finite"),
    (np.zeros(3), "shape (2,)"),
    (np.zeros((1, 2)), "shape (2,)"),
    ("up", "action must be an array of 2 floats"),
])
def test_bad_actions_raise_and_leave_env_usable(env, action, message: str) -> None:
    env.reset(seed=0)
    with pytest.raises((ValueError, TypeError)) as error:
        env.step(action)
    assert message in str(error.value)
    _, _, _, _, info = env.step(np.array([2.0, -7.0]))  # finite values outside [-1, 1] are clipped
    assert info["qbn"] == 8 and info["goal"] == 2.0


def test_step_after_end_and_bad_configs(env) -> None:
    run_episode(env, np.zeros((1, 2), dtype=np.float32))
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(np.zeros(2, dtype=np.float32))
    good = env.uniform_config(4)
    with pytest.raises(ValueError, match="exactly the keys"):
        env.evaluate({"kernel_qbn": good["kernel_qbn"]})
    with pytest.raises(ValueError, match="needs 16 kernel QBNs"):
        env.evaluate({**good, "kernel_qbn": [[4] * 15] + good["kernel_qbn"][1:]})
    with pytest.raises(ValueError, match="bits range 2..8"):
        env.evaluate({**good, "activation_qbn": [1] * len(env.specs)})
    with pytest.raises(TypeError, match="must be an integer"):
        env.evaluate({**good, "activation_qbn": [4.5] * len(env.specs)})
    with pytest.raises(ValueError, match="allowed: 'search', 'test'"):
        env.evaluate(good, split="train")


def test_pickle_keeps_the_spec_that_gym_make_set(small_env) -> None:
    clone = pickle.loads(pickle.dumps(small_env.unwrapped))
    assert clone.spec is not None and clone.spec == small_env.unwrapped.spec
    assert clone.spec.id == "AutoQ-ResNet-v0" and clone.spec.kwargs["search_samples"] == SMALL_SEARCH_SAMPLES
