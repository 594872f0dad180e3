"""Read and write tables (CSV/TSV, JSON/JSONL, Parquet, TXT) with one-line errors.

Every reader in contextlm goes through `read_table`, so a bad encoding or a broken
file gives the same kind of message everywhere: the file, the line, what to do.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd

from ..errors import CorpusError

TABLE_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".parquet", ".pq", ".txt")


def _decode(path: Path, encoding: str) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise CorpusError(
            f"{path}: line {line}: bytes {raw[e.start:e.end]!r} are not valid {encoding}; "
            f"re-save the file as UTF-8 or pass --encoding (e.g. latin-1)") from None


def read_table(path: str | Path, encoding: str = "utf-8", text_col: str = "text") -> pd.DataFrame:
    """Read a table by file extension. A `.txt` file is one document per non-empty line,
    in a column named `text_col`."""
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"{path}: no such file")
    if path.is_dir():
        raise CorpusError(f"{path}: is a folder, expected a file ({', '.join(TABLE_SUFFIXES)})")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        text = _decode(path, encoding)
        if suffix in (".csv", ".tsv"):
            return pd.read_csv(io.StringIO(text), sep="\t" if suffix == ".tsv" else ",")
        if suffix in (".jsonl", ".ndjson"):
            return _read_jsonl(path, text)
        if suffix == ".json":
            stripped = text.lstrip()
            if stripped.startswith("["):
                return pd.DataFrame(json.loads(text))
            return _read_jsonl(path, text)
        if suffix == ".txt":
            lines = [ln.strip() for ln in text.splitlines()]
            return pd.DataFrame({text_col: [ln for ln in lines if ln]})
    except CorpusError:
        raise
    except json.JSONDecodeError as e:
        raise CorpusError(f"{path}: line {e.lineno}: invalid JSON ({e.msg})") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CorpusError(f"{path}: cannot read as {suffix[1:]}: {first}") from None
    raise CorpusError(f"{path}: unknown file type '{suffix}' (expected one of {', '.join(TABLE_SUFFIXES)})")


def _read_jsonl(path: Path, text: str) -> pd.DataFrame:
    rows = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise CorpusError(f"{path}: line {i}: invalid JSON ({e.msg})") from None
    return pd.DataFrame(rows)


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write `df` by file extension (CSV/TSV, JSONL/JSON, Parquet); creates parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        df.to_csv(path, index=False)
    elif suffix == ".tsv":
        df.to_csv(path, index=False, sep="\t")
    elif suffix in (".jsonl", ".ndjson"):
        df.to_json(path, orient="records", lines=True, force_ascii=False)
    elif suffix == ".json":
        df.to_json(path, orient="records", force_ascii=False)
    elif suffix in (".parquet", ".pq"):
        df.to_parquet(path, index=False)
    else:
        raise CorpusError(f"{path}: cannot write '{suffix}' (use .csv, .tsv, .jsonl, .json or .parquet)")
    return path
