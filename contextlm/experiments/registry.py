"""The run registry: one folder per training run, so runs can be found and compared later.

Every `contextlm train ...` writes `RUNS/<id>/` (RUNS: `--runs-dir`, else `$CONTEXTLM_RUNS`,
else `runs/`), where `<id>` is `YYYYMMDD-HHMMSS-<kind>-<4 hex>`:

- `run.json`: id, kind, status (running / finished / failed / interrupted), start and end
  times, the command line (and the parsed arguments), the settings, the code version
  (contextlm version, git commit and whether the tree had changes, when the package lives
  in a git checkout and git is installed), each data file's path, size and sha256, the
  model folder and checkpoint folder, the final metrics and a headline metric;
- `settings.json`: the settings alone (reusable with `--config`);
- `history.csv`: the per-epoch table (train_loss, valid_loss, the metrics; `kl` for VAEs).

A resumed run continues the registry folder of the run it resumes. Writing the registry
never stops a training: a registry that cannot be written is one warning line, and the run
goes on unrecorded. Torch-free (the CLI lists runs without loading torch).

    rec = RunRecord.start("lm", settings=s.to_dict(), data_files=["songs.csv"], out="runs/lm")
    ...
    rec.finish(history=df, metrics={"valid": {"perplexity": 71.2}}, headline=("valid perplexity", 71.2))

Reading the registry (`list_runs`, `find_run`) is `registry_lookup`; the tables and the
comparison plot of `contextlm runs list|compare` are `registry_reports`.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..data.fetch import sha256

ENV = "CONTEXTLM_RUNS"
DEFAULT_DIR = "runs"
RUN_FILE = "run.json"
HISTORY_FILE = "history.csv"
SETTINGS_FILE = "settings.json"
KINDS = ("lm", "vae", "cvae-tense")


def runs_dir(given: str | Path | None = None) -> Path:
    """`given`, else `$CONTEXTLM_RUNS`, else `runs/` (relative to the working directory)."""
    return Path(given) if given else Path(os.environ.get(ENV) or DEFAULT_DIR)


def data_record(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Path, size and sha256 of each data file (a folder: each file in it, sorted)."""
    out = []
    for p in paths:
        p = Path(p)
        files = sorted(f for f in p.iterdir() if f.is_file()) if p.is_dir() else [p]
        for f in files:
            out.append({"path": str(f.resolve()), "bytes": f.stat().st_size, "sha256": sha256(f)})
    return out


def _git(args: Sequence[str], cwd: Path) -> str | None:
    try:
        r = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):   # no git, or it hangs
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def code_version() -> dict[str, Any]:
    """contextlm's version, and the git commit (+ uncommitted changes or not) of the checkout
    the package was imported from; `None` where there is no git or no checkout."""
    from ..version import __version__
    package = Path(__file__).resolve().parents[1]
    out: dict[str, Any] = {"contextlm": __version__, "git_commit": None, "git_dirty": None}
    top = _git(["rev-parse", "--show-toplevel"], package)
    if top and package.is_relative_to(Path(top).resolve()):
        out["git_commit"] = _git(["rev-parse", "HEAD"], package)
        status = _git(["status", "--porcelain", "--untracked-files=no"], package)
        out["git_dirty"] = None if status is None else bool(status)
    return out


def command_line(args: Any = None) -> dict[str, Any]:
    """The command as typed (when this process is the `contextlm` command) and the parsed arguments."""
    prog = Path(sys.argv[0]).name if sys.argv else ""
    argv = ["contextlm", *sys.argv[1:]] if prog in ("contextlm", "__main__.py") else None
    parsed = None
    if args is not None:
        parsed = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                  if not callable(v) and k != "func"}
        parsed = json.loads(json.dumps(parsed, default=str))
    return {"argv": argv, "args": parsed}


def new_run_id(kind: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{secrets.token_hex(2)}"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(data, indent=2, default=str, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _warn(message: str) -> None:
    print(f"contextlm: warning: {message}", file=sys.stderr)


class RunRecord:
    """One run's registry folder. Every method swallows its own failures: the first one is
    reported as one warning line and the record goes quiet (training never stops for it)."""

    def __init__(self, folder: Path | None, data: dict[str, Any], warn: Callable[[str], None] = _warn):
        self.folder, self.data, self.warn = folder, data, warn

    @property
    def id(self) -> str | None:
        return self.data.get("id") if self.folder is not None else None

    def _fail(self, e: BaseException) -> None:
        where = self.folder.parent if self.folder is not None else "runs"
        reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
        self.warn(f"run registry {where}: cannot write ({reason}); this run is not recorded")
        self.folder = None

    @classmethod
    def start(cls, kind: str, settings: dict[str, Any] | None = None, data_files: Iterable[str | Path] = (),
              out: str | Path | None = None, runs: str | Path | None = None, args: Any = None,
              checkpoint: str | Path | None = None, reuse: str | None = None, data: list | None = None,
              extra: dict[str, Any] | None = None, warn: Callable[[str], None] = _warn) -> "RunRecord":
        """Create (or, with `reuse` = the id of an existing entry, continue) the run's folder."""
        root = runs_dir(runs)
        rec = cls(None, {}, warn)
        try:
            folder = root / reuse if reuse else None
            previous = None
            if folder is not None and (folder / RUN_FILE).is_file():
                previous = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
            if previous is None:
                run_id = new_run_id(kind)
                folder = root / run_id
                folder.mkdir(parents=True, exist_ok=False)
                info = {"id": run_id, "kind": kind, "status": "running", "started": _now(),
                        "started_ts": time.time(), "finished": None, "resumed": []}
            else:
                info = {**previous, "status": "running", "finished": None,
                        "resumed": [*previous.get("resumed", []), _now()]}
            info.update({
                "host": socket.gethostname(), "pid": os.getpid(), "command": command_line(args),
                "code": code_version(), "settings": settings,
                "data": data if data is not None else data_record(data_files),
                "out": str(Path(out).resolve()) if out is not None else None,
                "checkpoint": str(Path(checkpoint).resolve()) if checkpoint is not None else None,
                **(extra or {})})
            info.setdefault("metrics", None)
            rec.folder, rec.data = folder, info
            _write_json(folder / RUN_FILE, info)
            if settings is not None:
                _write_json(folder / SETTINGS_FILE, settings)
        except Exception as e:  # noqa: BLE001 -- the registry must never stop a training
            rec._fail(e)
        return rec

    def update(self, **fields: Any) -> None:
        if self.folder is None:
            return
        try:
            self.data.update(fields)
            _write_json(self.folder / RUN_FILE, self.data)
        except Exception as e:  # noqa: BLE001
            self._fail(e)

    def finish(self, history=None, metrics: dict[str, Any] | None = None,
               headline: tuple[str, float] | None = None, status: str = "finished") -> None:
        """The run ended: its per-epoch history (a DataFrame), final metrics and headline."""
        if self.folder is None:
            return
        try:
            if history is not None:
                tmp = self.folder / f".{HISTORY_FILE}.tmp-{os.getpid()}"
                history.to_csv(tmp, index=False)
                os.replace(tmp, self.folder / HISTORY_FILE)
            self.update(status=status, finished=_now(), metrics=json.loads(json.dumps(metrics, default=float)),
                        headline=None if headline is None else {"name": headline[0], "value": float(headline[1])})
        except Exception as e:  # noqa: BLE001
            self._fail(e)

    def stopped(self, status: str, message: str = "") -> None:
        """The run ended without a model: `failed` (an error) or `interrupted` (Ctrl-C)."""
        self.update(status=status, finished=_now(), error=message or None)


def split_history_metrics(row: dict[str, Any]) -> dict[str, Any]:
    """A last-epoch Recorder row as metrics: `train_loss`, and the validation values under `valid`."""
    row = {k: v for k, v in row.items() if k != "epoch"}
    valid = {k.removeprefix("valid_"): v for k, v in row.items() if k != "train_loss"}
    return {**({"train_loss": row["train_loss"]} if "train_loss" in row else {}), "valid": valid}
