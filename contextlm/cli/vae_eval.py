"""`contextlm evaluate-vae`: saved VAEs of any architecture judged on the same sentences, one table."""
from __future__ import annotations

from pathlib import Path

from ..settings import number
from ._common import (TABLES, add_command, add_device_argument, add_output_arguments, check_output, model_device,
                      seed_type, write_table_atomic, wrote)


def register(sub, groups) -> None:
    p = add_command(sub, "evaluate-vae", "compare saved VAEs (and LM twins) on the same sentences: -ELBO, "
                                         "recon, KL, IW-NLL, active units, MI, parameters", [
        "contextlm evaluate-vae runs/vae-rnn runs/vae-cnn runs/vae-ladder runs/lm-twin --ptb ../shared/data/ptb",
        "contextlm evaluate-vae runs/vae-* --ptb ../shared/data/ptb --iw-samples 100 --iw-sentences 500 --out zoo.csv",
        "contextlm evaluate-vae runs/vae-energy --data reviews.csv --sentences --split valid",
    ], _evaluate)
    p.add_argument("models", nargs="+", type=Path, help="model folders (from `contextlm train vae`)")
    src = p.add_argument_group("data (one of --data / --ptb)")
    src.add_argument("--data", type=Path, help="corpus file with a text column (and the models' feature or label "
                                               "columns)")
    src.add_argument("--ptb", type=Path, metavar="DIR", help="folder with ptb.train/valid/test.txt")
    p.add_argument("--split", choices=["train", "valid", "test"], default="test", help="sentences to judge on")
    p.add_argument("--text-col", default="text")
    p.add_argument("--split-col", help="column with train/valid/test (default: 'split' if present, else the seeded "
                                       "random split training used)")
    p.add_argument("--label-col", help="column holding the labels of label-conditioned models")
    p.add_argument("--sentences", action="store_true", help="split documents into sentences, as training did")
    p.add_argument("--iw-samples", type=number(int, min=0, max=100_000), default=0,
                   help="importance samples for IW-NLL (0: skip the column; default 0)")
    p.add_argument("--iw-sentences", type=number(int, min=1, max=10**7),
                   help="judge IW-NLL on a seeded subset of this many sentences (default all)")
    p.add_argument("--bs", type=number(int, min=1, max=65536), default=64)
    p.add_argument("--seed", type=seed_type(), default=0)
    add_device_argument(p)
    add_output_arguments(p, "write the table (.csv, .tsv, .json, .jsonl, .parquet)")


def _evaluate(args) -> int:
    from ..errors import ContextLMError
    if args.out:
        check_output(args.out, "--out", args.overwrite, TABLES,
                     inputs=tuple(x for x in (args.data,) if x is not None))
    for folder in args.models:
        if not (folder / "config.json").is_file():
            raise ContextLMError(f"{folder}: not a model folder (no config.json)")
    import pandas as pd
    import torch
    from ..vae.evaluate import compare_vaes
    from ..vae.learner import load_vae_learner
    device = model_device(args)
    learners = {str(folder): load_vae_learner(folder) for folder in args.models}
    for learn in learners.values():
        learn.model.to(device)
    table = _sentences(args, learners.values())
    rows = table[table["split"] == args.split]
    if rows.empty:
        raise ContextLMError(f"no {args.split} sentences in {args.data or args.ptb}")
    print(f"{len(rows):,} {args.split} sentences; {len(learners)} models")
    results = []
    for name, learn in learners.items():
        torch.manual_seed(args.seed)
        dl = learn.sentence_loader(rows["text"].tolist(), _cond(learn, rows), bs=args.bs)
        results.append(compare_vaes({name: learn}, dl, args.iw_samples, args.iw_sentences, args.seed))
    out = pd.concat(results)
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.precision", 3):
        print(out)
    if args.out:
        wrote(write_table_atomic(out.rename_axis("model").reset_index(), args.out), "comparison table")
    return 0


def _sentences(args, learners):
    """The sentence table every model is judged on (read once, as `train vae` reads it)."""
    from ..vae.settings import SentenceVAESettings
    from ..vae.train import sentence_table
    features = sorted({n for learn in learners if learn.condition.kind == "features" for n in learn.condition.names})
    s = SentenceVAESettings(text_col=args.text_col, split_col=args.split_col, label_col=args.label_col,
                            sentences=args.sentences, features=[] if args.ptb else features, seed=args.seed)
    return sentence_table(s, data=args.data, ptb=args.ptb)


def _cond(learn, rows):
    """The condition values of the judged sentences as this model takes them."""
    from ..errors import ContextLMError
    kind = learn.condition.kind
    if kind == "features":
        missing = [n for n in learn.condition.names if n not in rows.columns]
        if missing:
            raise ContextLMError(f"a model is conditioned on {', '.join(missing)}: the data has no such column")
        return rows[learn.condition.names].to_numpy()
    if kind == "labels":
        if "label" not in rows.columns:
            raise ContextLMError("a model is conditioned on labels: give --label-col COLUMN")
        return rows["label"].astype(str).tolist()
    return None
