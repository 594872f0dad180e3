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
    if seed:
        p.add_argument("--seed", type=seed_type(), default=0, help="seed: the same seed gives the same texts (default 0)")


MAX_SAMPLES = 100_000  # texts one sampling command keeps in memory


def wrote(path: str | Path, what: str = "") -> None:
    """Tell the user where a file or folder was written."""
    print(f"wrote {what + ': ' if what else ''}{Path(path)}")


def parse_assignments(items: list[str] | None, option: str = "--feature") -> dict[str, float]:
    """Parse `name=value` pairs (e.g. `--feature valence=0.2`)."""
    from ..errors import ContextLMError
    out: dict[str, float] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ContextLMError(f"{option} {item!r}: expected NAME=VALUE, e.g. valence=0.2")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ContextLMError(f"{option} {item!r}: {value!r} is not a number") from None
    return out
