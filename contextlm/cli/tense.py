"""Tense CVAE commands: `data build verb-tense`, `train cvae-tense`, `convert`, `sample-tenses`."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..settings import number
from ._common import add_command, add_device_argument, model_device, seed_type, wrote

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
    register_model_commands(sub, groups)
    p = add_command(groups["data"], "build", "build a dataset offline (verb-tense from lemminflect)", [
        "contextlm data build verb-tense --source lemminflect --out data/verb_tense_lemminflect",
        "contextlm data build verb-tense --source lemminflect --out data/vt --heldout 0.1 --seed 0 "
        "--keep-in-train lab/train.txt lab/test.txt"], _build,
        description="Build the verb-tense set (4 forms per line: sp tp pg p) from lemminflect's inflection "
                    "tables, offline, and hold out whole verbs that training never sees.")
    p.add_argument("dataset", help="what to build: verb-tense")
    p.add_argument("--source", choices=["lemminflect"], default="lemminflect", help="where the forms come from")
    p.add_argument("--out", default="data/verb_tense_lemminflect", help="folder for train.txt and heldout.txt")
    p.add_argument("--heldout", type=number(float, gt=0, max=0.99), default=0.1, help="share of verbs held out (default 0.1)")
    p.add_argument("--seed", type=seed_type(), default=0, help="seed of the held-out draw")
    p.add_argument("--keep-in-train", nargs="*", default=[], metavar="FILE",
                   help="lab-format files whose verbs are never held out (e.g. the lab's train.txt and test.txt)")


def _data_file(given: str | None, name: str):
    """An explicit path, or the file of the fetched `verb-tense` dataset (`contextlm data get verb-tense`)."""
    from pathlib import Path
    if given:
        return Path(given)
    from ..data.datasets import dataset_path
    return dataset_path("verb-tense") / name


def _train(args: argparse.Namespace) -> int:
    from ..distributed import runtime_settings
    from ..distributed.runtime import start_runtime
    from ..errors import ContextLMError
    from ..experiments.session import TrainingRun, data_digests
    from ..settings import settings_from_args
    from ..tense.settings import TrainSettings
    from ..vae.config import VAEConfig
    s = settings_from_args(TrainSettings, args, nested={"model": VAEConfig})
    runtime = start_runtime(runtime_settings(args), bs=s.bs, quiet=True)   # before any loader or file
    if args.gaussian_n < 1 or args.threads < 0:
        raise ContextLMError(f"--gaussian-n {args.gaussian_n} must be >= 1 and --threads {args.threads} >= 0")
    train_file, test_file = _data_file(args.train, "train.txt"), _data_file(args.test, "test.txt")
    run = TrainingRun(args, "cvae-tense", s.to_dict(), args.out, data_digests([train_file, test_file, args.heldout, s.vectors]),
                      identity={"heldout": bool(args.heldout)})
    try:
        run.check()  # before any data is read or anything trained
        if run.finished:
            print(run.describe())
            return 0
        return _train_run(args, s, train_file, test_file, run, runtime)
    finally:
        run.close()


def _train_run(args, s, train_file, test_file, run, runtime) -> int:
    import torch
    from ..distributed import is_main
    from ..experiments.registry import split_history_metrics
    from ..tense.data import read_test_pairs, read_verb_lines
    from ..tense.model import train_tense_cvae
    if args.threads:
        torch.set_num_threads(args.threads)
    lines, pairs = read_verb_lines(train_file), read_test_pairs(test_file)
    heldout = read_verb_lines(args.heldout) if args.heldout else []
    print(f"{len(lines)} training verbs from {train_file}, {len(pairs)} test pairs from {test_file}"
          + (f", {len(heldout)} held-out verbs from {args.heldout}" if heldout else ""))
    print(run.describe())
    with run.training():
        learn = train_tense_cvae(lines, pairs, s, heldout_lines=heldout, checkpoint=run.checkpoint,
                                 cbs=runtime.callbacks())
        scores = learn.scores(pairs, lines, heldout, n=args.gaussian_n, seed=s.seed)
        history = learn.history()
        if is_main():     # data-parallel: rank 0 alone writes
            save_tense_run(learn, args.out, s, train_file, args.overwrite, history)
        last = split_history_metrics({k: float(v) for k, v in history.iloc[-1].items()} if len(history) else {})
        run.done(history, {**scores, **last}, ("bleu4", scores["bleu4"]) if "bleu4" in scores else None)
    print("  ".join(f"{k} {v:.4g}" for k, v in scores.items()))
    wrote(args.out, "tense CVAE")
    wrote(Path(args.out) / "history.csv", "per-epoch losses, BLEU-4 and Gaussian score")
    if run.recorded:
        wrote(run.recorded, "run record")
    return 0


def save_tense_run(learn, out, s, train_file, overwrite: bool, history) -> None:
    """The model folder with its settings and per-epoch `history`, written atomically."""
    import json
    from ..modelio import model_folder_writer, write_model_files
    settings = s.to_dict()
    extra = {"train": settings, "train_file": str(Path(train_file).resolve()),
             "vectors": getattr(learn, "vectors_report", None)}
    with model_folder_writer(out, overwrite=overwrite) as tmp:
        write_model_files(tmp, learn.model_kind, learn.model, learn.model_config(extra))
        (tmp / "settings.json").write_text(json.dumps(settings, indent=2), encoding="utf-8")
        history.to_csv(tmp / "history.csv", index=False)


def _convert(args: argparse.Namespace) -> int:
    from ..tense.data import TENSE_NAMES, tense_code
    from ..tense.model import load_tense_learner
    src, tgt = tense_code(args.src), tense_code(args.tgt)
    learn = load_tense_learner(args.model)
    learn.model.to(model_device(args))
    method = "beam" if args.beam > 1 else "greedy"
    outputs = learn.convert(args.words, src, tgt, method=method, **({"beam_size": args.beam} if args.beam > 1 else {}))
    for word, out in zip(args.words, outputs):
        print(f"{word.lower()} ({TENSE_NAMES[src]}) -> {out} ({TENSE_NAMES[tgt]})")
    return 0


def _sample(args: argparse.Namespace) -> int:
    from pathlib import Path
    from ..tense.data import TENSES, read_verb_lines
    from ..tense.metrics import gaussian_score
    from ..tense.model import load_tense_learner
    learn = load_tense_learner(args.model)
    learn.model.to(model_device(args))
    tuples = learn.sample_tenses(args.n, seed=args.seed)
    train_file = args.train or learn.saved_config.get("train_file")
    known = set(map(tuple, read_verb_lines(train_file))) if train_file and Path(train_file).exists() else None
    width = max(len(w) for t in tuples for w in t) + 2
    print("".join(t.ljust(width) for t in TENSES) + ("in training data" if known is not None else ""))
    for t in tuples:
        print("".join(w.ljust(width) for w in t) + (("yes" if t in known else "no") if known is not None else ""))
    if known is not None:
        print(f"Gaussian score {gaussian_score(tuples, known):.2f} ({args.n} samples, against {train_file})")
    return 0


def register_model_commands(sub, groups) -> None:
    from ..distributed import add_runtime_arguments
    from ..experiments.session import add_experiment_arguments
    from ..settings import add_config_argument, add_settings_arguments
    from ..tense.settings import DEFAULT_CONFIG, TrainSettings
    from ..vae.config import VAEConfig
    p = add_command(groups["train"], "cvae-tense", "train the character-level tense CVAE", [
        "contextlm train cvae-tense --out runs/cvae-tense",
        "contextlm train cvae-tense --train lab/train.txt --test lab/test.txt --epochs 20 --kl-schedule linear",
        "contextlm train cvae-tense --train data/vt/train.txt --test lab/test.txt --heldout data/vt/heldout.txt",
        "contextlm train cvae-tense --epochs 20 --save-every 100 --out runs/cvae-tense --resume"],
        _train, description="Train a character-level conditional VAE (sentence-VAE stack, tense label given to "
                            "encoder and decoder) with fit_one_cycle, KL annealing and a teacher-forcing schedule; "
                            "BLEU-4 on the test pairs and the Gaussian score are recorded every epoch.")
    p.add_argument("--train", help="lab-format verbs (sp tp pg p per line); default: `contextlm data get verb-tense`")
    p.add_argument("--test", help="test pairs ('input target' with the lab's 10 conditions, or 'input target src tgt')")
    p.add_argument("--heldout", help="lab-format verbs never in training: accuracy recorded every epoch")
    p.add_argument("--out", default=DEFAULT_MODEL, help=f"model folder (default {DEFAULT_MODEL}; never over an "
                                                        "existing one without --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing model folder")
    p.add_argument("--gaussian-n", type=number(int, min=1, max=10**6), default=100,
                   help="prior samples for the final Gaussian score")
    p.add_argument("--threads", type=number(int, min=0, max=1024), default=0, help="torch CPU threads (default: torch's choice)")
    add_config_argument(p)
    add_settings_arguments(p, TrainSettings)
    add_settings_arguments(p, VAEConfig, defaults=DEFAULT_CONFIG)
    add_runtime_arguments(p)
    add_experiment_arguments(p)

    p = add_command(sub, "convert", "convert verbs between tenses with a trained tense CVAE", [
        "contextlm convert access --from sp --to pg",
        "contextlm convert sent abandoned --from past --to third-person --model runs/cvae-tense",
        "contextlm convert functioning --from pg --to p --beam 5"], _convert)
    p.add_argument("words", nargs="+", help="verb forms, all in the --from tense")
    p.add_argument("--from", dest="src", required=True, help="tense of the words: sp, tp, pg, p (or full names)")
    p.add_argument("--to", dest="tgt", required=True, help="tense to write: sp, tp, pg, p (or full names)")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model folder (default {DEFAULT_MODEL})")
    add_device_argument(p)
    p.add_argument("--beam", type=number(int, min=1, max=1000), default=1, help="beam size (1: greedy)")

    p = add_command(sub, "sample-tenses", "decode z ~ N(0, I) in all four tenses", [
        "contextlm sample-tenses -n 10",
        "contextlm sample-tenses -n 100 --seed 1 --model runs/cvae-tense --train lab/train.txt"], _sample)
    p.add_argument("-n", type=number(int, min=1, max=10**6), default=10, help="number of codes z to draw")
    p.add_argument("--seed", type=seed_type(), default=None)
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model folder (default {DEFAULT_MODEL})")
    add_device_argument(p)
    p.add_argument("--train", help="verbs to check the samples against (default: the model's training file)")
