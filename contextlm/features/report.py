"""The match report: one line per input row saying what was found and why, plus counts.

A user checks this file before trusting the features: every row that got none says
why (no parse, nothing found, weak or ambiguous match, no features), and every match
shows the track and its score.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pandas as pd

# Row outcomes, in the order the summary lists them.
STATUSES = ("matched", "album", "no_features", "ambiguous", "unmatched", "invalid", "empty")
WITH_FEATURES = ("matched", "album")


@dataclass
class RowOutcome:
    row: int                 # 1-based position in the input
    input: str               # what the row named (id, 'Artist - Title', ...)
    status: str
    reason: str
    track_id: str = ""
    track: str = ""
    score: float | None = None


def report_frame(outcomes: list[RowOutcome]) -> pd.DataFrame:
    return pd.DataFrame([o.__dict__ for o in outcomes],
                        columns=["row", "input", "status", "track_id", "track", "score", "reason"])


def status_counts(outcomes: list[RowOutcome]) -> dict[str, int]:
    counts = Counter(o.status for o in outcomes)
    return {s: counts[s] for s in STATUSES if counts[s]}


def summary_line(outcomes: list[RowOutcome]) -> str:
    """'1584 rows: 120 with features (matched 118, album 2), unmatched 1400, ...'"""
    counts = status_counts(outcomes)
    with_f = sum(counts.get(s, 0) for s in WITH_FEATURES)
    parts = [f"{s.replace('_', ' ')} {n}" for s, n in counts.items()]
    return f"{len(outcomes)} rows: {with_f} with features ({', '.join(parts)})"
