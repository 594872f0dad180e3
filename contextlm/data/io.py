"""Read and write tables (CSV/TSV, JSON/JSONL, Parquet, TXT) with one-line errors.

Every reader in contextlm goes through `read_table`, so a bad encoding or a broken
file gives the same kind of message everywhere: the file, the line, what to do.

The suffix decides the format and the delimiter. A `.csv` whose header is split by tabs
(or a `.tsv` by commas) is an error that says to rename it, not a guess: csv.Sniffer is
easily fooled by prose full of commas, and a silent guess would leave the misnamed file
to confuse the next tool that reads it.
"""
from __future__ import annotations

import codecs
import io
import json
import re
import reprlib
from pathlib import Path

import pandas as pd

from ..errors import CorpusError

TABLE_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".parquet", ".pq", ".txt")
# df.attrs[TYPED] is True for a table from a format that stores numbers as numbers (Parquet,
# JSON): there a string in a feature column is a mistake, in CSV it is how numbers are written.
TYPED = "typed"
_TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
_DELIMITERS = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),  # UTF-32-LE's starts like UTF-16-LE's
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# Which byte of every 4 is mostly NUL in mostly-ASCII text without a byte-order mark.
_NUL_PATTERNS = {(0, 1, 0, 1): "utf-16-le", (1, 0, 1, 0): "utf-16-be",
                 (0, 1, 1, 1): "utf-32-le", (1, 1, 1, 0): "utf-32-be"}


def read_table(path: str | Path, encoding: str = "utf-8", text_col: str = "text") -> pd.DataFrame:
    """Read a table by file extension. A `.txt` file is one document per non-empty line,
    in a column named `text_col`. The result's `attrs[TYPED]` says whether its strings are
    strings (Parquet, JSON) or text that may spell numbers (CSV, TSV, TXT)."""
    path = Path(path)
    codec = _codec(encoding)
    if not path.exists():
        raise CorpusError(f"{path}: no such file")
    if path.is_dir():
        raise CorpusError(f"{path}: is a folder, expected a file ({', '.join(TABLE_SUFFIXES)})")
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise CorpusError(f"{path}: unknown file type '{suffix}' (expected one of {', '.join(TABLE_SUFFIXES)})")
    try:
        raw = path.read_bytes()
        if not raw.strip():
            raise CorpusError(f"{path}: empty file")
        if suffix in (".parquet", ".pq"):
            df = _read_parquet(path, raw)
        else:
            df = _read_text(path, suffix, _decode(path, raw, encoding, codec), text_col)
    except CorpusError:
        raise
    except (ValueError, OSError) as e:  # pandas' and pyarrow's errors are ValueErrors
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CorpusError(f"{path}: cannot read as {suffix[1:]}: {first}") from None
    df.attrs[TYPED] = suffix not in _TEXT_SUFFIXES
    return df


def require_unique(source: str | Path, names, at: str = "") -> None:
    """A column named twice is an error: pandas renames the second `energy` of a CSV to
    `energy.1` and JSON keeps the last, so one of them would be lost without a word.
    Blank names (a trailing delimiter) may repeat: nothing can ask for them."""
    seen = set()
    for name in names:
        if name in seen and str(name).strip():
            raise _named_twice(source, at, name)
        seen.add(name)


def _named_twice(source, at: str, name) -> CorpusError:
    where = f"{at}: " if at else ""
    return CorpusError(f"{source}: {where}column {name!r} appears more than once; rename or remove one")


# -- bytes to text ---------------------------------------------------------------------

def _codec(encoding: str) -> str:
    """The codec's canonical name; an unknown or non-text codec (rot13, base64) is a usage error."""
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        info = None
    if info is None or not getattr(info, "_is_text_encoding", True):
        raise CorpusError(f"unknown --encoding {encoding!r}; give a text codec such as utf-8, utf-16, cp1252 "
                          "or latin-1")
    return info.name


def _decode(path: Path, raw: bytes, encoding: str, codec: str) -> str:
    """Text without a byte-order mark. A wrong encoding is named when that is certain (a
    BOM or the NUL bytes of UTF-16/32) or likely (not UTF-8, but valid cp1252)."""
    if not codec.startswith(("utf-16", "utf-32")):
        wide = _wide_codec(raw)
        if wide:
            raise CorpusError(f"{path}: looks like {wide.upper()} text, not {encoding}; pass --encoding {wide}")
        if (nul := raw.find(b"\0")) >= 0:
            raise CorpusError(f"{path}: line {_line(raw, nul)}: NUL byte, which text never holds "
                              f"(a binary file named {path.suffix}, or a stray byte to remove?)")
    try:
        return raw.decode(codec).removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        raise CorpusError(f"{path}: line {_line(raw, e.start)}: bytes {raw[e.start:e.end]!r} are not valid "
                          f"{encoding}; {_encoding_hint(raw, e.start, codec)}") from None


def _wide_codec(raw: bytes) -> str | None:
    """The UTF-16/32 codec of a file, from its byte-order mark or, without one, from where
    its NUL bytes fall (ASCII in UTF-16-LE reads `t\\0e\\0x\\0t\\0`)."""
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            return codec
    head = raw[:4096]
    if b"\0" not in head:
        return None
    pattern = tuple(int(head[i::4].count(0) > len(head[i::4]) / 2) for i in range(4))
    return _NUL_PATTERNS.get(pattern)


def _encoding_hint(raw: bytes, start: int, codec: str) -> str:
    if codec == "utf-8" and not raw[:start].isascii():
        return "the file is UTF-8 up to there: fix or remove the bad bytes"
    for guess, name in (("utf-8", "UTF-8"), ("cp1252", "Windows-1252/latin-1")):
        if guess != codec and _decodes(raw, guess):
            return f"it reads as {name}: pass --encoding {guess}"
    return "re-save the file as UTF-8 or pass its --encoding"


def _decodes(raw: bytes, codec: str) -> bool:
    try:
        raw.decode(codec)
        return True
    except UnicodeDecodeError:
        return False


def _line(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


# -- text to table ---------------------------------------------------------------------

def _read_text(path: Path, suffix: str, text: str, text_col: str) -> pd.DataFrame:
    if suffix in (".csv", ".tsv"):
        return _read_delimited(path, text, "\t" if suffix == ".tsv" else ",")
    if suffix == ".txt":
        lines = [ln.strip() for ln in text.splitlines()]
        return pd.DataFrame({text_col: [ln for ln in lines if ln]})
    return _read_json(path, text, lines=suffix != ".json" or not text.lstrip().startswith("["))


def _read_delimited(path: Path, text: str, sep: str) -> pd.DataFrame:
    """pandas' reader, after the checks it skips: the header is split by `sep` and names
    no column twice, and the first row has no extra field (pandas would make it the index
    and shift every column left, where a two-row probe read as strings fails)."""
    skipped = len(text) - len(text.lstrip("\r\n"))  # pandas skips blank lines before the header
    at = "line %d" % (text.count("\n", 0, skipped) + 1)
    _check_delimiter(path, at, text[skipped:].split("\n", 1)[0], sep)
    try:
        probe = pd.read_csv(io.StringIO(text), sep=sep, header=None, nrows=2, dtype=str, keep_default_na=False)
        require_unique(path, probe.iloc[0], at)
        return pd.read_csv(io.StringIO(text), sep=sep)
    except pd.errors.ParserError as e:
        if m := re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(e)):
            raise CorpusError(f"{path}: line {m[2]}: {m[3]} fields but the header has {m[1]}; "
                              f"quote text that holds a {_DELIMITERS[sep]}") from None
        raise


def _check_delimiter(path: Path, at: str, header: str, sep: str) -> None:
    """A header without `sep` that another delimiter splits: the file is misnamed."""
    if sep in header:
        return
    other = next((d for d in _DELIMITERS if sum(bool(f.strip()) for f in header.split(d)) > 1), None)
    if other:
        fix = {",": "rename it .csv", "\t": "rename it .tsv"}.get(
            other, "re-save it comma-separated (.csv) or tab-separated (.tsv)")
        raise CorpusError(f"{path}: {at}: looks {_DELIMITERS[other]}-separated, but a {path.suffix} file is "
                          f"{_DELIMITERS[sep]}-separated; {fix}")


class _RepeatedKey(ValueError):
    pass


def _unique_keys(pairs: list) -> dict:
    """json's object hook: json.loads would keep the last of two equal keys silently."""
    seen = set()
    for key, _ in pairs:
        if key in seen:
            raise _RepeatedKey(key)
        seen.add(key)
    return dict(pairs)


def _loads(path: Path, text: str, line: int | None = None):
    """One JSON value; errors name the line (given for JSONL, else found by the parser)."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as e:
        raise CorpusError(f"{path}: line {line or e.lineno}: invalid JSON ({e.msg})") from None
    except _RepeatedKey as e:
        raise _named_twice(path, f"line {line}" if line else "", e.args[0]) from None


def _read_json(path: Path, text: str, lines: bool) -> pd.DataFrame:
    """Records: a JSON list of objects, or one object per line. Anything else in their
    place is named: pandas would make a column `0` of it, or fail with a TypeError."""
    if lines:  # split on "\n" only: JSON strings may hold U+2028, which splitlines() breaks on
        items = [(f"line {n}", _loads(path, s, n)) for n, s in enumerate(text.split("\n"), 1) if s.strip()]
    else:
        items = [(f"item {i}", item) for i, item in enumerate(_loads(path, text), 1)]
    for where, item in items:
        if not isinstance(item, dict):
            raise CorpusError(f"{path}: {where}: {reprlib.repr(item)} is not an object "
                              '(each record is {"column": value, ...})')
    return pd.DataFrame([item for _, item in items])


def _read_parquet(path: Path, raw: bytes) -> pd.DataFrame:
    import pyarrow.parquet as pq
    require_unique(path, pq.read_schema(io.BytesIO(raw)).names)
    return pd.read_parquet(io.BytesIO(raw))


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
