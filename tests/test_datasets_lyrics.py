"""`contextlm data get spotify-lyrics --from DIR` on small files in the Kaggle format."""
from __future__ import annotations

import csv
import random
from pathlib import Path

import pandas as pd
import pytest

from contextlm.cli import main
from contextlm.data.corpus_builders import LYRICS_CORPUS
from contextlm.data.datasets import get_dataset
from contextlm.errors import DatasetError
from contextlm.features.schema import AUDIO_FEATURES

# The Kaggle file's 25 columns, in its order.
KAGGLE_HEADER = ["track_id", "track_name", "track_artist", "lyrics", "track_popularity", "track_album_id",
                 "track_album_name", "track_album_release_date", "playlist_name", "playlist_id", "playlist_genre",
                 "playlist_subgenre", "danceability", "energy", "key", "loudness", "mode", "speechiness",
                 "acousticness", "instrumentalness", "liveness", "valence", "tempo", "duration_ms", "language"]


def kaggle_rows(n_albums: int = 30, per_album: int = 3, seed: int = 0) -> list[dict]:
    """Albums of English tracks, plus a Spanish album, a track without lyrics (and no
    language, as in the real file) and a repeated track id."""
    rng = random.Random(seed)
    rows = []
    for a in range(n_albums + 1):
        lang = "es" if a == n_albums else "en"
        for t in range(per_album):
            rows.append({
                "track_id": f"t{a:03d}{t}", "track_name": f"Song {a}-{t}", "track_artist": f"Artist {a % 7}",
                "lyrics": ("la vida es bella" if lang == "es" else f"the night is young {rng.choice(['oh', 'yeah'])}"),
                "track_popularity": str(rng.randint(0, 100)), "track_album_id": f"alb{a:03d}",
                "track_album_name": f"Album {a}", "track_album_release_date": "2019-01-01",
                "playlist_name": "Mix", "playlist_id": "p1", "playlist_genre": rng.choice(["pop", "rock", "rap"]),
                "playlist_subgenre": "indie", "danceability": f"{rng.random():.3f}", "energy": f"{rng.random():.3f}",
                "key": str(rng.randint(-1, 11)), "loudness": f"{-rng.uniform(2, 20):.2f}", "mode": str(rng.randint(0, 1)),
                "speechiness": "0.05", "acousticness": "0.1", "instrumentalness": "0.0", "liveness": "0.1",
                "valence": f"{rng.random():.3f}", "tempo": "120.0", "duration_ms": "200000", "language": lang})
    rows.append({**rows[0], "track_id": "nolyrics", "lyrics": "", "language": ""})
    rows.append({**rows[1]})  # the same track again
    return rows


def write_kaggle(folder: Path, rows: list[dict], name: str = "spotify_songs.csv", header=KAGGLE_HEADER) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture
def kaggle_dir(tmp_path):
    write_kaggle(tmp_path / "src", kaggle_rows())
    return tmp_path / "src"


def test_columns_mapped_english_only_one_row_per_track(kaggle_dir, tmp_path):
    main_file = get_dataset("spotify-lyrics", kaggle_dir, tmp_path / "cache")
    assert main_file == tmp_path / "cache" / "spotify-lyrics" / LYRICS_CORPUS
    df = pd.read_csv(main_file)
    src = pd.read_csv(kaggle_dir / "spotify_songs.csv", keep_default_na=False).drop_duplicates("track_id")
    src = src[(src["language"] == "en") & (src["lyrics"] != "")].set_index("track_id")
    assert sorted(df["track_id"]) == sorted(src.index) and df["track_id"].is_unique
    assert set(df["language"]) == {"en"}
    row = df.set_index("track_id").loc["t0051"]
    want = src.loc["t0051"]
    assert (row["text"], row["title"], row["artist"], row["album"], row["album_id"], row["genre"], row["subgenre"]) == (
        want["lyrics"], want["track_name"], want["track_artist"], want["track_album_name"], want["track_album_id"],
        want["playlist_genre"], want["playlist_subgenre"])
    for c in AUDIO_FEATURES:
        assert row[c] == pytest.approx(float(want[c]))


def test_split_by_album_seeded(kaggle_dir, tmp_path):
    df = pd.read_csv(get_dataset("spotify-lyrics", kaggle_dir, tmp_path / "a"))
    assert df.groupby("album_id")["split"].nunique().max() == 1
    assert set(df["split"]) == {"train", "valid", "test"}
    again = pd.read_csv(get_dataset("spotify-lyrics", kaggle_dir, tmp_path / "b"))
    assert df["split"].tolist() == again["split"].tolist()


def test_all_languages_on_request_without_replacing_the_default(kaggle_dir, tmp_path, capsys):
    cache = tmp_path / "cache"
    assert main(["data", "get", "spotify-lyrics", "--from", str(kaggle_dir), "--cache", str(cache),
                 "--language", "all", "--print-path"]) == 0
    every = pd.read_csv(capsys.readouterr().out.strip())
    assert set(every["language"]) == {"en", "es"} and "nolyrics" not in set(every["track_id"])
    assert main(["data", "get", "spotify-lyrics", "--from", str(kaggle_dir), "--cache", str(cache),
                 "--print-path"]) == 0
    assert set(pd.read_csv(capsys.readouterr().out.strip())["language"]) == {"en"}
    assert main(["data", "get", "spotify-songs", "--cache", str(cache), "--language", "all"]) == 2
    assert "no option 'language'" in capsys.readouterr().err


def test_any_csv_with_the_kaggle_columns_is_found(tmp_path):
    """The shared sample has another name; a TidyTuesday file named spotify_songs.csv is passed over."""
    src = tmp_path / "src"
    write_kaggle(src, kaggle_rows(), name="spotify_songs_lyrics_first1000.csv")
    write_kaggle(src / "tidy", kaggle_rows(), header=[c for c in KAGGLE_HEADER if c not in ("lyrics", "language")])
    df = pd.read_csv(get_dataset("spotify-lyrics", src, tmp_path / "cache"))
    assert len(df) == 90


def test_a_new_copy_is_taken_and_rebuilt(kaggle_dir, tmp_path):
    cache = tmp_path / "cache"
    assert len(pd.read_csv(get_dataset("spotify-lyrics", kaggle_dir, cache))) == 90
    write_kaggle(kaggle_dir, kaggle_rows(n_albums=10))
    assert len(pd.read_csv(get_dataset("spotify-lyrics", kaggle_dir, cache))) == 30
    assert len(pd.read_csv(get_dataset("spotify-lyrics", None, cache))) == 30  # no --from: the copy in the cache


@pytest.mark.parametrize("drop, message", [
    ("language", "spotify_songs.csv: no column 'language'"),
    ("energy", "spotify_songs.csv: no column 'energy'"),
])
def test_missing_column_names_file_and_column(tmp_path, drop, message):
    src = write_kaggle(tmp_path / "src", kaggle_rows(), header=[c for c in KAGGLE_HEADER if c != drop]).parent
    with pytest.raises(DatasetError, match=message) as err:
        get_dataset("spotify-lyrics", src, tmp_path / "cache")
    assert str(src) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("value, what", [("loud", "is not a number"), ("1.7", "is outside [0, 1]"),
                                         ("", "is not a number")])
def test_bad_feature_value_names_file_row_and_column(tmp_path, value, what):
    rows = kaggle_rows()
    rows[4]["energy"] = value
    src = write_kaggle(tmp_path / "src", rows).parent
    with pytest.raises(DatasetError) as err:
        get_dataset("spotify-lyrics", src, tmp_path / "cache")
    msg = str(err.value)
    assert "spotify_songs.csv: row 5, column 'energy'" in msg and what in msg and "\n" not in msg


def test_no_download_without_from(tmp_path):
    with pytest.raises(DatasetError, match="no public download.*--from DIR"):
        get_dataset("spotify-lyrics", None, tmp_path / "cache")


def test_no_kaggle_file_in_folder(tmp_path):
    write_kaggle(tmp_path / "src", kaggle_rows(), name="other.csv", header=KAGGLE_HEADER[:5])
    with pytest.raises(DatasetError, match=r"src: no spotify_songs.csv and no other CSV with its columns"):
        get_dataset("spotify-lyrics", tmp_path / "src", tmp_path / "cache")
