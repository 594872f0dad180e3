"""The corpus builders: each turns the original files of a named dataset (fetched into its
cache folder) into the table contextlm trains on, and names the file it wrote."""
from __future__ import annotations

from pathlib import Path

from ..errors import DatasetError
from ..features.schema import AUDIO_FEATURES, FEATURE_RANGES
from .fetch import require_columns

SPOTIFY_CORPUS = "spotify_songs_corpus.csv"


def build_spotify_corpus(folder: Path, seed: int = 42, valid_pct: float = 0.1, test_pct: float = 0.1) -> Path:
    """One row per track_id, text = track title, all audio features, and a seeded
    train/valid/test split by album: titles of one album share words and energy, so an
    album in two splits would leak. `text_with_album` ("title - album") is kept to
    test whether the album name helps."""
    import pandas as pd

    from .corpus import assign_splits
    df = pd.read_csv(folder / "spotify_songs.csv")
    require_columns(df.columns, ("track_id", "track_name", "track_artist", "track_album_name", "track_album_id",
                                 "playlist_genre", *AUDIO_FEATURES), folder / "spotify_songs.csv")
    df = df.drop_duplicates("track_id").dropna(subset=["track_name"])
    df = df[df["track_name"].astype(str).str.strip() != ""]
    out = pd.DataFrame({
        "track_id": df["track_id"], "text": df["track_name"].astype(str).str.strip(),
        "text_with_album": df["track_name"].astype(str).str.strip() + " - " + df["track_album_name"].astype(str),
        "artist": df["track_artist"], "album": df["track_album_name"], "album_id": df["track_album_id"],
        "genre": df["playlist_genre"], **{c: df[c] for c in AUDIO_FEATURES},
    })
    out["split"] = assign_splits(out["album_id"].astype(str), valid_pct, test_pct, seed)
    path = folder / SPOTIFY_CORPUS
    out.to_csv(path, index=False)
    return path


LYRICS_CORPUS = "spotify_lyrics_corpus.csv"
KAGGLE_LYRICS = "spotify_songs.csv"  # the Kaggle download's name (same as TidyTuesday's, other columns)
KAGGLE_LYRICS_COLUMNS = ("track_id", "track_name", "track_artist", "lyrics", "track_album_id", "track_album_name",
                         "playlist_genre", "playlist_subgenre", *AUDIO_FEATURES, "language")


def build_spotify_lyrics(folder: Path, language: str = "en", seed: int = 42, valid_pct: float = 0.1,
                         test_pct: float = 0.1) -> Path:
    """The Kaggle file "Audio features and lyrics of Spotify songs" (imuhammad) as a corpus:
    one row per track_id with text = lyrics, the audio features, `genre`/`subgenre`
    (playlist) as label columns, and a seeded train/valid/test split by album.

    `language`: "en" (default), "all", or codes such as "en,es" (the file's `language`
    column; rows without lyrics have none and always go). Anything but "en" is written
    to `spotify_lyrics_corpus.<language>.csv`, so the default corpus is never replaced.

    Verification: no checksum is pinned. Kaggle serves the file only after a login, so
    there is no public URL to download and hash, and the only copies that could be
    checked were 1,000-row heads of it (a sample's hash would reject the real file).
    What is checked instead is what the corpus needs: the columns above, and every audio
    feature a number in its valid range; the first failure is one line naming the file,
    row and column. `--no-verify` changes nothing here."""
    import pandas as pd

    from .corpus import assign_splits
    path = folder / KAGGLE_LYRICS
    df = pd.read_csv(path, dtype=str, keep_default_na=False)  # empty lyrics/language stay "", not NaN
    require_columns(df.columns, KAGGLE_LYRICS_COLUMNS, path)
    feats = {c: _feature_column(df[c], c, path) for c in AUDIO_FEATURES}
    codes = [c.strip() for c in language.split(",") if c.strip()]
    keep = df["lyrics"].str.strip() != ""
    if codes != ["all"]:
        keep &= df["language"].isin(codes)
    keep &= ~df["track_id"].duplicated()
    df = df[keep]
    out = pd.DataFrame({
        "track_id": df["track_id"], "text": df["lyrics"].str.strip(), "title": df["track_name"],
        "artist": df["track_artist"], "album": df["track_album_name"], "album_id": df["track_album_id"],
        "genre": df["playlist_genre"], "subgenre": df["playlist_subgenre"], "language": df["language"],
        **{c: v[keep.to_numpy()] for c, v in feats.items()},
    })
    if out.empty:
        raise DatasetError(f"{path}: no rows with lyrics in language(s) {language!r}")
    out["split"] = assign_splits(out["album_id"], valid_pct, test_pct, seed)
    target = folder / (LYRICS_CORPUS if codes == ["en"] else f"spotify_lyrics_corpus.{'-'.join(codes)}.csv")
    out.to_csv(target, index=False)
    return target


def _feature_column(values, name: str, path: Path):
    """The column as floats; the first non-number or out-of-range value is an error."""
    import pandas as pd
    x = pd.to_numeric(values.str.strip(), errors="coerce")
    lo, hi = FEATURE_RANGES[name]
    bad = x.isna() | (x < lo) | (x > hi)
    if bad.any():
        i = int(bad.to_numpy().argmax())
        what = "is not a number" if pd.isna(x.iloc[i]) else f"is outside [{lo:g}, {hi:g}]"
        raise DatasetError(f"{path}: row {i + 1}, column {name!r}: {values.iloc[i]!r} {what}")
    return x.to_numpy()


def build_music_blogs(folder: Path) -> Path:
    """The Mercury-parser JSON as a table: post_id, title, url, domain, date, text."""
    import json
    import pandas as pd
    posts = json.loads((folder / "blog_content_en_sample.json").read_text(encoding="utf-8"))
    out = pd.DataFrame([{"post_id": i, "title": p.get("title"), "url": p.get("url"), "domain": p.get("domain"),
                         "date": p.get("date_published"), "text": p.get("content")} for i, p in enumerate(posts)])
    path = folder / "music_blogs.csv"
    out.to_csv(path, index=False)
    return path
