"""Add audio features to a table: read what each row names, resolve it to a track,
fetch the features the store lacks in batches, and report every row's outcome.

Online (`source` given): searches and feature batches go to the source and are stored
as they arrive. Offline (`source=None`): the same matching runs against the store
alone (imported public tables plus earlier searches), with the same report.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from ..errors import CorpusError
from .errors import SpotifyError
from .matching import MIN_SCORE, VERSION_PENALTY, Candidate, Decision, Query, decide
from .names import fix_text, track_id_from
from .report import RowOutcome
from .schema import AUDIO_FEATURES
from .source import FeatureSource
from .store import FeatureStore
from .titles import parse_post_title

TRACK_ID_COL = "spotify_track_id"


@dataclass(frozen=True)
class Columns:
    """Which input columns name the song (one way at least)."""
    id_col: str | None = None
    artist_col: str | None = None
    title_col: str | None = None
    parse_title_col: str | None = None
    album_col: str | None = None

    def check(self, df: pd.DataFrame, path: str) -> None:
        if not (self.id_col or self.title_col or self.parse_title_col or (self.artist_col and self.album_col)):
            raise CorpusError(f"{path}: say which columns name the song: --id-col, --artist-col with "
                              "--title-col, --parse-title, or --artist-col with --album-col (offline)")
        if self.title_col and not self.artist_col:
            raise CorpusError(f"{path}: --title-col {self.title_col} needs --artist-col too "
                              "(or use --parse-title for 'Artist - Title' text)")
        if self.album_col and not self.artist_col:
            raise CorpusError(f"{path}: --album-col {self.album_col} needs --artist-col too")
        for opt, col in (("--id-col", self.id_col), ("--artist-col", self.artist_col),
                         ("--title-col", self.title_col), ("--parse-title", self.parse_title_col),
                         ("--album-col", self.album_col)):
            if col and col not in df.columns:
                raise CorpusError(f"{path}: no column '{col}' for {opt} (columns: {', '.join(map(str, df.columns))})")


@dataclass
class _Row:
    track_id: str | None = None
    query: Query | None = None
    album: tuple[str, str] | None = None
    input: str = ""
    problem: str | None = None     # invalid / empty
    status: str | None = None


@dataclass
class FetchResult:
    table: pd.DataFrame
    outcomes: list[RowOutcome]
    calls: Counter = field(default_factory=Counter)
    minimum_calls: dict[str, int] = field(default_factory=dict)
    retries: Counter = field(default_factory=Counter)


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return fix_text(str(value))


def _read_row(rec: dict, cols: Columns, n: int) -> _Row:
    """What one row names, in order of certainty: a track id, artist+title, a parsed title."""
    if cols.id_col and _cell(rec.get(cols.id_col)):
        value = _cell(rec[cols.id_col])
        try:
            return _Row(track_id=track_id_from(value), input=value)
        except ValueError as e:
            return _Row(input=value, problem=f"row {n}, column {cols.id_col}: {e}", status="invalid")
    artist = _cell(rec.get(cols.artist_col)) if cols.artist_col else ""
    if cols.title_col and _cell(rec.get(cols.title_col)):
        title = _cell(rec[cols.title_col])
        album = (artist, _cell(rec.get(cols.album_col))) if cols.album_col and _cell(rec.get(cols.album_col)) else None
        if not artist:
            return _Row(input=title, album=None, problem=f"row {n}: column {cols.artist_col} is empty", status="empty")
        return _Row(query=Query(title=title, artist=artist), album=album, input=f"{artist} - {title}")
    if cols.album_col and artist and _cell(rec.get(cols.album_col)):
        album = _cell(rec[cols.album_col])
        return _Row(album=(artist, album), input=f"{artist} - {album} (album)")
    if cols.parse_title_col and _cell(rec.get(cols.parse_title_col)):
        text = _cell(rec[cols.parse_title_col])
        query = parse_post_title(text)
        if query is None:
            return _Row(input=text, problem="no 'Artist - Title' or quoted title to read", status="unmatched")
        return _Row(query=query, input=text)
    named = [c for c in (cols.id_col, cols.title_col, cols.parse_title_col, cols.album_col) if c]
    return _Row(problem=f"row {n}: {', '.join(named)} empty", status="empty")


def _merge(*lists: list[Candidate]) -> list[Candidate]:
    seen: dict[str, Candidate] = {}
    for lst in lists:
        for c in lst:
            seen.setdefault(c.id, c)
    return list(seen.values())


def _progress(items, show: bool, what: str):
    if not show or not items:
        return items
    from fastprogress.fastprogress import progress_bar
    bar = progress_bar(items)
    bar.comment = what
    return bar


def fetch_features(df: pd.DataFrame, cols: Columns, store: FeatureStore, source: FeatureSource | None = None,
                   *, min_score: float = MIN_SCORE, version_penalty: float = VERSION_PENALTY,
                   progress: bool = False, path: str = "INPUT", overwrite: bool = False) -> FetchResult:
    """The input rows with the 11 audio features (and the track id used) added.

    Rows without features are kept with empty cells; `outcomes` says why for each."""
    cols.check(df, path)
    added = list(AUDIO_FEATURES) + [TRACK_ID_COL]
    clash = [c for c in added if c in df.columns]
    if clash and not overwrite:
        raise CorpusError(f"{path}: already has column(s) {', '.join(clash)}; rename them or pass --overwrite")
    rows = [_read_row(rec, cols, i + 1) for i, rec in enumerate(df.to_dict("records"))]
    calls_before = Counter(source.calls) if source else Counter()
    done = Counter()
    try:
        decisions, searches_needed = _resolve(rows, store, source, min_score, version_penalty, progress, done)
        ids = list(dict.fromkeys([r.track_id for r in rows if r.track_id] +
                                 [d.track.id for d in decisions.values() if d.track]))
        known = set(store.features(ids)) | set(store.missing(ids))
        need = [i for i in ids if i not in known]
        if source is not None:
            for batch in _progress([need[i: i + source.batch_size] for i in range(0, len(need), source.batch_size)],
                                   progress, "audio features"):
                store.save_features(source.audio_features(batch), source.name)
                done["feature batches"] += 1
    except SpotifyError as e:
        saved = ", ".join(f"{n} {what}" for what, n in done.items()) or "nothing new"
        raise SpotifyError(f"{e} (this run stored {saved} in {store.path}; rerun the same command to resume)") from None
    minimum = {"search": searches_needed,
               "audio-features": math.ceil(len(need) / source.batch_size) if source is not None else 0}
    feats, missing = store.features(ids), store.missing(ids)
    outcomes, values = _outcomes(rows, decisions, feats, missing, store, offline=source is None)
    table = df.copy()
    for j, name in enumerate(added):
        table[name] = [v[j] for v in values]
    calls = (Counter(source.calls) - calls_before) if source else Counter()
    return FetchResult(table, outcomes, calls, minimum, Counter(getattr(source, "retries", {})))


def _resolve(rows: list[_Row], store: FeatureStore, source: FeatureSource | None, min_score: float,
             version_penalty: float, progress: bool, done: Counter) -> tuple[dict[str, Decision], int]:
    """A decision per distinct query; each search answer is stored as it arrives."""
    queries = {r.query.key: r.query for r in rows if r.query is not None}
    name = source.name if source is not None else None
    cached = {k: store.cached_search(name, k) for k in queries}
    searches_needed = sum(c is None for c in cached.values()) if source is not None else 0
    decisions = {}
    for key in _progress(list(queries), progress and searches_needed > 0, "searching"):
        query, candidates = queries[key], cached[key]
        if candidates is None and source is not None:
            candidates = source.search(query)
            store.save_search(source.name, key, query.describe(), candidates)
            done["search answers"] += 1
        if source is None:
            candidates = _merge(candidates or [], store.local_candidates(query.artist, query.title))
        decisions[key] = decide(query, candidates or [], min_score, version_penalty)
    return decisions, searches_needed


def _outcomes(rows, decisions, feats, missing, store, offline: bool):
    outcomes, values = [], []
    empty = [None] * (len(AUDIO_FEATURES) + 1)
    for n, r in enumerate(rows, 1):
        out = RowOutcome(row=n, input=r.input, status=r.status or "unmatched", reason=r.problem or "")
        vals = empty
        d = decisions.get(r.query.key) if r.query is not None else None
        track_id = r.track_id or (d.track.id if d and d.track else None)
        if d is not None:
            out.status, out.reason, out.score = d.status, d.reason, d.score
            if d.track:
                out.track = d.track.describe()
        if track_id:
            out.track_id = track_id
            if track_id in feats:
                vals = [feats[track_id][f] for f in AUDIO_FEATURES] + [track_id]
                out.status = "matched"
                out.reason = out.reason or "track id"
            else:
                out.status = "no_features"
                out.reason = missing.get(track_id) or ("not in the store (offline)" if offline else "no features")
        if vals is empty and r.album is not None:
            found = store.album_features(*r.album)
            if found is not None:
                vals = [found[0][f] for f in AUDIO_FEATURES] + [None]
                out.status, out.reason = "album", found[1] + (f"; track: {out.reason}" if out.reason else "")
            elif not r.query:
                out.status, out.reason = "unmatched", "album not in the store"
        outcomes.append(out)
        values.append(vals)
    return outcomes, values
