"""Fetching one file of a named dataset: download it (sha256-checked, nothing kept on a
mismatch) or copy it from a folder the user names (found by name, or by its CSV columns), and
the one-line column check builders share (`require_columns`)."""
from __future__ import annotations

import hashlib
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import DatasetError


@dataclass(frozen=True)
class RemoteFile:
    name: str
    url: str | None      # None: no public download, the user brings the file (--from)
    sha256: str | None   # None: nothing to pin it to; the builder checks what it reads
    columns: tuple[str, ...] = ()  # a CSV: in --from DIR, any *.csv with these columns will do


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _find(src_dir: Path, f: RemoteFile) -> Path:
    """The file to copy: `f.name` in the folder (or below it); for a file known by its
    columns, else any CSV there that has them (the first with all of them)."""
    if (src_dir / f.name).exists():
        named = [src_dir / f.name]
    else:
        named = sorted(src_dir.rglob(f.name)) if src_dir.is_dir() else []
    if not f.columns:
        if not named:
            raise DatasetError(f"{src_dir}: no file {f.name!r} (the folder must hold the original {f.name})")
        return named[0]
    others = sorted(p for p in src_dir.rglob("*.csv") if p not in named) if src_dir.is_dir() else []
    for p in named + others:
        if not _missing_columns(_csv_header(p), f.columns):
            return p
    if named:  # the right name, the wrong columns: say which
        require_columns(_csv_header(named[0]), f.columns, named[0])
    raise DatasetError(f"{src_dir}: no {f.name} and no other CSV with its columns "
                       f"({', '.join(f.columns[:6])}, ...)")


def _csv_header(path: Path) -> list[str]:
    import csv
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        return next(csv.reader(fh), [])


def _missing_columns(header, required) -> list[str]:
    have = set(header)
    return [c for c in required if c not in have]


def require_columns(header, required, path: Path) -> None:
    """One line naming the file and the first column it lacks."""
    missing = _missing_columns(header, required)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DatasetError(f"{path}: no column {missing[0]!r}{more}")


def copy_from_folder(src_dir: Path, f: RemoteFile, target: Path, verify: bool) -> None:
    src = _find(src_dir, f)
    if verify and f.sha256 is not None and sha256(src) != f.sha256:
        raise DatasetError(f"{src}: sha256 differs from the public original's ({f.sha256[:12]}...); "
                           f"pass --no-verify to use this copy anyway")
    shutil.copyfile(src, target)


def download(f: RemoteFile, target: Path, verify: bool, progress: bool) -> None:
    tmp = Path(tempfile.mkstemp(dir=target.parent, suffix=".part")[1])
    try:
        with urllib.request.urlopen(f.url, timeout=60) as resp, open(tmp, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0)
            bar = None
            if progress and total:
                from fastprogress.fastprogress import progress_bar
                bar = progress_bar(range(total // (1 << 16) + 1), leave=False)
                bar.comment = f.name
            done = 0
            for block in iter(lambda: resp.read(1 << 16), b""):
                out.write(block)
                done += 1
                if bar is not None:
                    bar.update(min(done, bar.total))
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        tmp.unlink(missing_ok=True)
        reason = getattr(e, "reason", e)
        raise DatasetError(f"cannot download {f.url} ({reason}); copy it from a local folder with --from DIR") from None
    if verify and sha256(tmp) != f.sha256:
        tmp.unlink(missing_ok=True)
        raise DatasetError(f"{f.url}: downloaded file's sha256 differs from the expected {f.sha256[:12]}...; "
                           f"nothing was kept")
    tmp.replace(target)
