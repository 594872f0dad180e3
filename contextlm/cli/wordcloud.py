"""`contextlm wordcloud`: what a model says (or what people wrote) at different levels
of an audio feature or for different labels (genres): clouds, counts, distinctive words
and how well text tracks them."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..settings import number
from ._common import add_command, add_device_argument, add_sampling_arguments, model_device, parse_assignments, wrote

EXAMPLES = [
    "contextlm wordcloud --model runs/lm --energy 0 1",
    "contextlm wordcloud --model runs/lm --energy 0.1 0.5 0.9 --n-words 5000 --out clouds/energy",
    "contextlm wordcloud --model runs/lm --feature valence --levels 0.1 0.9 --feature energy=0.8",
    "contextlm wordcloud --model runs/lm --energy 0 1 --stopwords my_stopwords.txt --seed 1",
    "contextlm wordcloud --model runs/genre --label-col playlist_genre --levels rock latin --feature energy=0.8",
    "contextlm wordcloud --model runs/genre --energy 0.1 0.9 --label playlist_genre=pop --guidance 2",
    "contextlm wordcloud --corpus data/synthetic_reviews.csv --by energy --bins 2",
    "contextlm wordcloud --corpus songs.csv --by playlist_genre --levels rock latin edm",
]

DESCRIPTION = """\
Sample about --n-words words from a model at each level of one feature (the others held
at their training mean, or set with --feature NAME=VALUE), drop NLTK's English stopwords,
punctuation, numbers and fastai's special tokens, and write: clouds.png (the levels side by
side, purple = lowest, green = highest; words sized by frequency, then by distinctiveness),
cloud_<level>.png, distinctive_<level>.png, words.csv (count, rate and
weighted log-odds z per word and level; Monroe et al. 2008), levels.csv, summary.json and
the samples. A TF-IDF + ridge regressor fit on the model's training corpus predicts the
feature from each sample: the mean per level and the AUC lowest vs highest say how
strongly the text follows the requested feature. With --corpus FILE --by FEATURE the same
analysis runs on real text split into --bins equal-count bins.

A model trained with --labels compares labels instead: --label-col COLUMN --levels A B
samples with COLUMN = each name (one colour per label), and a TF-IDF + logistic
classifier fit on the training corpus reports the share of each label's samples it
reads as that label. --corpus FILE --by COLUMN on a column of names splits by its values.

Levels outside the range the model saw in training are sampled with a warning (the
model extrapolates); values a feature cannot take (energy 1.5) and labels the model
never saw are refused."""


def _numbers(levels: list[str]) -> list[float]:
    """--levels of a numeric feature, refused as argparse would refuse a bad number."""
    from ..errors import ContextLMError
    try:
        return [number(float)(v) for v in levels]
    except argparse.ArgumentTypeError as e:
        raise ContextLMError(f"argument --levels: {e}") from None


def _varied(args: argparse.Namespace) -> tuple[str, list[float] | list[str], dict[str, float]]:
    """The feature (numbers) or label column (names) to vary, its levels, and the
    features held fixed."""
    from ..errors import ContextLMError
    items = args.feature or []
    names = [i for i in items if "=" not in i]
    fixed = parse_assignments([i for i in items if "=" in i], "--feature")
    if args.label_col is not None:
        if args.energy is not None or names:
            other = f"--feature {names[0]}" if names else "--energy"
            raise ContextLMError(f"--label-col {args.label_col} and {other} both choose what to vary; vary one at "
                                 f"a time (hold features with --feature NAME=VALUE)")
        if args.levels is None:
            raise ContextLMError(f"--label-col {args.label_col} needs --levels, e.g. --levels rock latin")
        return args.label_col, list(args.levels), fixed
    if args.energy is not None:
        if names:
            raise ContextLMError(f"--energy and --feature {names[0]} both choose the feature to vary; use one")
        if args.levels is not None:
            raise ContextLMError("--levels goes with --feature NAME; with --energy give the levels after it")
        return "energy", args.energy, fixed
    if len(names) > 1:
        raise ContextLMError(f"vary one feature at a time (got --feature {' and '.join(names)}); "
                             f"hold others fixed with --feature NAME=VALUE")
    if not names:
        raise ContextLMError("say what to vary: --energy 0 1, or --feature NAME --levels 0 1")
    if args.levels is None:
        raise ContextLMError(f"--feature {names[0]} needs --levels, e.g. --levels 0 1")
    return names[0], _numbers(args.levels), fixed


def _options(args: argparse.Namespace):
    from ..analysis.pipeline import ReportOptions
    return ReportOptions(width=args.width, height=args.height, max_words=args.max_words)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr if msg.startswith("contextlm: warning") else sys.stdout, flush=True)


def _run(args: argparse.Namespace) -> int:
    from ..errors import ContextLMError
    if args.n_words < 1:
        raise ContextLMError(f"--n-words must be at least 1 (got {args.n_words})")
    if args.corpus:
        if not args.by:
            raise ContextLMError("--corpus needs --by COLUMN (the column to split the texts by)")
        if args.energy is not None or args.feature or args.label_col or args.label:
            raise ContextLMError("--corpus splits the texts by --by COLUMN (--bins N for a feature, --levels for "
                                 "a label column); --energy, --feature, --label-col and --label go with --model")
        from ..analysis.pipeline import corpus_wordcloud
        out = Path(args.out or f"wordcloud-{Path(args.corpus).stem}-{args.by}")
        result = corpus_wordcloud(args.corpus, args.by, out, bins=args.bins, levels=args.levels,
                                  text_col=args.text_col, split=args.split, seed=args.seed,
                                  stopwords=args.stopwords, regressor=not args.no_regressor,
                                  options=_options(args), log=_log)
    else:
        if args.by or args.bins is not None:
            raise ContextLMError("--by and --bins go with --corpus; with --model use --energy 0 1, "
                                 "--feature NAME --levels ... or --label-col COLUMN --levels ...")
        feature, values, fixed = _varied(args)
        labels = parse_assignments(args.label, "--label", numbers=False)
        from ..analysis.pipeline import model_wordcloud
        from ..analysis.report import check_out_folder
        from ..lm.learner import load_lm
        out = check_out_folder(args.out or f"wordcloud-{feature}")  # before loading the model
        lm = load_lm(args.model, model_device(args))
        what = f"for different {feature} labels" if args.label_col else f"at different levels of {feature}"
        result = model_wordcloud(lm, feature, values, out, fixed=fixed, labels=labels, guidance=args.guidance,
                                 n_words=args.n_words, seed=args.seed, stopwords=args.stopwords,
                                 regressor=not args.no_regressor, train_corpus=args.train_corpus,
                                 batch_size=args.batch_size, options=_options(args), log=_log,
                                 max_len=args.max_len, title=f"What {Path(args.model).resolve().name} says {what}",
                                 temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                                 min_p=args.min_p)
    from ..analysis.report import terminal_table
    print()
    print(terminal_table(result.comparison, top=args.top, accuracy=result.accuracy))
    print()
    wrote(result.written["clouds"], "clouds side by side")
    for key, path in result.written.items():
        if key.startswith("cloud:"):
            wrote(path, f"cloud {key[6:]}")
        elif key.startswith("distinctive:"):
            wrote(path, f"distinctive words {key[12:]}")
    wrote(result.written["words"], "word counts and log-odds z per level")
    wrote(result.written["levels"], "per-level sizes and scores")
    wrote(result.written["summary"], "summary")
    wrote(out, "samples (samples_*.txt) and all of the above in")
    return 0


def register(sub, groups) -> None:
    p = add_command(sub, "wordcloud", "word clouds and distinctive words at different feature levels or labels",
                    EXAMPLES, _run, description=DESCRIPTION)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", metavar="DIR", help="a model folder from `contextlm train lm`")
    src.add_argument("--corpus", metavar="FILE", help="real text instead of a model (CSV/JSONL/Parquet)")
    add_device_argument(p)
    g = p.add_argument_group("levels (with --model)")
    g.add_argument("--energy", nargs="+", type=number(float), metavar="LEVEL", help="energy levels to compare, e.g. 0 1")
    g.add_argument("--feature", action="append", metavar="NAME|NAME=VALUE",
                   help="NAME: the feature to vary (with --levels); NAME=VALUE: hold a feature at VALUE "
                        "(repeatable; others stay at their training mean)")
    g.add_argument("--label-col", metavar="COLUMN",
                   help="a label column to vary instead (a model trained with --labels), with --levels NAME ...")
    g.add_argument("--levels", nargs="+", metavar="LEVEL",
                   help="levels of the --feature NAME (numbers) or --label-col COLUMN (names, e.g. rock latin); "
                        "with --corpus, the values of a label column --by to compare")
    g.add_argument("--label", action="append", metavar="COLUMN=VALUE",
                   help="hold a label column at VALUE (repeatable), e.g. playlist_genre=rock; unset labels are "
                        "'unknown'")
    g = p.add_argument_group("sampling (with --model)")
    g.add_argument("--n-words", type=number(int, min=1, max=10**7), default=10_000,
                   help="words to sample per level (default 10000)")
    add_sampling_arguments(g, n=None)
    g.add_argument("--guidance", type=number(float, min=0, max=20), default=1.0,
                   help="classifier-free guidance W: logits null + W * (cond - null); 1 is the plain model, "
                        "> 1 follows the context more (train with --context-dropout; default 1)")
    g.add_argument("--batch-size", type=number(int, min=1, max=65536), default=256, help="texts sampled in parallel in the first round (default 256); "
                        "the rest follow in one batch of up to 4x that")
    g.add_argument("--train-corpus", metavar="FILE",
                   help="fit the text->feature regressor (label classifier) on FILE instead of the model's "
                        "training corpus; a FILE that cannot be used is an error")
    g = p.add_argument_group("real text (with --corpus)")
    g.add_argument("--by", metavar="COLUMN", help="the column to split the corpus by: a feature (into --bins "
                                                  "quantile bins) or a label column such as a genre (by its values)")
    g.add_argument("--bins", type=number(int, min=2, max=100),
                   help="equal-count quantile bins of a feature (default 2)")
    g.add_argument("--text-col", default="text", help="the text column (default text)")
    g.add_argument("--split", choices=["all", "train", "valid", "test"], default="all",
                   help="which split of the corpus to use (default all)")
    g = p.add_argument_group("filtering and output")
    g.add_argument("--stopwords", metavar="FILE", help="more stopwords, one per line, added to NLTK's English list")
    g.add_argument("--no-regressor", action="store_true",
                   help="skip the text->feature regressor and AUC (text->label classifier and accuracy)")
    g.add_argument("--out", metavar="DIR", help="output folder, created if needed (default wordcloud-FEATURE)")
    g.add_argument("--top", type=number(int, min=1, max=10_000), default=15, help="words per level in the terminal table (default 15)")
    g.add_argument("--width", type=number(int, min=16, max=10_000), default=800, help="pixel width of each cloud (default 800)")
    g.add_argument("--height", type=number(int, min=16, max=10_000), default=400, help="pixel height of each cloud (default 400)")
    g.add_argument("--max-words", type=number(int, min=1, max=10_000), default=150, help="words per cloud (default 150)")
