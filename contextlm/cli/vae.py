"""`contextlm train vae`, `contextlm sample`, `contextlm interpolate`, `contextlm reconstruct`,
`contextlm neighbours`."""
from __future__ import annotations

from pathlib import Path

from ..settings import number
from ._common import (TABLES, add_command, add_device_argument, add_output_arguments, add_sampling_arguments,
                      check_output, model_device, parse_assignments, read_lines, seed_type, write_lines,
                      write_table_atomic, wrote)


def register(sub, groups) -> None:
    from ..distributed import add_runtime_arguments
    from ..experiments.session import add_experiment_arguments
    from ..settings import add_config_argument, add_settings_arguments
    from ..vae.config import VAEConfig
    from ..vae.settings import SentenceVAESettings
    p = add_command(groups["train"], "vae", "train a sentence VAE (Bowman et al. 2016), a CVAE or its LSTM-LM twin", [
        "contextlm train vae --ptb ../shared/data/ptb --epochs 4 --latent-sz 32 --kl-schedule cyclical --out runs/vae",
        "contextlm train vae --data data/synthetic_reviews.csv --sentences --features energy --out runs/vae-energy",
        "contextlm train vae --data titles.csv --text-col title --tokenizer char --max-len 40 --out runs/vae-chars",
        "contextlm train vae --ptb ../shared/data/ptb --arch hybrid --alpha 0.2 --out runs/vae-hybrid",
        "contextlm train vae --ptb ../shared/data/ptb --arch ladder --ladder-sizes 32 16 8 --out runs/vae-ladder",
        "contextlm train vae --ptb ../shared/data/ptb --arch cnn --latent-map --prior gmm --components 8 --out runs/x",
        "contextlm train vae --ptb ../shared/data/ptb --no-use-latent --out runs/lm-twin",
        "contextlm train vae --ptb ../shared/data/ptb --config runs/vae/settings.json --epochs 8 --out runs/vae8",
        "contextlm train vae --ptb ../shared/data/ptb --epochs 8 --save-every 1000 --out runs/vae8 --resume",
    ], _train)
    src = p.add_argument_group("data (one of --data / --ptb)")
    src.add_argument("--data", type=Path, help="corpus file (CSV/TSV, JSON/JSONL, Parquet, TXT: one text per line)")
    src.add_argument("--ptb", type=Path, metavar="DIR", help="folder with ptb.train/valid/test.txt (whitespace tokens)")
    p.add_argument("--out", type=Path, required=True, help="model folder to write (never over an existing one "
                                                          "without --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing model folder")
    add_config_argument(p)
    add_settings_arguments(p, SentenceVAESettings)
    add_settings_arguments(p, VAEConfig)
    add_runtime_arguments(p)
    add_experiment_arguments(p)

    p = add_command(sub, "sample", "sample sentences from a sentence VAE's prior", [
        "contextlm sample --model runs/vae -n 10",
        "contextlm sample --model runs/vae-energy --feature energy=0.9 --temperature 0.7 -n 20",
        "contextlm sample --model runs/vae --method greedy --out samples.txt",
        "contextlm sample --model runs/vae-gmm --component 3 -n 10",
    ], _sample)
    _model_args(p)
    add_sampling_arguments(p, max_len=None, seed=False)
    p.add_argument("--method", choices=["sample", "greedy", "beam"], default="sample")
    p.add_argument("--component", type=number(int, min=0, max=4095),
                   help="draw z from this component of a mixture prior (--prior gmm)")
    add_output_arguments(p, "write the samples, one per line (.txt)")

    p = add_command(sub, "interpolate", "decode points between two sentences in latent space (homotopy)", [
        'contextlm interpolate "he was silent for a long moment" "it was my turn" --model runs/vae',
        'contextlm interpolate "i love this song" "what a boring record" --model runs/vae --steps 10 --path slerp',
    ], _interpolate)
    p.add_argument("s0")
    p.add_argument("s1")
    _model_args(p)
    p.add_argument("--steps", type=number(int, min=2, max=1000), default=8, help="points including both ends")
    p.add_argument("--path", choices=["lerp", "slerp"], default="lerp")
    p.add_argument("--method", choices=["greedy", "beam", "sample"], default="greedy")
    add_output_arguments(p, "write the table (.csv, .tsv, .json, .jsonl, .parquet)")

    p = add_command(sub, "neighbours", "the training sentences closest to a sentence in latent space (cosine)", [
        'contextlm neighbours "it was my turn" --model runs/vae --pool train.txt -k 5',
        'contextlm neighbours "i love this song" --model runs/vae --pool sentences.txt --out near.csv',
    ], _neighbours)
    p.add_argument("text")
    _model_args(p)
    p.add_argument("--pool", type=Path, required=True,
                   help="file with one candidate sentence per line (a model folder holds no training text)")
    p.add_argument("-k", type=number(int, min=1, max=100_000), default=5, help="neighbours to list (default 5)")
    add_output_arguments(p, "write the table (.csv, .tsv, .json, .jsonl, .parquet)")

    p = add_command(sub, "reconstruct", "encode sentences and decode them back", [
        'contextlm reconstruct --model runs/vae "it was my turn" "where is the book"',
        "contextlm reconstruct --model runs/vae --input sentences.txt --method beam --out recon.csv",
        "contextlm reconstruct --model runs/cvae --label sp --to-label past abandon",
    ], _reconstruct)
    p.add_argument("texts", nargs="*")
    _model_args(p)
    p.add_argument("--input", type=Path, help="file with one sentence per line")
    p.add_argument("--method", choices=["greedy", "beam", "sample"], default="greedy")
    p.add_argument("--beam-size", type=number(int, min=1, max=1000), default=5)
    p.add_argument("--to-label", help="decode with this label instead of --label (CVAE conversion)")
    add_output_arguments(p, "write a table (.csv, .tsv, .json, .jsonl, .parquet) of input and reconstruction")


def _model_args(p) -> None:
    p.add_argument("--model", type=Path, required=True, help="model folder (from `contextlm train vae`)")
    p.add_argument("--feature", action="append", metavar="NAME=VALUE", help="feature value (repeatable)")
    p.add_argument("--label", help="condition label (CVAE)")
    p.add_argument("--seed", type=seed_type(), default=0)
    add_device_argument(p)


def _condition(args, learn):
    """The condition as the learner takes it: features by name (unset ones at their training
    mean), a label, or None for an unconditioned model."""
    feats = parse_assignments(args.feature)
    if feats and args.label:
        from ..errors import ContextLMError
        raise ContextLMError("give --feature or --label, not both")
    if args.label is not None:
        return args.label
    return feats if feats or learn.condition.kind == "features" else None


def _load(args):
    import torch
    from ..vae.learner import load_vae_learner
    torch.manual_seed(args.seed)
    learn = load_vae_learner(args.model)
    learn.model.to(model_device(args))
    return learn


# -- train ------------------------------------------------------------------------------------
def _train(args) -> int:
    from ..distributed import runtime_settings
    from ..distributed.runtime import start_runtime
    from ..experiments.session import TrainingRun, data_digests
    from ..settings import settings_from_args
    from ..vae.config import VAEConfig
    from ..vae.settings import SentenceVAESettings
    s = settings_from_args(SentenceVAESettings, args, nested={"model": VAEConfig})
    runtime = start_runtime(runtime_settings(args), bs=s.bs, quiet=True)   # before any loader or file
    tokenizer = s.tokenizer or ("whitespace" if args.ptb else "fastai")
    run = TrainingRun(args, "vae", s.to_dict(), args.out, data_digests([args.data, args.ptb, s.vectors]),
                      identity={"tokenizer": tokenizer})
    try:
        run.check()  # before the corpus is read or anything trained
        if run.finished:
            print(run.describe())
            return 0
        return _train_run(args, s, tokenizer, run, runtime)
    finally:
        run.close()


def _train_run(args, s, tokenizer, run, runtime) -> int:
    import pandas as pd
    from ..distributed import is_main
    from ..experiments.registry import split_history_metrics
    from ..vae.train import epoch_metrics, save_vae_run, sentence_table, train_vae
    table = sentence_table(s, data=args.data, ptb=args.ptb)
    print(f"{len(table):,} sentences; tokenizer {tokenizer}; condition: "
          f"{', '.join(s.features) or s.label_col or 'none'}")
    print(run.describe())
    with run.training():
        learn = train_vae(table, s, tokenizer=tokenizer, checkpoint=run.checkpoint, cbs=runtime.callbacks())
        if is_main():     # data-parallel: rank 0 alone writes
            save_vae_run(learn, args.out, overwrite=args.overwrite)
        per_epoch = epoch_metrics(learn)
        final = split_history_metrics(per_epoch[-1] if per_epoch else {})
        key = "neg_elbo" if "neg_elbo" in final["valid"] else "loss"
        value = final["valid"].get(key)
        run.done(pd.DataFrame(per_epoch), final, (f"valid {key}", value) if value is not None else None)
    files = "model.pth, config.json, settings.json, history.csv, metrics.json, training_curves.png"
    wrote(args.out, f"model ({files}{', latent.png' if learn.model.config.use_latent else ''})")
    if run.recorded:
        wrote(run.recorded, "run record")
    return 0


# -- use ------------------------------------------------------------------------------------
def _sample(args) -> int:
    if args.out:
        check_output(args.out, "--out", args.overwrite, (".txt",))
    learn = _load(args)
    cond = _condition(args, learn)
    features, label = (cond, None) if isinstance(cond, dict) else (None, cond)
    texts = learn.sample(args.n, features=features, label=label, temperature=args.temperature,
                         method=args.method, component=args.component, top_k=args.top_k, top_p=args.top_p,
                         min_p=args.min_p)
    for t in texts:
        print(t)
    if args.out:
        wrote(write_lines(args.out, texts), "samples")
    return 0


def _interpolate(args) -> int:
    if args.out:
        check_output(args.out, "--out", args.overwrite, TABLES)
    learn = _load(args)
    table = learn.interpolate(args.s0, args.s1, steps=args.steps, path=args.path, method=args.method,
                              cond=_condition(args, learn))
    for row in table.itertuples():
        print(f"{row.t:.2f}  {row.text}")
    if args.out:
        wrote(write_table_atomic(table, args.out), "homotopy")
    return 0


def _neighbours(args) -> int:
    if args.out:
        check_output(args.out, "--out", args.overwrite, TABLES, inputs=(args.pool,))
    pool = read_lines(args.pool, "--pool")
    learn = _load(args)
    learn.check_texts([args.text])
    table = learn.neighbours(args.text, k=args.k, cond=_condition(args, learn), pool=pool)
    for row in table.itertuples():
        print(f"{row.cosine:.3f}  {row.text}")
    if args.out:
        wrote(write_table_atomic(table, args.out), "neighbours")
    return 0


def _reconstruct(args) -> int:
    from ..errors import ContextLMError
    texts = list(args.texts)
    if args.out:
        check_output(args.out, "--out", args.overwrite, TABLES, inputs=(args.input,) if args.input else ())
    if args.input:
        texts += read_lines(args.input, "--input")
    if not texts:
        raise ContextLMError("no sentences: give them as arguments or with --input FILE")
    learn = _load(args)
    cond = _condition(args, learn)
    if args.to_label is not None and learn.condition.kind != "labels":
        raise ContextLMError(f"--to-label converts between labels, but {args.model} is conditioned on "
                             f"{learn.condition.kind}")
    out = learn.reconstruct(texts, method=args.method, cond=cond, dec_cond=args.to_label, beam_size=args.beam_size)
    for src, rec in zip(texts, out):
        print(f"{src}\t->\t{rec}")
    if args.out:
        import pandas as pd
        wrote(write_table_atomic(pd.DataFrame({"text": texts, "reconstruction": out}), args.out), "reconstructions")
    return 0
