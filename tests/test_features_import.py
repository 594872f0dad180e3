"""`features import`: public feature tables into the store, with what was skipped and why."""
import pandas as pd
import pytest

from contextlm.errors import CorpusError
from contextlm.features.fetch import Columns, fetch_features
from contextlm.features.importer import import_table
from contextlm.features.store import FeatureStore
from contextlm.features.fake_api import track_id

FEATS = dict(danceability=0.5, energy=0.7, key=5, loudness=-6.0, mode=1, speechiness=0.05, acousticness=0.2,
             instrumentalness=0.0, liveness=0.1, valence=0.3, tempo=120.0)


@pytest.fixture
def store(tmp_path):
    with FeatureStore(tmp_path / "f.sqlite") as s:
        yield s


def tidy_rows():
    """TidyTuesday's layout: one row per playlist a track is on, a few rows without names."""
    rows = [dict(track_id=track_id(i), track_name=f"Paper Boat {i}", track_artist="Velvet Owls",
                 track_popularity=40 + i, track_album_name="Harbor", playlist_name=p, **FEATS, duration_ms=2e5)
            for i in range(4) for p in ("a", "b")]
    rows.append(dict(track_id=track_id(9), track_name=None, track_artist=None, track_popularity=1,
                     track_album_name=None, playlist_name="c", **FEATS, duration_ms=2e5))
    return rows


def test_tidytuesday_layout(store, tmp_path):
    path = tmp_path / "spotify_songs.csv"
    pd.DataFrame(tidy_rows()).to_csv(path, index=False)
    s = import_table(path, store)
    assert (s.level, s.imported, s.rows) == ("track", 5, 9)
    assert s.skipped == {"repeats a track id already imported; first kept": (4, "row 2")}
    assert s.columns["artist"] == "track_artist" and s.absent == []
    assert store.tracks([track_id(2)])[track_id(2)].popularity == 42
    assert store.features([track_id(9)])[track_id(9)]["energy"] == 0.7   # kept by id, no name needed
    assert "imported 5 tracks" in s.lines()[0]


def test_kaggle_layouts_with_artist_lists(store, tmp_path):
    path = tmp_path / "tracks.csv"
    pd.DataFrame([dict(id=track_id(1), name="Shine", artists="['Halo', 'Mt. Jade']", **FEATS),
                  dict(id=f"spotify:track:{track_id(2)}", name="Glow", artists="Halo;Dune", **FEATS),
                  dict(id="not-an-id", name="Nope", artists="X", **FEATS)]).to_csv(path, index=False)
    s = import_table(path, store)
    assert s.imported == 2
    reason, (n, example) = next(iter(s.skipped.items()))
    assert reason == "no valid track id" and n == 1 and example.startswith("row 3:")
    t = store.tracks([track_id(1), track_id(2)])
    assert t[track_id(1)].artists == ("Halo", "Mt. Jade") and t[track_id(2)].artists == ("Halo", "Dune")


def test_album_level_table_skips_not_found_rows(store, tmp_path):
    path = tmp_path / "p4k.csv"
    feats = {k: v for k, v in FEATS.items() if k != "mode"}       # P4KxSpotify has no mode column
    pd.DataFrame([dict(artist="Velvet Owls", album="Harbor", score=8.1, **feats),
                  dict(artist="Mt. Jade", album="Lantern", score=7.0, **{k: -1 for k in feats}),
                  dict(artist="velvet owls", album="HARBOR", score=6.0, **feats),
                  dict(artist="Dune", album="Sand", score=5.0, **{**feats, "energy": 1.7})]).to_csv(path, index=False)
    s = import_table(path, store)
    assert (s.level, s.imported, s.absent) == ("album", 1, ["mode"])
    assert s.skipped == {"every feature is -1 (the table's 'not found on Spotify')": (1, "row 2"),
                         "repeats an (artist, album) already imported; first kept": (1, "row 3"),
                         "energy outside [0, 1]": (1, "row 4")}
    # ... and a corpus of reviews joins on (artist, album), offline
    reviews = pd.DataFrame({"artist": ["The Velvet Owls", "Mt. Jade"], "album": ["Harbor", "Lantern"]})
    res = fetch_features(reviews, Columns(artist_col="artist", album_col="album"), store, None)
    assert [o.status for o in res.outcomes] == ["album", "unmatched"]
    assert res.table["energy"].iloc[0] == 0.7 and pd.isna(res.table["mode"].iloc[0])
    assert res.outcomes[1].reason == "album not in the store"


def test_column_mapping(store, tmp_path):
    path = tmp_path / "mine.jsonl"
    pd.DataFrame([dict(sid=track_id(3), Song="Shine", Who="Halo", Energy=0.25, Valence=0.5)]).to_json(
        path, orient="records", lines=True)
    s = import_table(path, store, {"id": "sid", "name": "Song", "artist": "Who", "energy": "Energy",
                                   "valence": "Valence"})
    assert s.imported == 1 and store.features([track_id(3)])[track_id(3)]["valence"] == 0.5
    assert store.local_candidates("Halo", "Shine")[0].id == track_id(3)


@pytest.mark.parametrize("frame, mapping, message", [
    (dict(track_id=[track_id(1)], energy=["loud"]), {}, r"t.csv: row 1, column energy: 'loud' is not a number"),
    (dict(track_id=[track_id(1)], track_name=["x"]), {}, "t.csv: no audio-feature columns"),
    (dict(track_id=[track_id(1)], energy=[0.1]), {"energy": "nrg"}, "t.csv: no column 'nrg' for --map energy=nrg"),
    (dict(track_id=[track_id(1)], energy=[0.1]), {"loud": "energy"}, "--map loud=energy: 'loud' is not a field"),
    (dict(name=["x"], energy=[0.1]), {}, "t.csv: album-level import needs artist and album columns"),
])
def test_bad_tables_are_one_line_errors(store, tmp_path, frame, mapping, message):
    path = tmp_path / "t.csv"
    pd.DataFrame(frame).to_csv(path, index=False)
    with pytest.raises(CorpusError, match=message):
        import_table(path, store, mapping)
    assert store.counts()["features"] == 0


def test_track_level_needs_ids(store, tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame(dict(artist=["a"], album=["b"], energy=[0.1])).to_csv(path, index=False)
    with pytest.raises(CorpusError, match="no track id column"):
        import_table(path, store, level="track")


def test_offline_join_by_artist_and_title(store, tmp_path):
    path = tmp_path / "spotify_songs.csv"
    pd.DataFrame(tidy_rows()).to_csv(path, index=False)
    import_table(path, store)
    df = pd.DataFrame({"title": ['Velvet Owls – "Paper Boat 2"', "The Velvet Owls: Paper Boat 3 (Live)",
                                 "Velvet Owls - Paper Boat 7"]})
    res = fetch_features(df, Columns(parse_title_col="title"), store, None)
    assert [o.status for o in res.outcomes] == ["matched", "unmatched", "unmatched"]
    assert res.outcomes[0].track_id == track_id(2)
    assert "version" in res.outcomes[1].reason   # a live take is not the studio track
