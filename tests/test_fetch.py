"""fetch_features against the local fake Spotify Web API, spoken to by the real spotipy.

Covers batching, the store's resume and zero-request reruns, the match report, and
every failure a user meets (credentials, 401, 403, 429, 5xx, dropped connections)."""
import logging
import math

import pandas as pd
import pytest

from contextlm.errors import CorpusError
from contextlm.features.errors import SpotifyError
from contextlm.features.fetch import TRACK_ID_COL, Columns, fetch_features
from contextlm.features.retry import RetryPolicy
from contextlm.features.schema import AUDIO_FEATURES
from contextlm.features.spotify import SpotifySource
from contextlm.features.store import FeatureStore
from contextlm.features.fake_api import FakeSpotify, Track, feature_values, invented_tracks, track_id

TRACKS = invented_tracks(250)
IDS = Columns(id_col="track")
TITLES = Columns(parse_title_col="title")


@pytest.fixture
def api():
    with FakeSpotify(TRACKS + [Track(track_id(900), "Quiet Room", ("Nullo",), "", 40, None)], lifetime=60) as server:
        yield server


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def store(tmp_path):
    with FeatureStore(tmp_path / "features.sqlite") as s:
        yield s


def make_source(api, sleeps, **retry):
    return SpotifySource(credentials=api.credentials, api_url=api.api_url, token_url=api.token_url,
                         retry=RetryPolicy(sleep=sleeps.append, **retry))


def id_frame(n, start=0):
    return pd.DataFrame({"track": [track_id(i) for i in range(start, start + n)]})


def title_frame(idx):
    return pd.DataFrame({"title": [f'{TRACKS[i].artists[0]} - "{TRACKS[i].name}"' for i in idx]})


def api_requests(api):
    return sum(api.calls.values())


# -- batching, resume, rerun --------------------------------------------------------
def test_features_come_in_batches_of_100(api, sleeps, store):
    df = id_frame(250)
    df.loc[0, "track"] = f"spotify:track:{track_id(0)}"
    df.loc[1, "track"] = f"https://open.spotify.com/track/{track_id(1)}?si=x"
    res = fetch_features(pd.concat([df, df.iloc[:30]]), IDS, store, make_source(api, sleeps))
    assert [n for e, n in api.log if e == "audio-features"] == [100, 100, 50]
    assert api.calls["audio-features"] == 3 == math.ceil(250 / 100) and api.calls["search"] == 0
    assert res.minimum_calls == {"search": 0, "audio-features": 3}
    assert res.table["energy"].tolist()[:250] == [feature_values(i)["energy"] for i in range(250)]
    assert res.table[TRACK_ID_COL].iloc[1] == track_id(1)
    assert {o.status for o in res.outcomes} == {"matched"}


def test_rerun_makes_zero_requests_and_needs_no_credentials(api, sleeps, store, monkeypatch):
    df = title_frame(range(0, 120, 3))
    first = fetch_features(df, TITLES, store, make_source(api, sleeps))
    before = api_requests(api)
    assert api.calls["search"] == 40 and api.calls["audio-features"] == 1
    monkeypatch.delenv("SPOTIPY_CLIENT_ID", raising=False)
    monkeypatch.delenv("SPOTIPY_CLIENT_SECRET", raising=False)
    again = fetch_features(df, TITLES, store, SpotifySource(api_url=api.api_url, token_url=api.token_url))
    assert api_requests(api) == before
    assert again.minimum_calls == {"search": 0, "audio-features": 0} and sum(again.calls.values()) == 0
    pd.testing.assert_frame_equal(first.table, again.table)


def test_a_larger_corpus_fetches_only_what_is_new(api, sleeps, store):
    fetch_features(title_frame(range(10)), TITLES, store, make_source(api, sleeps))
    api.calls.clear()
    res = fetch_features(title_frame(range(15)), TITLES, store, make_source(api, sleeps))
    assert api.calls["search"] == 5 and api.calls["audio-features"] == 1
    assert [n for e, n in api.log if e == "audio-features"][-1] == 5
    assert sum(o.status == "matched" for o in res.outcomes) == 15


def test_network_loss_stops_cleanly_and_the_rerun_resumes(api, sleeps, store):
    api.drop("audio-features", times=100, skip=1)
    with pytest.raises(SpotifyError) as e:
        fetch_features(id_frame(250), IDS, store, make_source(api, sleeps, max_retries=2))
    msg = str(e.value)
    assert "network error (ConnectionError) on /audio-features 3 times in a row" in msg
    assert "stored 1 feature batches" in msg and "rerun the same command to resume" in msg
    assert "\n" not in msg and sleeps == [1.0, 2.0]
    assert store.counts()["features"] == 100               # the first batch is kept
    api.clear_rules()
    api.calls.clear()
    res = fetch_features(id_frame(250), IDS, store, make_source(api, sleeps))
    assert api.calls["audio-features"] == 2 and res.minimum_calls["audio-features"] == 2
    assert sum(o.status == "matched" for o in res.outcomes) == 250


# -- the match report -----------------------------------------------------------------
def test_report_says_what_happened_to_every_row(api, sleeps, store):
    a, b = TRACKS[0], TRACKS[1]
    df = pd.DataFrame({"title": [
        f"{a.artists[0]} – {a.name}",                       # matched
        f"Choir - {b.name}",                                # weak: found, but the artist is only "Choir"
        "Just some words about music",                      # no parse
        None,                                               # empty
        "Nullo - Quiet Room",                               # Spotify has no features
        "Unknown Band - Unknown Song",                      # nothing found
    ], "extra": range(6)})
    res = fetch_features(df, TITLES, store, make_source(api, sleeps))
    out = {o.row: o for o in res.outcomes}
    assert [out[i].status for i in range(1, 7)] == ["matched", "unmatched", "unmatched", "empty",
                                                     "no_features", "unmatched"]
    assert out[1].track_id == a.id and out[1].score == 100 and a.name in out[1].track
    assert "weak match" in out[2].reason and "artist" in out[2].reason
    assert "no 'Artist - Title'" in out[3].reason
    assert out[5].reason == "no audio features for this track" and out[5].track_id == track_id(900)
    assert out[6].reason == "search found no track"
    # every input row is kept, in order, with empty cells where nothing was found
    assert len(res.table) == 6 and res.table["extra"].tolist() == list(range(6))
    assert res.table.loc[1:, list(AUDIO_FEATURES)].isna().all().all()
    assert store.missing([track_id(900)])                  # the null is recorded ...
    api.calls.clear()
    fetch_features(df, TITLES, store, make_source(api, sleeps))
    assert sum(api.calls.values()) == 0                    # ... so it is not asked for again


def test_artist_and_title_columns_and_invalid_ids(api, sleeps, store):
    a = TRACKS[5]
    df = pd.DataFrame({"id": [None, "https://open.spotify.com/album/fk00000000000000000001", None],
                       "artist": [a.artists[0], "x", ""], "title": [a.name, "y", "z"]})
    res = fetch_features(df, Columns(id_col="id", artist_col="artist", title_col="title"), store,
                         make_source(api, sleeps))
    assert [o.status for o in res.outcomes] == ["matched", "invalid", "empty"]
    assert res.outcomes[1].reason.startswith("row 2, column id:") and "album link" in res.outcomes[1].reason
    assert "row 3: column artist is empty" in res.outcomes[2].reason


def test_bad_column_choices_are_one_line_errors(api, sleeps, store):
    df = pd.DataFrame({"title": ["a - b"], "energy": [0.1]})
    with pytest.raises(CorpusError, match=r"posts.csv: no column 'headline' for --parse-title \(columns: title, energy\)"):
        fetch_features(df, Columns(parse_title_col="headline"), store, None, path="posts.csv")
    with pytest.raises(CorpusError, match="needs --artist-col"):
        fetch_features(df, Columns(title_col="title"), store, None)
    with pytest.raises(CorpusError, match="say which columns"):
        fetch_features(df, Columns(), store, None)
    with pytest.raises(CorpusError, match="already has column.s. energy; rename them or pass --overwrite"):
        fetch_features(df, TITLES, store, None)
    assert sum(api.calls.values()) == 0


# -- credentials ---------------------------------------------------------------------
def test_missing_credentials(api, store, monkeypatch):
    monkeypatch.delenv("SPOTIPY_CLIENT_ID", raising=False)
    monkeypatch.setenv("SPOTIPY_CLIENT_SECRET", "")
    with pytest.raises(SpotifyError, match=r"no Spotify credentials \(SPOTIPY_CLIENT_ID and SPOTIPY_CLIENT_SECRET "
                                           r"unset\).*--credentials FILE.*--offline"):
        fetch_features(title_frame([0]), TITLES, store, SpotifySource(api_url=api.api_url, token_url=api.token_url))
    assert sum(api.calls.values()) == 0


def test_credentials_from_environment(api, sleeps, store, monkeypatch):
    monkeypatch.setenv("SPOTIPY_CLIENT_ID", api.client_id)
    monkeypatch.setenv("SPOTIPY_CLIENT_SECRET", api.client_secret)
    src = SpotifySource(api_url=api.api_url, token_url=api.token_url)
    assert fetch_features(title_frame([3]), TITLES, store, src).outcomes[0].status == "matched"


@pytest.mark.parametrize("text", ["# my app\nexport SPOTIPY_CLIENT_ID={id}\nSPOTIPY_CLIENT_SECRET='{secret}'\n",
                                  '{{"client_id": "{id}", "client_secret": "{secret}"}}'])
def test_credentials_file(api, store, tmp_path, monkeypatch, text):
    monkeypatch.delenv("SPOTIPY_CLIENT_ID", raising=False)
    path = tmp_path / "spotify.env"
    path.write_text(text.format(id=api.client_id, secret=api.client_secret))
    src = SpotifySource(credentials_file=str(path), api_url=api.api_url, token_url=api.token_url)
    assert fetch_features(title_frame([3]), TITLES, store, src).outcomes[0].status == "matched"


@pytest.mark.parametrize("text, message", [
    ("SPOTIPY_CLIENT_ID=abc\n", "no SPOTIPY_CLIENT_SECRET"),
    ("SPOTIPY_CLIENT_ID abc\n", "line 1: expected KEY=VALUE"),
    ('{"client_id": "abc", ', "invalid JSON"),
])
def test_bad_credentials_file(api, store, tmp_path, text, message):
    path = tmp_path / "creds.txt"
    path.write_text(text)
    src = SpotifySource(credentials_file=str(path), api_url=api.api_url, token_url=api.token_url)
    with pytest.raises(SpotifyError, match=message) as e:
        fetch_features(title_frame([0]), TITLES, store, src)
    assert str(path) in str(e.value) and "abc" not in str(e.value)
    with pytest.raises(SpotifyError, match="credentials file not found"):
        fetch_features(title_frame([0]), TITLES, store, SpotifySource(credentials_file=str(tmp_path / "nope")))


def test_rejected_credentials(api, sleeps, store):
    src = SpotifySource(credentials=(api.client_id, "wrong-secret-42"), api_url=api.api_url,
                        token_url=api.token_url, retry=RetryPolicy(sleep=sleeps.append))
    with pytest.raises(SpotifyError, match=r"rejected the client credentials \(invalid_client\)") as e:
        fetch_features(title_frame([0]), TITLES, store, src)
    assert "wrong-secret-42" not in str(e.value) and sleeps == [] and api.calls["token"] == 1


# -- 401, 403, 429, 5xx ----------------------------------------------------------------
def test_expired_token_is_refreshed_once(api, sleeps, store):
    src = make_source(api, sleeps)
    fetch_features(title_frame([0]), TITLES, store, src)
    api.expire_tokens()
    res = fetch_features(title_frame([1, 2]), TITLES, store, src)
    assert api.calls["token"] == 2 and {o.status for o in res.outcomes} == {"matched"}
    assert src.retries["401"] == 1


def test_401_with_a_fresh_token_stops(api, sleeps, store):
    api.fail("search", 401, times=2)
    with pytest.raises(SpotifyError, match="401 Unauthorized on /search even with a fresh token"):
        fetch_features(title_frame([0]), TITLES, store, make_source(api, sleeps))
    assert api.calls["token"] == 2


def test_403_on_audio_features_explains_and_keeps_the_searches(api, sleeps, store, tmp_path):
    api.fail("audio-features", 403, times=5)
    df = title_frame(range(8))
    with pytest.raises(SpotifyError) as e:
        fetch_features(df, TITLES, store, make_source(api, sleeps))
    msg = str(e.value)
    assert msg.startswith("Spotify answered 403 Forbidden on /audio-features: since 2024-11-27")
    assert "contextlm features import" in msg and "--offline" in msg and "stored 8 search answers" in msg
    assert "\n" not in msg and sleeps == [] and api.calls["audio-features"] == 1
    # The way out: a public table with these ids, then an offline join through the stored searches.
    from contextlm.features.importer import import_table
    table = tmp_path / "public.csv"
    pd.DataFrame({"track_id": [t.id for t in TRACKS[:8]], "energy": [0.123] * 8}).to_csv(table, index=False)
    import_table(table, store)
    api.calls.clear()
    res = fetch_features(df, TITLES, store, None)
    assert sum(api.calls.values()) == 0
    assert [o.status for o in res.outcomes] == ["matched"] * 8 and (res.table["energy"] == 0.123).all()


def test_403_elsewhere_is_reported_as_is(api, sleeps, store):
    api.fail("search", 403, body={"error": {"status": 403, "message": "Insufficient client scope"}})
    with pytest.raises(SpotifyError, match="Spotify answered 403 on /search: Insufficient client scope"):
        fetch_features(title_frame([0]), TITLES, store, make_source(api, sleeps))


def test_429_waits_as_long_as_retry_after_says(api, sleeps, store):
    api.fail("search", 429, times=2, headers={"Retry-After": "3"})
    api.fail("audio-features", 429, times=1, headers={"Retry-After": "7"})
    res = fetch_features(title_frame([0, 1]), TITLES, store, make_source(api, sleeps))
    assert sleeps == [3.0, 3.0, 7.0] and {o.status for o in res.outcomes} == {"matched"}
    assert api.calls["search"] == 4 and res.calls["search"] == 4 and res.minimum_calls["search"] == 2


def test_429_longer_than_max_wait_stops_at_once(api, sleeps, store):
    api.fail("search", 429, times=1, headers={"Retry-After": "7200"})
    with pytest.raises(SpotifyError, match=r"429\) on /search: asked to wait 7200 s, more than --max-wait 120 s"):
        fetch_features(title_frame([0]), TITLES, store, make_source(api, sleeps))
    assert sleeps == []


def test_429_waits_are_bounded(api, sleeps, store):
    api.fail("search", 429, times=50, headers={"Retry-After": "1"})
    with pytest.raises(SpotifyError, match="still limited after 3 waits"):
        fetch_features(title_frame([0]), TITLES, store, make_source(api, sleeps, max_rate_waits=3))
    assert sleeps == [1.0, 1.0, 1.0] and api.calls["search"] == 4


def test_5xx_and_dropped_connections_are_retried_with_backoff(api, sleeps, store):
    api.fail("audio-features", 500, times=2)
    api.drop("search", times=1)
    api.fail("token", 503, times=1)
    res = fetch_features(title_frame([0, 1]), TITLES, store, make_source(api, sleeps, backoff=0.5))
    assert {o.status for o in res.outcomes} == {"matched"}
    # Backoff doubles per consecutive failure of one request: the first search met the token 503
    # and then the dropped connection (0.5, 1.0); the feature batch met two 500s (0.5, 1.0).
    assert sleeps == [0.5, 1.0, 0.5, 1.0]
    assert res.retries["backoff"] == 4


def test_5xx_that_persists_stops_with_progress_saved(api, sleeps, store):
    api.fail("search", 502, times=100, skip=3)
    with pytest.raises(SpotifyError, match=r"Spotify answered 502 on /search 5 times in a row; stopped "
                                           r"\(this run stored 3 search answers in .*features.sqlite"):
        fetch_features(title_frame(range(6)), TITLES, store, make_source(api, sleeps))
    assert sleeps == [1.0, 2.0, 4.0, 8.0] and store.counts()["searches"] == 3


def test_search_filters_are_loose_and_the_matcher_strict(api, sleeps):
    src = make_source(api, sleeps)
    from contextlm.features.matching import Query
    q = Query("Paper Boat (Memoir) (feat. Someone)", "Velvet Owls & Mt. Jade")
    assert src.search_text(q) == 'track:"Paper Boat" artist:"Velvet Owls"'
    assert src.search_text(Query('Say "Hi"', None, "x")) == 'track:"Say Hi"'
    assert sum(api.calls.values()) == 0


def test_debug_logging_never_shows_credentials_or_tokens(api, sleeps, store, caplog):
    import base64
    with caplog.at_level(logging.DEBUG, logger="spotipy"):
        fetch_features(title_frame([3]), TITLES, store, make_source(api, sleeps))
    basic = base64.b64encode(f"{api.client_id}:{api.client_secret}".encode()).decode()
    assert "Basic <redacted>" in caplog.text and "Bearer <redacted>" in caplog.text  # the headers were logged ...
    for secret in (api.client_secret, basic, "token-"):                              # ... without their values
        assert secret not in caplog.text
