"""``Configuration``: one kernel-wise quantization configuration as a validated value.

A configuration holds one activation QBN per quantizable layer and one weight QBN per kernel. It is
what the env's episodes end with, what search baselines propose and what reports score. As JSON (and
in the env's public API) it is the dict ``{"activation_qbn": [a_0, ...], "kernel_qbn": [[w_00, ...],
...]}``; ``Configuration.from_dict`` validates such a dict against a network's shape and bits range,
``to_dict`` gives it back, and ``digest`` is a content hash (the evaluation cache's key).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

KEYS = ("activation_qbn", "kernel_qbn")


@dataclass(frozen=True, eq=False)
class Configuration:
    """Activation QBNs (one per layer) and kernel QBNs (one read-only int64 array per layer).

    Build one with ``from_dict`` (validated) or ``uniform``; compare with ``==`` (by content).
    """

    activation_qbn: tuple[int, ...]
    kernel_qbn: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        arrays = []
        for array in self.kernel_qbn:
            array = np.array(array, dtype=np.int64)  # a copy: the value cannot change under the caller
            array.flags.writeable = False
            arrays.append(array)
        object.__setattr__(self, "kernel_qbn", tuple(arrays))
        object.__setattr__(self, "activation_qbn", tuple(int(a) for a in self.activation_qbn))

    # -- construction -------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, config: Any, num_kernels: Sequence[int], bits: tuple[int, int],
                  layer_names: Sequence[str] | None = None) -> Configuration:
        """Validate ``config`` (a dict as above, or a ``Configuration``) for a network with ``num_kernels[l]``
        kernels in layer ``l`` and QBNs in ``bits = (b_min, b_max)``; raise ``ValueError``/``TypeError`` saying
        what is wrong and what is allowed.

        :param layer_names: named in error messages (default ``layer <index>``).
        """
        if isinstance(config, Configuration):
            config = config.to_dict()
        num_layers = len(num_kernels)
        names = list(layer_names) if layer_names is not None else [f"layer {i}" for i in range(num_layers)]
        if not isinstance(config, Mapping) or set(config) != set(KEYS):
            raise ValueError("a configuration is a dict with exactly the keys 'activation_qbn' (one int per layer) "
                             "and 'kernel_qbn' (one list of ints per layer, one per kernel)")
        activation, kernels = config["activation_qbn"], config["kernel_qbn"]
        if isinstance(activation, np.ndarray) and activation.ndim == 1:
            activation = list(activation)
        if not isinstance(activation, (list, tuple)) or len(activation) != num_layers \
                or not isinstance(kernels, (list, tuple)) or len(kernels) != num_layers:
            raise ValueError(f"a configuration needs {num_layers} activation QBNs and {num_layers} lists of "
                             "kernel QBNs")
        arrays = []
        for index, (values, count) in enumerate(zip(kernels, num_kernels)):
            try:
                array = np.asarray(values)
            except ValueError as error:  # ragged nesting
                raise ValueError(f"layer {index} ({names[index]}) needs {count} kernel QBNs, got ragged nested "
                                 "sequences") from error
            if array.shape != (count,):
                raise ValueError(f"layer {index} ({names[index]}) needs {count} kernel QBNs, got shape {array.shape}")
            arrays.append(array)
        # element by element (no numpy conversion): nested lists fail here, and Python ints beyond int64 compare exactly
        everything = [*activation, *(v for a in arrays for v in a.tolist())]
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in everything):
            raise TypeError("every QBN in a configuration must be an integer (unassigned entries are not allowed)")
        b_min, b_max = bits
        low, high = min(int(v) for v in everything), max(int(v) for v in everything)
        if low < b_min or high > b_max:
            raise ValueError(f"QBNs must lie in this env's bits range {b_min}..{b_max}, got {low}..{high}")
        return cls(tuple(int(a) for a in activation), tuple(a.astype(np.int64) for a in arrays))

    @classmethod
    def uniform(cls, num_kernels: Sequence[int], weight_qbn: int, activation_qbn: int) -> Configuration:
        """Every kernel at ``weight_qbn`` and every activation at ``activation_qbn`` (not validated)."""
        return cls(tuple([int(activation_qbn)] * len(num_kernels)),
                   tuple(np.full(count, weight_qbn, dtype=np.int64) for count in num_kernels))

    @classmethod
    def from_json(cls, text: str, num_kernels: Sequence[int], bits: tuple[int, int]) -> Configuration:
        """Parse and validate the JSON text of ``to_json``."""
        return cls.from_dict(json.loads(text), num_kernels, bits)

    # -- views --------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, list]:
        """The JSON-serialisable dict form (plain Python ints)."""
        return {"activation_qbn": list(self.activation_qbn), "kernel_qbn": [k.tolist() for k in self.kernel_qbn]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    def digest(self) -> str:
        """SHA-256 of the content (layer count, kernel counts and every QBN): equal iff the configurations are."""
        hasher = hashlib.sha256()
        shape = np.array([len(self.activation_qbn), *(len(k) for k in self.kernel_qbn)], dtype=np.int64)
        for part in (shape, np.asarray(self.activation_qbn, dtype=np.int64), *self.kernel_qbn):
            hasher.update(np.ascontiguousarray(part, dtype=np.int64).tobytes())
        return hasher.hexdigest()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Configuration):
            return NotImplemented
        return self.digest() == other.digest()

    def __hash__(self) -> int:
        return hash(self.digest())

    # -- summaries ----------------------------------------------------------------------------------
    @property
    def num_layers(self) -> int:
        return len(self.activation_qbn)

    def all_kernels(self) -> np.ndarray:
        """Every kernel's QBN, layer after layer."""
        return np.concatenate(self.kernel_qbn)

    def mean_weight_qbn(self) -> float:
        """Mean QBN over kernels (each kernel counts once)."""
        return float(self.all_kernels().mean())

    def mean_weight_qbn_by_params(self, reduction_sizes: Sequence[int]) -> float:
        """Mean QBN over weights: kernel ``k`` of layer ``l`` counts ``reduction_sizes[l]`` times (its weights)."""
        weights = np.concatenate([np.full(len(k), size, dtype=float) for k, size in zip(self.kernel_qbn,
                                                                                        reduction_sizes)])
        return float((self.all_kernels() * weights).sum() / weights.sum())

    def mean_activation_qbn(self) -> float:
        return float(np.mean(self.activation_qbn))


def partial_config(activation_qbn: Sequence[int], kernel_qbn: Sequence[Sequence[int]]) -> dict[str, list]:
    """The dict form of an assignment in progress: QBN 0 (unassigned) becomes ``None``."""
    return {"activation_qbn": [int(b) or None for b in activation_qbn],
            "kernel_qbn": [[int(b) or None for b in layer] for layer in kernel_qbn]}
