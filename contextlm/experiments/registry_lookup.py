"""Reading the run registry: one run's record, every run (filtered, newest first), a run by a
short id, its per-epoch history, and its status (a `running` run whose process is gone is
`stopped`). Torch-free."""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from ..errors import ContextLMError
from .registry import HISTORY_FILE, RUN_FILE, runs_dir


def pid_alive(pid: int) -> bool:
    """Whether process `pid` (on this host) still runs. On Windows `os.kill` would end it: always True there."""
    if os.name == "nt" or pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:                             # e.g. alive, owned by someone else
        return True
    return True


def status_of(info: dict[str, Any]) -> str:
    """The recorded status; a `running` run whose process is gone (same host) is `stopped`."""
    status = info.get("status") or "?"
    if status == "running" and info.get("host") == socket.gethostname() and isinstance(info.get("pid"), int):
        if not pid_alive(info["pid"]):
            return "stopped"
    return status


def read_run(folder: str | Path) -> dict[str, Any]:
    folder = Path(folder)
    try:
        info = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContextLMError(f"{folder}: not a registered run (no {RUN_FILE})") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ContextLMError(f"{folder / RUN_FILE}: unreadable ({e})") from None
    if not isinstance(info, dict) or "id" not in info:
        raise ContextLMError(f"{folder / RUN_FILE}: not a run record")
    info["_folder"] = str(folder)
    return info


def list_runs(runs: str | Path | None = None, kind: str | None = None, grep: str | None = None) -> list[dict[str, Any]]:
    """Registered runs, newest first; `kind` keeps one kind, `grep` (case-insensitive) keeps
    runs whose id, status, command, settings, data paths or model folder contain it."""
    root = runs_dir(runs)
    if not root.is_dir():
        return []
    out = []
    for folder in root.iterdir():
        if not (folder / RUN_FILE).is_file():
            continue
        try:
            info = read_run(folder)
        except ContextLMError:
            continue
        if kind and info.get("kind") != kind:
            continue
        if grep:
            text = json.dumps({k: info.get(k) for k in ("id", "command", "settings", "data", "out")}, default=str)
            if grep.lower() not in (text + " " + status_of(info)).lower():
                continue
        out.append(info)
    return sorted(out, key=lambda i: (i.get("started_ts") or 0.0, i.get("started") or "", i["id"]), reverse=True)


def find_run(ref: str, runs: str | Path | None = None) -> dict[str, Any]:
    """A run by id, by a unique start of its id or its last part (`lm-1a2b`, `1a2b`), or by folder."""
    p = Path(ref)
    if (p / RUN_FILE).is_file():
        return read_run(p)
    root = runs_dir(runs)
    if (root / ref / RUN_FILE).is_file():
        return read_run(root / ref)
    every = list_runs(runs)
    hits = [i for i in every if i["id"].startswith(ref) or i["id"].endswith(ref)]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise ContextLMError(f"no run {ref!r} in {root} ({len(every)} runs; `contextlm runs list` shows them)")
    raise ContextLMError(f"{ref!r} names {len(hits)} runs in {root} ({', '.join(i['id'] for i in hits[:3])}...); "
                         "give more of the id")


def read_history(info: dict[str, Any]):
    """The run's per-epoch history (a DataFrame; empty when none was written)."""
    import pandas as pd
    path = Path(info["_folder"]) / HISTORY_FILE
    return pd.read_csv(path) if path.is_file() else pd.DataFrame()
