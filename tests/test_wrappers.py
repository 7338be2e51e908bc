"""LayerWise and KernelWise: env checkers, the episode objective, the protocol, and SB3 algorithms."""

from __future__ import annotations

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3 import DDPG, PPO, SAC, TD3
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.vec_env import DummyVecEnv

from autoq_env.env import FEATURE_INDEX, AutoQEnv
from autoq_env.wrappers import KernelWise, LayerWise
from tests.conftest import SMALL_SEARCH_SAMPLES

WRAPPERS = (LayerWise, KernelWise)
# Gymnasium's checker warns about any wrapper ("... is different from the unwrapped version"); it is
# the only warning allowed.
WRAPPED_WARNING = "is different from the unwrapped version"


def expected_qbn(core, value: float) -> int:
    """The documented action-to-QBN map: ``[-1, 1]`` cut into ``b_max - b_min + 1`` equal bins."""
    bins = core.b_max - core.b_min + 1
    return core.b_min + min(int((value + 1) / 2 * bins), bins - 1)


class RecordCoreInfos(gym.Wrapper):
    """Keeps the ``info`` of every core step, to see what a flat wrapper asked of the core."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.infos: list[dict] = []

    def step(self, action):
        result = self.env.step(action)
        self.infos.append(result[4])
        return result


def make_small(wrapper: type[gym.Wrapper]) -> gym.Wrapper:
    return wrapper(gym.make("AutoQ-ResNet-v0", search_samples=SMALL_SEARCH_SAMPLES))


def play(env: gym.Env, actions: np.ndarray | None = None, seed: int = 0) -> tuple[list, list, dict]:
    """One episode with ``actions`` (one row per step) or seeded random actions: observations, rewards, info."""
    rng = np.random.default_rng(seed)
    observation, _ = env.reset(seed=seed)
    observations, rewards, terminated, info = [observation], [], False, {}
    while not terminated:
        step = len(rewards)
        action = actions[step] if actions is not None else rng.uniform(-1, 1, 2).astype(np.float32)
        observation, reward, terminated, truncated, info = env.step(action)
        assert not truncated
        observations.append(observation)
        rewards.append(reward)
    return observations, rewards, info


@pytest.mark.parametrize("wrapper", WRAPPERS)
def test_env_checkers_without_warnings(small_env, wrapper) -> None:
    env = wrapper(small_env)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(env, skip_render_check=True)
        sb3_check_env(env, warn=True)
    assert [str(w.message) for w in caught if WRAPPED_WARNING not in str(w.message)] == []
    assert env.action_space == gym.spaces.Box(-1, 1, (2,), np.float32)
    assert env.observation_space == small_env.observation_space


@pytest.mark.parametrize("wrapper", WRAPPERS)
def test_rewards_sum_to_the_episode_objective(small_env, wrapper) -> None:
    env = wrapper(small_env)
    observations, rewards, info = play(env)
    assert len(rewards) == env.steps_per_episode
    assert sum(rewards) == pytest.approx(info["reward_objective"], abs=1e-9)
    assert all(observation.dtype == np.float32 and env.observation_space.contains(observation)
               for observation in observations)
    assert {"accuracy", "latency_rel", "energy_rel", "config"} <= set(info)


def test_step_counts_on_resnet20(small_env) -> None:
    assert LayerWise(small_env).steps_per_episode == 22
    assert KernelWise(small_env).steps_per_episode == 794


def test_layerwise_sets_one_weight_qbn_per_layer(small_env) -> None:
    env = LayerWise(small_env)
    core = env.unwrapped
    actions = np.random.default_rng(1).uniform(-1, 1, (core.num_layers, 2)).astype(np.float32)
    observations, _, info = play(env, actions)
    config = info["config"]
    for layer, (activation_action, weight_action) in enumerate(actions):
        assert config["activation_qbn"][layer] == expected_qbn(core, activation_action)
        assert set(config["kernel_qbn"][layer]) == {expected_qbn(core, weight_action)}
    # every observation but the last is a layer step's
    assert all(observation[FEATURE_INDEX["is_layer_step"]] == 1 for observation in observations[:-1])


def test_layerwise_goal_is_the_weight_qbn(small_env) -> None:
    recorder = RecordCoreInfos(small_env)
    env = LayerWise(recorder)
    env.reset(seed=0)
    for weight_action in np.linspace(-1, 1, 9):
        env.step(np.array([0.0, weight_action], np.float32))
    layer_infos = [info for info in recorder.infos if info["step_kind"] == "layer"]
    assert [info["goal"] for info in layer_infos] == pytest.approx(
        [expected_qbn(env.unwrapped, a) for a in np.linspace(-1, 1, 9)])


def test_kernelwise_reads_the_activation_at_each_layer_start(small_env) -> None:
    env = KernelWise(small_env)
    core = env.unwrapped
    actions = np.random.default_rng(2).uniform(-1, 1, (env.steps_per_episode, 2)).astype(np.float32)
    observations, _, info = play(env, actions)
    first_kernels = np.cumsum([0] + [spec.c_out for spec in core.specs])[:-1]
    layer_starts = [step for step, obs in enumerate(observations[:-1]) if obs[FEATURE_INDEX["is_layer_step"]] == 1]
    assert layer_starts == first_kernels.tolist()
    config = info["config"]
    assert config["activation_qbn"] == [expected_qbn(core, actions[step, 1]) for step in first_kernels]
    assert np.concatenate(config["kernel_qbn"]).tolist() == [expected_qbn(core, a) for a in actions[:, 0]]


@pytest.mark.parametrize("wrapper", WRAPPERS)
def test_pickled_wrapper_continues_the_same_episode(small_env, wrapper) -> None:
    env = wrapper(small_env)
    rng = np.random.default_rng(3)
    env.reset(seed=0)
    for _ in range(3):
        env.step(rng.uniform(-1, 1, 2).astype(np.float32))
    copy = pickle.loads(pickle.dumps(env))
    action = rng.uniform(-1, 1, 2).astype(np.float32)
    original, copied = env.step(action), copy.step(action)
    np.testing.assert_array_equal(original[0], copied[0])
    assert original[1:4] == copied[1:4]


@pytest.mark.parametrize("wrapper", WRAPPERS)
def test_dummy_vec_env(wrapper) -> None:
    vec_env = DummyVecEnv([lambda: make_small(wrapper)] * 2)
    observations = vec_env.reset()
    assert observations.shape == (2, vec_env.observation_space.shape[0])
    observations, rewards, dones, infos = vec_env.step(np.zeros((2, 2), np.float32))
    assert rewards.shape == (2,) and not dones.any()


@pytest.mark.parametrize("wrapper", WRAPPERS)
def test_bad_use_raises(small_env, wrapper) -> None:
    with pytest.raises(TypeError, match="AutoQEnv"):
        wrapper(gym.make("CartPole-v1"))
    env = wrapper(small_env.unwrapped)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(2, np.float32))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="finite"):
        env.step(np.array([np.nan, 0.0], np.float32))


ALGORITHMS = {
    "DDPG": lambda env: DDPG("MlpPolicy", env, learning_starts=100, batch_size=32, buffer_size=1_000, seed=0),
    "TD3": lambda env: TD3("MlpPolicy", env, learning_starts=100, batch_size=32, buffer_size=1_000, seed=0),
    "SAC": lambda env: SAC("MlpPolicy", env, learning_starts=100, batch_size=32, buffer_size=1_000, seed=0),
    "PPO": lambda env: PPO("MlpPolicy", env, n_steps=100, batch_size=50, n_epochs=1, seed=0),
}


@pytest.mark.parametrize("wrapper", WRAPPERS)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_sb3_algorithms_learn_unmodified(wrapper, algorithm) -> None:
    model = ALGORITHMS[algorithm](make_small(wrapper))
    model.learn(300)
    assert model.num_timesteps >= 300
    action, _ = model.predict(model.env.reset(), deterministic=True)
    assert action.shape == (1, 2) and np.all(np.abs(action) <= 1)


# -- the registered flat ids ------------------------------------------------------------------------
FLAT_IDS = {"AutoQ-ResNet-LayerWise-v0": LayerWise, "AutoQ-ResNet-KernelWise-v0": KernelWise}


def unwrapped_chain(env: gym.Env) -> list[gym.Env]:
    chain = [env]
    while isinstance(chain[-1], gym.Wrapper):
        chain.append(chain[-1].env)
    return chain


@pytest.mark.parametrize("env_id", FLAT_IDS)
def test_registered_ids_pass_the_env_checkers_with_every_render_mode(env_id) -> None:
    """Gymnasium's checker also remakes the env from its spec once per render mode and renders it."""
    env = gym.make(env_id, search_samples=SMALL_SEARCH_SAMPLES)
    assert isinstance(env.unwrapped, AutoQEnv) and any(isinstance(e, FLAT_IDS[env_id]) for e in unwrapped_chain(env))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(env)
        sb3_check_env(env, warn=True)
    assert [str(w.message) for w in caught if WRAPPED_WARNING not in str(w.message)] == []
    for render_mode in env.metadata["render_modes"]:
        remade = env.spec.make(render_mode=render_mode)
        remade.reset(seed=0)
        assert remade.render() is not None


@pytest.mark.parametrize("env_id", FLAT_IDS)
def test_registered_ids_take_the_core_keywords_and_round_trip_their_spec(env_id) -> None:
    keywords = {"search_samples": SMALL_SEARCH_SAMPLES, "accelerator": "spatial", "mode": "resource", "budget": 0.9}
    env = gym.make(env_id, **keywords)
    core = gym.make("AutoQ-ResNet-v0", **keywords)
    assert env.unwrapped.signature == core.unwrapped.signature
    remade = gym.make(env.spec)  # the spec names the wrapper once: it is not wrapped twice
    assert remade.spec == env.spec and remade.spec.kwargs == {**gym.spec(env_id).kwargs, **keywords}
    assert str(remade) == str(env)
    with pytest.raises(ValueError, match="unknown accelerator"):
        gym.make(env_id, accelerator="gpu")


@pytest.mark.parametrize("env_id", FLAT_IDS)
def test_registered_ids_are_seeded_deterministic_and_picklable(env_id) -> None:
    env = gym.make(env_id, search_samples=SMALL_SEARCH_SAMPLES)
    runs = []
    for _ in range(2):
        observation, _ = env.reset(seed=5)
        env.action_space.seed(5)
        run = [observation]
        for _ in range(30):
            observation, reward, terminated, _, _ = env.step(env.action_space.sample())
            run.append(np.append(observation, reward))
            if terminated:
                break
        runs.append(np.concatenate(run))
    np.testing.assert_array_equal(*runs)
    env.reset(seed=0)
    env.step(np.zeros(2, np.float32))
    copy = pickle.loads(pickle.dumps(env))
    np.testing.assert_array_equal(copy.step(np.ones(2, np.float32))[0], env.step(np.ones(2, np.float32))[0])
