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
    p.add_argument("--heldout", type=float, default=0.1, help="share of verbs held out (default 0.1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the held-out draw")
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
    import torch
    from ..tense.data import read_test_pairs, read_verb_lines
    from ..tense.model import TrainSettings, train_tense_cvae
    if args.threads:
        torch.set_num_threads(args.threads)
    train_file, test_file = _data_file(args.train, "train.txt"), _data_file(args.test, "test.txt")
    lines, pairs = read_verb_lines(train_file), read_test_pairs(test_file)
    heldout = read_verb_lines(args.heldout) if args.heldout else []
    model = dict(latent_sz=args.latent, enc_hidden=args.hidden, dec_hidden=args.hidden, emb_sz=args.emb,
                 word_dropout=args.word_dropout)
    settings = TrainSettings(epochs=args.epochs, lr=args.lr, bs=args.bs, pairing=args.pairing, kl_schedule=args.kl,
                             n_cycles=args.cycles, kl_ratio=args.kl_ratio, beta_max=args.beta_max,
                             kl_warmup=args.kl_warmup, free_bits=args.free_bits, tf_start=args.tf_start,
                             tf_end=args.tf_end, tf_ratio=args.tf_ratio, seed=args.seed, model=model)
    print(f"{len(lines)} training verbs from {train_file}, {len(pairs)} test pairs from {test_file}"
          + (f", {len(heldout)} held-out verbs from {args.heldout}" if heldout else ""))
    learn = train_tense_cvae(lines, pairs, settings, heldout_lines=heldout)
    out = learn.save_model(args.out, extra={"train": settings.to_dict(), "train_file": str(train_file.resolve())})
    history = learn.history()
    history.to_csv(out / "history.csv", index=False)
    scores = learn.scores(pairs, lines, heldout, n=args.gaussian_n, seed=args.seed)
    print("  ".join(f"{k} {v:.4g}" for k, v in scores.items()))
    wrote(out, "tense CVAE")
    wrote(out / "history.csv", "per-epoch losses, BLEU-4 and Gaussian score")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from ..tense.data import TENSE_NAMES, tense_code
    from ..tense.model import load_tense_learner
    src, tgt = tense_code(args.src), tense_code(args.tgt)
    learn = load_tense_learner(args.model)
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
    from ..tense.settings import DEFAULT_CONFIG, TrainSettings
    d, m = TrainSettings(), DEFAULT_CONFIG
    p = add_command(groups["train"], "cvae-tense", "train the character-level tense CVAE", [
        "contextlm train cvae-tense --out runs/cvae-tense",
        "contextlm train cvae-tense --train lab/train.txt --test lab/test.txt --epochs 20 --kl linear",
        "contextlm train cvae-tense --train data/vt/train.txt --test lab/test.txt --heldout data/vt/heldout.txt"],
        _train, description="Train a character-level conditional VAE (sentence-VAE stack, tense label given to "
                            "encoder and decoder) with fit_one_cycle, KL annealing and a teacher-forcing schedule; "
                            "BLEU-4 on the test pairs and the Gaussian score are recorded every epoch.")
    p.add_argument("--train", help="lab-format verbs (sp tp pg p per line); default: `contextlm data get verb-tense`")
    p.add_argument("--test", help="test pairs ('input target' with the lab's 10 conditions, or 'input target src tgt')")
    p.add_argument("--heldout", help="lab-format verbs never in training: accuracy recorded every epoch")
    p.add_argument("--out", default=DEFAULT_MODEL, help=f"model folder (default {DEFAULT_MODEL})")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--lr", type=float, default=d.lr, help="max learning rate of fit_one_cycle")
    p.add_argument("--bs", type=int, default=d.bs)
    p.add_argument("--pairing", choices=["all", "same"], default=d.pairing,
                   help="reconstruct every form from every form (all) or each form from itself (same, the lab's)")
    p.add_argument("--kl", choices=["linear", "cyclical", "logistic", "constant"], default=d.kl_schedule,
                   help="KL annealing: linear is monotonic; cyclical repeats the ramp (Fu et al. 2019)")
    p.add_argument("--cycles", type=int, default=d.n_cycles, help="cycles of the cyclical schedule")
    p.add_argument("--kl-ratio", type=float, default=d.kl_ratio, help="share of a cycle (or of training) spent raising beta")
    p.add_argument("--beta-max", type=float, default=d.beta_max)
    p.add_argument("--kl-warmup", type=float, default=d.kl_warmup, help="share of training with beta = 0")
    p.add_argument("--free-bits", type=float, default=d.free_bits, help="KL floor per latent dimension (nats)")
    p.add_argument("--tf-start", type=float, default=d.tf_start, help="teacher-forcing ratio at the start")
    p.add_argument("--tf-end", type=float, default=d.tf_end, help="teacher-forcing ratio reached after --tf-ratio")
    p.add_argument("--tf-ratio", type=float, default=d.tf_ratio, help="share of training over which it falls")
    p.add_argument("--latent", type=int, default=m["latent_sz"], help="size of z")
    p.add_argument("--hidden", type=int, default=m["dec_hidden"], help="encoder and decoder LSTM size")
    p.add_argument("--emb", type=int, default=m["emb_sz"], help="character embedding size")
    p.add_argument("--word-dropout", type=float, default=0.0)
    p.add_argument("--gaussian-n", type=int, default=100, help="prior samples for the final Gaussian score")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")

    p = add_command(sub, "convert", "convert verbs between tenses with a trained tense CVAE", [
        "contextlm convert access --from sp --to pg",
        "contextlm convert sent abandoned --from past --to third-person --model runs/cvae-tense",
        "contextlm convert functioning --from pg --to p --beam 5"], _convert)
    p.add_argument("words", nargs="+", help="verb forms, all in the --from tense")
    p.add_argument("--from", dest="src", required=True, help="tense of the words: sp, tp, pg, p (or full names)")
    p.add_argument("--to", dest="tgt", required=True, help="tense to write: sp, tp, pg, p (or full names)")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model folder (default {DEFAULT_MODEL})")
    p.add_argument("--beam", type=int, default=1, help="beam size (1: greedy)")

    p = add_command(sub, "sample-tenses", "decode z ~ N(0, I) in all four tenses", [
        "contextlm sample-tenses -n 10",
        "contextlm sample-tenses -n 100 --seed 1 --model runs/cvae-tense --train lab/train.txt"], _sample)
    p.add_argument("-n", type=int, default=10, help="number of codes z to draw")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model folder (default {DEFAULT_MODEL})")
    p.add_argument("--train", help="verbs to check the samples against (default: the model's training file)")
