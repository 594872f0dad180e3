"""Load public audio-feature tables into the store, for when the API is closed (403).

Recognises TidyTuesday's `spotify_songs.csv`, Kaggle-style dumps (`id, name, artists`,
`track_id, artist_name, track_name`, ...) and album-level tables such as P4KxSpotify
(`artist, album` and album-mean features); `mapping` overrides any column. Rows
that cannot be used are skipped and counted with the first example, so a user sees
what was left out and why.
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..data.io import read_table
from ..errors import CorpusError
from .matching import Candidate
from .names import fix_text, normalize, track_id_from
from .schema import AUDIO_FEATURES, FEATURE_RANGES
from .store import STORED_FEATURES, FeatureStore

# Column names seen in public tables, most specific first.
FIELD_COLUMNS = {
    "id": ("track_id", "spotify_id", "id", "uri", "track_uri", "spotify_uri"),
    "name": ("track_name", "name", "song_name", "song", "title", "track"),
    "artist": ("track_artist", "artist_name", "artists", "artist"),
    "album": ("track_album_name", "album_name", "album"),
    "popularity": ("track_popularity", "popularity"),
}
IDENTITY = tuple(FIELD_COLUMNS)


@dataclass
class ImportSummary:
    path: Path
    level: str                                   # "track" | "album"
    imported: int = 0
    rows: int = 0
    skipped: dict[str, tuple[int, str]] = field(default_factory=dict)   # reason -> (count, first example)
    absent: list[str] = field(default_factory=list)                     # features the table lacks
    columns: dict[str, str] = field(default_factory=dict)               # field -> column used

    def skip(self, reason: str, example: str) -> None:
        n, first = self.skipped.get(reason, (0, example))
        self.skipped[reason] = (n + 1, first)

    def lines(self) -> list[str]:
        out = [f"imported {self.imported} {self.level}s with features from {self.path} ({self.rows} rows)"]
        if self.absent:
            out.append(f"note: {self.path.name} has no column for {', '.join(self.absent)}; stored as empty")
        out += [f"skipped {n} rows: {reason} (first: {example})" for reason, (n, example) in self.skipped.items()]
        return out


def _find(df: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    lower = {str(c).lower(): c for c in df.columns}
    return next((lower[n] for n in names if n in lower), None)


def resolve_columns(df: pd.DataFrame, mapping: dict[str, str], path: Path) -> dict[str, str]:
    """field -> column: the user's mapping first, then the known public names."""
    for key, col in mapping.items():
        if key not in IDENTITY and key not in STORED_FEATURES:
            raise CorpusError(f"--map {key}={col}: '{key}' is not a field "
                              f"(use one of {', '.join(IDENTITY + STORED_FEATURES)})")
        if col not in df.columns:
            raise CorpusError(f"{path}: no column '{col}' for --map {key}={col} "
                              f"(columns: {', '.join(map(str, df.columns))})")
    cols = dict(mapping)
    for key, names in FIELD_COLUMNS.items():
        if key not in cols and (c := _find(df, names)) is not None:
            cols[key] = c
    for f in STORED_FEATURES:
        if f not in cols and (c := _find(df, (f,))) is not None:
            cols[f] = c
    return cols


def _artists(value) -> tuple[str, ...]:
    """'A', "['A', 'B']" (Kaggle 600k) or 'A;B' (Hugging Face dump)."""
    text = fix_text(value)
    if text.startswith("[") and text.endswith("]"):
        try:
            return tuple(fix_text(a) for a in ast.literal_eval(text) if str(a).strip())
        except (ValueError, SyntaxError):
            pass
    return tuple(a.strip() for a in text.split(";") if a.strip()) if ";" in text else (text,)


def _numbers(df: pd.DataFrame, cols: dict[str, str], path: Path) -> pd.DataFrame:
    """The feature columns as floats; a non-number is an error naming row and column."""
    out = pd.DataFrame(index=df.index)
    for f in STORED_FEATURES:
        if f not in cols:
            continue
        raw = df[cols[f]]
        num = pd.to_numeric(raw, errors="coerce")
        bad = num.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise CorpusError(f"{path}: row {i + 1}, column {cols[f]}: {raw.iloc[i]!r} is not a number")
        out[f] = num
    return out


def _row_problem(values: dict[str, float]) -> str | None:
    present = [v for v in values.values() if v is not None and not math.isnan(v)]
    if present and all(v == -1 for v in present):
        return "every feature is -1 (the table's 'not found on Spotify')"
    for f, v in values.items():
        lo, hi = FEATURE_RANGES.get(f, (-math.inf, math.inf))
        if v is not None and not math.isnan(v) and not lo <= v <= hi:
            return f"{f} outside [{lo:g}, {hi:g}]"
    if not any(values.get(f) is not None and not math.isnan(values[f]) for f in AUDIO_FEATURES):
        return "no feature values"
    return None


def import_table(path: str | Path, store: FeatureStore, mapping: dict[str, str] | None = None,
                 level: str = "auto", source: str | None = None, encoding: str = "utf-8") -> ImportSummary:
    """Add a public table's features to `store` (one transaction) and say what was skipped."""
    path = Path(path)
    df = read_table(path, encoding=encoding)
    cols = resolve_columns(df, mapping or {}, path)
    if not any(f in cols for f in AUDIO_FEATURES):
        raise CorpusError(f"{path}: no audio-feature columns (expected some of {', '.join(AUDIO_FEATURES)}; "
                          "map yours with --map energy=COLUMN)")
    if level == "auto":
        level = "track" if "id" in cols else "album"
    if level == "track" and "id" not in cols:
        raise CorpusError(f"{path}: no track id column (looked for {', '.join(FIELD_COLUMNS['id'])}); "
                          "use --map id=COLUMN, or --level album with artist and album columns")
    if level == "album" and not ("artist" in cols and "album" in cols):
        raise CorpusError(f"{path}: album-level import needs artist and album columns "
                          f"(found: {', '.join(k for k in ('artist', 'album') if k in cols) or 'neither'}); "
                          "use --map artist=COLUMN --map album=COLUMN")
    summary = ImportSummary(path, level, rows=len(df), columns={k: v for k, v in cols.items()},
                            absent=[f for f in AUDIO_FEATURES if f not in cols])
    nums = _numbers(df, cols, path)
    records = df.to_dict("records")
    feats_rows = nums.to_dict("records")
    source = source or path.stem
    text = lambda rec, key: fix_text(rec[cols[key]]) if key in cols and pd.notna(rec[cols[key]]) else ""

    def tracks():
        seen = set()
        for i, (rec, feats) in enumerate(zip(records, feats_rows), 1):
            problem = _row_problem(feats)
            if problem:
                summary.skip(problem, f"row {i}")
                continue
            try:
                track_id = track_id_from(text(rec, "id"))
            except ValueError as e:
                summary.skip("no valid track id", f"row {i}: {e}")
                continue
            if track_id in seen:
                summary.skip("repeats a track id already imported; first kept", f"row {i}")
                continue
            seen.add(track_id)
            pop = rec.get(cols["popularity"]) if "popularity" in cols else None
            artists = _artists(text(rec, "artist")) if text(rec, "artist") else ()
            yield Candidate(track_id, text(rec, "name"), artists, text(rec, "album"),
                            int(pop) if pop is not None and pd.notna(pop) else 0), feats

    def albums():
        seen = set()
        for i, (rec, feats) in enumerate(zip(records, feats_rows), 1):
            problem = _row_problem(feats)
            artist, album = text(rec, "artist"), text(rec, "album")
            if problem or not artist or not album:
                summary.skip(problem or "empty artist or album", f"row {i}")
                continue
            key = (normalize(artist), normalize(album))
            if key in seen:
                summary.skip("repeats an (artist, album) already imported; first kept", f"row {i}")
                continue
            seen.add(key)
            yield artist, album, feats

    summary.imported = (store.import_tracks(tracks(), source) if level == "track"
                        else store.import_albums(albums(), source))
    return summary
