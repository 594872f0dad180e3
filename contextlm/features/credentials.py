"""Spotify client credentials: from SPOTIPY_CLIENT_ID / SPOTIPY_CLIENT_SECRET, or a file
the user names. The values are never echoed: messages name only the file and the key.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping

from .errors import SpotifyError

ID_VAR, SECRET_VAR = "SPOTIPY_CLIENT_ID", "SPOTIPY_CLIENT_SECRET"
_ALIASES = {"client_id": ID_VAR, "client_secret": SECRET_VAR, ID_VAR.lower(): ID_VAR, SECRET_VAR.lower(): SECRET_VAR}

MISSING = (f"no Spotify credentials: set {ID_VAR} and {SECRET_VAR} (an app at "
           "https://developer.spotify.com/dashboard) or pass --credentials FILE; without an app, "
           "load a public table with `contextlm features import` and use --offline")


def _read_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (.env style, `export` allowed) or a JSON object."""
    if not path.is_file():
        raise SpotifyError(f"{path}: credentials file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SpotifyError(f"{path}: cannot read credentials file ({type(e).__name__})") from None
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise SpotifyError(f"{path}: line {e.lineno}: invalid JSON in credentials file") from None
        if not isinstance(data, dict):
            raise SpotifyError(f"{path}: expected a JSON object with client_id and client_secret")
        items = data.items()
    else:
        items = []
        for i, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.removeprefix("export ").partition("=")
            if not sep:
                raise SpotifyError(f"{path}: line {i}: expected KEY=VALUE (e.g. {ID_VAR}=...)")
            items.append((key.strip(), value.strip().strip("'\"")))
    out = {}
    for key, value in items:
        name = _ALIASES.get(str(key).lower())
        if name:
            out[name] = str(value)
    return out


def load_credentials(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(client_id, client_secret) from `path` if given, else from the environment."""
    env = os.environ if env is None else env
    if path is not None:
        found = _read_file(Path(path))
        for var in (ID_VAR, SECRET_VAR):
            if not found.get(var):
                raise SpotifyError(f"{path}: no {var} (or {var.lower().replace('spotipy_', '')}) in credentials file")
        return found[ID_VAR], found[SECRET_VAR]
    cid, secret = env.get(ID_VAR, "").strip(), env.get(SECRET_VAR, "").strip()
    if not cid or not secret:
        missing = " and ".join(v for v, x in ((ID_VAR, cid), (SECRET_VAR, secret)) if not x)
        raise SpotifyError(MISSING.replace("no Spotify credentials", f"no Spotify credentials ({missing} unset)"))
    return cid, secret
