"""Agent work per episode of the hierarchical DDPG: ``Controller.train`` and ``Controller.act``.

    python -m benchmarks.agent_speed [--threads 1 2] [--repeats 5] [--buffer-episodes 20] [--check-steps 20]
                                     [--loop-episodes 3]

Builds the two controllers of ``HierarchicalDDPG`` (agents/hierarchical/hrl.py) as it does (HLC:
``HLC_FEATURES``, action dim 2; LLC: ``LLC_FEATURES``, action dim 1; networks, learning rates, batch,
gamma, tau and gradient steps from ``agents/hyperparams/hrl.yml``), fills their replay buffers with
``--buffer-episodes`` episodes of random transitions (22 layer steps and 794 kernel steps each, as
on ResNet-20) and times one episode's agent work:

* train: ``hlc.train(hlc_gradient_steps)`` + ``llc.train(llc_gradient_steps)`` (32 + 256 updates);
* act: one ``act`` per env step (22 HLC + 794 LLC calls, with exploration noise); the reference
  converts each observation to a new tensor, the controller copies it into one allocated once.

These use no env. ``--loop-episodes`` then times the step loop on a real env (``search_samples=200``):
the episode's 816 ``step`` calls with fixed actions through stable-baselines3's ``DummyVecEnv`` (which
``HierarchicalDDPG`` used to step) against ``env.step`` called directly (what it does now), both
including the env's own work; their difference is the VecEnv's overhead per episode.
Each measurement is taken for ``Controller`` (agents/hierarchical/policies.py) and for
``ReferenceController`` below, the implementation it replaced (stable-baselines3's
``ReplayBuffer.sample`` and ``polyak_update``, single-tensor Adam, a ``.item()`` per loss), in the
same process, alternating, at each torch thread count; the result is the ratio reference /
optimized (medians over ``--repeats``), which holds on a noisy shared machine where absolute seconds
do not. Before timing, ``--check-steps`` updates of both, from the same weights on the same
minibatches, are compared: bit-identical with the reference's Adam, and within float32 rounding
with the fused Adam the controller uses. A breakdown times the parts that changed on their own.
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable

import numpy as np
import torch as th
import torch.nn.functional as F
from stable_baselines3.common.utils import polyak_update

from agents.hierarchical.hrl import HRLConfig
from agents.hierarchical.policies import HLC_FEATURES, LLC_FEATURES, Controller


class ReferenceController(Controller):
    """``Controller`` as it was before the speed-up: the same DDPG update through stable-baselines3's
    ``ReplayBuffer.sample`` (numpy's global generator, a numpy->torch copy per array per update),
    ``polyak_update``, Adam's default (single-tensor on CPU) implementation and a ``.item()`` per loss."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        actor, critic = self.policy.actor, self.policy.critic
        actor.optimizer = th.optim.Adam(actor.parameters(), lr=actor.optimizer.param_groups[0]["lr"])
        critic.optimizer = th.optim.Adam(critic.parameters(), lr=critic.optimizer.param_groups[0]["lr"])

    def act(self, features: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
        with th.no_grad():
            action = self.policy.actor(th.as_tensor(features, device=self.device).reshape(1, -1)).cpu().numpy()[0]
        if noise is not None:
            action = action + noise
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    def train(self, gradient_steps: int, batch_size: int, gamma: float, tau: float,
              batches: list | None = None) -> dict[str, float]:
        """The reference update; ``batches`` (one ``ReplayBufferSamples`` per step) replaces sampling."""
        if self.replay_buffer.size() == 0 or gradient_steps <= 0:
            return {}
        self.policy.set_training_mode(True)
        actor, critic = self.policy.actor, self.policy.critic
        actor_losses, critic_losses = [], []
        for step in range(gradient_steps):
            batch = self.replay_buffer.sample(batch_size) if batches is None else batches[step]
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


def build(kind: type[Controller], features: tuple[str, ...], action_dim: int, buffer_size: int,
          config: HRLConfig, seed: int) -> Controller:
    """A controller built as ``HierarchicalDDPG`` builds it, its networks initialised from ``seed``."""
    th.manual_seed(seed)
    return kind(features, action_dim, net_arch=config.net_arch, actor_lr=config.actor_lr,
                critic_lr=config.critic_lr, buffer_size=buffer_size, noise_sigma=config.noise_sigma,
                noise_decay=config.noise_decay, noise_min_sigma=config.noise_min_sigma, seed=seed)


def fill(controller: Controller, transitions: int, seed: int, done_every: int) -> None:
    """Store ``transitions`` random transitions (every ``done_every``-th one ends an episode)."""
    rng = np.random.default_rng(seed)
    n_features, action_dim = controller.observation_space.shape[0], controller.action_space.shape[0]
    features = rng.uniform(-1, 1, (transitions + 1, n_features)).astype(np.float32)
    actions = rng.uniform(-1, 1, (transitions, action_dim)).astype(np.float32)
    rewards = rng.normal(0, 0.3, transitions)
    for i in range(transitions):
        controller.store(features[i], features[i + 1], actions[i], float(rewards[i]), (i + 1) % done_every == 0)


def _timed(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def _parameters(controller: Controller) -> list[th.Tensor]:
    return [p.detach().clone() for p in controller.policy.parameters()]


def check(config: HRLConfig, buffer_episodes: int, steps: int, seed: int) -> None:
    """Same weights, same minibatches: the optimized update against the reference, parameter by parameter."""
    for name, features, action_dim, per_episode in (("hlc", HLC_FEATURES, 2, 22), ("llc", LLC_FEATURES, 1, 16)):
        optimized = build(Controller, features, action_dim, per_episode * buffer_episodes, config, seed)
        fill(optimized, per_episode * buffer_episodes, seed, per_episode)
        results = {}
        for fused in (False, True):
            mine = copy.deepcopy(optimized)
            for optimizer in (mine.policy.actor.optimizer, mine.policy.critic.optimizer):
                for group in optimizer.param_groups:
                    group["fused"] = fused
            reference = build(ReferenceController, features, action_dim, 1, config, seed + 1)
            reference.policy.load_state_dict(mine.policy.state_dict())
            reference.replay_buffer = mine.replay_buffer
            indices = copy.deepcopy(mine).sample_indices(steps, config.batch_size)
            batches = [mine.replay_buffer._get_samples(rows) for rows in indices]
            losses = mine.train(steps, config.batch_size, config.gamma, config.tau)
            reference_losses = reference.train(steps, config.batch_size, config.gamma, config.tau, batches=batches)
            differences = [float((a - b).abs().max()) for a, b in zip(_parameters(mine), _parameters(reference),
                                                                       strict=True)]
            scale = max(float(p.abs().max()) for p in _parameters(reference))
            results[fused] = (max(differences), scale, losses, reference_losses)
        exact, _, losses, reference_losses = results[False]
        if exact != 0.0 or losses != reference_losses:
            raise AssertionError(f"{name}: with the reference's Adam the update differs (max |diff| {exact:g})")
        fused_difference, scale, _, _ = results[True]
        if fused_difference > 1e-4 * scale:
            raise AssertionError(f"{name}: with fused Adam the parameters differ by {fused_difference:g}")
        print(f"check {name}: {steps} updates on the same minibatches: single-tensor Adam bit-identical to the "
              f"reference; fused Adam max |param diff| {fused_difference:.2e} (largest |param| {scale:.2f})")


def breakdown(config: HRLConfig, buffer_size: int, seed: int, repeats: int) -> None:
    """The parts that changed, alone, on the LLC: sampling, target update, Adam step (per episode of updates)."""
    steps, batch = config.llc_gradient_steps, config.batch_size
    controller = build(Controller, LLC_FEATURES, 1, buffer_size, config, seed)
    fill(controller, buffer_size, seed, 16)
    policy = controller.policy
    online = list(policy.actor.parameters()) + list(policy.critic.parameters())
    targets = list(policy.actor_target.parameters()) + list(policy.critic_target.parameters())
    for p in online:
        p.grad = th.randn_like(p) * 1e-3
    single = th.optim.Adam(online, lr=1e-4, fused=False)
    fused = th.optim.Adam(online, lr=1e-4, fused=True)

    def sb3_polyak() -> None:
        for _ in range(steps):
            polyak_update(policy.critic.parameters(), policy.critic_target.parameters(), config.tau)
            polyak_update(policy.actor.parameters(), policy.actor_target.parameters(), config.tau)

    def foreach_polyak() -> None:
        for _ in range(steps):
            with th.no_grad():
                th._foreach_mul_(targets, 1 - config.tau)
                th._foreach_add_(targets, online, alpha=config.tau)

    def adam(optimizer: th.optim.Optimizer) -> Callable[[], None]:
        return lambda: [optimizer.step() for _ in range(steps)]

    parts = {
        "sampling": (lambda: [controller.replay_buffer.sample(batch) for _ in range(steps)],
                     lambda: controller._minibatches(steps, batch)),
        "target update": (sb3_polyak, foreach_polyak),
        "Adam steps (actor+critic)": (adam(single), adam(fused)),
    }
    for part, (before, after) in parts.items():
        before_s, after_s = [], []
        for _ in range(repeats):
            before_s.append(_timed(before))
            after_s.append(_timed(after))
        b, a = float(np.median(before_s)), float(np.median(after_s))
        print(f"  {part:26s} x{steps}: reference {b * 1e3:7.1f} ms, optimized {a * 1e3:7.1f} ms ({b / a:5.1f}x)")


def measure(config: HRLConfig, args: argparse.Namespace) -> dict[int, dict[str, float]]:
    """Median seconds per episode of train and act, reference and optimized, per torch thread count.

    The thread counts and the two implementations alternate within every repeat, so that a change in
    the machine's load hits them all alike.
    """
    layer_steps, kernel_steps = args.layer_steps, args.kernel_steps
    controllers = {}
    for kind in (ReferenceController, Controller):
        hlc = build(kind, HLC_FEATURES, 2, config.hlc_buffer_size, config, args.seed)
        llc = build(kind, LLC_FEATURES, 1, config.llc_buffer_size, config, args.seed + 1)
        fill(hlc, layer_steps * args.buffer_episodes, args.seed, layer_steps)
        fill(llc, kernel_steps * args.buffer_episodes, args.seed + 1, max(kernel_steps // layer_steps, 1))
        controllers[kind] = (hlc, llc)
    rng = np.random.default_rng(args.seed)
    hlc_inputs = rng.uniform(-1, 1, (layer_steps, len(HLC_FEATURES))).astype(np.float32)
    llc_inputs = rng.uniform(-1, 1, (kernel_steps, len(LLC_FEATURES))).astype(np.float32)

    def train(hlc: Controller, llc: Controller) -> None:
        hlc.train(config.hlc_gradient_steps, config.batch_size, config.gamma, config.tau)
        llc.train(config.llc_gradient_steps, config.batch_size, config.gamma, config.tau)

    def act(hlc: Controller, llc: Controller) -> None:
        for row in hlc_inputs:
            hlc.act(row, hlc.noise())
        for row in llc_inputs:
            llc.act(row, llc.noise())

    times: dict[int, dict[str, list[float]]] = {threads: {} for threads in args.threads}
    for repeat in range(args.repeats + 1):  # repeat 0 is a warm-up (first calls allocate)
        for threads in args.threads:
            th.set_num_threads(threads)
            for kind, label in ((ReferenceController, "reference"), (Controller, "optimized")):
                hlc, llc = controllers[kind]
                train_s = _timed(lambda: train(hlc, llc))  # noqa: B023  (called at once)
                act_s = _timed(lambda: act(hlc, llc))  # noqa: B023
                if repeat:
                    times[threads].setdefault(f"train {label}", []).append(train_s)
                    times[threads].setdefault(f"act {label}", []).append(act_s)
    return {threads: {key: float(np.median(values)) for key, values in by_key.items()}
            for threads, by_key in times.items()}


def step_loop(episodes: int) -> tuple[float, float]:
    """Median seconds per episode of the step loop: through ``DummyVecEnv`` and calling ``env.step`` directly
    (the same fixed actions, alternating, the env's own work included in both)."""
    import gymnasium as gym
    from stable_baselines3.common.vec_env import DummyVecEnv

    import autoq_env  # noqa: F401  (registers the envs)

    env = gym.make("AutoQ-ResNet-v0", search_samples=200)
    vec_env = DummyVecEnv([lambda: env])
    action = np.array([0.6, 0.3], dtype=np.float32)

    def through_vec_env() -> None:
        vec_env.reset()
        done = False
        while not done:
            _, _, dones, _ = vec_env.step(action[None])
            done = bool(dones[0])

    def direct() -> None:
        env.reset()
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
        env.reset()  # DummyVecEnv resets a finished env at once

    through_vec_env()  # warm-up
    vec_s, direct_s = [], []
    for _ in range(episodes):
        vec_s.append(_timed(through_vec_env))
        direct_s.append(_timed(direct))
    return float(np.median(vec_s)), float(np.median(direct_s))


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=_positive, nargs="+", default=[1, 2],
                        help="torch thread counts to measure (default: 1 2)")
    parser.add_argument("--repeats", type=_positive, default=5, help="timed episodes per implementation")
    parser.add_argument("--buffer-episodes", type=_positive, default=20,
                        help="episodes of random transitions in the replay buffers")
    parser.add_argument("--layer-steps", type=_positive, default=22, help="HLC steps per episode (ResNet-20: 22)")
    parser.add_argument("--kernel-steps", type=_positive, default=794, help="LLC steps per episode (ResNet-20: 794)")
    parser.add_argument("--check-steps", type=int, default=20,
                        help="updates compared against the reference before timing (0: no check)")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the per-part timings")
    parser.add_argument("--loop-episodes", type=int, default=3,
                        help="episodes of the step-loop timing on a real env (0: skip it)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.check_steps < 0 or args.loop_episodes < 0:
        parser.error("--check-steps and --loop-episodes must be >= 0")
    if args.seed < 0:
        parser.error("--seed must be >= 0 (numpy seeds are non-negative)")
    config = HRLConfig.from_yaml()
    initial_threads = th.get_num_threads()
    print(f"torch {th.__version__}, {initial_threads} threads by default; per episode: "
          f"{config.hlc_gradient_steps} + {config.llc_gradient_steps} updates (batch {config.batch_size}, "
          f"MLP {'x'.join(map(str, config.net_arch))}), {args.layer_steps} + {args.kernel_steps} act calls; "
          f"buffers: {args.buffer_episodes} episodes")
    try:
        if args.check_steps:
            th.set_num_threads(min(args.threads))
            check(config, args.buffer_episodes, args.check_steps, args.seed)
        results = measure(config, args)
        for threads in args.threads:
            th.set_num_threads(threads)
            if not args.no_breakdown:
                print(f"breakdown, {threads} thread(s):")
                breakdown(config, args.kernel_steps * args.buffer_episodes, args.seed, args.repeats)
    finally:
        th.set_num_threads(initial_threads)
    steps = config.hlc_gradient_steps + config.llc_gradient_steps
    calls = args.layer_steps + args.kernel_steps
    print(f"\nseconds per episode of agent work (median of {args.repeats}); ratio = reference / optimized")
    print(f"{'threads':>7} {'train ref':>10} {'train opt':>10} {'ratio':>6} {'act ref':>8} {'act opt':>8} "
          f"{'ratio':>6} {'total ref':>10} {'total opt':>10} {'ratio':>6}")
    for threads, r in results.items():
        total_ref = r["train reference"] + r["act reference"]
        total_opt = r["train optimized"] + r["act optimized"]
        print(f"{threads:>7} {r['train reference']:>10.3f} {r['train optimized']:>10.3f} "
              f"{r['train reference'] / r['train optimized']:>5.2f}x {r['act reference']:>8.3f} "
              f"{r['act optimized']:>8.3f} {r['act reference'] / r['act optimized']:>5.2f}x "
              f"{total_ref:>10.3f} {total_opt:>10.3f} {total_ref / total_opt:>5.2f}x")
    for threads, r in results.items():
        print(f"update cost, {threads} thread(s): {r['train optimized'] / steps * 1e3:.2f} ms per DDPG update "
              f"({steps} per episode); act {r['act optimized'] / calls * 1e6:.0f} us per call ({calls} per episode)")
    if args.loop_episodes > 0:
        vec_s, direct_s = step_loop(args.loop_episodes)
        print(f"step loop on the real env (search_samples=200), median of {args.loop_episodes}: DummyVecEnv "
              f"{vec_s:.3f} s, direct env.step {direct_s:.3f} s per episode ({vec_s / direct_s:.2f}x; "
              f"{(vec_s - direct_s) * 1e3:.0f} ms saved)")
    if len(results) > 1:
        best = min(results, key=lambda t: results[t]["train optimized"] + results[t]["act optimized"])
        print(f"fastest optimized agent work here: {best} torch thread(s); more threads than idle cores "
              "makes torch's thread pool wait on descheduled threads (tens of times slower on a loaded machine)")


if __name__ == "__main__":
    main()
