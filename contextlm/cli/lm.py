"""`contextlm train lm`, `contextlm generate`, `contextlm evaluate`."""
from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

from ..settings import number
from ._common import (add_command, add_device_argument, add_output_arguments, add_sampling_arguments, check_output,
                      model_device, parse_assignments, write_lines, write_table_atomic, wrote)


def register(sub, groups) -> None:
    from ..distributed import add_runtime_arguments
    from ..experiments.session import add_experiment_arguments
    from ..lm.settings import LMSettings
    from ..settings import add_config_argument, add_settings_arguments
    p = add_command(groups["train"], "lm", "train the feature-conditioned AWD-LSTM on a corpus", [
        "contextlm train lm --data data/synthetic_reviews.csv --features energy --out runs/lm --compare",
        "contextlm train lm --data reviews.jsonl --text-col body --features energy valence --epochs 8 --out runs/lm",
        "contextlm train lm --data songs.csv --features energy --labels playlist_genre --group-col album --out runs/g",
        "contextlm train lm --data songs.csv --no-features --out runs/lm-base",
        "contextlm train lm --data songs.csv --config runs/lm/settings.json --epochs 8 --out runs/lm-longer",
        "contextlm train lm --data songs.csv --features energy --epochs 8 --save-every 500 --out runs/lm",
        "contextlm train lm --data songs.csv --features energy --epochs 8 --save-every 500 --out runs/lm --resume",
        "contextlm train lm --data songs.csv --features energy --device cuda --precision bf16 --out runs/lm",
        "accelerate launch --cpu --num_processes 2 -m contextlm train lm --data songs.csv --features energy --out runs/lm",
    ], _train)
    p.add_argument("--data", type=Path, required=True, help="CSV/TSV, JSON/JSONL, Parquet or TXT file")
    p.add_argument("--out", type=Path, required=True, help="model folder to write (never over an existing one "
                                                          "without --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace existing model folders")
    p.add_argument("--no-features", action="store_true",
                   help="train the unconditioned baseline (text only: the file needs no feature columns)")
    p.add_argument("--compare", action="store_true",
                   help="also train the unconditioned twin (same data, settings and seed) into OUT-baseline "
                        "and print both validation perplexities")
    add_config_argument(p)
    add_settings_arguments(p, LMSettings)
    add_runtime_arguments(p)
    add_experiment_arguments(p)

    p = add_command(sub, "generate", "sample texts from a trained model at chosen feature values and labels", [
        "contextlm generate --model runs/lm --energy 0.9 -n 20",
        "contextlm generate --model runs/lm --energy 0.1 --feature valence=0.2 --top-p 0.9 --seed 1",
        "contextlm generate --model runs/genre --label playlist_genre=rock --energy 0.9 --guidance 2",
        "contextlm generate --model runs/lm --energy 0.9 -n 1000 --out samples.txt",
    ], _generate)
    p.add_argument("--model", type=Path, required=True, help="model folder (from `contextlm train lm`)")
    p.add_argument("--energy", type=number(float), help="shortcut for --feature energy=VALUE")
    p.add_argument("--feature", action="append", metavar="NAME=VALUE",
                   help="set a feature (repeatable); unset features stay at their training mean")
    p.add_argument("--label", action="append", metavar="COLUMN=VALUE",
                   help="set a label (repeatable), e.g. playlist_genre=rock; unset labels are 'unknown'")
    p.add_argument("--guidance", type=number(float, min=0, max=20), default=1.0,
                   help="classifier-free guidance W: logits null + W * (cond - null); 1 is the plain model, "
                        "> 1 follows the context more (train with --context-dropout; default 1)")
    add_sampling_arguments(p)
    p.add_argument("--allow-unk", action="store_true", help="allow the unknown-word token in samples")
    p.add_argument("--prefix", default="", help="text every sample starts with")
    add_device_argument(p)
    add_output_arguments(p, "also write the samples, one per line (.txt) or as a table (.csv)")

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
    add_device_argument(p)
    p.add_argument("--bs", type=number(int, min=1, max=65536), default=32, help="batch size (default 32)")
    p.add_argument("--bptt", type=number(int, min=1, max=100_000), default=70, help="tokens per window (default 70)")


def _train(args) -> int:
    from ..distributed import runtime_settings
    from ..distributed.runtime import start_runtime
    from ..experiments.session import TrainingRun, data_digests
    from ..lm.settings import LMSettings
    from ..settings import settings_from_args
    s = settings_from_args(LMSettings, args)
    runtime = start_runtime(runtime_settings(args), bs=s.bs, quiet=True)   # before any loader or file
    plan = [("conditioned", not args.no_features, args.out)]
    if args.compare and not args.no_features:
        plan.append(("unconditioned", False, args.out.parent / f"{args.out.name}-baseline"))
    data = data_digests([args.data, s.vectors])  # the vectors file is part of what a run was made from
    runs = [TrainingRun(args, "lm", s.to_dict(), out, data, identity={"conditioned": use_features}, name=name)
            for name, use_features, out in plan]
    try:
        for run in runs:  # every argument, target and checkpoint is checked before any work or file
            run.check()
        return _train_runs(args, s, runs, plan, runtime)
    finally:
        for run in runs:
            run.close()


def _train_runs(args, s, runs, plan, runtime) -> int:
    from ..distributed import is_main
    from ..lm.train import load_lm_corpus, lm_dls, save_lm_run, train_lm
    from ..training import history_frame
    results = {}
    for run, (name, _, out) in zip(runs, plan):
        if run.finished:
            print(run.describe())
            results[name] = _saved_metrics(out)
    if all(run.finished for run in runs):
        return _print_perplexities(results)
    corpus = load_lm_corpus(args.data, s, use_features=not args.no_features)
    print(f"{corpus.source}: {len(corpus.train)} train / {len(corpus.valid)} valid / {len(corpus.test)} test "
          f"documents; context: {', '.join(corpus.feature_cols + corpus.keep_cols) or 'none'}")
    dls = lm_dls(corpus, s)
    print(f"vocab: {len(dls.vocab)} tokens (train split only); {dls.train.n_batches} train batches of "
          f"{s.bs}x{s.bptt}")
    for run, (name, use_features, out) in zip(runs, plan):
        if run.finished:
            continue
        print(f"\n== {name} model -> {out}")
        print(run.describe())
        with run.training():
            trained = train_lm(corpus, s, use_features=use_features, dls=dls, checkpoint=run.checkpoint,
                               cbs=runtime.callbacks())
            results[name] = trained.metrics
            if is_main():     # data-parallel: rank 0 alone writes
                save_lm_run(trained, out, overwrite=args.overwrite, title=f"{name} LM")
            run.done(history_frame(trained.learn.recorder), trained.metrics,
                     ("valid perplexity", trained.metrics["valid"]["perplexity"]))
        wrote(out, f"{name} model (model.pth, config.json, settings.json, history.csv, loss.png)")
        if run.recorded:
            wrote(run.recorded, "run record")
    return _print_perplexities(results)


def _saved_metrics(out: Path) -> dict:
    """The metrics a finished model folder recorded (config.json)."""
    from ..modelio import read_model_config
    from ..lm.learner import MODEL_KIND
    return (read_model_config(out, MODEL_KIND).get("extra") or {}).get("metrics") or {}


def _print_perplexities(results: dict) -> int:
    print("\nperplexity (lower is better):")
    for name, res in results.items():
        parts = [f"{split} {r['perplexity']:.2f}" for split, r in res.items()]
        print(f"  {name:<14} " + "  ".join(parts))
    if len(results) == 2 and all("valid" in r for r in results.values()):
        ratio = results["conditioned"]["valid"]["perplexity"] / results["unconditioned"]["valid"]["perplexity"]
        print(f"  conditioned / unconditioned validation perplexity: {ratio:.3f}")
    return 0


def _generate(args) -> int:
    from ..lm.learner import load_lm
    features = parse_assignments(args.feature)
    if args.energy is not None:
        features["energy"] = args.energy
    labels = parse_assignments(args.label, "--label", numbers=False)
    if args.out:
        check_output(args.out, "--out", args.overwrite, (".txt", ".csv"))
    lm = load_lm(args.model, model_device(args))
    unknown = lm.vocab.unknown_words(args.prefix) if args.prefix.strip() else []
    if unknown:
        print(f"contextlm: warning: --prefix words not in the model's vocabulary are read as xxunk: "
              f"{', '.join(unknown[:10])}", file=sys.stderr)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        texts = lm.generate(args.n, features, labels, guidance=args.guidance, min_p=args.min_p,
                            max_len=args.max_len, temperature=args.temperature, top_k=args.top_k,
                            top_p=args.top_p, no_unk=not args.allow_unk, seed=args.seed, prefix=args.prefix,
                            progress=args.n > 256)
    for w in caught:
        print(f"contextlm: warning: {w.message}", file=sys.stderr)
    shown = ", ".join([f"{k}={v:g}" for k, v in features.items()] + [f"{k}={v}" for k, v in labels.items()])
    shown = (shown or "training means") + (f", guidance {args.guidance:g}" if args.guidance != 1 else "")
    print(f"# {len(texts)} samples at {shown}" + ("" if lm.conditioned else " (unconditioned model)"))
    for t in texts[:50]:
        print(t)
    if len(texts) > 50:
        print(f"... ({len(texts) - 50} more)")
    if args.out:
        if args.out.suffix.lower() == ".csv":
            import pandas as pd
            df = pd.DataFrame({"text": texts})
            for k, v in zip(lm.feature_names, lm.condition.feature_vector(features, warn=False)):  # warned above
                df[k] = features.get(k, float(v))  # the value asked for, not its float32 copy
            write_table_atomic(df, args.out)
        else:
            write_lines(args.out, texts)
        wrote(args.out, "samples")
    return 0


def _evaluate(args) -> int:
    from ..data.corpus import corpus_from_df
    from ..data.io import read_table
    from ..errors import ContextLMError
    from ..lm.learner import evaluate_perplexity, load_lm
    lm = load_lm(args.model, model_device(args))
    raw = read_table(args.file, args.encoding, args.text_col)
    has_split = args.split_col in raw.columns
    corpus = corpus_from_df(raw, str(args.file), args.text_col, lm.feature_names,
                            split_col=args.split_col if has_split else None, drop_missing=args.drop_missing,
                            valid_pct=0, test_pct=0, verbose=True, require_splits=(),
                            keep_cols=list(lm.label_names))
    split = args.split or ("test" if has_split else "all")
    df = corpus.df if split == "all" else corpus.part(split)
    if df.empty:
        have = ", ".join(sorted(corpus.df["split"].unique())) if "split" in corpus.df else "none"
        raise ContextLMError(f"{args.file}: no rows in split {split!r} (column {args.split_col!r} holds: {have}); "
                             f"pass --split train, valid or all")
    feats = corpus.features(None if split == "all" else split)
    res = evaluate_perplexity(lm, df["text"], feats, args.bs, args.bptt, labels=df if lm.label_names else None)
    print(json.dumps({"model": str(args.model), "file": str(args.file), "split": split, "documents": len(df), **res}))
    return 0
