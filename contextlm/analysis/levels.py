"""The levels being compared: a feature value (or a quantile bin of real text) or a
label such as a genre, its name, its colour, and whether a model was ever shown such a value.

Numeric levels run from purple (lowest) through teal to green (highest), so "low
energy" reads purple and "high energy" green in every picture and table. Labels have no
order, so they get distinct colours instead (a ramp would suggest rock < latin).
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
    feature: str                             # the feature or label column being varied
    value: float | str | None = None         # the requested value (a label: its name)
    bounds: tuple[float, float] | None = None  # the bin's feature range (corpus mode)
    features: Mapping[str, float] = field(default_factory=dict)  # all values passed to the model
    color: str = MID
    labels: Mapping[str, str] = field(default_factory=dict)      # all labels passed to the model
    categorical: bool = False                # a label level (no order, scored by a classifier)

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


# matplotlib's tab10 without its grey and olive (too faint for words on white)
CATEGORICAL = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def palette(n: int) -> list[str]:
    """`n` distinct colours for unordered levels (labels); evenly spaced hues past eight."""
    if n <= len(CATEGORICAL):
        return CATEGORICAL[:n]
    from matplotlib.colors import hsv_to_rgb, to_hex
    return [to_hex(hsv_to_rgb((i / n, 0.75, 0.7))) for i in range(n)]


def _fmt(v: float) -> str:
    return f"{v:g}"


def model_levels(feature: str, values: Sequence[float], fixed: Mapping[str, float] | None = None,
                 labels: Mapping[str, str] | None = None) -> list[Level]:
    """Levels for sampling a model at `feature` = each of `values` (sorted low to high),
    with the other features in `fixed` and the labels in `labels`."""
    if not values:
        raise ContextLMError(f"no levels given for {feature}: e.g. --{feature} 0 1")
    values = sorted(dict.fromkeys(float(v) for v in values))
    fixed = dict(fixed or {})
    if feature in fixed:
        raise ContextLMError(f"--feature {feature}={_fmt(fixed[feature])}: {feature} is the feature being varied")
    return [Level(label=f"{feature}={_fmt(v)}", feature=feature, value=v, features={**fixed, feature: v}, color=c,
                  labels=dict(labels or {}))
            for v, c in zip(values, ramp(len(values)))]


def label_levels(column: str, values: Sequence[str], fixed: Mapping[str, float] | None = None,
                 labels: Mapping[str, str] | None = None) -> list[Level]:
    """Levels for sampling a model with label `column` = each of `values` (in the order
    given), numeric features in `fixed` and the other label columns in `labels`."""
    if not values:
        raise ContextLMError(f"no levels given for {column}: e.g. --label-col {column} --levels rock latin")
    values = list(dict.fromkeys(str(v) for v in values))
    labels = dict(labels or {})
    if column in labels:
        raise ContextLMError(f"--label {column}={labels[column]}: {column} is the label being varied")
    return [Level(label=f"{column}={v}", feature=column, value=v, features=dict(fixed or {}), color=c,
                  labels={**labels, column: v}, categorical=True)
            for v, c in zip(values, palette(len(values)))]


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


MAX_CATEGORIES = 12  # more clouds than this side by side are unreadable: choose with --levels


def is_categorical(values: pd.Series) -> bool:
    """True for a column of names (genre, blog): no value in it reads as a number."""
    present = label_values(values).dropna()
    return bool(len(present)) and bool(pd.to_numeric(present, errors="coerce").isna().all())


def label_values(values: pd.Series) -> pd.Series:
    """A label column as names: stripped strings, missing or blank cells as NA."""
    names = values.astype("string").str.strip()
    return names.mask(names == "")


def category_levels(values: pd.Series, column: str, chosen: Sequence[str] | None = None,
                    ) -> tuple[list[Level], pd.Series]:
    """Split rows by the value of label `column`: the `chosen` values in that order, or
    every value, most common first (at most MAX_CATEGORIES).

    Returns the levels and, per row, the label of its level (NaN for rows in none)."""
    names = label_values(values)
    counts = names.dropna().value_counts()
    if chosen:
        chosen = list(dict.fromkeys(str(v) for v in chosen))
        if missing := [v for v in chosen if v not in counts.index]:
            raise ContextLMError(f"{column}: no row has the value {missing[0]!r} (values: "
                                 f"{', '.join(map(str, counts.index[:20]))}{' ...' if len(counts) > 20 else ''})")
    else:
        chosen = sorted(counts.index, key=lambda v: (-counts[v], v))
        if len(chosen) > MAX_CATEGORIES:
            raise ContextLMError(f"{column} has {len(chosen)} values, too many clouds to compare; choose some "
                                 f"with --levels, e.g. --levels {' '.join(chosen[:3])}")
    if len(chosen) < 2:
        raise ContextLMError(f"{column}: need at least two different values to compare (got {', '.join(chosen)})")
    levels = [Level(label=f"{column}={v}", feature=column, value=v, color=c, categorical=True)
              for v, c in zip(chosen, palette(len(chosen)))]
    by_value = {lv.value: lv.label for lv in levels}
    return levels, names.astype(object).map(lambda v: by_value.get(v, np.nan) if pd.notna(v) else np.nan)
