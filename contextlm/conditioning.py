"""The context a model is given: numeric audio features or a discrete label.

One place for the rules both model kinds (the conditioned LM and the sentence VAEs)
follow, so `generate` and `sample` accept and refuse the same things:

- **range check** (`check_value`): a value a feature cannot take (energy 1.5, NaN) is an
  error; one outside what training saw is allowed with a warning (the model extrapolates);
- **unset features** (`Condition.feature_vector`): a feature you do not name is held at its
  training mean;
- **scaling**: values are given in raw units and scaled with the scaler fitted on the
  training split, saved with the model.

torch is imported only where a tensor is made, so the CLI can use these rules cheaply.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import ContextLMError
from .features.schema import valid_range

Stats = dict[str, dict[str, float]]


def feature_stats(x: np.ndarray, names: Sequence[str]) -> Stats:
    """Mean, std, min and max of each column of `x` (raw units): what `check_value` and the
    unset-feature rule read."""
    if not len(names):
        return {}
    x = np.asarray(x, dtype=np.float64).reshape(-1, len(names))
    if not len(x):
        return {}
    return {name: {"mean": float(x[:, i].mean()), "std": float(x[:, i].std()),
                   "min": float(x[:, i].min()), "max": float(x[:, i].max())} for i, name in enumerate(names)}


def check_value(name: str, value: float, stats: Mapping[str, float] | None = None) -> str | None:
    """Raise on a value `name` cannot take; return a warning if it lies outside the
    training range in `stats` (None when it is inside, or no statistics are known)."""
    rng = valid_range(name)
    if not isinstance(value, (int, float, np.floating, np.integer)) or not math.isfinite(value):
        raise ContextLMError(f"{name}={value}: not a number a feature can take")
    if rng is not None and not rng[0] <= value <= rng[1]:
        raise ContextLMError(f"{name}={value:g} is impossible: {name} lies in [{rng[0]:g}, {rng[1]:g}]")
    if stats and not stats["min"] <= value <= stats["max"]:
        return (f"{name}={value:g} is outside the training range [{stats['min']:.3g}, {stats['max']:.3g}]: "
                f"the model extrapolates there")
    return None


@dataclass
class Condition:
    """What a model is conditioned on: nothing, audio features (raw names, the training
    scaler, the training statistics) or labels (their names, in id order).

    Saved with every model, so `features={"energy": 0.9}` is scaled as in training and
    checked against what training saw."""
    kind: str = "none"                       # none | features | labels
    names: list[str] = field(default_factory=list)
    scaler: dict[str, Any] | None = None     # FeatureScaler.to_dict() for features
    stats: Stats | None = None               # feature_stats() of the training split

    KINDS = ("none", "features", "labels")

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ContextLMError(f"condition kind {self.kind!r}: expected one of {', '.join(self.KINDS)}")

    def model_kwargs(self) -> dict[str, int]:
        """`cond_sz` / `n_labels` for `VAEConfig`."""
        return {"features": {"cond_sz": len(self.names)}, "labels": {"n_labels": len(self.names)}}.get(self.kind, {})

    # -- features ---------------------------------------------------------------------
    def feature_vector(self, values: Mapping[str, float] | None = None, warn: bool = True) -> np.ndarray:
        """Raw feature vector: `values` by name, unset features at their training mean.
        Unknown names and impossible values are errors; values outside the training
        range warn (once per call)."""
        values = dict(values or {})
        unknown = [k for k in values if k not in self.names]
        if unknown:
            raise ContextLMError(f"unknown feature {unknown[0]!r} (this model knows: {', '.join(self.names) or 'none'})")
        stats = self.stats or {}
        for name, value in values.items():
            msg = check_value(name, value, stats.get(name))
            if msg and warn:
                warnings.warn(msg, stacklevel=3)
        missing = [k for k in self.names if k not in values and k not in stats]
        if missing:  # folders written before training statistics were saved
            raise ContextLMError(f"features: missing {missing}; this model needs {', '.join(self.names)}")
        return np.array([values[k] if k in values else stats[k]["mean"] for k in self.names], np.float32)

    def scale(self, raw: np.ndarray) -> np.ndarray:
        """Raw feature rows scaled as in training."""
        from .data.corpus import FeatureScaler, as_rows
        rows = as_rows(raw, len(self.names))
        return FeatureScaler.from_dict(self.scaler).transform(rows) if self.scaler else rows

    # -- labels -----------------------------------------------------------------------
    def label_id(self, value: str | int) -> int:
        """Id of a label given by name or id; unknown ones list the known labels."""
        if isinstance(value, (int, np.integer)):
            if not 0 <= int(value) < len(self.names):
                raise ContextLMError(f"label id {value}: must be in [0, {len(self.names)})")
            return int(value)
        if str(value) not in self.names:
            raise ContextLMError(f"label {value!r}: unknown; known labels: {', '.join(self.names)}")
        return self.names.index(str(value))

    # -- tensors ----------------------------------------------------------------------
    def encode(self, values: Any, n: int):
        """Condition tensor for `n` rows from user values: a dict name -> value (unset
        features at their training mean) or a raw feature matrix for features; label names
        or ids for labels; None if unconditioned."""
        import torch
        if self.kind == "none":
            if values is not None:
                raise ContextLMError("this model is not conditioned; drop the features/label argument")
            return None
        if values is None:
            raise ContextLMError(f"this model is conditioned on {self.kind} ({', '.join(self.names)}): give them")
        if self.kind == "labels":
            vals = [values] * n if isinstance(values, (str, int, np.integer)) else list(values)
            ids = [self.label_id(v) for v in vals]
            if len(ids) == 1 and n > 1:
                ids = ids * n
            return torch.tensor(ids, dtype=torch.long)
        arr = self.feature_vector(values)[None] if isinstance(values, Mapping) else values
        arr = np.asarray(arr, dtype=np.float32).reshape(-1, len(self.names))
        if len(arr) == 1 and n > 1:
            arr = np.repeat(arr, n, 0)
        return torch.tensor(self.scale(arr), dtype=torch.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "names": self.names, "scaler": self.scaler, "stats": self.stats}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Condition":
        return cls(d.get("kind", "none"), list(d.get("names", [])), d.get("scaler"), d.get("stats"))
