"""One DDPG actor-critic of the hierarchy: a stable-baselines3 ``TD3Policy`` and its replay buffer.

DDPG is TD3 with one critic, no target-policy smoothing and an actor update at every critic update
(stable-baselines3's ``DDPG`` is built the same way). ``Controller.train`` is that update, written
for networks this small (300x300, batch 64), where per-call overhead costs as much as the matrix
products: minibatches are gathered for all of a ``train`` call's updates at once, the networks are
called directly, the actor's backward pass skips the critic's weight gradients (which the critic's
next ``zero_grad`` used to discard), Adam is the fused single-kernel implementation, and the target
networks are updated with ``torch._foreach`` ops. ``python -m benchmarks.agent_speed`` measures it
against stable-baselines3's sampling and update path.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch as th
import torch.nn.functional as F
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.torch_layers import FlattenExtractor
from stable_baselines3.td3.policies import TD3Policy

from agents.hierarchical.additive import EpisodeReturns
from agents.noise import DecayingTruncatedNormalNoise
from autoq_env.env import FEATURE_INDEX, LAYER_FEATURES, OBSERVATION_FEATURES

# The high-level controller sees the layer (and the running cost estimates); the low-level one sees
# everything a kernel step offers: the layer, its activation QBN, the goal, the running mean QBN of
# the layer and the kernel's own statistics.
HLC_FEATURES = (*LAYER_FEATURES, "qbn_cap", "latency_rel_estimate", "energy_rel_estimate", "progress")
LLC_FEATURES = OBSERVATION_FEATURES[1:]
# Mixed into the seed of each controller's minibatch generator, so that it draws a stream of its own,
# not the one of the exploration noise seeded with the same number.
SAMPLE_STREAM = 0x5A3D
_FUSED_ADAM_DEVICES = ("cpu", "cuda")  # where torch.optim.Adam(fused=True) has a kernel


class Controller:
    """A DDPG learner on a subset of the env's observation features.

    :param features: names of the observation features this controller sees.
    :param action_dim: size of its action (in ``[-1, 1]``).
    :param net_arch: hidden layers of actor and critic.
    :param actor_lr: actor learning rate; ``critic_lr`` the critic's.
    :param buffer_size: replay buffer capacity in transitions (bounded memory).
    :param noise_sigma: initial std of the truncated-normal exploration noise, decayed by
        ``noise_decay`` per episode down to ``noise_min_sigma``.
    :param seed: seeds the exploration noise (``seed``) and the minibatch sampler
        (``[seed, SAMPLE_STREAM]``); ``None``: fresh entropy.

    Minibatches are drawn uniformly, with replacement, from the filled part of ``replay_buffer`` (as
    stable-baselines3's ``ReplayBuffer.sample``), by ``sample_rng``, a ``numpy.random.Generator``
    (PCG64) of this controller, not numpy's global generator; its state is part of ``state_dict``.
    """

    def __init__(self, features: Sequence[str], action_dim: int, net_arch: Sequence[int], actor_lr: float,
                 critic_lr: float, buffer_size: int, noise_sigma: float, noise_decay: float, noise_min_sigma: float,
                 seed: int | None, device: str | th.device = "cpu") -> None:
        self.device = th.device(device)
        self.feature_index = np.array([FEATURE_INDEX[name] for name in features])
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(len(features),), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(action_dim,), dtype=np.float32)
        self.policy = TD3Policy(self.observation_space, self.action_space, lambda _: critic_lr,
                                net_arch=list(net_arch), n_critics=1,
                                optimizer_kwargs={"fused": self.device.type in _FUSED_ADAM_DEVICES}).to(self.device)
        _check_flatten(self.policy)
        self.actor_lr = actor_lr
        self.scale_actor_lr(1.0)
        self.replay_buffer = ReplayBuffer(buffer_size, self.observation_space, self.action_space, device=self.device,
                                          handle_timeout_termination=False)
        self.noise = DecayingTruncatedNormalNoise(np.zeros(action_dim), sigma=noise_sigma, decay=noise_decay,
                                                  min_sigma=noise_min_sigma, seed=seed)
        self.sample_rng = np.random.default_rng(None if seed is None else [seed, SAMPLE_STREAM])
        self._input = th.zeros((1, len(features)), dtype=th.float32, device=self.device)  # ``act``'s input
        self._input_array = self._input.numpy() if self.device.type == "cpu" else np.zeros((1, len(features)),
                                                                                           np.float32)

    def scale_actor_lr(self, factor: float) -> None:
        """Set the actor optimizer's learning rate to ``actor_lr x factor`` (a schedule; the critic's stays)."""
        for group in self.policy.actor.optimizer.param_groups:
            group["lr"] = self.actor_lr * factor

    def select(self, observation: np.ndarray) -> np.ndarray:
        """This controller's features of one or more env observations."""
        return np.asarray(observation, dtype=np.float32)[..., self.feature_index]

    def act(self, features: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
        """Deterministic actor output for one observation's features, plus ``noise``, clipped to ``[-1, 1]``.

        The features are copied into a tensor allocated once (on the CPU it shares its memory with a
        numpy array), so a call allocates nothing but the network's own intermediate results.
        """
        self._input_array[0] = features
        if self._input.device.type != "cpu":
            self._input.copy_(th.from_numpy(self._input_array), non_blocking=False)
        with th.inference_mode():
            action = self.policy.actor.mu(self._input)[0].cpu().numpy()
        if noise is not None:
            action = action + noise
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    def store(self, features: np.ndarray, next_features: np.ndarray, action: np.ndarray, reward: float,
              done: bool) -> None:
        """Add one transition (``store_many`` with one row)."""
        self.store_many(features[None], next_features[None], action[None], np.array([reward]), np.array([done]))

    def store_many(self, features: np.ndarray, next_features: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
                   dones: np.ndarray) -> None:
        """Add ``n`` transitions (arrays with ``n`` rows) at once, exactly as ``n`` calls of ``store`` would
        (the same rows in the same places of the ring buffer, the oldest overwritten when it is full)."""
        buffer, n = self.replay_buffer, len(features)
        if n > buffer.buffer_size:
            raise ValueError(f"{n} transitions do not fit a replay buffer of {buffer.buffer_size}")
        rows = (buffer.pos + np.arange(n)) % buffer.buffer_size
        for name, values in (("observations", features), ("next_observations", next_features),
                             ("actions", actions), ("rewards", rewards), ("dones", dones)):
            target = getattr(buffer, name)
            target[rows, 0] = np.asarray(values).reshape(target[rows, 0].shape)
        buffer.full = buffer.full or buffer.pos + n >= buffer.buffer_size
        buffer.pos = (buffer.pos + n) % buffer.buffer_size

    def sample_indices(self, gradient_steps: int, batch_size: int) -> np.ndarray:
        """Replay-buffer rows of ``gradient_steps`` minibatches, shape ``(gradient_steps, batch_size)``:
        uniform over the filled part, drawn from ``sample_rng`` in one call."""
        buffer = self.replay_buffer
        return self.sample_rng.integers(0, buffer.buffer_size if buffer.full else buffer.pos,
                                        size=(gradient_steps, batch_size))

    def train(self, gradient_steps: int, batch_size: int, gamma: float, tau: float,
              imitation: tuple[np.ndarray, np.ndarray] | None = None,
              imitation_alpha: float = 2.5) -> dict[str, float]:
        """``gradient_steps`` DDPG updates on minibatches from the replay buffer; returns mean losses.

        Each update: the critic regresses ``Q(s, a)`` on ``r + (1 - d) * gamma * Q'(s', pi'(s'))``
        (mean squared error), then the actor minimises ``-Q(s, pi(s))``, then both target networks
        move towards their networks by ``tau`` (polyak averaging). With ``imitation`` (features and
        actions to imitate, ``agents.hierarchical.elite``) the actor minimises the TD3+BC loss
        ``-imitation_alpha Q(s, pi(s)) / mean|Q| + mean (pi(s_e) - a_e)^2`` instead, a minibatch of
        ``batch_size`` imitated rows per update drawn from ``sample_rng``.
        """
        if self.replay_buffer.size() == 0 or gradient_steps <= 0:
            return {}
        policy = self.policy
        actor, critic = policy.actor.mu, policy.critic.q_networks[0]
        actor_target, critic_target = policy.actor_target.mu, policy.critic_target.q_networks[0]
        actor_params, critic_params = list(actor.parameters()), list(critic.parameters())
        targets = list(actor_target.parameters()) + list(critic_target.parameters())
        sources = actor_params + critic_params
        observations, actions, next_observations, rewards, dones = self._minibatches(gradient_steps, batch_size)
        imitated = self._imitation_minibatches(imitation, gradient_steps, batch_size)
        actor_losses, critic_losses = [], []
        policy.set_training_mode(True)
        for step in range(gradient_steps):
            observation, next_observation = observations[step], next_observations[step]
            with th.no_grad():
                next_q = critic_target(th.cat([next_observation, actor_target(next_observation)], dim=1))
                target_q = rewards[step] + (1 - dones[step]) * gamma * next_q
            critic_loss = self._critic_step(F.mse_loss(critic(th.cat([observation, actions[step]], dim=1)), target_q))
            actor_loss = self._actor_step(critic(th.cat([observation, actor(observation)], dim=1)), imitated, step,
                                          imitation_alpha)
            with th.no_grad():
                th._foreach_mul_(targets, 1 - tau)
                th._foreach_add_(targets, sources, alpha=tau)
            actor_losses.append(actor_loss)
            critic_losses.append(critic_loss)
        policy.set_training_mode(False)
        return _mean_losses(actor_losses, critic_losses)

    def train_additive(self, episodes: EpisodeReturns, gradient_steps: int, batch_size: int,
                       imitation: tuple[np.ndarray, np.ndarray] | None = None,
                       imitation_alpha: float = 2.5) -> dict[str, float]:
        """``gradient_steps`` updates of an additive critic (``agents.hierarchical.additive``); mean losses.

        Each update draws ``batch_size`` whole episodes (uniformly, with replacement, by ``sample_rng``);
        the critic regresses each episode's return on the sum over its steps of ``Q(s_l, a_l)`` (mean
        squared error); the actor then minimises ``-Q(s, pi(s))`` over the episodes' states (the TD3+BC
        loss with ``imitation``, as in ``train``). Nothing bootstraps, so the target networks are not used.
        """
        if len(episodes) == 0 or gradient_steps <= 0:
            return {}
        actor, critic = self.policy.actor.mu, self.policy.critic.q_networks[0]
        rows = self.sample_rng.integers(0, len(episodes), size=(gradient_steps, batch_size))
        features, actions, returns = (th.as_tensor(array[rows], device=self.device)
                                      for array in (episodes.features, episodes.actions, episodes.returns))
        imitated = self._imitation_minibatches(imitation, gradient_steps, batch_size)
        actor_losses, critic_losses = [], []
        self.policy.set_training_mode(True)
        for step in range(gradient_steps):
            observation = features[step]  # (batch, steps, features)
            critic_losses.append(self._critic_step(F.mse_loss(
                critic(th.cat([observation, actions[step]], dim=2)).sum(dim=(1, 2)), returns[step])))
            actor_losses.append(self._actor_step(critic(th.cat([observation, actor(observation)], dim=2)), imitated,
                                                 step, imitation_alpha))
        self.policy.set_training_mode(False)
        return _mean_losses(actor_losses, critic_losses)

    def _imitation_minibatches(self, imitation: tuple[np.ndarray, np.ndarray] | None, gradient_steps: int,
                               batch_size: int) -> tuple[th.Tensor, th.Tensor] | None:
        """Features and actions of ``gradient_steps`` minibatches of imitated rows, drawn by ``sample_rng``."""
        if imitation is None:
            return None
        rows = self.sample_rng.integers(0, len(imitation[0]), size=(gradient_steps, batch_size))
        features, actions = (th.as_tensor(array[rows], device=self.device) for array in imitation)
        return features, actions

    def _critic_step(self, critic_loss: th.Tensor) -> th.Tensor:
        """One optimizer step of the critic on ``critic_loss``; returns the loss, detached."""
        for param in self.policy.critic.q_networks[0].parameters():
            param.grad = None
        critic_loss.backward()
        self.policy.critic.optimizer.step()
        return critic_loss.detach()

    def _actor_step(self, q: th.Tensor, imitated: tuple[th.Tensor, th.Tensor] | None, step: int,
                    imitation_alpha: float) -> th.Tensor:
        """One optimizer step of the actor on ``-Q(s, pi(s))`` (``q``), or on the TD3+BC loss with the
        ``step``-th imitated minibatch; returns the loss, detached."""
        actor = self.policy.actor.mu
        if imitated is None:
            actor_loss = -q.mean()
        else:
            actor_loss = -imitation_alpha * q.mean() / q.abs().mean().detach().clamp_min(1e-6) + F.mse_loss(
                actor(imitated[0][step]), imitated[1][step])
        actor_params = list(actor.parameters())
        for param in actor_params:
            param.grad = None
        actor_loss.backward(inputs=actor_params)  # the critic's weight gradients are not needed
        self.policy.actor.optimizer.step()
        return actor_loss.detach()

    def _minibatches(self, gradient_steps: int, batch_size: int) -> list[th.Tensor]:
        """Observations, actions, next observations, rewards and dones of ``gradient_steps`` minibatches,
        each of shape ``(gradient_steps, batch_size, ...)``, gathered at once on ``self.device`` (the
        buffer has ``handle_timeout_termination`` off, so its dones are what SB3's ``sample`` returns)."""
        rows = self.sample_indices(gradient_steps, batch_size).reshape(-1)
        buffer = self.replay_buffer
        return [th.as_tensor(array[rows, 0].reshape(gradient_steps, batch_size, -1), device=self.device)
                for array in (buffer.observations, buffer.actions, buffer.next_observations, buffer.rewards,
                              buffer.dones)]

    def state_dict(self) -> dict:
        return {"policy": self.policy.state_dict(), "actor_optimizer": self.policy.actor.optimizer.state_dict(),
                "critic_optimizer": self.policy.critic.optimizer.state_dict(), "noise": self.noise.get_state(),
                "sample_rng": self.sample_rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.policy.load_state_dict(state["policy"])
        _load_optimizer(self.policy.actor.optimizer, state["actor_optimizer"])
        _load_optimizer(self.policy.critic.optimizer, state["critic_optimizer"])
        self.noise.set_state(state["noise"])
        if "sample_rng" in state:  # absent from files saved before minibatches had a generator of their own
            self.sample_rng.bit_generator.state = state["sample_rng"]



def _mean_losses(actor_losses: list[th.Tensor], critic_losses: list[th.Tensor]) -> dict[str, float]:
    return {"actor_loss": float(np.mean(th.stack(actor_losses).tolist())),
            "critic_loss": float(np.mean(th.stack(critic_losses).tolist()))}


def _check_flatten(policy: TD3Policy) -> None:
    """``train`` and ``act`` call the actor's and critic's MLPs directly: their features extractors must
    be the identity that stable-baselines3 builds for a flat ``Box`` (``FlattenExtractor``)."""
    for network in (policy.actor, policy.actor_target, policy.critic, policy.critic_target):
        if not isinstance(network.features_extractor, FlattenExtractor):
            raise TypeError(f"expected a FlattenExtractor, got {type(network.features_extractor).__name__}")


def _load_optimizer(optimizer: th.optim.Optimizer, state: dict) -> None:
    """``optimizer.load_state_dict(state)``, keeping the optimizer's own implementation flags: a state
    saved without fused Adam (older files) would otherwise switch it back to the slower kernel."""
    flags = [(group.get("fused"), group.get("foreach")) for group in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, (fused, foreach) in zip(optimizer.param_groups, flags, strict=True):
        group["fused"], group["foreach"] = fused, foreach
        for param in group["params"] if fused else ():
            param_state = optimizer.state.get(param, {})
            if "step" in param_state:  # the fused kernel keeps its step counts on the parameters' device
                param_state["step"] = param_state["step"].to(device=param.device, dtype=th.float32)
