"""Fuzzing AutoQEnv's inputs with hypothesis: actions, keywords, configurations and seeds.

The property everywhere: a call either works as documented or raises a clear ``ValueError`` or
``TypeError`` (``FileNotFoundError`` for paths and data sets that are not there, and Gymnasium's own
``gymnasium.error.Error`` for seeds, as Gymnasium documents), and the env stays usable afterwards.

Building an env costs seconds (data, model, calibration), so the tests reuse the session's small env
(``small_env``) and build further envs only from keyword values that share its cached problem
(``autoq_env.problem.get_problem`` caches per process): a valid draw then costs milliseconds plus one
episode, and an invalid one fails in validation before any data is loaded.
"""

from __future__ import annotations

import math
import numbers
import string
from fractions import Fraction

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as npst

from autoq_env.env import FEATURE_INDEX, AutoQEnv
from autoq_env.hardware import ACCELERATOR_CLASSES, ACCELERATORS, PRESETS
from autoq_env.models import MODELS
from autoq_env.reward import RewardWeights
from autoq_env.wrappers import KernelWise, LayerWise
from tests.conftest import SMALL_SEARCH_SAMPLES

torch.set_num_threads(1)


def fuzz(max_examples: int) -> settings:
    """Hypothesis settings for these tests: no deadline (an episode's final evaluation takes a while)."""
    return settings(max_examples=max_examples, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


VALID_ACTION = np.zeros(2, dtype=np.float32)
PROGRESS = FEATURE_INDEX["progress"]
CLEAR_ERRORS = (ValueError, TypeError)


def assert_clear(error: BaseException, *words: str) -> None:
    """A clear error says something, and names what was wrong (``words``, any of them)."""
    message = str(error)
    assert message.strip(), f"{type(error).__name__} without a message"
    if words:
        assert any(word in message for word in words), message


def assert_valid_step(env: gym.Env, result: tuple) -> None:
    assert isinstance(result, tuple) and len(result) == 5
    observation, reward, terminated, truncated, info = result
    assert env.observation_space.contains(observation)
    assert isinstance(reward, float) and math.isfinite(reward)
    assert isinstance(terminated, bool) and isinstance(truncated, bool) and not truncated
    assert isinstance(info, dict)


def finish_episode(env: gym.Env, seed: int = 0) -> tuple[float, dict]:
    """Step seeded random valid actions until the episode ends; the sum of the rewards and the final info."""
    rng = np.random.default_rng(seed)
    total, terminated, info = 0.0, False, {}
    while not terminated:
        result = env.step(rng.uniform(-1, 1, 2).astype(np.float32))
        assert_valid_step(env, result)
        _, reward, terminated, _, info = result
        total += reward
    assert math.isfinite(info["reward_objective"])
    return total, info


# -- actions ---------------------------------------------------------------------------------------
SPECIAL_FLOATS = [math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, -5e-324, 2.2e-308, 0.0, -0.0, 1.0, -1.0,
                  0.5, -0.999, 1.5, -7.0, 65504.0, 1e-45]
REALS = st.one_of(st.floats(), st.sampled_from(SPECIAL_FLOATS), st.integers(-10**400, 10**400),
                  st.integers(-3, 3), st.booleans(), st.fractions(max_denominator=10))
SHAPES = st.one_of(st.just((2,)), st.sampled_from([(), (0,), (1,), (3,), (2, 1), (1, 2), (2, 2), (1, 1, 2)]))
FLOAT_DTYPES = st.sampled_from([np.float16, np.float32, np.float64])
NUMERIC_DTYPES = st.sampled_from([np.float16, np.float32, np.float64, np.int8, np.int32, np.int64, np.uint8,
                                  np.uint64, np.bool_])
OTHER_DTYPES = st.one_of(npst.complex_number_dtypes(), npst.unicode_string_dtypes(), npst.byte_string_dtypes(),
                         npst.datetime64_dtypes(), npst.timedelta64_dtypes(),
                         st.just(np.dtype([("a", np.float32)])))


def _cast(values: np.ndarray, dtype) -> np.ndarray:
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        return values.astype(dtype)  # 1e308 becomes inf in float16/32, as a user's cast would make it


ACTIONS = st.one_of(
    npst.arrays(NUMERIC_DTYPES, SHAPES),  # hypothesis' own values: NaN, infinities, subnormals, extremes
    st.builds(_cast, npst.arrays(np.float64, SHAPES, elements=st.sampled_from(SPECIAL_FLOATS)), FLOAT_DTYPES),
    npst.arrays(np.float32, (2,), elements=st.floats(-3, 3, width=32)),  # mostly valid: they advance the episode
    npst.arrays(OTHER_DTYPES, SHAPES),
    npst.arrays(object, SHAPES, elements=st.one_of(REALS, st.none(), st.text(max_size=3), st.complex_numbers(),
                                                   st.decimals(allow_nan=True), st.lists(REALS, max_size=2))),
    st.lists(st.sampled_from(["0.5", "1", "nan", "inf", "", "x"]), min_size=2, max_size=2).map(np.array),
    st.lists(st.one_of(REALS, st.none(), st.text(max_size=2), st.binary(max_size=2), st.complex_numbers()),
             max_size=3),
    st.tuples(REALS, REALS),
    st.lists(st.lists(REALS, max_size=3), max_size=3),  # nested, possibly ragged
    REALS, st.none(), st.text(max_size=4), st.binary(max_size=4), st.complex_numbers(),
    st.dictionaries(st.text(max_size=2), REALS, max_size=2), st.sets(st.integers(), max_size=2),
    st.lists(st.floats(width=32), min_size=2, max_size=2).map(torch.tensor),
)


def documented_action_outcome(action) -> type[Exception] | None:
    """What ``AutoQEnv.check_action`` documents for ``action``: ``None`` (accepted) or the error it raises.

    Real numbers (float, int or bool arrays, or sequences of real numbers) of shape (2,) that are
    finite are accepted (values outside [-1, 1] are clipped); anything that is not real numbers is a
    ``TypeError``; a wrong shape, NaN, infinity or a Python int beyond float's range a ``ValueError``.
    """
    try:
        raw = np.asarray(action)
    except ValueError:  # ragged nesting: not an array of numbers
        return TypeError
    if raw.dtype.kind in "biuf":
        values = raw.astype(np.float64)
    elif raw.dtype.kind == "O" and all(isinstance(v, numbers.Real) for v in raw.flat):
        try:
            values = np.array([float(v) for v in raw.flat])
        except OverflowError:
            return ValueError
    else:
        return TypeError
    if raw.shape != (2,) or not np.isfinite(values).all():
        return ValueError
    return None


@pytest.fixture(scope="module")
def envs(small_env) -> dict[str, gym.Env]:
    """The session's small env (accuracy mode) and a resource-mode env on the same cached problem."""
    resource = gym.make("AutoQ-ResNet-v0", search_samples=SMALL_SEARCH_SAMPLES, mode="resource", budget=0.5)
    return {"accuracy": small_env, "resource": resource}


@pytest.mark.parametrize("mode", ["accuracy", "resource"])
@fuzz(max_examples=150)
@given(warmup=st.integers(0, 40), action=ACTIONS)
def test_step_takes_documented_actions_and_rejects_the_rest(envs, mode: str, warmup: int, action) -> None:
    env = envs[mode]
    env.reset(seed=0)
    for _ in range(warmup):  # reach layer steps and kernel steps alike
        env.step(VALID_ACTION)
    core = env.unwrapped
    config_before = core.config
    expected = documented_action_outcome(action)
    if expected is None:
        assert_valid_step(env, env.step(action))
        warmup += 1
    else:
        with pytest.raises(expected) as error:
            env.step(action)
        assert_clear(error.value, "action")
        assert core.config == config_before  # a rejected action changes nothing
    observation, *_ = result = env.step(VALID_ACTION)  # the env still works, at the right position
    assert_valid_step(env, result)
    assert observation[PROGRESS] == pytest.approx((warmup + 1) / core.steps_per_episode, abs=1e-6)


@pytest.mark.parametrize("wrapper", [LayerWise, KernelWise])
@fuzz(max_examples=60)
@given(warmup=st.integers(0, 3), action=ACTIONS)
def test_wrappers_take_documented_actions_and_reject_the_rest(small_env, wrapper, warmup: int, action) -> None:
    env = wrapper(small_env)
    env.reset(seed=0)
    for _ in range(warmup):
        env.step(VALID_ACTION)
    config_before = env.unwrapped.config
    expected = documented_action_outcome(action)
    if expected is None:
        assert_valid_step(env, env.step(action))
    else:
        with pytest.raises(expected) as error:
            env.step(action)
        assert_clear(error.value, "action")
        assert env.unwrapped.config == config_before
    assert_valid_step(env, env.step(VALID_ACTION))


@fuzz(max_examples=6)
@given(bad=st.lists(st.tuples(st.floats(0, 1), ACTIONS), min_size=1, max_size=12), seed=st.integers(0, 3))
def test_episode_still_finishes_after_rejected_actions(small_env, bad, seed: int) -> None:
    """Rejected actions anywhere in an episode leave it to finish exactly as without them."""
    bad = [(position, action) for position, action in bad if documented_action_outcome(action) is not None]
    env, core = small_env, small_env.unwrapped
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    positions = sorted(((int(position * (core.steps_per_episode - 1)), action) for position, action in bad),
                       key=lambda pair: pair[0])
    total, step, terminated, info = 0.0, 0, False, {}
    while not terminated:
        while positions and positions[0][0] <= step:
            action = positions.pop(0)[1]
            with pytest.raises(documented_action_outcome(action)):
                env.step(action)
        result = env.step(rng.uniform(-1, 1, 2).astype(np.float32))
        assert_valid_step(env, result)
        _, reward, terminated, _, info = result
        total += reward
        step += 1
    assert step == core.steps_per_episode
    assert total == pytest.approx(info["reward_objective"], abs=1e-9)
    with pytest.raises(RuntimeError, match="call reset"):  # documented: no step after the end
        env.step(VALID_ACTION)


@fuzz(max_examples=200)
@given(value=st.one_of(st.floats(), st.sampled_from(SPECIAL_FLOATS), st.integers(-10**400, 10**400)),
       other=st.floats(allow_nan=False))
def test_action_to_qbn_gives_a_qbn_in_range_or_rejects_nan(small_env, value, other: float) -> None:
    core = small_env.unwrapped
    if isinstance(value, float) and math.isnan(value):
        with pytest.raises(ValueError) as error:
            core.action_to_qbn(value)
        assert_clear(error.value, "nan")
        return
    qbn = core.action_to_qbn(value)
    assert isinstance(qbn, int) and core.b_min <= qbn <= core.b_max
    low, high = sorted([value, other])
    assert core.action_to_qbn(low) <= core.action_to_qbn(high)  # monotone, values outside [-1, 1] clipped


# -- keywords --------------------------------------------------------------------------------------
def _not_in(allowed):
    return lambda value: not (isinstance(value, str) and value in allowed)


NAMES = st.text(alphabet=string.ascii_letters + string.digits + "-_ :.", max_size=12)
# (lists of ints <= 0: never a valid bits pair)
SOME_GARBAGE = st.one_of(st.integers(-10**30, 10**30), st.floats(), st.booleans(), st.binary(max_size=3),
                         st.lists(st.integers(-3, 0), max_size=2), st.just(np.array(["a", "b"])),
                         st.complex_numbers(), st.just(object()))
GARBAGE = st.one_of(st.none(), SOME_GARBAGE)


def _garbage_names(allowed: tuple[str, ...], none: bool = True) -> st.SearchStrategy:
    """Invalid values for a keyword that takes one of ``allowed`` (and ``None`` when not ``none``): other
    strings, near misses, other types."""
    near_misses = [name.upper() for name in allowed] + [f"{name} " for name in allowed] + [""]
    return st.one_of(NAMES.filter(_not_in(allowed)), st.sampled_from(near_misses), GARBAGE if none else SOME_GARBAGE,
                     st.just(list(allowed[:1])))


def _invalid_device(value: str) -> bool:
    """Strings that name no usable device (a usable one other than "cpu" would build an expensive new problem)."""
    try:
        kind = torch.device(value).type
    except RuntimeError:
        return True
    if kind == "cpu":
        return False
    if kind == "cuda":
        return not torch.cuda.is_available()
    try:
        torch.empty(0, device=value)
    except Exception:
        return True
    return kind == "meta"


ALL_PRESETS = [name for presets in PRESETS.values() for name in presets]
PRESET_OBJECTS = [preset for presets in PRESETS.values() for preset in presets.values()]
REWARD_FIELDS = tuple(RewardWeights.__dataclass_fields__)
WEIGHT_VALUES = st.one_of(st.floats(0, 1e6), st.integers(0, 10**6))
BAD_WEIGHT_VALUES = st.one_of(st.floats(max_value=-1e-300), st.sampled_from([math.nan, math.inf, -math.inf]),
                              st.integers(max_value=-1), st.booleans(), st.none(), st.text(max_size=2),
                              st.complex_numbers())

# keyword -> (strategy of valid values, strategy of invalid values). Valid values never change the
# cached problem's key (model, data set, data root, checkpoint, bits, search samples, device), so a
# valid draw reuses the session's problem instead of loading data and a model.
KEYWORDS: dict[str, tuple[st.SearchStrategy, st.SearchStrategy]] = {
    "model": (st.sampled_from(["resnet20", np.str_("resnet20")]), _garbage_names(MODELS)),
    "dataset": (st.just("fashion-mnist"),
                st.one_of(_garbage_names(("fashion-mnist", "cifar10", "imagenet-folder")),
                          st.sampled_from(["cifar10", "imagenet-folder"]))),  # no data root: not found
    "data_root": (st.none(), st.one_of(
        NAMES.filter(lambda name: "." not in name).map(lambda name: f"/nonexistent-autoq-data/{name}"),
        st.just("bad\0path"), SOME_GARBAGE)),
    "checkpoint": (st.just("default"), st.one_of(
        st.just("/nonexistent-autoq-checkpoint.pt"), st.just("bad\0path"),
        SOME_GARBAGE)),
    "accelerator": (st.sampled_from(ACCELERATORS), _garbage_names(ACCELERATORS)),
    "preset": (st.one_of(st.none(), st.sampled_from(ALL_PRESETS), st.sampled_from(PRESET_OBJECTS)),
               st.one_of(_garbage_names(tuple(ALL_PRESETS), none=False),
                         st.just(RewardWeights()))),
    "mode": (st.sampled_from(["accuracy", "resource"]), _garbage_names(("accuracy", "resource"))),
    "budget": (st.one_of(st.none(), st.floats(0, 1, exclude_min=True), st.sampled_from([1, np.float16(0.7)])),
               st.one_of(st.floats().filter(lambda value: not 0 < value <= 1), st.integers(-10**400, 0),
                         st.integers(2, 10**400), st.booleans(), st.text(max_size=3), st.complex_numbers(),
                         st.lists(st.floats(0.1, 1), max_size=2))),
    "budget_metric": (st.sampled_from(["latency", "energy"]), _garbage_names(("latency", "energy"))),
    "bits": (st.sampled_from([(2, 8), [2, 8], (np.int64(2), np.int8(8))]), st.one_of(
        st.tuples(st.one_of(st.integers(max_value=0), st.integers(min_value=9)), st.integers(-10**30, 10**30)),
        st.tuples(st.integers(1, 8), st.one_of(st.integers(max_value=0), st.integers(min_value=9))),
        st.tuples(st.integers(2, 8), st.integers(1, 7)).filter(lambda bits: bits[0] > bits[1]),
        st.lists(st.integers(1, 8), max_size=3).filter(lambda bits: len(bits) != 2),
        st.tuples(st.floats(), st.integers(1, 8)), st.sampled_from([(True, 8), ("2", "8"), np.array([2, 8]),
                                                                     {2: 8}, "28", 8]), GARBAGE)),
    "search_samples": (st.sampled_from([SMALL_SEARCH_SAMPLES, np.int64(SMALL_SEARCH_SAMPLES)]), st.one_of(
        st.integers(max_value=0), st.integers(min_value=5001), st.integers(-10**400, 0), st.integers(5001, 10**400),
        st.floats(), st.sampled_from([float(SMALL_SEARCH_SAMPLES), True]),
        st.text(max_size=4), st.none(), st.just(np.array([SMALL_SEARCH_SAMPLES])))),
    "reward_weights": (
        st.one_of(st.none(), st.dictionaries(st.sampled_from(REWARD_FIELDS), WEIGHT_VALUES),
                  st.builds(RewardWeights, accuracy=WEIGHT_VALUES, latency=WEIGHT_VALUES)),
        st.one_of(
            st.dictionaries(st.sampled_from(REWARD_FIELDS), BAD_WEIGHT_VALUES, min_size=1),
            st.dictionaries(st.one_of(NAMES.filter(_not_in(REWARD_FIELDS)), st.integers(), st.none()),
                            WEIGHT_VALUES, min_size=1),  # unknown (and mixed-type) keys
            st.sampled_from([[1.0, 2.0], "accuracy", 1.0, (("accuracy", 1.0),)]))),
    "device": (st.just("cpu"), st.one_of(
        NAMES.filter(_invalid_device), st.sampled_from(["", "tpu", "meta", "mps", "cpu:x", "cuda:-1"]).filter(
            _invalid_device), GARBAGE, st.just(torch.device("cpu")))),
    "render_mode": (st.sampled_from([None, "ansi", "rgb_array"]), _garbage_names(("ansi", "rgb_array"), none=False)),
}
PATH_KEYWORDS = ("data_root", "checkpoint", "dataset")  # may raise FileNotFoundError (DataNotFoundError)


@st.composite
def keyword_draws(draw, keys: tuple[str, ...] = tuple(KEYWORDS)) -> tuple[dict, set[str]]:
    """Up to three keywords, each valid or not: (keyword arguments, names of those drawn invalid)."""
    chosen = draw(st.lists(st.sampled_from(keys), max_size=3, unique=True))
    # both modes as the base, so that budgets are fuzzed where they apply
    kwargs = {"search_samples": SMALL_SEARCH_SAMPLES, "mode": draw(st.sampled_from(["accuracy", "resource"]))}
    invalid = set()
    for key in chosen:
        valid = draw(st.booleans())
        kwargs[key] = draw(KEYWORDS[key][0 if valid else 1])
        if not valid:
            invalid.add(key)
    return kwargs, invalid


def combination_errors(kwargs: dict) -> set[str]:
    """Keywords valid on their own that do not go together (those of ``kwargs`` that are valid alone)."""
    wrong = set()
    mode, accelerator, preset = (kwargs.get("mode", "accuracy"), kwargs.get("accelerator", "temporal"),
                                 kwargs.get("preset"))
    if isinstance(mode, str) and mode == "accuracy" and kwargs.get("budget") is not None:
        wrong.add("budget")
    if preset is not None and isinstance(accelerator, str) and accelerator in ACCELERATORS and not (
            preset in PRESETS[accelerator] if isinstance(preset, str)
            else isinstance(preset, ACCELERATOR_CLASSES[accelerator].preset_type)):
        wrong.add("preset")
    return wrong


# what an error message says to name a keyword
KEYWORD_WORDS = {key: key for key in KEYWORDS} | {"reward_weights": "reward"}


def check_keywords(make, kwargs: dict, invalid: set[str]) -> None:
    """``make(**kwargs)`` raises a clear error exactly when something is invalid, else builds a working env."""
    combinations = combination_errors(kwargs)  # another keyword's error may come first
    if invalid or combinations:
        allowed = CLEAR_ERRORS + ((FileNotFoundError,) if invalid & set(PATH_KEYWORDS) else ())
        with pytest.raises(allowed) as error:
            make(**kwargs)
        assert_clear(error.value, *(KEYWORD_WORDS[key] for key in invalid | combinations))
        event(f"rejected: {type(error.value).__name__}")
        return
    try:
        env = make(**kwargs)
    except ValueError as error:  # a valid budget may still be below what every QBN at b_min costs
        assert kwargs.get("mode") == "resource" and "infeasible" in str(error)
        event("rejected: infeasible budget")
        return
    event(f"built ({kwargs.get('mode', 'accuracy')} mode)")
    observation, _ = env.reset(seed=1)
    assert env.observation_space.contains(observation)
    assert env.action_space == gym.spaces.Box(-1, 1, (2,), np.float32)
    total, info = finish_episode(env, seed=1)
    assert total == pytest.approx(info["reward_objective"], rel=1e-9, abs=1e-6)
    if kwargs.get("mode") == "resource":
        assert info["budget_met"]
    if kwargs.get("render_mode") == "ansi":
        assert isinstance(env.render(), str)
    if kwargs.get("render_mode") == "rgb_array":
        frame = env.render()
        assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    env.close()


@fuzz(max_examples=40)
@given(draw=keyword_draws())
def test_keywords_build_a_working_env_or_raise_a_clear_error(small_env, draw) -> None:
    kwargs, invalid = draw
    check_keywords(AutoQEnv, kwargs, invalid)


# gym.make itself (not AutoQEnv) breaks on a non-string render_mode (AttributeError in Gymnasium's
# render-mode handling), so render_mode is left to the test above.
@fuzz(max_examples=12)
@given(draw=keyword_draws(tuple(key for key in KEYWORDS if key != "render_mode")))
def test_gym_make_passes_keyword_errors_through(small_env, draw) -> None:
    kwargs, invalid = draw
    check_keywords(lambda **kw: gym.make("AutoQ-ResNet-v0", **kw), kwargs, invalid)


def test_unknown_keyword_is_a_type_error(small_env) -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'bugdet'"):
        gym.make("AutoQ-ResNet-v0", search_samples=SMALL_SEARCH_SAMPLES, bugdet=0.5)


def test_huge_integer_reward_weight_is_a_value_error(small_env) -> None:
    with pytest.raises(ValueError, match="reward weight latency"):
        AutoQEnv(search_samples=SMALL_SEARCH_SAMPLES, reward_weights={"latency": 10**400})


# -- configurations --------------------------------------------------------------------------------
BAD_QBNS = st.one_of(
    st.sampled_from([0, 1, 9, -1, 10**30, -10**30, 2**63, np.uint64(2**64 - 1), np.int64(-5)]),  # out of range
    st.integers().filter(lambda value: not 2 <= value <= 8),
    st.sampled_from([4.0, np.float32(4), math.nan, math.inf, True, np.bool_(True), None, "4", [4], (4,), 4 + 0j,
                     Fraction(4), np.array([4])]),  # not an int
)
# Mutations of a valid configuration, applied in this order: values, then valid forms (only to a
# configuration still valid: numpy would convert some bad values), then structure.
MUTATIONS = ("bad_activation_value", "bad_kernel_value",
             "activation_as_tuple", "activation_as_array", "kernels_as_array", "numpy_scalars",
             "activation_length", "activation_shape", "kernels_shape", "drop_or_add_key", "not_a_mapping")
CONFIG_KEYS = {"activation_qbn", "kernel_qbn"}


@st.composite
def configs(draw, core: AutoQEnv) -> tuple[object, bool]:
    """A configuration for ``core`` with up to three mutations: (config, whether it is still valid)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    activation: object = rng.integers(core.b_min, core.b_max + 1, core.num_layers).tolist()
    kernels: object = [rng.integers(core.b_min, core.b_max + 1, n).tolist() for n in core.problem.num_kernels]
    layer = draw(st.integers(0, core.num_layers - 1))
    n = core.problem.num_kernels[layer]
    valid, config, config_replaced = True, None, False
    for mutation in sorted(draw(st.lists(st.sampled_from(MUTATIONS), max_size=3, unique=True)), key=MUTATIONS.index):
        if mutation == "bad_activation_value":
            # a 0-d array is an int to numpy but not to check_config (kernel lists go through numpy: not there)
            activation[draw(st.integers(0, core.num_layers - 1))] = draw(st.one_of(BAD_QBNS, st.just(np.array(4))))
            valid = False
        elif mutation == "bad_kernel_value":
            kernels[layer][draw(st.integers(0, n - 1))] = draw(BAD_QBNS)
            valid = False
        elif not valid and mutation in MUTATIONS[2:6]:
            continue
        elif mutation == "activation_as_tuple":
            activation = tuple(activation)
        elif mutation == "activation_as_array":
            activation = np.array(activation, dtype=draw(st.sampled_from([np.int64, np.int8, np.uint8, object])))
        elif mutation == "kernels_as_array":
            kernels[layer] = np.array(kernels[layer], dtype=draw(st.sampled_from([np.int64, np.uint16, object])))
        elif mutation == "numpy_scalars":
            kernels[layer] = [np.int32(v) for v in kernels[layer]]
        elif mutation == "activation_length":
            size = draw(st.integers(0, core.num_layers + 2).filter(lambda s: s != core.num_layers))
            activation = list(activation)[:size] + [4] * (size - core.num_layers)
            valid = False
        elif mutation == "activation_shape":
            activation = draw(st.sampled_from([
                np.array(4), np.full((core.num_layers, 1), 4), [[4, 4]] * core.num_layers, [[4]] * core.num_layers,
                "4" * core.num_layers, dict(enumerate(range(core.num_layers))), None, set(range(core.num_layers))]))
            valid = False
        elif mutation == "kernels_shape":
            bad = draw(st.sampled_from(["length", "ragged", "column", "str", "dict", "none", "scalar", "outer"]))
            if bad == "outer":
                kernels = draw(st.sampled_from([kernels[:-1], kernels + [[4]], None, dict(enumerate(kernels)),
                                                tuple(kernels[:-1])]))
            else:
                values = list(kernels[layer])
                kernels[layer] = {"length": values[:-1], "ragged": [[4, 4], [4]] + values[2:],
                                  "column": [[v] for v in values], "str": "4" * n, "dict": dict(enumerate(values)),
                                  "none": None, "scalar": 4}[bad]
            valid = False
        elif mutation == "drop_or_add_key":
            config, config_replaced = {"activation_qbn": activation, "kernel_qbn": kernels}, True
            if draw(st.booleans()):
                config.pop(draw(st.sampled_from(sorted(config))))
            else:
                config[draw(st.one_of(NAMES, st.integers()).filter(lambda key: key not in CONFIG_KEYS))] = 4
            valid = False
        elif mutation == "not_a_mapping":
            config = draw(st.one_of(GARBAGE, st.just([activation, kernels]),
                                    st.just(str({"activation_qbn": activation}))))
            valid, config_replaced = False, True
    if not config_replaced:
        config = {"activation_qbn": activation, "kernel_qbn": kernels}
    return config, valid


@fuzz(max_examples=150)
@given(data=st.data())
def test_check_config_accepts_valid_configs_and_rejects_the_rest(small_env, data) -> None:
    env, core = small_env, small_env.unwrapped
    env.reset(seed=0)
    env.step(VALID_ACTION)
    config_before = core.config
    config, valid = data.draw(configs(core))
    if valid:
        activation, kernels = core.check_config(config)
        assert [type(a) for a in activation] == [int] * core.num_layers
        assert all(k.dtype == np.int64 and k.shape == (n,) for k, n in zip(kernels, core.problem.num_kernels))
        assert all(core.b_min <= a <= core.b_max for a in activation)
        assert all(((k >= core.b_min) & (k <= core.b_max)).all() for k in kernels)
    else:
        with pytest.raises(CLEAR_ERRORS) as error:
            core.check_config(config)
        assert_clear(error.value, "configuration", "QBN")
        with pytest.raises(type(error.value)):  # evaluate checks the same way before any forward pass
            core.evaluate(config, split=data.draw(st.sampled_from(["search", "test"])))
    assert core.config == config_before
    assert_valid_step(env, env.step(VALID_ACTION))


@fuzz(max_examples=30)
@given(split=_garbage_names(("search", "test")))
def test_evaluate_rejects_unknown_splits(small_env, split) -> None:
    core = small_env.unwrapped
    with pytest.raises(ValueError) as error:
        core.evaluate(core.uniform_config(4), split=split)
    assert_clear(error.value, "allowed: 'search', 'test'")


@fuzz(max_examples=3)
@given(data=st.data())
def test_evaluate_after_bad_configs_matches_the_episode(small_env, data) -> None:
    """Rejected configurations leave the evaluator as it was: an episode still scores its own config."""
    env, core = small_env, small_env.unwrapped
    env.reset(seed=0)
    for _ in range(5):
        config, valid = data.draw(configs(core))
        if not valid:
            with pytest.raises(CLEAR_ERRORS):
                core.evaluate(config)
    _, info = finish_episode(env, seed=data.draw(st.integers(0, 3)))
    assert core.evaluate(info["config"])["accuracy"] == info["accuracy"]


# -- reset -----------------------------------------------------------------------------------------
@fuzz(max_examples=80)
@given(seed=st.one_of(st.none(), st.integers(-2**70, 2**70), st.booleans(), st.floats(), st.text(max_size=3),
                      st.sampled_from([np.int64(3), np.uint8(3), 3.0, [1, 2], (3,), b"3"])),
       options=st.one_of(st.none(), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)))
def test_reset_takes_gymnasium_seeds(small_env, seed, options) -> None:
    """Gymnasium's documented rule (``gymnasium.utils.seeding.np_random``): ``None`` or a Python int >= 0;
    anything else raises ``gymnasium.error.Error`` and leaves the episode as it was."""
    env = small_env
    env.reset(seed=0)
    env.step(VALID_ACTION)
    config_before = env.unwrapped.config
    if seed is None or (isinstance(seed, int) and seed >= 0):
        observation, info = env.reset(seed=seed, options=options)
        assert env.observation_space.contains(observation) and info["step_kind"] == "layer"
        assert observation[PROGRESS] == 0.0
    else:
        with pytest.raises(gym.error.Error) as error:
            env.reset(seed=seed, options=options)
        assert_clear(error.value, "Seed")
        assert env.unwrapped.config == config_before
    assert_valid_step(env, env.step(VALID_ACTION))
