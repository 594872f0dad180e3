"""The `contextlm` command.

Each module in this package that defines `register(sub, groups)` adds its own commands,
so the LM, features, word-cloud, VAE and tense commands live next to nothing else.
`sub` takes top-level commands; `groups` holds the shared command groups
(`groups["train"]` for `contextlm train lm|vae|...`, `groups["data"]` for
`contextlm data get|build ...`, `groups["features"]` for `contextlm features import`).
Heavy imports (torch, fastai) happen inside the command functions: `--help` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from ..errors import ContextLMError
from ..version import __version__

EPILOG = """examples:
  contextlm data get spotify-songs --from ../shared/data/spotify_songs
  contextlm train lm --data data/synthetic_reviews.csv --features energy --compare
  contextlm generate --model runs/lm --energy 0.9 -n 20
  contextlm wordcloud --model runs/lm --energy 0 1

Run `contextlm COMMAND --help` for each command's options and examples."""


GROUPS = {
    "train": "train a model (lm, vae, cvae-tense)",
    "data": "get named datasets or build corpora",
    "features": "manage the audio-feature store (import public tables)",
}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the flag (and where to read more),
    like every other error of the command."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _group(sub, name: str, help: str):
    parser = sub.add_parser(name, help=help, description=help)
    return parser.add_subparsers(dest=f"{name}_command", metavar="SUBCOMMAND", required=True)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="contextlm", description="Language models conditioned on what music sounds like.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"contextlm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    groups = {name: _group(sub, name, help) for name, help in GROUPS.items()}
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if mod.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{mod.name}")
        if hasattr(module, "register"):
            module.register(sub, groups)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ContextLMError as e:
        print(f"contextlm: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("contextlm: interrupted; work already saved is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
