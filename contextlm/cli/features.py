"""`contextlm fetch-features` and `contextlm features import`: audio features for a corpus,
from the Spotify Web API or from public tables, kept in one SQLite store."""
from __future__ import annotations

import os
import sys
from itertools import combinations
from pathlib import Path

from ..settings import number
from ._common import TABLES, add_command, check_output, same_file, write_table_atomic, wrote


def default_store() -> Path:
    """One store per user, so every corpus reuses what was fetched before."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "contextlm" / "features.sqlite"


def _report_path(out: Path) -> Path:
    return out.with_name(out.name.rsplit(".", 1)[0] + ".matches.csv")




def check_fetch_paths(inp: Path, out: Path, report: Path, overwrite: bool, report_given: bool = True) -> None:
    """Refuse, before any request, outputs that would destroy the input or each other,
    and existing outputs unless --overwrite."""
    from ..errors import ContextLMError
    named = [("INPUT", "INPUT", inp), ("--out", "--out", out),
             ("--report" if report_given else "the default --report (OUT.matches.csv)", "--report", report)]
    for (a, _, pa), (b, flag, pb) in combinations(named, 2):
        if same_file(pa, pb):
            raise ContextLMError(f"{a} and {b} name the same file ({pb}); writing it would lose "
                                 f"{'the input' if a == 'INPUT' else 'the feature table'}, choose another {flag}")
    for _, flag, path in named[1:]:
        check_output(path, flag, overwrite, TABLES)


def run_fetch(args) -> int:
    from ..data.io import read_table
    from ..features.fetch import Columns, fetch_features
    from ..features.matching import ANY_VERSION_PENALTY, VERSION_PENALTY
    from ..features.report import report_frame, summary_line
    from ..features.retry import RetryPolicy
    from ..features.spotify import SpotifySource
    from ..features.store import FeatureStore

    out = Path(args.out)
    report = Path(args.report) if args.report else _report_path(out)
    check_fetch_paths(Path(args.input), out, report, args.overwrite, report_given=bool(args.report))
    if args.offline and args.credentials:
        print("note: --offline makes no API calls; --credentials is not used", file=sys.stderr)
    df = read_table(args.input, encoding=args.encoding)
    cols = Columns(args.id_col, args.artist_col, args.title_col, args.parse_title, args.album_col)
    cols.check(df, str(args.input))
    source = None
    if not args.offline:
        source = SpotifySource(credentials_file=args.credentials, api_url=args.api_url, token_url=args.token_url,
                               retry=RetryPolicy(max_retries=args.max_retries, backoff=args.backoff,
                                                 max_rate_waits=args.max_rate_waits, max_wait=args.max_wait),
                               timeout=args.timeout)
    store_path = Path(args.store) if args.store else default_store()
    print(f"feature store: {store_path}")
    with FeatureStore(store_path, read_only=args.offline) as store:
        result = fetch_features(df, cols, store, source, min_score=args.min_score,
                                progress=not args.quiet and sys.stdout.isatty(),  # no bar in logs and pipes
                                path=str(args.input), overwrite=args.overwrite,
                                version_penalty=ANY_VERSION_PENALTY if args.any_version else VERSION_PENALTY)
    write_table_atomic(result.table, out)
    write_table_atomic(report_frame(result.outcomes), report)
    print(summary_line(result.outcomes))
    if source is not None:
        made = ", ".join(f"{k} {v}" for k, v in sorted(result.calls.items())) or "none"
        minimum = ", ".join(f"{k} {v}" for k, v in result.minimum_calls.items())
        retried = ", ".join(f"{k} {v}" for k, v in sorted(result.retries.items()))
        print(f"API requests: {made} (needed: {minimum}{'; retries: ' + retried if retried else ''})")
    wrote(out, "table with features")
    wrote(report, "match report")
    return 0


def run_import(args) -> int:
    from ..features.importer import import_table
    from ..features.store import FeatureStore

    mapping = {}
    for item in args.map or []:
        key, sep, col = item.partition("=")
        if not sep or not key.strip() or not col.strip():
            from ..errors import ContextLMError
            raise ContextLMError(f"--map {item!r}: expected FIELD=COLUMN, e.g. energy=Energy or id=spotify_id")
        mapping[key.strip()] = col.strip()
    store_path = Path(args.store) if args.store else default_store()
    with FeatureStore(store_path) as store:
        summary = import_table(args.table, store, mapping, level=args.level, source=args.source,
                               encoding=args.encoding)
        counts = store.counts()
    for line in summary.lines():
        print(line)
    print(f"store now holds {counts['features']} tracks with features, {counts['albums']} albums")
    wrote(store_path, "feature store")
    return 0


def register(sub, groups) -> None:
    p = add_command(
        sub, "fetch-features", "add Spotify audio features to a table of songs or posts",
        ["contextlm fetch-features posts.json --parse-title title --out posts_features.csv",
         "contextlm fetch-features songs.csv --artist-col artist --title-col title --out songs_f.parquet",
         "contextlm fetch-features plays.csv --id-col spotify_url --out plays_f.csv --credentials spotify.env",
         "contextlm fetch-features posts.json --parse-title title --out f.csv --store features.sqlite --offline"],
        run_fetch,
        description="Resolve each row to a Spotify track (by id/URL/URI, artist+title, or a post title such as "
                    "'Mt. Joy - \"Silver Lining\"'), fetch audio features in batches of 100 and add them as "
                    "columns. Everything fetched is kept in a SQLite store: a rerun makes no request for what "
                    "is stored and an interrupted run resumes. Credentials come from SPOTIPY_CLIENT_ID / "
                    "SPOTIPY_CLIENT_SECRET or --credentials. Spotify closed /audio-features to new apps on "
                    "2024-11-27; then import a public table (`contextlm features import`) and use --offline.")
    p.add_argument("input", metavar="INPUT", help="table of rows naming songs (CSV/TSV/JSON/JSONL/Parquet)")
    p.add_argument("--out", required=True, help="output table; the format follows the extension")
    how = p.add_argument_group("which columns name the song")
    how.add_argument("--id-col", help="Spotify track id, spotify:track:URI or open.spotify.com URL")
    how.add_argument("--artist-col", help="artist name (with --title-col, or --album-col offline)")
    how.add_argument("--title-col", help="track title (with --artist-col)")
    how.add_argument("--parse-title", metavar="COL",
                     help="free text such as a post title: 'Artist - Title', 'Artist: \"Title\" (feat. X)', "
                          "'Artist shares new track \"Title\"'")
    how.add_argument("--album-col", help="album name: album-level features from the store (e.g. P4KxSpotify)")
    st = p.add_argument_group("store and matching")
    st.add_argument("--store", help=f"SQLite feature store (default {default_store()})")
    st.add_argument("--offline", action="store_true", help="no API requests: match against the store only")
    st.add_argument("--report", help="match report CSV (default OUT_STEM.matches.csv next to --out)")
    st.add_argument("--min-score", type=number(float, min=0, max=100), default=85.0,
                    help="reject matches whose title or artist similarity is below this (0-100, default 85)")
    st.add_argument("--any-version", action="store_true",
                    help="accept another version (remix, live) when the one named is not found; the report says "
                         "so (default: a remix is a different recording with different features)")
    st.add_argument("--overwrite", action="store_true",
                    help="replace an existing --out/--report file and feature columns the input already has "
                         "(never the input itself)")
    st.add_argument("--encoding", default="utf-8", help="input text encoding (default utf-8)")
    st.add_argument("--quiet", action="store_true", help="no progress bars (they show only on a terminal)")
    api = p.add_argument_group("Spotify API")
    api.add_argument("--credentials", metavar="FILE",
                     help="file with SPOTIPY_CLIENT_ID=... and SPOTIPY_CLIENT_SECRET=... lines (or JSON "
                          "client_id/client_secret); default: those environment variables")
    api.add_argument("--max-retries", type=number(int, min=0, max=100), default=4, help="retries of a 5xx/network failure (default 4)")
    api.add_argument("--backoff", type=number(float, min=0, max=600), default=1.0, help="first retry wait in s, doubled each time (default 1)")
    api.add_argument("--timeout", type=number(float, gt=0, max=300), default=10.0,
                     help="seconds one request may take before it counts as a network failure (default 10). "
                          "A server that accepts but never answers fails after (--max-retries + 1) x --timeout "
                          "plus the backoff waits: 65 s with the defaults, at most that per request")
    api.add_argument("--max-rate-waits", type=number(int, min=0, max=1000), default=5, help="429 answers to wait out per request (default 5)")
    api.add_argument("--max-wait", type=number(float, min=0, max=3600), default=120.0,
                     help="stop instead of waiting when a 429 asks for more seconds than this (default 120)")
    api.add_argument("--api-url", default="https://api.spotify.com/v1/", help="Web API base URL (a compatible server)")
    api.add_argument("--token-url", default="https://accounts.spotify.com/api/token", help="token endpoint URL")

    imp = add_command(
        groups["features"], "import", "load a public audio-feature table into the feature store",
        ["contextlm features import spotify_songs.csv --store features.sqlite",
         "contextlm features import P4KxSpotify.csv --store features.sqlite --level album",
         "contextlm features import tracks.csv --store features.sqlite --map id=spotify_id --map energy=Energy"],
        run_import,
        description="Add tracks (or album-level rows) with their audio features to the store, so "
                    "`contextlm fetch-features --store STORE --offline` can join a corpus against them by track "
                    "id or by normalised artist and title/album. Recognises TidyTuesday spotify_songs.csv, "
                    "Kaggle-style dumps and P4KxSpotify; --map names any other column.")
    imp.add_argument("table", metavar="TABLE", help="CSV/TSV/JSON/JSONL/Parquet with feature columns")
    imp.add_argument("--store", help=f"SQLite feature store (default {default_store()})")
    imp.add_argument("--level", choices=("auto", "track", "album"), default="auto",
                     help="track rows (need an id column) or album rows (artist + album); auto: by the columns")
    imp.add_argument("--map", action="append", metavar="FIELD=COLUMN",
                     help="column for a field: id, name, artist, album, popularity or a feature name")
    imp.add_argument("--source", help="label stored with the rows (default: the file name)")
    imp.add_argument("--encoding", default="utf-8", help="text encoding (default utf-8)")
