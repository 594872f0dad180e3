"""A local stand-in for the Spotify Web API (token, search, audio-features) on 127.0.0.1.

The real spotipy client talks to it over HTTP, so the tests (and `bench/fetch.py`)
exercise the same requests, status codes and headers a user meets: scripted 401, 403,
429 with Retry-After, 5xx, dropped connections and requests that hang (to kill a client
mid-batch). It counts every request by endpoint. It stops itself after `lifetime`
seconds or `max_requests` requests, so a runaway client loop cannot hang a test run.

    with FakeSpotify(tracks) as api:
        api.fail("audio-features", 429, headers={"Retry-After": "2"})
        source = SpotifySource(credentials=api.credentials, api_url=api.api_url, token_url=api.token_url)

The benchmark backs it with a public feature table (`FakeSpotify.from_table`). Standard
library only; nothing in the library imports it (it lives in the package so the tests and
the benchmarks share one fake without importing from `tests/`).
"""
from __future__ import annotations

import base64
import itertools
import json
import re
import socket
import threading
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

FEATURES = ("danceability", "energy", "key", "loudness", "mode", "speechiness", "acousticness",
            "instrumentalness", "liveness", "valence", "tempo", "duration_ms", "time_signature")
CLIENT_ID, CLIENT_SECRET = "fake-client-id", "fake-secret-Zq81xW"


@dataclass
class Track:
    id: str
    name: str
    artists: tuple[str, ...]
    album: str = ""
    popularity: int = 50
    features: dict | None = None   # None: Spotify has no features for it (answers null)

    def json(self) -> dict:
        return {"id": self.id, "name": self.name, "type": "track", "uri": f"spotify:track:{self.id}",
                "popularity": self.popularity, "album": {"name": self.album},
                "artists": [{"name": a} for a in self.artists]}


@dataclass
class _Rule:
    endpoint: str
    action: str                 # "status" | "drop" | "hang"
    times: int
    skip: int = 0               # requests to let through before the rule applies
    status: int = 500
    headers: dict = field(default_factory=dict)
    body: dict | None = None


def tokens(text: str) -> list[str]:
    """Spotify-like tokenisation: accents and case folded, apostrophes dropped."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold().replace("'", "").replace("’", "")
    return re.findall(r"\w+", text)


_FIELD = re.compile(r'(track|artist|album):(?:"([^"]*)"|(\S+))')


class FakeSpotify:
    def __init__(self, tracks: list[Track] | None = None, client_id: str = CLIENT_ID,
                 client_secret: str = CLIENT_SECRET, lifetime: float = 120.0, max_requests: int = 20000):
        self.tracks = {t.id: t for t in tracks or []}
        self.client_id, self.client_secret = client_id, client_secret
        self.calls: Counter = Counter()
        self.log: list[tuple[str, int]] = []      # (endpoint, number of ids or 0)
        self.seen_auth: list[str] = []            # Authorization headers received (secret checks)
        self.max_requests, self.lifetime = max_requests, lifetime
        self._rules: list[_Rule] = []
        self._valid_tokens: set[str] = set()
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self.hanging = threading.Event()          # set when a request is being held
        self._release = threading.Event()
        self._index_tracks()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._timer = threading.Timer(lifetime, self.stop)
        self._timer.daemon = True
        self._stopped = False

    # -- building ------------------------------------------------------------------
    @classmethod
    def from_table(cls, path: str, **kw) -> "FakeSpotify":
        """Back the server with a TidyTuesday-style CSV (track_id, track_name, track_artist,
        track_album_name, track_popularity and the feature columns)."""
        import pandas as pd
        df = pd.read_csv(path).dropna(subset=["track_id", "track_name", "track_artist"])
        df = df.drop_duplicates("track_id")
        tracks = [Track(r.track_id, r.track_name, (r.track_artist,), str(r.track_album_name),
                        int(r.track_popularity), {f: getattr(r, f) for f in FEATURES if hasattr(r, f)})
                  for r in df.itertuples(index=False)]
        return cls(tracks, **kw)

    def _index_tracks(self) -> None:
        self._by_name: dict[str, set[str]] = defaultdict(set)
        self._by_artist: dict[str, set[str]] = defaultdict(set)
        self._by_album: dict[str, set[str]] = defaultdict(set)
        for t in self.tracks.values():
            for w in tokens(t.name):
                self._by_name[w].add(t.id)
            for w in tokens(" ".join(t.artists)):
                self._by_artist[w].add(t.id)
            for w in tokens(t.album):
                self._by_album[w].add(t.id)

    # -- scripting -----------------------------------------------------------------
    def fail(self, endpoint: str, status: int, times: int = 1, skip: int = 0, headers: dict | None = None,
             body: dict | None = None) -> None:
        """Answer the next `times` requests to `endpoint` ("token", "search",
        "audio-features") with `status`, after letting `skip` through."""
        self._rules.append(_Rule(endpoint, "status", times, skip, status, headers or {}, body))

    def drop(self, endpoint: str, times: int = 1, skip: int = 0) -> None:
        """Close the connection without an answer (network loss)."""
        self._rules.append(_Rule(endpoint, "drop", times, skip))

    def hang(self, endpoint: str, skip: int = 0) -> None:
        """Hold one request (after `skip`) until `release()` or stop: the client can be killed
        while it waits. `hanging` is set when the request arrives."""
        self._rules.append(_Rule(endpoint, "hang", 1, skip))

    def release(self) -> None:
        self._release.set()

    def expire_tokens(self) -> None:
        """Every token issued so far now gets 401."""
        with self._lock:
            self._valid_tokens.clear()

    def clear_rules(self) -> None:
        self._rules.clear()

    def _rule_for(self, endpoint: str) -> _Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.endpoint != endpoint or rule.times <= 0:
                    continue
                if rule.skip > 0:
                    rule.skip -= 1
                    continue
                rule.times -= 1
                return rule
        return None

    # -- running -------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return self.base_url + "/v1/"

    @property
    def token_url(self) -> str:
        return self.base_url + "/api/token"

    @property
    def credentials(self) -> tuple[str, str]:
        return self.client_id, self.client_secret

    def start(self) -> "FakeSpotify":
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._timer.cancel()
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeSpotify":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the HTTP side -------------------------------------------------------------
    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body in separate writes: no 40 ms ACK waits

            def log_message(self, *args):  # keep test output clean
                pass

            def _send(self, status: int, body: dict | None, headers: dict | None = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, str(v))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, message: str, headers: dict | None = None) -> None:
                self._send(status, {"error": {"status": status, "message": message}}, headers)

            def _scripted(self, endpoint: str) -> bool:
                with api._lock:
                    api.calls[endpoint] += 1
                    total = sum(api.calls.values())
                if total > api.max_requests:
                    self._error(503, "fake server request budget spent")
                    threading.Thread(target=api.stop, daemon=True).start()
                    return True
                rule = api._rule_for(endpoint)
                if rule is None:
                    return False
                if rule.action == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return True
                if rule.action == "hang":
                    api.hanging.set()
                    api._release.wait(timeout=api.lifetime)
                    self._error(503, "released")
                    return True
                body = rule.body
                if body is None and endpoint == "token":   # the accounts service's error shape
                    body = {"error": "server_error", "error_description": f"scripted {rule.status}"}
                elif body is None:
                    body = {"error": {"status": rule.status, "message": f"scripted {rule.status}"}}
                self._send(rule.status, body, rule.headers)
                return True

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                if urlparse(self.path).path != "/api/token":
                    return self._error(404, "not found")
                auth = self.headers.get("Authorization", "")
                api.seen_auth.append(auth)
                if self._scripted("token"):
                    return
                expected = base64.b64encode(f"{api.client_id}:{api.client_secret}".encode()).decode()
                if auth != f"Basic {expected}":
                    return self._send(400, {"error": "invalid_client", "error_description": "Invalid client"})
                token = f"token-{next(api._counter)}"
                with api._lock:
                    api._valid_tokens.add(token)
                self._send(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})

            def do_GET(self):
                url = urlparse(self.path)
                path = url.path.rstrip("/")
                params = {k: v[-1] for k, v in parse_qs(url.query).items()}
                endpoint = {"/v1/search": "search", "/v1/audio-features": "audio-features"}.get(path)
                if endpoint is None:
                    return self._error(404, "Service not found")
                n_ids = len(params.get("ids", "").split(",")) if endpoint == "audio-features" else 0
                with api._lock:
                    api.log.append((endpoint, n_ids))
                if self._scripted(endpoint):
                    return
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if token not in api._valid_tokens:
                    return self._error(401, "The access token expired")
                if endpoint == "search":
                    return self._search(params)
                return self._features(params)

            def _search(self, params: dict) -> None:
                if params.get("type", "track") != "track" or "q" not in params:
                    return self._error(400, "this fake serves type=track searches with q")
                limit, offset = int(params.get("limit", 10)), int(params.get("offset", 0))
                if not 1 <= limit <= 50:
                    return self._error(400, "Invalid limit")
                found = sorted(api.search(params["q"]), key=lambda t: (-t.popularity, t.id))
                page = found[offset: offset + limit]
                self._send(200, {"tracks": {"items": [t.json() for t in page], "total": len(found),
                                            "limit": limit, "offset": offset}})

            def _features(self, params: dict) -> None:
                ids = [i for i in params.get("ids", "").split(",") if i]
                if not ids:
                    return self._error(400, "ids is required")
                if len(ids) > 100:
                    return self._error(400, "Too many ids requested")
                rows = []
                for i in ids:
                    t = api.tracks.get(i)
                    rows.append(None if t is None or t.features is None else
                                {"id": i, "type": "audio_features", "uri": f"spotify:track:{i}", **t.features})
                self._send(200, {"audio_features": rows})

        return Handler

    def search(self, q: str) -> list[Track]:
        """Tracks where every word of each field filter (and of the free text) occurs."""
        wanted: list[set[str]] = []
        for m in _FIELD.finditer(q):
            index = {"track": self._by_name, "artist": self._by_artist, "album": self._by_album}[m.group(1)]
            for w in tokens(m.group(2) if m.group(2) is not None else m.group(3)):
                wanted.append(index.get(w, set()))
        for w in tokens(_FIELD.sub(" ", q)):
            wanted.append(self._by_name.get(w, set()) | self._by_artist.get(w, set()) | self._by_album.get(w, set()))
        if not wanted:
            return []
        ids = set.intersection(*sorted(wanted, key=len))
        return [self.tracks[i] for i in ids]


# -- invented catalogues for tests ---------------------------------------------------
_WORDS = ("amber", "velvet", "harbor", "lumen", "cinder", "meadow", "quartz", "static", "willow", "ember",
          "tidal", "paper", "neon", "hollow", "copper", "orbit")


def track_id(i: int) -> str:
    """A valid 22-character id for invented track number i."""
    return f"fk{i:020d}"


def feature_values(i: int) -> dict:
    """Distinct, valid features for invented track i (energy encodes i)."""
    return {"danceability": 0.5, "energy": round((i % 100) / 100, 2), "key": i % 12, "loudness": -6.0,
            "mode": i % 2, "speechiness": 0.05, "acousticness": 0.3, "instrumentalness": 0.0,
            "liveness": 0.1, "valence": 0.6, "tempo": 100.0 + i % 50, "duration_ms": 180000, "time_signature": 4}


def invented_tracks(n: int, start: int = 0) -> list[Track]:
    """n tracks by invented artists with two-word invented titles, all with features."""
    out = []
    for i in range(start, start + n):
        a, b = _WORDS[i % 16], _WORDS[(i // 16) % 16]
        out.append(Track(track_id(i), f"{b.title()} {a.title()} {i}", (f"The {a.title()} Choir {i}",),
                         f"Album {i}", 50, feature_values(i)))
    return out
