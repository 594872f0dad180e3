"""The SQLite feature store: what it keeps, per-batch transactions, bad files."""
import sqlite3

import pytest

from contextlm.features.errors import FeatureStoreError
from contextlm.features.matching import Candidate
from contextlm.features.store import FeatureStore
from contextlm.features.fake_api import feature_values, track_id


def test_features_missing_and_searches_survive_reopen(tmp_path):
    path = tmp_path / "s.sqlite"
    with FeatureStore(path) as s:
        s.save_features({track_id(1): feature_values(1), track_id(2): None}, "spotify")
        s.save_search("spotify", "k", "a - b", [Candidate(track_id(1), "Song", ("A", "B"), "Alb", 3)])
        s.save_search("spotify", "miss", "x - y", [])
    with FeatureStore(path) as s:
        assert s.features([track_id(1), track_id(3)])[track_id(1)]["energy"] == feature_values(1)["energy"]
        assert list(s.missing([track_id(2)])) == [track_id(2)]
        assert s.cached_search("spotify", "k")[0].artists == ("A", "B")
        assert s.cached_search("spotify", "miss") == []          # a recorded miss
        assert s.cached_search("spotify", "never") is None
        assert s.cached_search(None, "k")[0].id == track_id(1)   # any source
        assert s.counts()["searches"] == 2


def test_a_failing_batch_leaves_nothing_half_written(tmp_path):
    with FeatureStore(tmp_path / "s.sqlite") as s:
        s.save_features({track_id(1): feature_values(1)}, "spotify")

        def rows():
            yield Candidate(track_id(2), "a", ("b",)), feature_values(2)
            raise KeyboardInterrupt  # Ctrl-C in the middle of a batch

        with pytest.raises(KeyboardInterrupt):
            s.import_tracks(rows(), "t")
        assert set(s.features([track_id(1), track_id(2)])) == {track_id(1)}
        assert s.counts()["tracks"] == 0


def test_features_later_found_clear_the_missing_mark(tmp_path):
    with FeatureStore(tmp_path / "s.sqlite") as s:
        s.save_features({track_id(1): None}, "spotify")
        s.save_features({track_id(1): feature_values(1)}, "import")
        assert s.missing([track_id(1)]) == {} and track_id(1) in s.features([track_id(1)])


def test_local_candidates_by_artist_or_title(tmp_path):
    with FeatureStore(tmp_path / "s.sqlite") as s:
        s.import_tracks([(Candidate(track_id(1), "Paper Boats (feat. X)", ("Velvet Owls",)), feature_values(1)),
                         (Candidate(track_id(2), "Other", ("Velvet Owls",)), feature_values(2)),
                         (Candidate(track_id(3), "Paper Boats", ("Someone",)), feature_values(3))], "t")
        ids = {c.id for c in s.local_candidates("The Velvet Owls", "paper boats")}
        assert ids == {track_id(1), track_id(2), track_id(3)}
        assert {c.id for c in s.local_candidates(None, "Paper Boats")} == {track_id(1), track_id(3)}


def test_album_features_imported_or_averaged(tmp_path):
    with FeatureStore(tmp_path / "s.sqlite") as s:
        s.import_albums([("Velvet Owls", "Harbor", {"energy": 0.25})], "p4k")
        feats, how = s.album_features("velvet owls", "HARBOR")
        assert feats["energy"] == 0.25 and how == "album features"
        s.import_tracks([(Candidate(track_id(i), f"t{i}", ("Mt Jade",), "Lantern"), {"energy": e})
                         for i, e in ((1, 0.2), (2, 0.6))], "t")
        feats, how = s.album_features("Mt. Jade", "Lantern")
        assert feats["energy"] == pytest.approx(0.4) and "mean of 2" in how
        assert s.album_features("nobody", "nothing") is None


def test_not_a_store(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(FeatureStoreError, match="junk.sqlite: not a contextlm feature store"):
        FeatureStore(junk)
    with pytest.raises(FeatureStoreError, match="is a folder"):
        FeatureStore(tmp_path)


def test_other_schema_version_is_refused(tmp_path):
    path = tmp_path / "s.sqlite"
    FeatureStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(FeatureStoreError, match="schema 99"):
        FeatureStore(path)


def other_apps_database(path):
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("INSERT INTO users VALUES (1, 'ada')")
    db.close()
    return path


def file_state(path):
    """Bytes and mtime of `path`, and which SQLite side files sit beside it."""
    sides = sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name + "-"))
    return path.read_bytes(), path.stat().st_mtime_ns, sides


@pytest.mark.parametrize("read_only", [False, True])
def test_an_unrelated_database_is_refused_and_left_untouched(tmp_path, read_only):
    other = other_apps_database(tmp_path / "other_app.sqlite")
    before = file_state(other)
    with pytest.raises(FeatureStoreError, match=r"other_app.sqlite: not a contextlm feature store "
                                                r"\(a database with tables users\); left untouched"):
        FeatureStore(other, read_only=read_only)
    assert file_state(other) == before
    with sqlite3.connect(other) as db:
        assert [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["users"]


def test_read_only_opening_never_writes(tmp_path):
    path = tmp_path / "s.sqlite"
    with FeatureStore(path) as s:
        s.save_features({track_id(1): feature_values(1)}, "spotify")
    before = file_state(path)[:2]
    with FeatureStore(path, read_only=True) as s:
        assert s.features([track_id(1)])[track_id(1)]["energy"] == feature_values(1)["energy"]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            s.db.execute("DELETE FROM features")
    assert file_state(path)[:2] == before


def test_reading_a_store_that_is_not_there_creates_nothing(tmp_path):
    with pytest.raises(FeatureStoreError, match="nope.sqlite: no feature store here yet; fill it with "
                                                "`contextlm features import TABLE --store"):
        FeatureStore(tmp_path / "nope.sqlite", read_only=True)
    assert list(tmp_path.iterdir()) == []
