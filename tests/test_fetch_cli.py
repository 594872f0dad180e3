"""The `contextlm fetch-features` and `contextlm features import` commands, end to end:
in-process for messages and files, in a subprocess for kill -9 and Ctrl-C resumes."""
import base64
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from contextlm.cli import main
from contextlm.features.store import FeatureStore
from contextlm.features.fake_api import CLIENT_ID, CLIENT_SECRET, FakeSpotify, invented_tracks, track_id

ROOT = Path(__file__).resolve().parent.parent
TRACKS = invented_tracks(250)


@pytest.fixture
def api():
    with FakeSpotify(TRACKS, lifetime=90) as server:
        yield server


@pytest.fixture
def creds(monkeypatch):
    monkeypatch.setenv("SPOTIPY_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SPOTIPY_CLIENT_SECRET", CLIENT_SECRET)


def posts(path, idx, extra=()):
    rows = [{"title": f'{TRACKS[i].artists[0]} - "{TRACKS[i].name}"', "text": f"post {i}"} for i in idx]
    rows += [{"title": t, "text": "x"} for t in extra]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def api_args(api):
    return ["--api-url", api.api_url, "--token-url", api.token_url, "--backoff", "0", "--quiet"]


def test_fetch_writes_table_and_report_and_never_shows_the_secret(api, creds, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where spotipy's default token cache (.cache) would land
    inp = posts(tmp_path / "posts.csv", range(12), extra=["Nobody - Nothing"])
    store = tmp_path / "store.sqlite"
    rc = main(["fetch-features", str(inp), "--parse-title", "title", "--out", str(tmp_path / "out.jsonl"),
               "--store", str(store), *api_args(api)])
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    assert "13 rows: 12 with features (matched 12, unmatched 1)" in out
    assert "API requests: audio-features 1, search 13, token 1 (needed: search 13, audio-features 1)" in out
    assert f"wrote table with features: {tmp_path / 'out.jsonl'}" in out
    assert f"wrote match report: {tmp_path / 'out.matches.csv'}" in out
    table = pd.read_json(tmp_path / "out.jsonl", lines=True)
    assert table["energy"].tolist()[:12] == [TRACKS[i].features["energy"] for i in range(12)]
    report = pd.read_csv(tmp_path / "out.matches.csv")
    assert report["status"].tolist() == ["matched"] * 12 + ["unmatched"]
    # the secret went to the token endpoint, and nowhere else
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert api.seen_auth == [f"Basic {basic}"]
    for text in (out, err):
        assert CLIENT_SECRET not in text and basic not in text
    for f in tmp_path.iterdir():
        data = f.read_bytes()
        assert CLIENT_SECRET.encode() not in data and basic.encode() not in data, f
    assert not (tmp_path / ".cache").exists()   # the token is kept in memory only


def test_rerun_and_formats(api, creds, tmp_path, capsys):
    inp = posts(tmp_path / "posts.csv", range(5))
    args = ["fetch-features", str(inp), "--parse-title", "title", "--store", str(tmp_path / "s.sqlite"), *api_args(api)]
    assert main(args + ["--out", str(tmp_path / "a.parquet")]) == 0
    before = sum(api.calls.values())
    assert main(args + ["--out", str(tmp_path / "b.csv"), "--report", str(tmp_path / "r.tsv")]) == 0
    out = capsys.readouterr().out
    assert sum(api.calls.values()) == before and "API requests: none (needed: search 0, audio-features 0)" in out
    a, b = pd.read_parquet(tmp_path / "a.parquet"), pd.read_csv(tmp_path / "b.csv")
    assert a["energy"].tolist() == b["energy"].tolist() and len(pd.read_csv(tmp_path / "r.tsv", sep="\t")) == 5


@pytest.mark.parametrize("setup, message", [
    (lambda api, mp: (mp.delenv("SPOTIPY_CLIENT_ID"), mp.delenv("SPOTIPY_CLIENT_SECRET")), "no Spotify credentials"),
    (lambda api, mp: api.fail("audio-features", 403), "403 Forbidden on /audio-features: since 2024-11-27"),
    (lambda api, mp: api.fail("search", 429, headers={"Retry-After": "3600"}), "asked to wait 3600 s"),
    (lambda api, mp: api.fail("search", 500, times=10), "Spotify answered 500 on /search 5 times in a row"),
])
def test_api_failures_exit_2_with_one_line(api, creds, tmp_path, capsys, monkeypatch, setup, message):
    setup(api, monkeypatch)
    inp = posts(tmp_path / "posts.csv", range(3))
    rc = main(["fetch-features", str(inp), "--parse-title", "title", "--out", str(tmp_path / "o.csv"),
               "--store", str(tmp_path / "s.sqlite"), *api_args(api)])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("contextlm: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "o.csv").exists()


def test_input_errors_exit_2(tmp_path, capsys):
    rc = main(["fetch-features", str(tmp_path / "missing.csv"), "--parse-title", "t", "--out", str(tmp_path / "o.csv"),
               "--store", str(tmp_path / "s.sqlite"), "--offline"])
    assert rc == 2 and "missing.csv: no such file" in capsys.readouterr().err
    inp = posts(tmp_path / "p.csv", range(2))
    rc = main(["fetch-features", str(inp), "--parse-title", "headline", "--out", str(tmp_path / "o.csv"),
               "--store", str(tmp_path / "s.sqlite"), "--offline"])
    assert rc == 2 and "p.csv: no column 'headline' for --parse-title (columns: title, text)" in capsys.readouterr().err
    rc = main(["features", "import", str(inp), "--store", str(tmp_path / "s.sqlite"), "--map", "energy"])
    assert rc == 2 and "--map 'energy': expected FIELD=COLUMN" in capsys.readouterr().err


def test_import_then_offline_join(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SPOTIPY_CLIENT_ID", raising=False)
    table = tmp_path / "spotify_songs.csv"
    pd.DataFrame([dict(track_id=t.id, track_name=t.name, track_artist=t.artists[0], track_album_name=t.album,
                       track_popularity=t.popularity, **t.features) for t in TRACKS[:20]]).to_csv(table, index=False)
    store = str(tmp_path / "s.sqlite")
    assert main(["features", "import", str(table), "--store", store]) == 0
    out = capsys.readouterr().out
    assert "imported 20 tracks with features" in out and f"wrote feature store: {store}" in out
    songs = tmp_path / "songs.csv"
    pd.DataFrame({"artist": [t.artists[0] for t in TRACKS[15:25]], "song": [t.name for t in TRACKS[15:25]]}).to_csv(songs, index=False)
    assert main(["fetch-features", str(songs), "--artist-col", "artist", "--title-col", "song", "--store", store,
                 "--offline", "--out", str(tmp_path / "o.csv")]) == 0
    out = capsys.readouterr().out
    assert "10 rows: 5 with features (matched 5, unmatched 5)" in out and "API requests" not in out


# -- outputs never destroy the input, each other, or an earlier result -----------------
def fetch_args(api, inp, tmp_path, *extra):
    return ["fetch-features", str(inp), "--parse-title", "title", "--store", str(tmp_path / "s.sqlite"),
            *api_args(api), *extra]


@pytest.mark.parametrize("outputs, message", [
    (["--out", "o.csv", "--report", "posts.csv"], "INPUT and --report name the same file"),
    (["--out", "o.csv", "--report", "./o.csv"], "--out and --report name the same file"),
    (["--out", "./sub/../posts.csv"], "INPUT and --out name the same file"),
    (["--out", "link.csv"], "INPUT and --out name the same file"),
    (["--out", "posts"], "INPUT and the default --report (OUT.matches.csv) name the same file"),
])
def test_outputs_naming_the_input_or_each_other_fail_before_any_request(api, creds, tmp_path, capsys, monkeypatch,
                                                                         outputs, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    inp = posts(tmp_path / "posts.csv", range(3))
    (tmp_path / "link.csv").symlink_to(inp)
    if outputs[1] == "posts":                         # posts.csv's report would be posts.matches.csv
        inp = posts(tmp_path / "posts.matches.csv", range(3))
        outputs = ["--out", "posts.csv", "--overwrite"]
    before = inp.read_bytes()
    rc = main(["fetch-features", inp.name, "--parse-title", "title", "--store", "s.sqlite", *outputs,
               *api_args(api)])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and err.count("\n") == 1, err
    assert sum(api.calls.values()) == 0 and inp.read_bytes() == before and not (tmp_path / "o.csv").exists()


def test_an_existing_output_is_replaced_only_with_overwrite(api, creds, tmp_path, capsys):
    inp = posts(tmp_path / "posts.csv", range(3))
    out = tmp_path / "o.csv"
    assert main(fetch_args(api, inp, tmp_path, "--out", str(out))) == 0
    first, report = out.read_bytes(), (tmp_path / "o.matches.csv").read_bytes()
    api.calls.clear()
    posts(inp, range(3, 6))
    assert main(fetch_args(api, inp, tmp_path, "--out", str(out))) == 2
    err = capsys.readouterr().err
    assert f"--out {out} exists; pass --overwrite to replace it" in err and err.count("\n") == 1
    assert sum(api.calls.values()) == 0 and out.read_bytes() == first
    out.unlink()                                      # the report alone is protected too
    assert main(fetch_args(api, inp, tmp_path, "--out", str(out))) == 2
    assert "o.matches.csv exists; pass --overwrite" in capsys.readouterr().err
    assert main(fetch_args(api, inp, tmp_path, "--out", str(out), "--overwrite")) == 0
    assert pd.read_csv(out)["text"].tolist() == ["post 3", "post 4", "post 5"]
    assert (tmp_path / "o.matches.csv").read_bytes() != report


def test_an_interrupted_write_leaves_the_old_output_whole(api, creds, tmp_path, capsys, monkeypatch):
    import contextlm.data.io as io
    inp = posts(tmp_path / "posts.csv", range(3))
    out = tmp_path / "o.csv"
    assert main(fetch_args(api, inp, tmp_path, "--out", str(out))) == 0
    before = out.read_bytes()

    def half_then_ctrl_c(df, path):
        Path(path).write_text(before.decode()[:20])
        raise KeyboardInterrupt

    monkeypatch.setattr(io, "write_table", half_then_ctrl_c)
    assert main(fetch_args(api, inp, tmp_path, "--out", str(out), "--overwrite")) == 130
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.csv", "o.matches.csv", "posts.csv", "s.sqlite"]


# -- the store: a foreign database is never touched, a read-only one can be read -------
def other_apps_database(path):
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    db.close()
    return path


@pytest.mark.parametrize("command", [
    lambda inp, store: ["features", "import", str(inp), "--store", str(store)],
    lambda inp, store: ["fetch-features", str(inp.with_name("plays.csv")), "--id-col", "track", "--out",
                        str(inp.with_name("o.csv")), "--store", str(store), "--offline"],
])
def test_a_foreign_database_is_left_byte_identical(tmp_path, capsys, command):
    table = tmp_path / "songs.csv"
    pd.DataFrame([dict(track_id=t.id, track_name=t.name, track_artist=t.artists[0], **t.features)
                  for t in TRACKS[:3]]).to_csv(table, index=False)
    pd.DataFrame({"track": [t.id for t in TRACKS[:3]]}).to_csv(tmp_path / "plays.csv", index=False)
    other = other_apps_database(tmp_path / "other_app.sqlite")
    before = other.read_bytes(), other.stat().st_mtime_ns
    assert main(command(table, other)) == 2
    err = capsys.readouterr().err
    assert "other_app.sqlite: not a contextlm feature store" in err and err.count("\n") == 1
    assert (other.read_bytes(), other.stat().st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other_app.sqlite", "plays.csv", "songs.csv"]


@pytest.fixture
def make_read_only():
    """Make a file read-only for real, even for root (who ignores chmod): chattr +i."""
    frozen = []

    def freeze(path):
        if os.geteuid() != 0:
            path.chmod(0o444)
            return
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
            pytest.skip("running as root on a file system without chattr +i: cannot make a file read-only")
        frozen.append(path)

    yield freeze
    for path in frozen:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_read_only_store_serves_offline_runs(tmp_path, capsys, make_read_only):
    table = tmp_path / "spotify_songs.csv"
    pd.DataFrame([dict(track_id=t.id, track_name=t.name, track_artist=t.artists[0], **t.features)
                  for t in TRACKS[:5]]).to_csv(table, index=False)
    store = tmp_path / "s.sqlite"
    assert main(["features", "import", str(table), "--store", str(store)]) == 0
    make_read_only(store)
    before = store.read_bytes()
    capsys.readouterr()
    plays = tmp_path / "plays.csv"
    pd.DataFrame({"track": [t.id for t in TRACKS[:5]]}).to_csv(plays, index=False)
    assert main(["fetch-features", str(plays), "--id-col", "track", "--out", str(tmp_path / "o.csv"),
                 "--store", str(store), "--offline"]) == 0
    assert "5 rows: 5 with features" in capsys.readouterr().out and store.read_bytes() == before
    assert main(["features", "import", str(table), "--store", str(store)]) == 2
    assert "s.sqlite: is read-only, so nothing can be added to it" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["fetch-features"], ["features", "import"]])
def test_help_ends_with_runnable_examples(command, capsys):
    with pytest.raises(SystemExit) as e:
        main(command + ["--help"])
    lines = capsys.readouterr().out.rstrip().splitlines()
    assert e.value.code == 0 and "examples:" in lines
    assert all(line.startswith(f"  contextlm {' '.join(command)} ") for line in lines[lines.index("examples:") + 1:])


# -- interrupted runs, in a real process -----------------------------------------------
def start_cli(args, api, tmp_path):
    env = {**os.environ, "SPOTIPY_CLIENT_ID": CLIENT_ID, "SPOTIPY_CLIENT_SECRET": CLIENT_SECRET}
    return subprocess.Popen([sys.executable, "-m", "contextlm", *args, *api_args(api)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def rerun_healthy(api, args) -> int:
    """Let the fake API answer normally again, forget its call counts, and run `args` once more."""
    api.release()
    api.clear_rules()
    api.calls.clear()
    return main(args + api_args(api))


def test_kill_9_mid_batch_loses_only_that_batch(api, creds, tmp_path, capsys):
    inp = tmp_path / "plays.csv"
    pd.DataFrame({"track": [track_id(i) for i in range(250)]}).to_csv(inp, index=False)
    args = ["fetch-features", str(inp), "--id-col", "track", "--out", str(tmp_path / "o.csv"),
            "--store", str(tmp_path / "s.sqlite")]
    api.hang("audio-features", skip=2)                     # the third batch never answers
    proc = start_cli(args, api, tmp_path)
    try:
        assert api.hanging.wait(timeout=30), proc.communicate(timeout=5)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    with FeatureStore(tmp_path / "s.sqlite") as s:
        assert s.counts()["features"] == 200
    assert rerun_healthy(api, args) == 0
    assert api.calls["audio-features"] == 1 and [n for e, n in api.log if e == "audio-features"][-1] == 50
    assert "250 rows: 250 with features" in capsys.readouterr().out


def test_ctrl_c_mid_search_keeps_the_answers_so_far(api, creds, tmp_path, capsys):
    inp = posts(tmp_path / "posts.csv", range(30))
    args = ["fetch-features", str(inp), "--parse-title", "title", "--out", str(tmp_path / "o.csv"),
            "--store", str(tmp_path / "s.sqlite")]
    api.hang("search", skip=10)
    proc = start_cli(args, api, tmp_path)
    try:
        assert api.hanging.wait(timeout=30), proc.communicate(timeout=5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "interrupted; work already saved is kept" in err and "Traceback" not in err
    with FeatureStore(tmp_path / "s.sqlite") as s:
        assert s.counts()["searches"] == 10
    assert rerun_healthy(api, args) == 0
    assert api.calls["search"] == 20 and api.calls["audio-features"] == 1


def test_a_server_that_never_answers_fails_within_the_stated_bound(creds, tmp_path, capsys):
    """(--max-retries + 1) x --timeout + backoff: here 2 x 0.3 s, not the 66 s it took before."""
    import socket
    import threading
    import time
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)                 # accepts connections (the kernel does) and never answers
    stop = threading.Event()
    threading.Timer(30, stop.set).start()
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
    try:
        inp = posts(tmp_path / "posts.csv", range(2))
        start = time.monotonic()
        rc = main(["fetch-features", str(inp), "--parse-title", "title", "--out", str(tmp_path / "o.csv"),
                   "--store", str(tmp_path / "s.sqlite"), "--api-url", url + "v1/", "--token-url", url + "token",
                   "--timeout", "0.3", "--max-retries", "1", "--backoff", "0", "--quiet"])
        took = time.monotonic() - start
    finally:
        silent.close()
        stop.set()
    err = capsys.readouterr().err
    assert rc == 2 and "2 times in a row; stopped" in err and err.count("\n") == 1
    assert took < 5, took
