"""Small helpers every command module shares: a subparser with examples, and saying
where files were written."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable


def add_command(sub, name: str, help: str, examples: list[str], func: Callable | None = None,
                description: str | None = None) -> argparse.ArgumentParser:
    """Add a subcommand whose `--help` ends with runnable examples."""
    parser = sub.add_parser(
        name, help=help, description=description or help,
        epilog="examples:\n" + "\n".join(f"  {e}" for e in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    if func is not None:
        parser.set_defaults(func=func)
    return parser


def seed_type():
    from ..settings import number
    return number(int, min=0, max=2**32 - 1)


def add_sampling_arguments(p: argparse.ArgumentParser, n: int | None = 10, max_len: int | None = 60,
                           seed: bool = True) -> None:
    """The sampling flags `generate`, `sample` and `wordcloud` share, with one set of bounds."""
    from ..settings import number
    if n is not None:
        p.add_argument("-n", type=number(int, min=1, max=MAX_SAMPLES), default=n,
                       help=f"number of texts (at most {MAX_SAMPLES:,}; default {n})")
    if max_len is not None:
        p.add_argument("--max-len", type=number(int, min=1, max=10_000), default=max_len,
                       help=f"maximum tokens per text (default {max_len})")
    p.add_argument("--temperature", type=number(float, gt=0, max=100), default=1.0,
                   help="sampling temperature, > 0 (default 1.0)")
    p.add_argument("--top-k", type=number(int, min=1, max=10**7), help="sample among the k most likely tokens only")
    p.add_argument("--top-p", type=number(float, gt=0, max=1), help="nucleus sampling threshold in (0, 1], e.g. 0.9")
    p.add_argument("--min-p", type=number(float, min=0, max=0.99),
                   help="keep tokens at least this times as likely as the most likely one, e.g. 0.1 (min-p "
                        "sampling; with --guidance it bounds the mix, 0.1 unless given)")
    if seed:
        p.add_argument("--seed", type=seed_type(), default=0, help="seed: the same seed gives the same texts (default 0)")


def add_device_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where the model runs: auto (cuda when torch sees a GPU, else cpu), cpu or cuda; sampling "
                        "and scoring are batched there (default auto)")


def model_device(args: argparse.Namespace):
    """The torch device `--device` names (a one-line error for cuda without a GPU)."""
    from ..distributed.runtime import resolve_device
    return resolve_device(args.device)


MAX_SAMPLES = 100_000  # texts one sampling command keeps in memory
TABLES = (".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".parquet", ".pq")   # what `write_table` writes


def add_output_arguments(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--out", type=Path, help=help)
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")


def same_file(a: Path, b: Path) -> bool:
    """True when two spellings (`./x`, symlinks, hard links) name one file."""
    import os
    if Path(a).resolve() == Path(b).resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:                             # one of them does not exist yet
        return False


def check_output(path: Path, flag: str = "--out", overwrite: bool = False, suffixes: tuple[str, ...] = (),
                 inputs: tuple[Path, ...] = ()) -> Path:
    """Refuse, before any work, an output that is a folder, has a suffix nothing writes, is
    one of the `inputs`, or exists (unless --overwrite)."""
    from ..errors import ContextLMError
    path = Path(path)
    for inp in inputs:
        if same_file(inp, path):
            raise ContextLMError(f"{flag} {path} is an input of this command; writing it would lose it, "
                                 f"choose another {flag}")
    if path.is_dir():
        raise ContextLMError(f"{flag} {path}: is a folder; name a file such as {path / ('out' + (suffixes or ('.txt',))[0])}")
    if suffixes and path.suffix.lower() not in suffixes:
        raise ContextLMError(f"{flag} {path}: cannot write '{path.suffix}' (use {', '.join(suffixes)})")
    if path.exists() and not overwrite:
        raise ContextLMError(f"{flag} {path} exists; pass --overwrite to replace it")
    return path


def write_atomic(path: Path, write: Callable[[Path], object]) -> Path:
    """Call `write(tmp)` on a temporary sibling, then `os.replace` it onto `path`: an
    interrupted write never leaves half a file (and never half-replaces an old one)."""
    import os
    import secrets
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}-{secrets.token_hex(4)}{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_lines(path: Path, flag: str) -> list[str]:
    """The non-blank lines of a UTF-8 text file, or one line saying what is wrong with it."""
    from ..errors import ContextLMError
    path = Path(path)
    if not path.exists():
        raise ContextLMError(f"{flag} {path}: no such file")
    if path.is_dir():
        raise ContextLMError(f"{flag} {path}: is a folder; give a text file with one sentence per line")
    try:
        return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except UnicodeDecodeError as e:
        raise ContextLMError(f"{flag} {path}: not UTF-8 text (byte {e.start})") from None


def write_lines(path: Path, lines: list[str]) -> Path:
    """Texts one per line, written atomically."""
    return write_atomic(path, lambda tmp: tmp.write_text("\n".join(lines) + "\n", encoding="utf-8"))


def write_table_atomic(df, path: Path) -> Path:
    """`write_table` (CSV, TSV, JSON, JSONL, Parquet by suffix) through `write_atomic`."""
    from ..data.io import write_table
    return write_atomic(path, lambda tmp: write_table(df, tmp))


def wrote(path: str | Path, what: str = "") -> None:
    """Tell the user where a file or folder was written."""
    print(f"wrote {what + ': ' if what else ''}{Path(path)}")


def parse_assignments(items: list[str] | None, option: str = "--feature", numbers: bool = True) -> dict:
    """Parse `name=value` pairs (`--feature valence=0.2`, or `--label genre=rock` with
    `numbers=False`); a name given twice is an error, not a silent last-wins."""
    from ..errors import ContextLMError
    out: dict = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ContextLMError(f"{option} {item!r}: expected NAME=VALUE, e.g. "
                                 f"{'valence=0.2' if numbers else 'playlist_genre=rock'}")
        if name in out:
            raise ContextLMError(f"{option} {name} is given twice")
        if not numbers:
            out[name] = value
            continue
        try:
            out[name] = float(value)
        except ValueError:
            raise ContextLMError(f"{option} {item!r}: {value!r} is not a number") from None
    return out
