"""`contextlm train lm`, `contextlm generate`, `contextlm evaluate`."""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from ._common import add_command, parse_assignments, wrote


def register(sub, groups) -> None:
    p = add_command(groups["train"], "lm", "train the feature-conditioned AWD-LSTM on a corpus", [
        "contextlm train lm --data data/synthetic_reviews.csv --features energy --out runs/lm --compare",
        "contextlm train lm --data reviews.jsonl --text-col body --features energy valence --epochs 8 --out runs/lm",
        "contextlm train lm --data songs.csv --features energy --group-col album --no-features --out runs/lm-base",
    ], _train)
    _corpus_args(p)
    p.add_argument("--features", nargs="+", default=["energy"], metavar="COL",
                   help="feature columns the model is conditioned on (default: energy)")
    p.add_argument("--no-features", action="store_true", help="train the unconditioned baseline on the same data")
    p.add_argument("--compare", action="store_true",
                   help="also train the unconditioned twin (same data, settings and seed) into OUT-baseline "
                        "and print both validation perplexities")
    p.add_argument("--out", type=Path, required=True, help="model folder to write")
    g = p.add_argument_group("tokens and scaling")
    g.add_argument("--min-freq", type=int, default=2)
    g.add_argument("--max-vocab", type=int, default=60000)
    g.add_argument("--scaling", choices=["minmax", "standard", "none"], default="standard",
                   help="feature scaling fitted on the train split (standard: centred inputs train far better)")
    g = p.add_argument_group("model and training (fastai AWD-LSTM defaults: 400/1152/3)")
    g.add_argument("--emb-sz", type=int, default=400)
    g.add_argument("--n-hid", type=int, default=1152)
    g.add_argument("--n-layers", type=int, default=3)
    g.add_argument("--drop-mult", type=float, default=1.0)
    g.add_argument("--bs", type=int, default=32)
    g.add_argument("--bptt", type=int, default=70)
    g.add_argument("--epochs", type=int, default=4)
    g.add_argument("--lr", type=float, default=3e-3)
    g.add_argument("--wd", type=float, default=0.1)

    p = add_command(sub, "generate", "sample texts from a trained model at chosen feature values", [
        "contextlm generate --model runs/lm --energy 0.9 -n 20",
        "contextlm generate --model runs/lm --energy 0.1 --feature valence=0.2 --top-p 0.9 --seed 1",
        "contextlm generate --model runs/lm --energy 0.9 -n 1000 --out samples.txt",
    ], _generate)
    p.add_argument("--model", type=Path, required=True, help="model folder (from `contextlm train lm`)")
    p.add_argument("--energy", type=float, help="shortcut for --feature energy=VALUE")
    p.add_argument("--feature", action="append", metavar="NAME=VALUE",
                   help="set a feature (repeatable); unset features stay at their training mean")
    p.add_argument("-n", type=int, default=10, help="number of texts")
    p.add_argument("--max-len", type=int, default=60, help="maximum tokens per text")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int)
    p.add_argument("--top-p", type=float)
    p.add_argument("--allow-unk", action="store_true", help="allow the unknown-word token in samples")
    p.add_argument("--prefix", default="", help="text every sample starts with")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="also write the samples, one per line (.txt) or as a table (.csv)")

    p = add_command(sub, "evaluate", "perplexity of a trained model on a corpus file", [
        "contextlm evaluate --model runs/lm data/synthetic_reviews.csv",
        "contextlm evaluate --model runs/lm songs_corpus.csv --split test",
    ], _evaluate)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("file", type=Path)
    p.add_argument("--text-col", default="text")
    p.add_argument("--split", choices=["train", "valid", "test", "all"],
                   help="rows to evaluate when the file has a split column (default: test if present, else all)")
    p.add_argument("--split-col", default="split")
    p.add_argument("--drop-missing", action="store_true")
    p.add_argument("--encoding", default="utf-8")
    p.add_argument("--bs", type=int, default=32)
    p.add_argument("--bptt", type=int, default=70)


def _corpus_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("corpus")
    g.add_argument("--data", type=Path, required=True, help="CSV/TSV, JSON/JSONL, Parquet or TXT file")
    g.add_argument("--text-col", default="text")
    g.add_argument("--id-col", help="document id column (default: row number)")
    g.add_argument("--split-col", help="column with train/valid/test (default: 'split' if present, else random)")
    g.add_argument("--group-col", help="keep each group (e.g. album) in one split when splitting at random")
    g.add_argument("--valid-pct", type=float, default=0.1)
    g.add_argument("--test-pct", type=float, default=0.1)
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--drop-missing", action="store_true",
                   help="drop rows with empty text or missing/invalid features (and say how many)")
    g.add_argument("--encoding", default="utf-8")
    g.add_argument("--max-chars", type=int, default=100_000, help="longest document accepted")


def _load_corpus(args, feature_cols):
    from ..data.corpus import corpus_from_df
    from ..data.io import read_table
    raw = read_table(args.data, args.encoding, args.text_col)
    split_col = args.split_col or ("split" if "split" in raw.columns else None)
    return corpus_from_df(raw, str(args.data), args.text_col, feature_cols, id_col=args.id_col, split_col=split_col,
                          drop_missing=args.drop_missing, valid_pct=args.valid_pct, test_pct=args.test_pct,
                          seed=args.seed, group_col=args.group_col, max_chars=args.max_chars, verbose=True)


def _train(args) -> int:
    from fastai.basics import set_seed
    from fastai.callback.all import CSVLogger

    from ..lm.data import lm_dataloaders
    from ..lm.learner import context_language_model_learner, evaluate_perplexity

    corpus = _load_corpus(args, args.features)
    print(f"{corpus.source}: {len(corpus.train)} train / {len(corpus.valid)} valid / {len(corpus.test)} test "
          f"documents; features: {', '.join(corpus.feature_cols)}")
    set_seed(args.seed)
    dls = lm_dataloaders(corpus, bs=args.bs, seq_len=args.bptt, min_freq=args.min_freq, max_vocab=args.max_vocab,
                         scaling=args.scaling)
    print(f"vocab: {len(dls.vocab)} tokens (train split only); {dls.train.n_batches} train batches of "
          f"{args.bs}x{args.bptt}")
    config = dict(emb_sz=args.emb_sz, n_hid=args.n_hid, n_layers=args.n_layers)
    train_data = {"path": str(Path(args.data).resolve()), "text_col": args.text_col,
                  "feature_cols": list(args.features), "split_col": args.split_col, "group_col": args.group_col,
                  "seed": args.seed}
    runs = [("conditioned", not args.no_features, args.out)]
    if args.compare and not args.no_features:
        runs.append(("unconditioned", False, args.out.parent / f"{args.out.name}-baseline"))
    results = {}
    for name, use_features, out in runs:
        print(f"\n== {name} model -> {out}")
        set_seed(args.seed)
        learn = context_language_model_learner(dls, use_features=use_features, config=config,
                                               drop_mult=args.drop_mult, wd=args.wd, train_data=train_data)
        out.mkdir(parents=True, exist_ok=True)
        learn.path = out
        learn.fit_one_cycle(args.epochs, args.lr, cbs=[CSVLogger(fname="history.csv")])
        lm = learn.trained_lm()
        res = {"valid": evaluate_perplexity(lm, corpus.valid["text"], corpus.features("valid"), args.bs, args.bptt)}
        if len(corpus.test):
            res["test"] = evaluate_perplexity(lm, corpus.test["text"], corpus.features("test"), args.bs, args.bptt)
        results[name] = res
        learn.save_folder(out, extra={"metrics": res, "epochs": args.epochs, "lr": args.lr, "bs": args.bs,
                                      "bptt": args.bptt})
        _plot_losses(learn, out / "loss.png", name)
        wrote(out, f"{name} model")
        wrote(out / "history.csv", "training history")
        wrote(out / "loss.png", "loss curves")
    print("\nperplexity (lower is better):")
    for name, res in results.items():
        parts = [f"{split} {r['perplexity']:.2f}" for split, r in res.items()]
        print(f"  {name:<14} " + "  ".join(parts))
    if len(results) == 2:
        ratio = results["conditioned"]["valid"]["perplexity"] / results["unconditioned"]["valid"]["perplexity"]
        print(f"  conditioned / unconditioned validation perplexity: {ratio:.3f}")
    return 0


def _plot_losses(learn, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rec = learn.recorder
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(list(range(len(rec.losses))), [float(x) for x in rec.losses], label="train (smoothed)")
    if rec.values:
        iters = [len(rec.losses) * (i + 1) / len(rec.values) for i in range(len(rec.values))]
        ax.plot(iters, [v[1] for v in rec.values], "o-", label="valid")
    ax.set(xlabel="batches", ylabel="cross-entropy", title=f"{title} LM")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _generate(args) -> int:
    from ..lm.learner import load_lm
    features = parse_assignments(args.feature)
    if args.energy is not None:
        features["energy"] = args.energy
    lm = load_lm(args.model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        texts = lm.generate(args.n, features, max_len=args.max_len, temperature=args.temperature, top_k=args.top_k,
                            top_p=args.top_p, no_unk=not args.allow_unk, seed=args.seed, prefix=args.prefix,
                            progress=args.n > 256)
    for w in caught:
        print(f"contextlm: warning: {w.message}", file=sys.stderr)
    shown = ", ".join(f"{k}={v:g}" for k, v in features.items()) or "training means"
    print(f"# {len(texts)} samples at {shown}" + ("" if lm.conditioned else " (unconditioned model)"))
    for t in texts[:50]:
        print(t)
    if len(texts) > 50:
        print(f"... ({len(texts) - 50} more)")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if args.out.suffix.lower() == ".csv":
            import pandas as pd
            df = pd.DataFrame({"text": texts})
            for k, v in zip(lm.feature_names, lm.feature_vector(features)):
                df[k] = features.get(k, float(v))  # the value asked for, not its float32 copy
            df.to_csv(args.out, index=False)
        else:
            args.out.write_text("\n".join(texts) + "\n", encoding="utf-8")
        wrote(args.out, "samples")
    return 0


def _evaluate(args) -> int:
    from ..data.corpus import corpus_from_df
    from ..data.io import read_table
    from ..lm.learner import evaluate_perplexity, load_lm
    lm = load_lm(args.model)
    raw = read_table(args.file, args.encoding, args.text_col)
    has_split = args.split_col in raw.columns
    corpus = corpus_from_df(raw, str(args.file), args.text_col, lm.feature_names,
                            split_col=args.split_col if has_split else None, drop_missing=args.drop_missing,
                            valid_pct=0, test_pct=0, verbose=True, require_splits=())
    split = args.split or ("test" if has_split else "all")
    df = corpus.df if split == "all" else corpus.part(split)
    feats = corpus.features(None if split == "all" else split)
    res = evaluate_perplexity(lm, df["text"], feats, args.bs, args.bptt)
    print(json.dumps({"model": str(args.model), "file": str(args.file), "split": split, "documents": len(df), **res}))
    return 0
