"""`contextlm train vae`, `contextlm sample`, `contextlm interpolate`, `contextlm reconstruct`."""
from __future__ import annotations

import json
from pathlib import Path

from ._common import add_command, parse_assignments, wrote


def register(sub, groups) -> None:
    p = add_command(groups["train"], "vae", "train a sentence VAE (Bowman et al. 2016), a CVAE or its LSTM-LM twin", [
        "contextlm train vae --ptb ../shared/data/ptb --epochs 4 --latent 32 --kl-schedule cyclical --out runs/vae",
        "contextlm train vae --data data/synthetic_reviews.csv --sentences --features energy --out runs/vae-energy",
        "contextlm train vae --data titles.csv --text-col title --tokenizer char --max-len 40 --out runs/vae-chars",
        "contextlm train vae --ptb ../shared/data/ptb --lm-baseline --out runs/lm-twin",
    ], _train)
    src = p.add_argument_group("data (one of --data / --ptb)")
    src.add_argument("--data", type=Path, help="corpus file (CSV/TSV, JSON/JSONL, Parquet, TXT: one text per line)")
    src.add_argument("--ptb", type=Path, metavar="DIR", help="folder with ptb.train/valid/test.txt (whitespace tokens)")
    src.add_argument("--text-col", default="text")
    src.add_argument("--split-col", help="column with train/valid/test (else a seeded random split)")
    src.add_argument("--group-col", help="keep rows of one group (e.g. album) in one split")
    src.add_argument("--sentences", action="store_true", help="split documents into sentences (keeping their features)")
    src.add_argument("--features", nargs="+", default=[], metavar="COL", help="condition on these feature columns")
    src.add_argument("--label-col", help="condition on the labels of this column (CVAE)")
    src.add_argument("--drop-missing", action="store_true", help="drop rows with empty text or missing features")
    src.add_argument("--encoding", default="utf-8")
    src.add_argument("--valid-pct", type=float, default=0.1)
    src.add_argument("--test-pct", type=float, default=0.1)
    tok = p.add_argument_group("tokens")
    tok.add_argument("--tokenizer", choices=["fastai", "whitespace", "char"],
                     help="default: whitespace for --ptb, fastai otherwise")
    tok.add_argument("--max-len", type=int, default=40, help="tokens kept per sentence (longer ones are cut)")
    tok.add_argument("--min-freq", type=int, default=1)
    tok.add_argument("--max-vocab", type=int, default=60000)
    tok.add_argument("--scaling", choices=["minmax", "standard", "none"], default="minmax")
    m = p.add_argument_group("model")
    m.add_argument("--emb-sz", type=int, default=256)
    m.add_argument("--hidden", type=int, default=256, help="decoder LSTM size (and the encoder's, unless --enc-hidden)")
    m.add_argument("--enc-hidden", type=int, help="encoder LSTM size per direction; a small one (64) leaves more "
                                                  "of a fixed budget to the decoder (bench/vae_ptb.py)")
    m.add_argument("--latent", type=int, default=32)
    m.add_argument("--layers", type=int, default=1)
    m.add_argument("--word-dropout", type=float, default=0.0, help="decoder inputs -> <unk> with this probability")
    m.add_argument("--emb-dropout", type=float, default=0.0)
    m.add_argument("--no-z-init", action="store_true", help="do not start the decoder from z")
    m.add_argument("--no-z-concat", action="store_true", help="do not feed z to every decoder step")
    m.add_argument("--lm-baseline", action="store_true", help="no latent: the LSTM-LM with the same decoder")
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=4)
    t.add_argument("--epoch-size", type=int, help="sentences per epoch (a random subset each epoch)")
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--bs", type=int, default=32)
    t.add_argument("--kl-schedule", default="cyclical", help="linear, cyclical, logistic or constant")
    t.add_argument("--n-cycles", type=int, default=4)
    t.add_argument("--ratio", type=float, default=0.5, help="share of each cycle spent raising beta")
    t.add_argument("--beta-max", type=float, default=1.0)
    t.add_argument("--warmup", type=float, default=0.0, help="share of training with beta = 0")
    t.add_argument("--free-bits", type=float, default=0.0, help="KL floor per latent dimension (nats)")
    t.add_argument("--teacher-forcing", type=float, metavar="END",
                   help="lower teacher forcing linearly from 1 to END (step-by-step decoding)")
    t.add_argument("--iw-samples", type=int, default=0, help="importance samples for the validation IW-NLL")
    t.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", type=Path, required=True, help="model folder to write")

    p = add_command(sub, "sample", "sample sentences from a sentence VAE's prior", [
        "contextlm sample --model runs/vae -n 10",
        "contextlm sample --model runs/vae-energy --feature energy=0.9 --temperature 0.7 -n 20",
        "contextlm sample --model runs/vae --method greedy --out samples.txt",
    ], _sample)
    _model_args(p)
    p.add_argument("-n", type=int, default=10)
    p.add_argument("--method", choices=["sample", "greedy", "beam"], default="sample")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--out", type=Path, help="write the samples, one per line")

    p = add_command(sub, "interpolate", "decode points between two sentences in latent space (homotopy)", [
        'contextlm interpolate "he was silent for a long moment" "it was my turn" --model runs/vae',
        'contextlm interpolate "i love this song" "what a boring record" --model runs/vae --steps 10 --path slerp',
    ], _interpolate)
    p.add_argument("s0")
    p.add_argument("s1")
    _model_args(p)
    p.add_argument("--steps", type=int, default=8, help="points including both ends")
    p.add_argument("--path", choices=["lerp", "slerp"], default="lerp")
    p.add_argument("--method", choices=["greedy", "beam", "sample"], default="greedy")
    p.add_argument("--out", type=Path, help="write the table (.csv)")

    p = add_command(sub, "reconstruct", "encode sentences and decode them back", [
        'contextlm reconstruct --model runs/vae "it was my turn" "where is the book"',
        "contextlm reconstruct --model runs/vae --input sentences.txt --method beam --out recon.csv",
        "contextlm reconstruct --model runs/cvae --label sp --to-label past abandon",
    ], _reconstruct)
    p.add_argument("texts", nargs="*")
    _model_args(p)
    p.add_argument("--input", type=Path, help="file with one sentence per line")
    p.add_argument("--method", choices=["greedy", "beam", "sample"], default="greedy")
    p.add_argument("--beam-size", type=int, default=5)
    p.add_argument("--to-label", help="decode with this label instead of --label (CVAE conversion)")
    p.add_argument("--out", type=Path, help="write a table (.csv) of input and reconstruction")


def _model_args(p) -> None:
    p.add_argument("--model", type=Path, required=True, help="model folder (from `contextlm train vae`)")
    p.add_argument("--feature", action="append", metavar="NAME=VALUE", help="feature value (repeatable)")
    p.add_argument("--label", help="condition label (CVAE)")
    p.add_argument("--seed", type=int, default=0)


def _condition(args):
    feats = parse_assignments(args.feature)
    if feats and args.label:
        from ..errors import ContextLMError
        raise ContextLMError("give --feature or --label, not both")
    return feats or args.label


def _load(args):
    import torch
    from ..vae.learner import load_vae_learner
    torch.manual_seed(args.seed)
    return load_vae_learner(args.model)


# -- train ------------------------------------------------------------------------------------
def sentence_table(args):
    """The sentence table (`text, split, [features], [label]`) the training command reads."""
    from ..errors import ContextLMError
    if bool(args.data) == bool(args.ptb):
        raise ContextLMError("give exactly one of --data FILE or --ptb DIR")
    if args.ptb:
        from ..vae.data import read_ptb
        if args.features or args.label_col:
            raise ContextLMError("PTB has no feature or label columns; drop --features/--label-col")
        return read_ptb(args.ptb)
    from ..data.corpus import corpus_from_df
    from ..data.io import read_table
    raw = read_table(args.data, encoding=args.encoding, text_col=args.text_col)
    keep = [args.label_col] if args.label_col else []
    corpus = corpus_from_df(raw, str(args.data), args.text_col, args.features, split_col=args.split_col,
                            drop_missing=args.drop_missing, valid_pct=args.valid_pct, test_pct=args.test_pct,
                            seed=args.seed, group_col=args.group_col, verbose=True, keep_cols=keep)
    if args.sentences:
        corpus = corpus.sentences()
    df = corpus.df
    if args.label_col:  # every sentence keeps its document's label
        df = df.drop(columns=[args.label_col]).assign(label=df[args.label_col].astype(str).to_numpy())
    return df


def _train(args) -> int:
    import torch
    from fastai.callback.training import GradientClip
    from ..vae.callbacks import KLAnnealing, TeacherForcing
    from ..data.io import write_table
    from ..vae.data import sentence_dataloaders
    from ..vae.plots import plot_latent, plot_vae_history
    from ..vae.learner import vae_learner

    if not args.lm_baseline:  # a typo in the schedule fails before the corpus is read
        from ..vae.callbacks import check_schedule
        check_schedule(args.kl_schedule, args.n_cycles, args.ratio, args.beta_max, args.warmup)
    df = sentence_table(args)
    tokenizer = args.tokenizer or ("whitespace" if args.ptb else "fastai")
    torch.manual_seed(args.seed)
    dls = sentence_dataloaders(df, tokenizer=tokenizer, feature_cols=args.features,
                               label_col="label" if args.label_col else None, scaling=args.scaling,
                               max_len=args.max_len, min_freq=args.min_freq, max_vocab=args.max_vocab, bs=args.bs,
                               epoch_size=args.epoch_size, seed=args.seed)
    cbs = [GradientClip(5.0)]
    if not args.lm_baseline:
        cbs.append(KLAnnealing(args.kl_schedule, args.n_cycles, args.ratio, args.beta_max, args.warmup))
    if args.teacher_forcing is not None:
        cbs.append(TeacherForcing(1.0, args.teacher_forcing))
    config = dict(emb_sz=args.emb_sz, enc_hidden=args.enc_hidden or args.hidden, dec_hidden=args.hidden,
                  latent_sz=args.latent, n_layers=args.layers, word_dropout=args.word_dropout,
                  emb_dropout=args.emb_dropout, z_init=not args.no_z_init, z_concat=not args.no_z_concat,
                  use_latent=not args.lm_baseline)
    learn = vae_learner(dls, config, free_bits=args.free_bits, iw_samples=args.iw_samples, cbs=cbs)
    print(f"{sum(len(f) for f in dls.frames.values()):,} sentences ({', '.join(f'{k} {len(v):,}' for k, v in dls.frames.items())}), "
          f"vocab {len(dls.vocab):,} ({tokenizer}), condition: {dls.condition.kind}")
    learn.fit_one_cycle(args.epochs, args.lr)

    out = args.out
    metrics = dict(zip(learn.recorder.metric_names[1:-1], map(float, learn.recorder.values[-1])))
    kl_cb = getattr(learn, "kl_annealing", None)
    learn.save_model(out, extra={"training": {"epochs": args.epochs, "lr": args.lr, "bs": args.bs,
                                              "kl_annealing": kl_cb.to_dict() if kl_cb else None,
                                              "final_valid": metrics}})
    wrote(out, "model")
    hist = learn.vae_history.df
    write_table(hist, out / "history.csv")
    epochs = [dict(zip(learn.recorder.metric_names[:-1], [i, *map(float, v)])) for i, v in enumerate(learn.recorder.values)]
    (out / "metrics.json").write_text(json.dumps(epochs, indent=2))
    wrote(out / "metrics.json", "validation metrics per epoch")
    wrote(plot_vae_history(hist, out / "training_curves.png"), "recon/KL/beta curves")
    if not args.lm_baseline:
        valid = dls.frames["valid"].head(2000)
        means = learn.encode(valid["text"].tolist(), cond=learn.frame_condition(valid))
        feature = args.features[0] if args.features else None
        values = valid[feature].tolist() if feature else [len(t.split()) for t in valid["text"]]
        wrote(plot_latent(means.numpy(), values, out / "latent.png", feature=feature or "words per sentence"),
              "2-D map of the latent means")
    return 0


# -- use ------------------------------------------------------------------------------------
def _sample(args) -> int:
    learn = _load(args)
    cond = _condition(args)
    features, label = (cond, None) if isinstance(cond, dict) else (None, cond)
    texts = learn.sample(args.n, features=features, label=label, temperature=args.temperature,
                         method=args.method, top_k=args.top_k)
    for t in texts:
        print(t)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(texts) + "\n", encoding="utf-8")
        wrote(args.out, "samples")
    return 0


def _interpolate(args) -> int:
    learn = _load(args)
    table = learn.interpolate(args.s0, args.s1, steps=args.steps, path=args.path, method=args.method,
                              cond=_condition(args))
    for row in table.itertuples():
        print(f"{row.t:.2f}  {row.text}")
    if args.out:
        from ..data.io import write_table
        wrote(write_table(table, args.out), "homotopy")
    return 0


def _reconstruct(args) -> int:
    from ..errors import ContextLMError
    texts = list(args.texts)
    if args.input:
        if not args.input.exists():
            raise ContextLMError(f"{args.input}: no such file")
        texts += [ln.strip() for ln in args.input.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not texts:
        raise ContextLMError("no sentences: give them as arguments or with --input FILE")
    learn = _load(args)
    cond = _condition(args)
    out = learn.reconstruct(texts, method=args.method, cond=cond, dec_cond=args.to_label, beam_size=args.beam_size)
    for src, rec in zip(texts, out):
        print(f"{src}\t->\t{rec}")
    if args.out:
        import pandas as pd
        from ..data.io import write_table
        wrote(write_table(pd.DataFrame({"text": texts, "reconstruction": out}), args.out), "reconstructions")
    return 0
