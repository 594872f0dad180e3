"""The levels being compared: a feature value (or a quantile bin of real text), its
label, its colour, and whether a model was ever shown such a value.

Colours run from purple (lowest level) through teal to green (highest), so "low
energy" reads purple and "high energy" green in every picture and table.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import ContextLMError
from ..conditioning import check_value

LOW, MID, HIGH = "#6a1b9a", "#00838f", "#2e7d32"  # purple, teal, green


@dataclass(frozen=True)
class Level:
    """One side of the comparison: `label` names it in files and tables."""

    label: str
    feature: str
    value: float | None = None               # the requested value (model mode)
    bounds: tuple[float, float] | None = None  # the bin's feature range (corpus mode)
    features: Mapping[str, float] = field(default_factory=dict)  # all values passed to the model
    color: str = MID

    @property
    def slug(self) -> str:
        """A file-name-safe form of the label."""
        keep = "".join(c if c.isalnum() or c in ".-" else "-" for c in self.label)
        return "-".join(p for p in keep.split("-") if p)


def ramp(n: int) -> list[str]:
    """`n` colours from purple (low) to green (high); a single level gets teal."""
    if n == 1:
        return [MID]
    from matplotlib.colors import LinearSegmentedColormap, to_hex
    cmap = LinearSegmentedColormap.from_list("contextlm_levels", [LOW, MID, HIGH])
    return [to_hex(cmap(i / (n - 1))) for i in range(n)]


def _fmt(v: float) -> str:
    return f"{v:g}"


def model_levels(feature: str, values: Sequence[float], fixed: Mapping[str, float] | None = None) -> list[Level]:
    """Levels for sampling a model at `feature` = each of `values` (sorted low to high),
    with the other features in `fixed`."""
    if not values:
        raise ContextLMError(f"no levels given for {feature}: e.g. --{feature} 0 1")
    values = sorted(dict.fromkeys(float(v) for v in values))
    fixed = dict(fixed or {})
    if feature in fixed:
        raise ContextLMError(f"--feature {feature}={_fmt(fixed[feature])}: {feature} is the feature being varied")
    return [Level(label=f"{feature}={_fmt(v)}", feature=feature, value=v, features={**fixed, feature: v}, color=c)
            for v, c in zip(values, ramp(len(values)))]


def check_levels(levels: Sequence[Level], stats: Mapping[str, Mapping[str, float]]) -> list[str]:
    """Refuse impossible values (outside the feature's valid range, e.g. energy 1.5);
    return warnings for values outside what the model saw in training (it extrapolates).

    Values held fixed with `--feature name=value` are checked the same way.
    """
    warnings: list[str] = []
    seen: set[tuple[str, float]] = set()
    for level in levels:
        for name, value in level.features.items():
            if (name, value) in seen:
                continue
            seen.add((name, value))
            msg = check_value(name, value, stats.get(name))
            if msg:
                warnings.append(msg)
    return warnings


def quantile_levels(values: pd.Series, feature: str, bins: int) -> tuple[list[Level], pd.Series]:
    """Split rows into `bins` equal-count bins of `feature` (low to high).

    Returns the levels and, per row, the label of its bin (NaN features get NaN).
    """
    if bins < 2:
        raise ContextLMError(f"--bins {bins}: need at least 2 bins to compare")
    clean = pd.to_numeric(values, errors="coerce")
    n_valid = int(clean.notna().sum())
    if n_valid < bins:
        raise ContextLMError(f"{feature}: only {n_valid} rows have a value, fewer than --bins {bins}")
    codes, edges = pd.qcut(clean, q=bins, labels=False, retbins=True, duplicates="drop")
    n = len(edges) - 1
    if n < 2:
        raise ContextLMError(f"{feature}: too few distinct values to split into {bins} bins")
    colors = ramp(n)
    levels = []
    for i in range(n):
        lo, hi = float(edges[i]), float(edges[i + 1])
        levels.append(Level(label=f"{feature} q{i + 1}/{n} [{lo:.2f}-{hi:.2f}]", feature=feature,
                            bounds=(lo, hi), value=float(np.nanmedian(clean[codes == i])), color=colors[i]))
    labels = codes.map(lambda c: levels[int(c)].label if pd.notna(c) else np.nan)
    return levels, labels
