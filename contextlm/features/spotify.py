"""The Spotify Web API through spotipy, with every failure turned into one clear line.

spotipy gets a plain `requests.Session` (no urllib3 retry adapter), so every retry is
decided here: 429 honours Retry-After a bounded number of times, 5xx and network
errors back off and then stop, 401 refreshes the token once, and 403 on
/audio-features says what Spotify changed on 2024-11-27 and what to do instead.
"""
from __future__ import annotations

import logging
import re
import warnings
from collections import Counter
from typing import Callable, Mapping, Sequence, TypeVar

from .credentials import load_credentials
from .errors import SpotifyError
from .matching import Candidate, Query
from .names import split_artists, split_title
from .retry import RetryPolicy

API_URL = "https://api.spotify.com/v1/"
TOKEN_URL = "https://accounts.spotify.com/api/token"
BATCH = 100  # the most ids /audio-features takes

FORBIDDEN_FEATURES = (
    "Spotify answered 403 Forbidden on /audio-features: since 2024-11-27 Spotify serves audio "
    "features only to apps that had extended access before that date, so newer apps cannot fetch "
    "them; the tracks already resolved are kept in the store; instead load a public feature table "
    "(`contextlm features import spotify_songs.csv --store STORE`, TidyTuesday/P4KxSpotify/Kaggle "
    "dumps) and rerun with --store STORE --offline")
_CREDENTIAL_ERRORS = {"invalid_client", "unauthorized_client", "invalid_request", "unsupported_grant_type"}

T = TypeVar("T")


class RedactCredentials(logging.Filter):
    """spotipy's DEBUG lines print request headers: `Basic base64(id:secret)` on the token
    request and `Bearer <token>` on every call. Whoever turns DEBUG on sees `<redacted>` instead."""
    SECRET = re.compile(r"\b(Basic|Bearer)\s+[A-Za-z0-9+/=._~-]+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.SECRET.sub(r"\1 <redacted>", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


# spotipy logs every HTTP error itself; the one-line SpotifyError says it better.
logging.getLogger("spotipy").addHandler(logging.NullHandler())
# A logger's filters see only its own records, so each spotipy module that logs headers gets one.
for _name in ("spotipy.oauth2", "spotipy.client"):
    logging.getLogger(_name).addFilter(RedactCredentials())


def _quote(text: str) -> str:
    return " ".join(text.replace('"', " ").split())


class SpotifySource:
    """Search and audio features from Spotify (or any server speaking its Web API).

    The client is built on first use, so a rerun that needs no request needs no
    credentials either."""

    name = "spotify"
    batch_size = BATCH

    def __init__(self, credentials: tuple[str, str] | None = None, credentials_file: str | None = None,
                 api_url: str = API_URL, token_url: str = TOKEN_URL, retry: RetryPolicy | None = None,
                 timeout: float = 10.0, search_limit: int = 10):
        self._credentials = credentials
        self._credentials_file = credentials_file
        self.api_url = api_url if api_url.endswith("/") else api_url + "/"
        self.token_url = token_url
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.search_limit = search_limit
        self.calls: Counter = Counter()
        self.retries: Counter = Counter()
        self._client = None
        self._auth = None

    # -- the client ----------------------------------------------------------------
    def _connect(self):
        if self._client is not None:
            return self._client
        import requests
        import spotipy
        from spotipy.cache_handler import MemoryCacheHandler

        cid, secret = self._credentials or load_credentials(self._credentials_file)
        session = requests.Session()  # no retry adapter: retries are decided in _call
        session.hooks["response"].append(self._count_token)
        auth = spotipy.SpotifyClientCredentials(
            client_id=cid, client_secret=secret, requests_session=session, requests_timeout=self.timeout,
            cache_handler=MemoryCacheHandler())  # the token stays in memory, never in a .cache file
        auth.OAUTH_TOKEN_URL = self.token_url
        client = spotipy.Spotify(auth_manager=auth, requests_session=session, requests_timeout=self.timeout,
                                 retries=0, status_retries=0)
        client.prefix = self.api_url
        self._client, self._auth = client, auth
        return client

    def _count_token(self, response, *args, **kwargs):
        if response.request.method == "POST" and response.url.split("?")[0] == self.token_url:
            self.calls["token"] += 1

    # -- one request, with the retry rules -----------------------------------------
    def _call(self, endpoint: str, fn: Callable[[], T]) -> T:
        import requests
        from spotipy.exceptions import SpotifyException, SpotifyOauthError

        failures = rate_waits = 0
        refreshed = False
        while True:
            client = self._connect()
            self.calls[endpoint] += 1
            try:
                return fn(client)
            except SpotifyOauthError as e:
                code = e.error if isinstance(e.error, str) else ""
                if code in _CREDENTIAL_ERRORS:
                    raise SpotifyError(f"Spotify rejected the client credentials ({e.error}): check "
                                       "SPOTIPY_CLIENT_ID / SPOTIPY_CLIENT_SECRET or the --credentials file") from None
                failures += 1
                problem = f"token endpoint failed ({code[:60] or 'no usable answer'})"
            except SpotifyException as e:
                status = e.http_status
                if status == 429:
                    wait = self.retry.retry_after((e.headers or {}).get("Retry-After"))
                    if wait > self.retry.max_wait:
                        raise SpotifyError(f"Spotify rate limit (429) on /{endpoint}: asked to wait {wait:.0f} s, "
                                           f"more than --max-wait {self.retry.max_wait:.0f} s; rerun later") from None
                    if rate_waits >= self.retry.max_rate_waits:
                        raise SpotifyError(f"Spotify rate limit (429) on /{endpoint}: still limited after "
                                           f"{rate_waits} waits; rerun later") from None
                    rate_waits += 1
                    self.retries["429"] += 1
                    self.retry.sleep(wait)
                    continue
                if status == 401 and not refreshed:
                    refreshed = True  # the token expired or was revoked: ask for a fresh one
                    self.retries["401"] += 1
                    self._auth.cache_handler.save_token_to_cache(None)
                    continue
                if status == 401:
                    raise SpotifyError(f"Spotify answered 401 Unauthorized on /{endpoint} even with a fresh "
                                       "token: check the app's credentials in the Spotify dashboard") from None
                if status == 403 and endpoint == "audio-features":
                    raise SpotifyError(FORBIDDEN_FEATURES) from None
                if status < 500:
                    msg = " ".join(str(e.msg).split(":\n", 1)[-1].split())[:120]  # spotipy prefixes the URL
                    raise SpotifyError(f"Spotify answered {status} on /{endpoint}: {msg}") from None
                failures += 1
                problem = f"Spotify answered {status}"
            except (requests.exceptions.RequestException, TypeError) as e:
                # TypeError: spotipy got a 200 whose body was not JSON (a broken proxy).
                failures += 1
                problem = f"network error ({type(e).__name__})"
            if failures > self.retry.max_retries:
                raise SpotifyError(f"{problem} on /{endpoint} {failures} times in a row; stopped") from None
            self.retries["backoff"] += 1
            self.retry.sleep(self.retry.backoff_wait(failures))

    # -- the FeatureSource interface -----------------------------------------------
    def search_text(self, query: Query) -> str:
        """Spotify's field syntax: track:"..." artist:"...". The filters are loose on purpose
        (title without brackets or feat. credits, the first credited artist only): every word
        must match, and the matcher judges the full names afterwards."""
        parts = split_title(query.title)
        title = _quote(parts.short) or _quote(parts.full) or _quote(query.title)
        if not query.artist:
            return f'track:"{title}"'
        artist = _quote((split_artists(query.artist) or [query.artist])[0])
        return f'track:"{title}" artist:"{artist}"'

    def search(self, query: Query) -> list[Candidate]:
        q = self.search_text(query)
        # A sentence-form query has no artist filter: look further down the list.
        limit = self.search_limit if query.artist else 50
        result = self._call("search", lambda c: c.search(q, limit=limit, type="track"))
        items = ((result or {}).get("tracks") or {}).get("items") or []
        return [Candidate(id=t["id"], name=t.get("name") or "",
                          artists=tuple(a.get("name", "") for a in t.get("artists") or []),
                          album=(t.get("album") or {}).get("name", ""), popularity=int(t.get("popularity") or 0))
                for t in items if t and t.get("id")]

    def audio_features(self, ids: Sequence[str]) -> Mapping[str, Mapping | None]:
        if len(ids) > self.batch_size:
            raise ValueError(f"at most {self.batch_size} ids per request, got {len(ids)}")

        def fetch(client):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                return client.audio_features(list(ids))

        rows = self._call("audio-features", fetch) or []
        by_id = {r["id"]: r for r in rows if isinstance(r, dict) and r.get("id")}
        return {i: by_id.get(i) for i in ids}
