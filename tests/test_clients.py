"""The env driven only through other people's code: the clients RL users already run.

Gymnasium (``make_vec`` sync and async, ``RecordEpisodeStatistics``, ``ClipAction``, ``TimeLimit``,
``RecordVideo``), stable-baselines3 (``make_vec_env`` with ``DummyVecEnv`` and ``SubprocVecEnv``,
``VecNormalize``, ``VecMonitor``, ``EvalCallback``) and rl-zoo3 (its training script on our
``-conf`` file, and its experiment manager on the other algorithms' files). Every env here uses a
small search split; subprocess workers rebuild the problem (a few seconds each).
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml
from gymnasium.wrappers import ClipAction, RecordEpisodeStatistics, RecordVideo, TimeLimit
from stable_baselines3 import DDPG
from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecMonitor, VecNormalize

from agents.hyperparams import load_hyperparams
from agents.hyperparams.rl_zoo import zoo_hyperparams
from autoq_env.rendering import FRAME_HEIGHT, FRAME_WIDTH
from autoq_env.wrappers import LayerWise
from tests.conftest import SMALL_SEARCH_SAMPLES

LAYERWISE, KERNELWISE = "AutoQ-ResNet-LayerWise-v0", "AutoQ-ResNet-KernelWise-v0"
SMALL = {"search_samples": SMALL_SEARCH_SAMPLES}
LAYERS = 22  # ResNet-20's quantizable layers: a LayerWise episode's length (test_wrappers checks it)
FRAME_SHAPE = (FRAME_HEIGHT, FRAME_WIDTH, 3)
REPO_ROOT = Path(__file__).resolve().parents[1]


def actions(rows: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (rows, 2)).astype(np.float32)


def play_vec(venv, steps: int, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray, list]:
    """``steps`` steps of an SB3 VecEnv with seeded random actions: observations, rewards, last infos."""
    observations, rewards, infos = [venv.reset()], [], []
    for row in actions(steps * venv.num_envs, seed).reshape(steps, venv.num_envs, 2):
        observation, reward, _, infos = venv.step(row)
        observations.append(observation)
        rewards.append(reward)
    return observations, np.array(rewards), infos


# -- the snippet and SB3 -------------------------------------------------------------------
def test_make_vec_env_with_its_defaults_and_the_wrapper_class() -> None:
    venv = make_vec_env("AutoQ-ResNet-v0", n_envs=2, wrapper_class=LayerWise, env_kwargs=SMALL, seed=0)
    assert venv.get_attr("render_mode") == ["rgb_array", "rgb_array"]  # make_vec_env's default
    _, rewards, infos = play_vec(venv, LAYERS)
    for env_index, info in enumerate(infos):  # Monitor (inside LayerWise) saw the whole core episode
        assert info["episode"]["r"] == pytest.approx(rewards[:, env_index].sum(), abs=1e-5)
        assert info["episode"]["r"] == pytest.approx(info["reward_objective"], abs=1e-5)
        assert "terminal_observation" in info
    tiled = venv.render()  # the frames of both envs, tiled
    assert tiled.dtype == np.uint8 and tiled.ndim == 3 and tiled.shape[2] == 3
    venv.close()


def test_subproc_vec_env_matches_dummy_vec_env() -> None:
    """Workers started by forkserver (SB3's default) rebuild the env from its id and give the same episodes.

    A fresh worker process has not imported ``autoq_env``, so the id names its module (Gymnasium's
    ``"module:id"`` form imports it first); the bare id works only where ``__main__`` imports ``autoq_env``.
    """
    subproc = make_vec_env(f"autoq_env:{LAYERWISE}", n_envs=2, seed=3, env_kwargs=SMALL, vec_env_cls=SubprocVecEnv)
    assert subproc.get_attr("spec")[0].id == LAYERWISE
    dummy = make_vec_env(LAYERWISE, n_envs=2, seed=3, env_kwargs=SMALL)
    assert subproc.get_attr("steps_per_episode") == [LAYERS, LAYERS]
    sub_obs, sub_rewards, sub_infos = play_vec(subproc, LAYERS)
    dummy_obs, dummy_rewards, _ = play_vec(dummy, LAYERS)
    np.testing.assert_array_equal(np.array(sub_obs), np.array(dummy_obs))
    np.testing.assert_allclose(sub_rewards, dummy_rewards, rtol=1e-6)  # DummyVecEnv keeps rewards as float32
    assert all(info["episode"]["l"] == LAYERS for info in sub_infos)
    assert subproc.render().shape[2] == 3
    subproc.close()
    dummy.close()


def test_vec_monitor_and_vec_normalize(tmp_path) -> None:
    venv = VecNormalize(VecMonitor(DummyVecEnv([lambda: gym.make(LAYERWISE, **SMALL)] * 2)), gamma=1.0)
    observations, _, infos = play_vec(venv, LAYERS)
    assert all(np.all(np.isfinite(observation)) for observation in observations)
    assert [info["episode"]["l"] for info in infos] == [LAYERS, LAYERS]
    venv.save(tmp_path / "vecnormalize.pkl")
    loaded = VecNormalize.load(tmp_path / "vecnormalize.pkl", DummyVecEnv([lambda: gym.make(LAYERWISE, **SMALL)] * 2))
    np.testing.assert_array_equal(loaded.obs_rms.mean, venv.obs_rms.mean)
    venv.close()


def test_eval_callback_evaluates_and_logs(tmp_path) -> None:
    eval_env = make_vec_env(LAYERWISE, n_envs=1, seed=1, env_kwargs=SMALL)
    model = DDPG("MlpPolicy", make_vec_env(LAYERWISE, n_envs=1, seed=0, env_kwargs=SMALL), learning_starts=22,
                 buffer_size=1_000, batch_size=32, seed=0)
    callback = EvalCallback(eval_env, eval_freq=LAYERS * 2, n_eval_episodes=1, log_path=str(tmp_path),
                            best_model_save_path=str(tmp_path))
    model.learn(LAYERS * 4, callback=callback)
    evaluations = np.load(tmp_path / "evaluations.npz")
    assert evaluations["timesteps"].tolist() == [LAYERS * 2, LAYERS * 4]
    assert evaluations["ep_lengths"].tolist() == [[LAYERS], [LAYERS]]
    assert (tmp_path / "best_model.zip").is_file()


# -- Gymnasium ------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_gymnasium_make_vec(mode) -> None:
    envs = gym.make_vec(LAYERWISE, num_envs=2, vectorization_mode=mode, render_mode="rgb_array", **SMALL)
    observations, _ = envs.reset(seed=0)
    assert observations.shape == (2, 29) and envs.single_action_space == gym.spaces.Box(-1, 1, (2,), np.float32)
    total = np.zeros(2)
    for row in actions(LAYERS * 2).reshape(LAYERS, 2, 2):
        observations, rewards, terminated, truncated, infos = envs.step(row)
        total += rewards
    assert terminated.all() and not truncated.any()
    np.testing.assert_allclose(total, infos["reward_objective"], atol=1e-9)
    frames = envs.render()
    assert len(frames) == 2 and all(frame.shape == FRAME_SHAPE for frame in frames)
    # next-step autoreset (Gymnasium's default): the step after the end starts a new episode
    _, rewards, terminated, _, _ = envs.step(np.zeros((2, 2), np.float32))
    assert not terminated.any() and np.all(rewards == 0)
    envs.close()


def test_record_episode_statistics() -> None:
    env = RecordEpisodeStatistics(gym.make(LAYERWISE, **SMALL))
    env.reset(seed=0)
    total, terminated = 0.0, False
    for action in actions(LAYERS):
        _, reward, terminated, _, info = env.step(action)
        total += reward
    assert terminated
    assert info["episode"]["l"] == LAYERS
    assert info["episode"]["r"] == pytest.approx(total) == pytest.approx(info["reward_objective"])


def test_clip_action() -> None:
    """ClipAction widens the action space to the reals; out-of-range actions act as their clipped values."""
    clipped, plain = ClipAction(gym.make(LAYERWISE, **SMALL)), gym.make(LAYERWISE, **SMALL)
    assert np.all(np.isinf(clipped.action_space.high))
    wide = actions(LAYERS) * 5
    configs = []
    for env, rows in ((clipped, wide), (plain, np.clip(wide, -1, 1))):
        env.reset(seed=0)
        for row in rows:
            info = env.step(row)[4]
        configs.append(info["config"])
    assert configs[0] == configs[1]


@pytest.mark.parametrize("env_id", [KERNELWISE, "AutoQ-ResNet-v0"])
def test_time_limit_truncates_and_reset_starts_over(env_id) -> None:
    for env in (gym.make(env_id, max_episode_steps=5, **SMALL), TimeLimit(gym.make(env_id, **SMALL), 5)):
        observation, _ = env.reset(seed=0)
        for step, action in enumerate(actions(5)):
            _, _, terminated, truncated, _ = env.step(action)
            assert not terminated and truncated == (step == 4)
        np.testing.assert_array_equal(env.reset(seed=0)[0], observation)
        assert env.unwrapped.config["activation_qbn"][0] is None  # nothing assigned after reset


def test_record_video_films_every_step(tmp_path) -> None:
    env = RecordVideo(gym.make(LAYERWISE, render_mode="rgb_array", **SMALL), str(tmp_path / "videos"),
                      episode_trigger=lambda episode: episode == 0, name_prefix="autoq")
    env.reset(seed=0)
    for action in actions(LAYERS):
        env.step(action)
    frames = env.recorded_frames  # the reset's frame and one per step
    assert len(frames) == LAYERS + 1
    assert all(frame.dtype == np.uint8 and frame.shape == FRAME_SHAPE for frame in frames)
    assert len({frame.tobytes() for frame in frames}) == LAYERS + 1  # every step changes the picture
    np.testing.assert_array_equal(frames[-1], env.render())
    env.close()  # encodes the video (moviepy and its ffmpeg are dev dependencies)
    assert (tmp_path / "videos" / "autoq-episode-0.mp4").stat().st_size > 0


def test_render_collection_keeps_every_frame() -> None:
    """``render_mode="rgb_array_list"``: gym.make adds Gymnasium's RenderCollection over the rgb_array env."""
    env = gym.make(LAYERWISE, render_mode="rgb_array_list", **SMALL)
    env.reset(seed=0)
    for action in actions(3):
        env.step(action)
    frames = env.render()
    assert len(frames) == 4 and all(frame.shape == FRAME_SHAPE for frame in frames)
    assert env.render() == []  # RenderCollection hands each frame out once


# -- rl-zoo3 ----------------------------------------------------------------------------------------
def test_rl_zoo3_trains_ddpg_from_our_conf_file(tmp_path) -> None:
    steps, warmup = 300, LAYERS * 5
    command = [sys.executable, "-m", "rl_zoo3.train", "--algo", "ddpg", "--env", LAYERWISE, "--gym-packages",
               "autoq_env", "-conf", "agents/hyperparams/rl_zoo/ddpg.py", "-n", str(steps), "--env-kwargs",
               f"search_samples:{SMALL_SEARCH_SAMPLES}", "--eval-freq", str(LAYERS * 6), "--eval-episodes", "1",
               "-f", str(tmp_path), "--seed", "0", "--num-threads", "1", "--device", "cpu",
               "-params", f"learning_starts:{warmup}"]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run = tmp_path / "ddpg" / f"{LAYERWISE}_1"
    assert (run / f"{LAYERWISE}.zip").is_file() and (run / "best_model.zip").is_file()
    with open(run / "0.monitor.csv", newline="") as handle:
        episodes = list(csv.DictReader(handle.readlines()[1:]))
    # train_freq (1, "episode") finishes the episode under way
    assert len(episodes) == -(-steps // LAYERS) and all(int(row["l"]) == LAYERS for row in episodes)
    saved = dict(yaml.load((run / LAYERWISE / "config.yml").read_text(), Loader=yaml.UnsafeLoader))  # an OrderedDict
    expected = {**zoo_hyperparams("ddpg")[LAYERWISE], "learning_starts": warmup}
    assert {key: saved[key] for key in expected if key != "policy_kwargs"} == {
        key: value for key, value in expected.items() if key != "policy_kwargs"}
    assert saved["noise_std"] == load_hyperparams("ddpg-layer")["noise_sigma"]
    assert "n_updates" in result.stdout  # it trained


@pytest.mark.parametrize("algo", ["td3", "sac", "ppo"])
def test_rl_zoo3_experiment_manager_builds_and_trains_the_other_algorithms(tmp_path, algo) -> None:
    from argparse import Namespace

    from rl_zoo3.exp_manager import ExperimentManager

    overrides = {"n_steps": LAYERS, "batch_size": LAYERS} if algo == "ppo" else {"learning_starts": LAYERS}
    manager = ExperimentManager(Namespace(), algo, LAYERWISE, str(tmp_path), n_timesteps=LAYERS * 2, eval_freq=-1,
                                env_kwargs=dict(SMALL), seed=0, verbose=0, device="cpu",
                                config=f"agents/hyperparams/rl_zoo/{algo}.py",
                                log_interval=-1, hyperparams=overrides)
    model, _ = manager.setup_experiment()
    assert model.gamma == 1.0  # ddpg.yml's, as every value the algorithm shares with DDPG
    manager.learn(model)
    assert model.num_timesteps >= LAYERS * 2
