"""One DDPG actor-critic of the hierarchy: a stable-baselines3 ``TD3Policy`` and its replay buffer.

DDPG is TD3 with one critic, no target-policy smoothing and an actor update at every critic update
(stable-baselines3's ``DDPG`` is built the same way). ``Controller.train`` is that update.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch as th
import torch.nn.functional as F
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.utils import polyak_update
from stable_baselines3.td3.policies import TD3Policy

from agents.noise import DecayingTruncatedNormalNoise
from autoq_env.env import FEATURE_INDEX, LAYER_FEATURES, OBSERVATION_FEATURES

# The high-level controller sees the layer (and the running cost estimates); the low-level one sees
# everything a kernel step offers: the layer, its activation QBN, the goal, the running mean QBN of
# the layer and the kernel's own statistics.
HLC_FEATURES = (*LAYER_FEATURES, "qbn_cap", "latency_rel_estimate", "energy_rel_estimate", "progress")
LLC_FEATURES = OBSERVATION_FEATURES[1:]


class Controller:
    """A DDPG learner on a subset of the env's observation features.

    :param features: names of the observation features this controller sees.
    :param action_dim: size of its action (in ``[-1, 1]``).
    :param net_arch: hidden layers of actor and critic.
    :param actor_lr: actor learning rate; ``critic_lr`` the critic's.
    :param buffer_size: replay buffer capacity in transitions (bounded memory).
    :param noise_sigma: initial std of the truncated-normal exploration noise, decayed by
        ``noise_decay`` per episode down to ``noise_min_sigma``.
    """

    def __init__(self, features: Sequence[str], action_dim: int, net_arch: Sequence[int], actor_lr: float,
                 critic_lr: float, buffer_size: int, noise_sigma: float, noise_decay: float, noise_min_sigma: float,
                 seed: int | None, device: str | th.device = "cpu") -> None:
        self.feature_index = np.array([FEATURE_INDEX[name] for name in features])
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(len(features),), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(action_dim,), dtype=np.float32)
        self.policy = TD3Policy(self.observation_space, self.action_space, lambda _: critic_lr,
                                net_arch=list(net_arch), n_critics=1).to(device)
        for group in self.policy.actor.optimizer.param_groups:
            group["lr"] = actor_lr
        self.replay_buffer = ReplayBuffer(buffer_size, self.observation_space, self.action_space, device=device,
                                          handle_timeout_termination=False)
        self.noise = DecayingTruncatedNormalNoise(np.zeros(action_dim), sigma=noise_sigma, decay=noise_decay,
                                                  min_sigma=noise_min_sigma, seed=seed)
        self.device = th.device(device)

    def select(self, observation: np.ndarray) -> np.ndarray:
        """This controller's features of one or more env observations."""
        return np.asarray(observation, dtype=np.float32)[..., self.feature_index]

    def act(self, features: np.ndarray, explore: bool) -> np.ndarray:
        """Deterministic actor output, plus exploration noise when ``explore``, clipped to ``[-1, 1]``."""
        with th.no_grad():
            action = self.policy.actor(th.as_tensor(features, device=self.device).reshape(1, -1)).cpu().numpy()[0]
        if explore:
            action = action + self.noise()
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    def store(self, features: np.ndarray, next_features: np.ndarray, action: np.ndarray, reward: float,
              done: bool) -> None:
        self.replay_buffer.add(features[None], next_features[None], action[None], np.array([reward]),
                               np.array([done]), [{}])

    def train(self, gradient_steps: int, batch_size: int, gamma: float, tau: float) -> dict[str, float]:
        """``gradient_steps`` DDPG updates on minibatches from the replay buffer; returns mean losses."""
        if self.replay_buffer.size() == 0 or gradient_steps <= 0:
            return {}
        self.policy.set_training_mode(True)
        actor, critic = self.policy.actor, self.policy.critic
        actor_losses, critic_losses = [], []
        for _ in range(gradient_steps):
            batch = self.replay_buffer.sample(batch_size)
            with th.no_grad():
                next_q = self.policy.critic_target.q1_forward(batch.next_observations,
                                                              self.policy.actor_target(batch.next_observations))
                target_q = batch.rewards + (1 - batch.dones) * gamma * next_q
            critic_loss = F.mse_loss(critic.q1_forward(batch.observations, batch.actions), target_q)
            critic.optimizer.zero_grad()
            critic_loss.backward()
            critic.optimizer.step()
            actor_loss = -critic.q1_forward(batch.observations, actor(batch.observations)).mean()
            actor.optimizer.zero_grad()
            actor_loss.backward()
            actor.optimizer.step()
            polyak_update(critic.parameters(), self.policy.critic_target.parameters(), tau)
            polyak_update(actor.parameters(), self.policy.actor_target.parameters(), tau)
            actor_losses.append(actor_loss.item())
            critic_losses.append(critic_loss.item())
        self.policy.set_training_mode(False)
        return {"actor_loss": float(np.mean(actor_losses)), "critic_loss": float(np.mean(critic_losses))}

    def state_dict(self) -> dict:
        return {"policy": self.policy.state_dict(), "actor_optimizer": self.policy.actor.optimizer.state_dict(),
                "critic_optimizer": self.policy.critic.optimizer.state_dict(), "noise": self.noise.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.policy.load_state_dict(state["policy"])
        self.policy.actor.optimizer.load_state_dict(state["actor_optimizer"])
        self.policy.critic.optimizer.load_state_dict(state["critic_optimizer"])
        self.noise.set_state(state["noise"])
