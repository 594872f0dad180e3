"""The feature store: one SQLite file holding tracks, their audio features, the search
answers already received and the tracks known to have no features.

Every write is one transaction (a search answer, a batch of up to 100 feature rows, an
import), so a run killed at any moment keeps everything but the batch in flight, and
a rerun asks the API only for what is not stored yet.
"""
from __future__ import annotations

import json
import os
import re
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

from .errors import FeatureStoreError
from .matching import Candidate
from .names import normalize, split_title
from .schema import AUDIO_FEATURES

SCHEMA_VERSION = "1"
STORED_FEATURES = AUDIO_FEATURES + ("duration_ms", "time_signature")
_COLS = ", ".join(f"{f} REAL" for f in STORED_FEATURES)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS tracks (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, artists TEXT NOT NULL, album TEXT,
    popularity INTEGER, name_norm TEXT, album_norm TEXT, source TEXT);
CREATE TABLE IF NOT EXISTS track_artists (
    track_id TEXT NOT NULL, artist_norm TEXT NOT NULL, PRIMARY KEY (track_id, artist_norm));
CREATE INDEX IF NOT EXISTS track_artists_by_name ON track_artists (artist_norm);
CREATE INDEX IF NOT EXISTS tracks_by_name ON tracks (name_norm);
CREATE TABLE IF NOT EXISTS features (track_id TEXT PRIMARY KEY, {_COLS}, source TEXT, at TEXT);
CREATE TABLE IF NOT EXISTS missing (track_id TEXT PRIMARY KEY, reason TEXT, source TEXT, at TEXT);
CREATE TABLE IF NOT EXISTS searches (
    source TEXT NOT NULL, key TEXT NOT NULL, query TEXT, track_ids TEXT NOT NULL, at TEXT,
    PRIMARY KEY (source, key));
CREATE TABLE IF NOT EXISTS albums (
    artist_norm TEXT NOT NULL, album_norm TEXT NOT NULL, artist TEXT, album TEXT, {_COLS},
    source TEXT, at TEXT, PRIMARY KEY (artist_norm, album_norm));
"""
_STORE_TABLES = set(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", _SCHEMA))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _num(value) -> float | None:
    return None if value is None else float(value)


def _open_read_only(path: Path) -> sqlite3.Connection:
    """A connection that cannot write: no table, journal or byte of the file changes."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    db = sqlite3.connect(uri, uri=True, timeout=30)
    try:
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.DatabaseError as e:
        db.close()
        if not isinstance(e, sqlite3.OperationalError) or "unable to open" not in str(e):
            raise
    # A WAL file in a folder we cannot write (no -shm can be made): read it as immutable.
    return sqlite3.connect(uri + "&immutable=1", uri=True, timeout=30)


class FeatureStore:
    """A SQLite feature store. Use as a context manager or call `close()`.

    An existing file is checked read-only first, so a database of another program is never
    touched; `read_only=True` (offline runs) never writes, so a read-only file serves too."""

    def __init__(self, path: str | Path, read_only: bool = False):
        self.path = Path(path)
        if self.path.is_dir():
            raise FeatureStoreError(f"{self.path}: is a folder; --store takes a file such as features.sqlite")
        exists = self.path.exists() and self.path.stat().st_size > 0
        if read_only and not exists:
            raise FeatureStoreError(f"{self.path}: no feature store here yet; fill it with `contextlm features "
                                    f"import TABLE --store {self.path}` or run without --offline")
        if exists:
            self._check(read_only)
        if read_only:
            self.db = _open_read_only(self.path)
            return
        if exists and not os.access(self.path, os.W_OK):
            raise FeatureStoreError(f"{self.path}: is read-only, so nothing can be added to it "
                                    "(fetch-features --offline can still read it)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # WAL: a killed process loses nothing committed
            with self.db:
                self.db.executescript(_SCHEMA)
                self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
        except sqlite3.DatabaseError as e:
            raise FeatureStoreError(f"{self.path}: cannot open the feature store ({e})") from None

    def _check(self, read_only: bool) -> None:
        """Refuse a file that is not a store (or of another schema) without writing to it."""
        try:
            db = _open_read_only(self.path)
            try:
                tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() \
                    if "meta" in tables else None
            finally:
                db.close()
        except sqlite3.DatabaseError as e:
            raise FeatureStoreError(f"{self.path}: not a contextlm feature store ({e})") from None
        version = row[0] if row else None
        if version is None and tables:
            shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
            raise FeatureStoreError(f"{self.path}: not a contextlm feature store (a database with tables {shown}); "
                                    "left untouched, choose another --store")
        if version is not None and version != SCHEMA_VERSION:
            raise FeatureStoreError(f"{self.path}: feature store schema {version}, this contextlm reads "
                                    f"{SCHEMA_VERSION}; use a new --store file")
        if read_only and not _STORE_TABLES <= tables:
            raise FeatureStoreError(f"{self.path}: an incomplete feature store (no {', '.join(sorted(_STORE_TABLES - tables))} "
                                    "table); open it once without --offline to complete it")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "FeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction: committed on success, rolled back on any error or Ctrl-C."""
        try:
            with self.db:
                yield self.db
        except sqlite3.OperationalError as e:
            raise FeatureStoreError(f"{self.path}: cannot write ({e})") from None

    # -- tracks and searches -------------------------------------------------------
    def _put_tracks(self, db: sqlite3.Connection, tracks: Iterable[Candidate], source: str) -> None:
        for t in tracks:
            # A table with only ids and features must not blank out names a search stored.
            verb = "INSERT OR REPLACE" if t.name or t.artists else "INSERT OR IGNORE"
            db.execute(f"{verb} INTO tracks VALUES (?,?,?,?,?,?,?,?)",
                       (t.id, t.name, json.dumps(list(t.artists), ensure_ascii=False), t.album,
                        t.popularity, normalize(split_title(t.name).full), normalize(t.album), source))
            db.executemany("INSERT OR IGNORE INTO track_artists VALUES (?,?)",
                           [(t.id, normalize(a)) for a in t.artists if normalize(a)])

    def save_search(self, source: str, key: str, query: str, tracks: Sequence[Candidate]) -> None:
        """Store one search answer (an empty one is a recorded miss) and its tracks."""
        with self._write() as db:
            self._put_tracks(db, tracks, source)
            db.execute("INSERT OR REPLACE INTO searches VALUES (?,?,?,?,?)",
                       (source, key, query, json.dumps([t.id for t in tracks]), _now()))

    def cached_search(self, source: str | None, key: str) -> list[Candidate] | None:
        """The stored answer to a search (from any source when `source` is None), or None
        when it was never made."""
        if source is None:
            found = self.db.execute("SELECT track_ids FROM searches WHERE key=?", (key,)).fetchall()
        else:
            found = self.db.execute("SELECT track_ids FROM searches WHERE source=? AND key=?", (source, key)).fetchall()
        if not found:
            return None
        ids = list(dict.fromkeys(i for (row,) in found for i in json.loads(row)))
        tracks = self.tracks(ids)
        return [tracks[i] for i in ids if i in tracks]

    def tracks(self, ids: Iterable[str]) -> dict[str, Candidate]:
        out = {}
        for chunk in _chunks(list(ids), 500):
            q = f"SELECT id, name, artists, album, popularity FROM tracks WHERE id IN ({','.join('?' * len(chunk))})"
            for id_, name, artists, album, pop in self.db.execute(q, chunk):
                out[id_] = Candidate(id_, name, tuple(json.loads(artists)), album or "", pop or 0)
        return out

    def local_candidates(self, artist: str | None, title: str, limit: int = 200) -> list[Candidate]:
        """Stored tracks by the artist or with the title (normalised), for offline matching."""
        keys = [normalize(split_title(title).full), normalize(split_title(title).short)]
        ids = [r[0] for r in self.db.execute(
            f"SELECT id FROM tracks WHERE name_norm IN (?,?) LIMIT {int(limit)}", keys)]
        if artist:
            from .names import split_artists
            names = {normalize(artist)} | {normalize(a) for a in split_artists(artist)}
            names.discard("")
            ids += [r[0] for r in self.db.execute(
                f"SELECT track_id FROM track_artists WHERE artist_norm IN ({','.join('?' * len(names))}) "
                f"LIMIT {int(limit)}", sorted(names))]
        tracks = self.tracks(dict.fromkeys(ids))
        return [tracks[i] for i in dict.fromkeys(ids) if i in tracks]

    # -- features ------------------------------------------------------------------
    def save_features(self, results: Mapping[str, Mapping | None], source: str,
                      missing_reason: str = "no audio features for this track") -> None:
        """Store one batch: a feature dict per id, or None for a track without features."""
        now = _now()
        with self._write() as db:
            for track_id, feats in results.items():
                if feats is None:
                    db.execute("INSERT OR REPLACE INTO missing VALUES (?,?,?,?)", (track_id, missing_reason, source, now))
                else:
                    db.execute(f"INSERT OR REPLACE INTO features VALUES (?, {','.join('?' * len(STORED_FEATURES))}, ?, ?)",
                               (track_id, *(_num(feats.get(f)) for f in STORED_FEATURES), source, now))
                    db.execute("DELETE FROM missing WHERE track_id=?", (track_id,))

    def import_tracks(self, rows: Iterable[tuple[Candidate, Mapping]], source: str) -> int:
        """Add tracks with their features in one transaction (public tables)."""
        n = 0
        now = _now()
        with self._write() as db:
            for track, feats in rows:
                self._put_tracks(db, [track], source)
                db.execute(f"INSERT OR REPLACE INTO features VALUES (?, {','.join('?' * len(STORED_FEATURES))}, ?, ?)",
                           (track.id, *(_num(feats.get(f)) for f in STORED_FEATURES), source, now))
                n += 1
        return n

    def import_albums(self, rows: Iterable[tuple[str, str, Mapping]], source: str) -> int:
        """Add album-level features (e.g. P4KxSpotify's album means) in one transaction."""
        n = 0
        now = _now()
        with self._write() as db:
            for artist, album, feats in rows:
                db.execute(f"INSERT OR REPLACE INTO albums VALUES (?,?,?,?, {','.join('?' * len(STORED_FEATURES))}, ?, ?)",
                           (normalize(artist), normalize(album), artist, album,
                            *(_num(feats.get(f)) for f in STORED_FEATURES), source, now))
                n += 1
        return n

    def features(self, ids: Iterable[str]) -> dict[str, dict[str, float | None]]:
        out = {}
        for chunk in _chunks(list(ids), 500):
            q = (f"SELECT track_id, {', '.join(STORED_FEATURES)} FROM features "
                 f"WHERE track_id IN ({','.join('?' * len(chunk))})")
            for row in self.db.execute(q, chunk):
                out[row[0]] = dict(zip(STORED_FEATURES, row[1:]))
        return out

    def missing(self, ids: Iterable[str]) -> dict[str, str]:
        out = {}
        for chunk in _chunks(list(ids), 500):
            q = f"SELECT track_id, reason FROM missing WHERE track_id IN ({','.join('?' * len(chunk))})"
            out.update(dict(self.db.execute(q, chunk).fetchall()))
        return out

    def album_features(self, artist: str, album: str) -> tuple[dict[str, float | None], str] | None:
        """Album-level features: an imported album row, else the mean of its stored tracks."""
        a, b = normalize(artist), normalize(album)
        row = self.db.execute(f"SELECT {', '.join(STORED_FEATURES)} FROM albums WHERE artist_norm=? AND album_norm=?",
                              (a, b)).fetchone()
        if row is not None:
            return dict(zip(STORED_FEATURES, row)), "album features"
        row = self.db.execute(
            f"SELECT COUNT(*), {', '.join(f'AVG(f.{c})' for c in STORED_FEATURES)} FROM tracks t "
            "JOIN track_artists ta ON ta.track_id = t.id JOIN features f ON f.track_id = t.id "
            "WHERE ta.artist_norm=? AND t.album_norm=?", (a, b)).fetchone()
        if row and row[0]:
            return dict(zip(STORED_FEATURES, row[1:])), f"mean of {row[0]} stored tracks of the album"
        return None

    def counts(self) -> dict[str, int]:
        """How much the store holds (for messages and tests)."""
        return {t: self.db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("tracks", "features", "missing", "searches", "albums")}


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i: i + size]
