"""Tense CVAE commands: `data build verb-tense`, `train cvae-tense`, `convert`, `sample-tenses`."""
from __future__ import annotations

import argparse

from ._common import add_command, wrote

DEFAULT_MODEL = "runs/cvae-tense"


def _build(args: argparse.Namespace) -> int:
    from ..errors import ContextLMError
    from ..tense.data import build_lemminflect, read_verb_lines
    if args.dataset != "verb-tense":
        raise ContextLMError(f"unknown dataset {args.dataset!r} to build; `contextlm data build` knows: verb-tense")
    paths = build_lemminflect(args.out, heldout=args.heldout, seed=args.seed, never_held_out=args.keep_in_train)
    n_train, n_held = len(read_verb_lines(paths["train"])), len(read_verb_lines(paths["heldout"]))
    print(f"{n_train + n_held} verbs from lemminflect: {n_train} for training, {n_held} held out (seed {args.seed})")
    wrote(paths["train"], "training verbs")
    wrote(paths["heldout"], "held-out verbs (never in training)")
    return 0


def register(sub, groups) -> None:
    p = add_command(groups["data"], "build", "build a dataset offline (verb-tense from lemminflect)", [
        "contextlm data build verb-tense --source lemminflect --out data/verb_tense_lemminflect",
        "contextlm data build verb-tense --source lemminflect --out data/vt --heldout 0.1 --seed 0 "
        "--keep-in-train lab/train.txt lab/test.txt"], _build,
        description="Build the verb-tense set (4 forms per line: sp tp pg p) from lemminflect's inflection "
                    "tables, offline, and hold out whole verbs that training never sees.")
    p.add_argument("dataset", help="what to build: verb-tense")
    p.add_argument("--source", choices=["lemminflect"], default="lemminflect", help="where the forms come from")
    p.add_argument("--out", default="data/verb_tense_lemminflect", help="folder for train.txt and heldout.txt")
    p.add_argument("--heldout", type=float, default=0.1, help="share of verbs held out (default 0.1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the held-out draw")
    p.add_argument("--keep-in-train", nargs="*", default=[], metavar="FILE",
                   help="lab-format files whose verbs are never held out (e.g. the lab's train.txt and test.txt)")
