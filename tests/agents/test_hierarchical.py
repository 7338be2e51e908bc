"""HierarchicalDDPG: learning, routing, hindsight relabelling, intrinsic reward, save/load."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import configure

from agents.credit import MovingAverage
from agents.hierarchical import HierarchicalDDPG, intrinsic_reward, relabel_goal
from agents.hierarchical.episode import EpisodeState, episode_rewards
from agents.hierarchical.hrl import llc_env_action
from agents.hierarchical.warmup import goal_action, llc_action_for, qbn_action
from agents.search import GreedySensitivitySearch
from autoq_env.env import FEATURE_INDEX, AutoQEnv

SMALL = dict(warmup_episodes=1, hlc_gradient_steps=4, llc_gradient_steps=8, batch_size=16)


@pytest.fixture(scope="module")
def small_env() -> AutoQEnv:
    return AutoQEnv(search_samples=200)


def test_intrinsic_reward_measures_distance_to_goal() -> None:
    assert intrinsic_reward(5.0, 5.0, 2, 8) == 0.0
    assert intrinsic_reward(4.0, 5.5, 2, 8) == pytest.approx(-1.5 / 6)
    assert intrinsic_reward(2.0, 8.0, 2, 8) == -1.0


def test_hindsight_relabel_sets_goal_to_achieved_mean() -> None:
    action = np.array([0.3, 0.9], dtype=np.float32)
    relabelled = relabel_goal(action, 5.0, 2, 8)
    assert relabelled[0] == pytest.approx(0.3) and relabelled[1] == pytest.approx(0.0)  # 5 is the middle of 2..8
    assert action[1] == pytest.approx(0.9)  # the original is untouched
    assert relabel_goal(action, 2.0, 2, 8)[1] == pytest.approx(-1.0)


class _Counter(BaseCallback):
    def _on_step(self) -> bool:
        return True


def test_learn_logs_episodes_and_tracks_best(small_env, tmp_path) -> None:
    agent = HierarchicalDDPG(small_env, seed=0, **SMALL)
    agent.set_logger(configure(str(tmp_path), ["csv"]))
    counter = _Counter()
    agent.learn(total_episodes=3, callback=counter, progress_bar=True)
    assert agent.num_episodes == 3 and counter.n_calls == 3 * small_env.steps_per_episode
    assert len(agent.episode_log) == 3 and agent.episode_log[0]["warmup"] and not agent.episode_log[-1]["warmup"]
    assert agent.best_metrics["reward_objective"] == max(row["reward"] for row in agent.episode_log)
    assert small_env.evaluate(agent.best_config)["reward_objective"] == pytest.approx(
        agent.best_metrics["reward_objective"])
    csv = (tmp_path / "progress.csv").read_text()
    assert "episode/accuracy" in csv and "episode/mean_weight_qbn" in csv
    assert agent.hlc.replay_buffer.size() == 3 * len(small_env.specs)
    assert agent.llc.replay_buffer.size() == 3 * sum(small_env.problem.num_kernels)


def test_hindsight_flag_changes_stored_goals(small_env) -> None:
    stored, configs = {}, {}
    for relabel in (True, False):
        # uniform warm-up actions: their goals differ from what the layers reach (the sensitivity warm-up's match)
        agent = HierarchicalDDPG(small_env, seed=1, hindsight_relabel=relabel, warmup_actions="uniform", **SMALL)
        agent.learn(total_episodes=1)
        stored[relabel] = agent.hlc.replay_buffer.actions[:len(small_env.specs), 0].copy()
        configs[relabel] = agent.best_config
    assert configs[True] == configs[False]  # same seed, same warm-up actions
    achieved = np.array([np.mean(layer) for layer in configs[True]["kernel_qbn"]])
    np.testing.assert_allclose(stored[True][:, 1], 2 * (achieved - 2) / 6 - 1, atol=1e-6)
    np.testing.assert_array_equal(stored[True][:, 0], stored[False][:, 0])  # activation part unchanged
    assert not np.allclose(stored[True][:, 1], stored[False][:, 1])


def test_predict_routes_by_step_kind(small_env) -> None:
    agent = HierarchicalDDPG(small_env, seed=0, **SMALL)
    observation, _ = small_env.reset(seed=0)
    layer_action, state = agent.predict(observation)
    assert layer_action.shape == (2,) and state is None
    kernel_observation, *_ = small_env.step(layer_action)
    assert kernel_observation[FEATURE_INDEX["is_layer_step"]] == 0.0
    kernel_action, _ = agent.predict(kernel_observation)
    assert kernel_action[1] == 0.0
    batch, _ = agent.predict(np.stack([observation, kernel_observation]))
    np.testing.assert_array_equal(batch, np.stack([layer_action, kernel_action]))


def test_save_load_round_trip_gives_identical_predictions(small_env, tmp_path) -> None:
    agent = HierarchicalDDPG(small_env, seed=0, **SMALL).learn(total_episodes=2)
    agent.save(tmp_path / "agent.pt")
    loaded = HierarchicalDDPG.load(tmp_path / "agent.pt", env=small_env)
    observations = []
    observation, _ = small_env.reset(seed=0)
    for _ in range(40):
        observations.append(observation)
        observation, *_ = small_env.step(agent.predict(observation)[0])
    np.testing.assert_array_equal(agent.predict(np.stack(observations))[0], loaded.predict(np.stack(observations))[0])
    assert loaded.best_config == agent.best_config and loaded.num_episodes == 2
    assert loaded.baseline.value == agent.baseline.value is not None  # the moving-average baseline travels too


def test_bad_input_and_mismatched_or_corrupt_files(small_env, tmp_path) -> None:
    with pytest.raises(ValueError, match="zeta"):
        HierarchicalDDPG(small_env, zeta=1.5)
    with pytest.raises(ValueError, match="unknown HRL hyper-parameters"):
        HierarchicalDDPG(small_env, learning_rate=1e-3)
    agent = HierarchicalDDPG(small_env, seed=0, **SMALL)
    with pytest.raises(ValueError, match="positive integer"):
        agent.learn(total_episodes=0)
    with pytest.raises(ValueError, match="exactly one"):
        agent.learn()
    agent.save(tmp_path / "agent.pt")
    with pytest.raises(ValueError, match="accelerator: saved 'temporal' vs env 'spatial'"):
        HierarchicalDDPG.load(tmp_path / "agent.pt", env=AutoQEnv(search_samples=200, accelerator="spatial"))
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes((tmp_path / "agent.pt").read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated, corrupt"):
        HierarchicalDDPG.load(corrupt)
    assert (tmp_path / "agent.pt").stat().st_size > 1000  # the good file is untouched


@pytest.mark.parametrize("credit, subtract_baseline, transform", [
    ("broadcast", True, "none"), ("split", True, "none"), ("broadcast", False, "symlog"), ("split", False, "symlog")])
def test_a_finished_episode_is_relabelled_with_its_advantage(small_env, credit, subtract_baseline, transform) -> None:
    zeta = 0.75
    agent = HierarchicalDDPG(small_env, seed=2, credit_assignment=credit, zeta=zeta, reward_clip=None,
                             subtract_baseline=subtract_baseline, reward_transform=transform,
                             **SMALL).learn(total_episodes=2)
    layers, kernels = len(small_env.specs), sum(small_env.problem.num_kernels)
    finals = [row["reward"] for row in agent.episode_log]
    baseline = MovingAverage(0.5)
    for episode, final in enumerate(finals):
        baseline.update(final)  # logged either way
        advantage = final - baseline.value if subtract_baseline else final
        if transform == "symlog":
            advantage = np.sign(advantage) * np.log1p(abs(advantage))
        assert agent.episode_log[episode]["baseline"] == pytest.approx(baseline.value)
        hlc_rows, llc_rows = slice(episode * layers, (episode + 1) * layers), slice(episode * kernels,
                                                                                 (episode + 1) * kernels)
        hlc_rewards = agent.hlc.replay_buffer.rewards[hlc_rows, 0]
        llc_rewards = agent.llc.replay_buffer.rewards[llc_rows, 0].astype(np.float64)
        share = advantage if credit == "broadcast" else advantage / layers
        np.testing.assert_allclose(hlc_rewards, share, rtol=1e-6, atol=1e-7)
        intrinsic = (llc_rewards - zeta * (advantage if credit == "broadcast" else advantage / kernels)) / (1 - zeta)
        assert np.all(intrinsic <= 1e-6) and np.all(intrinsic >= -1 - 1e-6)  # what is left is the intrinsic part
        hlc_dones = agent.hlc.replay_buffer.dones[hlc_rows, 0]
        llc_dones = agent.llc.replay_buffer.dones[llc_rows, 0]
        if credit == "broadcast":  # every transition terminal
            assert hlc_dones.all() and llc_dones.all()
        else:  # the HLC's episode ends with the env's, the LLC's with each layer
            assert hlc_dones.tolist() == [0.0] * (layers - 1) + [1.0]
            assert llc_dones.sum() == layers and llc_dones[-1] == 1.0
    assert agent.baseline.value == pytest.approx(baseline.value)


def test_episode_rewards_of_a_hand_made_episode() -> None:
    episode = EpisodeState()
    episode.hlc.add(np.zeros(2), np.zeros(2), np.zeros(2), 0.5, False)
    episode.hlc.add(np.zeros(2), np.zeros(2), np.zeros(2), -4.0, True)
    for shaped, intrinsic, done in ((0.2, -0.5, False), (0.3, 0.0, True), (-4.5, -0.25, True)):
        episode.llc.add(np.zeros(2), np.zeros(2), np.zeros(1), shaped, done)
        episode.intrinsic.append(intrinsic)
    hlc, hlc_dones, llc, llc_dones = episode_rewards(episode, "broadcast", -2.0, zeta=0.5, clip=1.0)
    np.testing.assert_array_equal(hlc, [-1.0, -1.0])  # clipped to +-1
    np.testing.assert_allclose(llc, [0.5 * -0.5 - 0.5, -0.5, 0.5 * -0.25 - 0.5])
    assert hlc_dones.all() and llc_dones.all()
    hlc, hlc_dones, llc, llc_dones = episode_rewards(episode, "shaped", -2.0, zeta=1.0, clip=None)
    np.testing.assert_array_equal(hlc, [0.5, -4.0])
    np.testing.assert_allclose(llc, [0.2, 0.3, -4.5])
    assert hlc_dones.tolist() == [False, True] and llc_dones.tolist() == [False, True, True]


def test_llc_offset_actions_follow_the_goal_within_the_bounds() -> None:
    assert llc_env_action(0.0, 0.5, "offset", 0.6) == 0.0  # goal QBN in the middle of the range: action 0
    assert llc_env_action(1.0, 0.5, "offset", 0.6) == pytest.approx(0.6)
    assert llc_env_action(-1.0, 0.1, "offset", 0.6) == -1.0  # clipped to the bounds
    assert llc_env_action(0.3, 0.9, "absolute", 0.6) == pytest.approx(0.3)


@pytest.mark.parametrize("llc_noise", ["kernel", "layer"])
def test_llc_exploration_is_seeded_bounded_and_per_layer_when_asked(small_env, llc_noise) -> None:
    actions = []
    for _ in range(2):  # the same seed twice: the same actions
        agent = HierarchicalDDPG(small_env, seed=5, warmup_episodes=0, llc_noise=llc_noise, noise_sigma=2.0)
        observation, _ = small_env.reset(seed=0)
        layer_action = agent._exploration_action(observation, warmup=False)
        kernel_observation, *_ = small_env.step(agent._env_action(observation, layer_action))
        draws = [agent._exploration_action(kernel_observation, warmup=False) for _ in range(50)]
        actions.append(np.concatenate([layer_action, *draws]))
    np.testing.assert_array_equal(actions[0], actions[1])
    assert np.all(np.abs(actions[0]) <= 1.0)
    kernel_draws = actions[0][2:]
    assert (np.unique(kernel_draws).size == 1) == (llc_noise == "layer")  # one draw per layer, or one per kernel


def test_store_many_writes_what_store_writes_around_the_ring(small_env) -> None:
    one, many = (HierarchicalDDPG(small_env, seed=0, hlc_buffer_size=5).hlc for _ in range(2))
    rng = np.random.default_rng(0)
    features, actions = rng.uniform(-1, 1, (8, 18)).astype(np.float32), rng.uniform(-1, 1, (8, 2)).astype(np.float32)
    rewards, dones = rng.normal(size=8), rng.uniform(size=8) < 0.5
    for i in range(8):
        one.store(features[i], features[i] * 0.5, actions[i], float(rewards[i]), bool(dones[i]))
    many.store_many(features[:3], features[:3] * 0.5, actions[:3], rewards[:3], dones[:3])
    many.store_many(features[3:], features[3:] * 0.5, actions[3:], rewards[3:], dones[3:])
    for name in ("observations", "next_observations", "actions", "rewards", "dones"):
        np.testing.assert_array_equal(getattr(one.replay_buffer, name), getattr(many.replay_buffer, name))
    assert (one.replay_buffer.pos, one.replay_buffer.full) == (many.replay_buffer.pos, many.replay_buffer.full)


def test_llc_prior_actions_spread_the_goal_by_the_water_filling_offsets(small_env) -> None:
    """An LLC whose actor says 0 puts each kernel at goal + its prior offset."""
    agent = HierarchicalDDPG(small_env, seed=0, llc_action="prior", **SMALL)
    last = [module for module in agent.llc.policy.actor.mu if isinstance(module, th.nn.Linear)][-1]
    last.weight.data.zero_()  # the actor's output: tanh(0) = 0
    last.bias.data.zero_()
    observation, _ = small_env.reset(seed=0)
    goal_action = 0.0  # goal 5 on 2..8
    observation, *_ = small_env.step(np.array([1.0, goal_action], dtype=np.float32))
    qbns = []
    for _ in range(small_env.specs[0].c_out):
        action, _ = agent.predict(observation)
        observation, _, _, _, info = small_env.step(action)
        qbns.append(info["qbn"])
    expected = np.clip(np.round(5 + agent._prior_offsets[0]), 2, 8)
    assert np.abs(np.array(qbns) - expected).max() <= 1  # the env's bins round a little differently
    assert np.corrcoef(qbns, agent._prior_offsets[0])[0, 1] > 0.8
    assert llc_env_action(0.0, 0.5, "prior", 0.6, prior_offset=0.25) == pytest.approx(0.25)
    assert llc_env_action(0.0, 0.5, "offset", 0.6, prior_offset=0.25) == 0.0


def test_only_episodes_within_tolerance_are_imitated_and_the_actor_moves_towards_them(small_env) -> None:
    agent = HierarchicalDDPG(small_env, seed=0, elite_episodes=2, **SMALL)
    agent.learn(total_episodes=2)
    drops = [row["accuracy_drop"] for row in agent.episode_log]
    within = sum(drop <= small_env.reward_weights.tolerance_pts for drop in drops)
    assert [len(elite.episodes) for elite in agent.elites] == [min(within, 2)] * 2
    # imitation alone (a huge alpha-free pull): the HLC actor's output approaches the imitated actions
    features = np.random.default_rng(0).uniform(-1, 1, (22, len(agent.hlc.feature_index))).astype(np.float32)
    actions = np.full((22, 2), 0.5, np.float32)
    before = np.abs(np.stack([agent.hlc.act(f) for f in features]) - 0.5).mean()
    agent.hlc.train(200, 16, 1.0, 0.01, imitation=(features, actions), imitation_alpha=1e-6)
    after = np.abs(np.stack([agent.hlc.act(f) for f in features]) - 0.5).mean()
    assert after < 0.5 * before


def test_the_elite_margin_keeps_episodes_that_close_to_the_tolerance_out(small_env) -> None:
    tolerance, episodes = small_env.reward_weights.tolerance_pts, 6
    settings = {**SMALL, "warmup_episodes": episodes, "elite_episodes": episodes}  # every admitted episode is kept

    def admitted(margin: float) -> tuple[list[float], int]:
        agent = HierarchicalDDPG(small_env, seed=0, elite_margin_pts=margin, **settings)
        agent.learn(total_episodes=episodes)  # the sensitivity warm-up's configurations: the same for every margin
        assert len(agent.elites[0].episodes) == len(agent.elites[1].episodes)
        return [row["accuracy_drop"] for row in agent.episode_log], len(agent.elites[0].episodes)

    drops, without_margin = admitted(0.0)
    inside = sorted(drop for drop in drops if 0 < drop <= tolerance)
    assert inside, f"the warm-up's drops {drops} give the margin nothing to keep out"
    margin = tolerance - inside[0] + 0.01  # just keeps out the least-degraded episode with a positive drop
    drops_with_margin, with_margin = admitted(margin)
    assert drops_with_margin == drops
    assert without_margin == sum(drop <= tolerance for drop in drops)
    assert with_margin == sum(drop <= tolerance - margin for drop in drops) < without_margin
    with pytest.raises(ValueError, match="leaves no accuracy drop that may enter the elite"):
        HierarchicalDDPG(small_env, seed=0, elite_episodes=1, elite_margin_pts=tolerance + 0.1, **SMALL)
    with pytest.raises(ValueError, match="elite_margin_pts=-0.1"):
        HierarchicalDDPG(small_env, seed=0, elite_margin_pts=-0.1, **SMALL)


def test_elites_hold_the_played_configuration_at_bin_centres_and_the_goals_as_played(small_env) -> None:
    """Self-imitation replays what the LLC saw (the relabelled goals are for the critic's buffer only), each
    action moved to the centre of the bin of the QBN it played, so that the configuration is reproduced."""
    played = []

    def keep_actions(local_vars: dict, _: dict) -> bool:
        played.append((local_vars["observation"].copy(), local_vars["own_action"].copy(), local_vars["info"]["qbn"]))
        return True

    agent = HierarchicalDDPG(small_env, seed=3, elite_episodes=1, hindsight_relabel=True, warmup_actions="uniform",
                             llc_action="prior", **SMALL)
    agent._elite_max_drop_pts = float("inf")  # a uniform warm-up episode misses the tolerance: admit it anyway
    agent.learn(total_episodes=1, callback=keep_actions)
    core = small_env.unwrapped
    layer_steps = [(obs, action, qbn) for obs, action, qbn in played if obs[FEATURE_INDEX["is_layer_step"]] > 0.5]
    kernel_steps = [(obs, action, qbn) for obs, action, qbn in played if obs[FEATURE_INDEX["is_layer_step"]] <= 0.5]
    hlc_actions, llc_actions = (elite.episodes[0][2] for elite in agent.elites)
    np.testing.assert_allclose(hlc_actions[:, 0], [qbn_action(q, core.b_min, core.b_max) for _, _, q in layer_steps],
                               atol=1e-6)
    np.testing.assert_array_equal(hlc_actions[:, 1], [action[1] for _, action, _ in layer_steps])
    relabelled = agent.hlc.replay_buffer.actions[:core.num_layers, 0, 1]
    assert not np.allclose(relabelled, hlc_actions[:, 1])  # the buffer's goals are relabelled, the elite's not
    assert not np.allclose(llc_actions[:, 0], [action[0] for _, action, _ in kernel_steps])  # moved to centres
    for (obs, _, qbn), action in zip(kernel_steps, llc_actions[:, 0], strict=True):
        env_action = llc_env_action(float(action), float(obs[FEATURE_INDEX["goal"]]), "prior",
                                    agent.config.llc_offset_range, agent._prior_shift(obs))
        assert core.action_to_qbn(env_action) == qbn


def test_annealed_imitation_alpha_and_actor_rates_follow_the_noise_and_are_logged(small_env) -> None:
    options = {"seed": 0, "warmup_episodes": 1, "noise_sigma": 0.2, "noise_decay": 0.5, "imitation_alpha": 0.1,
               "elite_episodes": 2, **{k: v for k, v in SMALL.items() if k != "warmup_episodes"}}
    annealed = HierarchicalDDPG(small_env, imitation_anneal=True, actor_lr_anneal=True, **options)
    annealed.learn(total_episodes=4)
    constant = HierarchicalDDPG(small_env, imitation_anneal=False, actor_lr_anneal=False, **options)
    constant.learn(total_episodes=4)
    # episodes 1 (warm-up) and 2 play sigma 0.2; each later one half the one before
    assert [row["imitation_alpha"] for row in annealed.episode_log] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    assert [row["actor_lr_scale"] for row in annealed.episode_log] == pytest.approx([1, 1, 0.5, 0.25])
    assert [(row["imitation_alpha"], row["actor_lr_scale"]) for row in constant.episode_log] == [(0.1, 1.0)] * 4
    ratio = annealed.hlc.noise.sigma / 0.2
    assert annealed.annealed() == pytest.approx((0.1 * ratio, ratio))
    for controller in (annealed.hlc, annealed.llc):  # the last update ran at a quarter of the rate
        assert controller.policy.actor.optimizer.param_groups[0]["lr"] == pytest.approx(0.25 * controller.actor_lr)
        assert controller.policy.critic.optimizer.param_groups[0]["lr"] == annealed.config.critic_lr
    for option in ("imitation_anneal", "actor_lr_anneal"):
        with pytest.raises(ValueError, match=option):
            HierarchicalDDPG(small_env, **{option: "yes"})


@pytest.mark.parametrize("llc_action", ["prior", "absolute"])
def test_sensitivity_warmup_plays_the_greedy_path_through_the_controllers_actions(small_env, llc_action) -> None:
    """Each warm-up episode plays one of the greedy search's proposals for that many evaluations, QBN for
    QBN; the episode after the warm-up is the agent's own."""
    played = []

    def keep_configs(local_vars: dict, _: dict) -> bool:
        if local_vars["dones"][0]:
            played.append(local_vars["infos"][0]["config"])
        return True

    agent = HierarchicalDDPG(small_env, seed=0, warmup_actions="sensitivity", llc_action=llc_action,
                             **{**SMALL, "warmup_episodes": 3})
    agent.learn(total_episodes=4, callback=keep_configs)
    plan = GreedySensitivitySearch(small_env).proposals(3)
    def qbns(config: dict) -> tuple[list[int], list[list[int]]]:
        return [int(q) for q in config["activation_qbn"]], [[int(q) for q in k] for k in config["kernel_qbn"]]

    assert [qbns(config) for config in played[:3]] == [qbns(config) for config in plan]
    assert len({np.mean(np.concatenate(config["kernel_qbn"])) for config in plan}) == 3  # three cost levels
    assert [row["warmup"] for row in agent.episode_log] == [True, True, True, False]


def test_sensitivity_warmup_resumes_mid_warmup_exactly(small_env) -> None:
    """Stopped after 2 of 3 planned warm-up episodes, a restored agent plays the third planned one and goes on
    learning exactly as the uninterrupted agent does (the plan is remade from the env, not stored)."""
    options = dict(seed=3, warmup_actions="sensitivity", **{**SMALL, "warmup_episodes": 3})
    uninterrupted = HierarchicalDDPG(small_env, **options).learn(total_episodes=4)
    first = HierarchicalDDPG(small_env, **options).learn(total_episodes=2)
    resumed = HierarchicalDDPG.from_state_dict(first.state_dict(), small_env)
    small_env.reset()  # the env is where every episode starts, as when a run resumes (agents.sessions)
    resumed.set_training_state(first.training_state())
    resumed.learn(total_episodes=2)
    assert [row["reward"] for row in resumed.episode_log] == [row["reward"] for row in uninterrupted.episode_log]


def test_warmup_action_inverts_the_llc_mapping_within_its_reach() -> None:
    for qbn in range(2, 9):
        for goal_feature, prior in ((0.5, 0.0), (0.3, 0.4), (0.9, -0.2)):
            action = llc_action_for(qbn, goal_feature, "prior", 0.6, prior, 2, 8)
            reached = AutoQEnv.action_to_qbn(SimpleNamespace(b_min=2, b_max=8),
                                             llc_env_action(action, goal_feature, "prior", 0.6, prior))
            reachable = abs(qbn_action(qbn, 2, 8) - (2 * goal_feature - 1 + prior)) <= 0.6
            assert -1.0 <= action <= 1.0 and (reached == qbn if reachable else abs(action) == 1.0)
    assert AutoQEnv.action_to_qbn(SimpleNamespace(b_min=2, b_max=8), goal_action(5.0, 2, 8)) == 5


def test_policy_warmup_explores_around_the_untrained_actor_seeded_and_bounded(small_env) -> None:
    observation, _ = small_env.reset(seed=0)
    draws = {}
    for mode in ("policy", "policy", "uniform"):
        agent = HierarchicalDDPG(small_env, seed=5, warmup_actions=mode, noise_sigma=0.2, **SMALL)
        actor = agent.hlc.act(agent.hlc.select(observation))
        actions = np.stack([agent._exploration_action(observation, warmup=True) for _ in range(200)])
        assert np.all(np.abs(actions) <= 1.0)
        draws.setdefault(mode, []).append(actions - actor)
    np.testing.assert_array_equal(*draws["policy"])  # seeded
    assert np.abs(draws["policy"][0]).max() <= 2 * 0.2 + 1e-6  # the truncated noise around the actor
    assert np.abs(draws["uniform"][0]).max() > 0.6  # uniform warm-up actions span the whole range
    with pytest.raises(ValueError, match="warmup_actions"):
        HierarchicalDDPG(small_env, warmup_actions="random")
