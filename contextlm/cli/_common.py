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
