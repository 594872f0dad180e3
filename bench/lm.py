"""Benchmark the context-conditioned LM on the real spotify-songs corpus (not run by CI).

1. test perplexity conditioned on no features / energy only / all audio features: one
   `LMSettings` (same data, settings, seed and epoch budget; only `features` differs),
   trained by the library recipe `train_lm`, and the ratio to the unconditioned model;
2. training speed of ContextAWD_LSTM (energy) vs fastai's own AWD_LSTM of the same sizes,
   both starting from the same weights: plain training steps (forward, cross-entropy,
   backward, Adam) on the same batches, the two models interleaved in small blocks whose
   order alternates (A first, then B first), reported as the median of the paired ratios
   over the repeats, with the load average before and after;
3. sampling speed: seconds to sample a fixed number of words with the throughput-size model
   (untrained weights) and with the trained benchmark model;
4. whether the album name helps: how much energy a TF-IDF ridge regressor reads from the
   title alone vs title + album (test R^2).

    python bench/lm.py --data-from ../shared/data/spotify_songs          # writes BENCHMARKS.md
    python bench/lm.py --data-from DIR --quick       # smoke run: prints, never writes BENCHMARKS.md

The flags of the perplexity runs are `LMSettings`' field names (shown with this benchmark's
defaults); `--config FILE` takes a settings JSON. Every size, setting and figure in the
BENCHMARKS.md section is read from the run itself.
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from contextlm.features.schema import AUDIO_FEATURES  # noqa: E402
from contextlm.lm.settings import LMSettings  # noqa: E402
from contextlm.settings import add_config_argument, add_settings_arguments, given, read_settings_file  # noqa: E402

# The perplexity runs' settings where they differ from LMSettings' defaults (a small model: minutes per run).
BENCH_SETTINGS = dict(emb_sz=100, n_hid=200, n_layers=2, drop_mult=0.5, lr=1e-2, bs=64, bptt=40, epochs=4)
SETTINGS_SKIP = ("text_col", "features", "labels", "id_col", "split_col", "group_col", "valid_pct", "test_pct",
                 "drop_missing", "encoding", "max_chars", "label_emb_sz")
DEFAULT_SIZE = {k: LMSettings.__dataclass_fields__[k].default for k in ("emb_sz", "n_hid", "n_layers")}
RUNS = {"no features": None, "energy only": ["energy"], f"all {len(AUDIO_FEATURES)} audio features": list(AUDIO_FEATURES)}
TARGET_RATIO = 0.95                       # conditioned / unconditioned test perplexity
RHODES = dict(conditioned=130.9, unconditioned=131.5)  # Nadja Rhodes' energy LSTM (test perplexity)
TARGET_SPEED = 0.95                       # ContextAWD_LSTM / AWD_LSTM tokens per second
EARLIER_SPEED = dict(ratio=1.19, how="one-minute blocks in a fixed order")  # the figure this method replaced
SAMPLE = dict(words=10_000, bs=512, max_len=30, energy=0.9, target_s=30.0)
TFIDF = dict(min_df=2, ngram_range=(1, 2))
RIDGE_ALPHA = 1.0
QUICK = dict(runs=["no features", "energy only"], rows=4_000, epochs=1, repeats=5, block_batches=2,
             sample_words=1_000, tp_size=dict(emb_sz=100, n_hid=200, n_layers=2))


def train_runs(corpus_path: Path, base: LMSettings, names: list[str]) -> dict[str, dict]:
    """Train each run through `train_lm`; 'no features' is the twin of 'energy only' (same corpus and
    DataLoaders, `use_features=False`), as `contextlm train lm --compare` trains it."""
    from contextlm.lm.train import load_lm_corpus, lm_dls, train_lm
    data: dict[tuple, tuple] = {}  # features -> (corpus, DataLoaders), built once
    out = {}
    for name in names:
        s = dataclasses.replace(base, features=RUNS[name] or RUNS["energy only"])
        key = tuple(s.features)
        if key not in data:
            corpus = load_lm_corpus(corpus_path, s, verbose=False)
            data[key] = (corpus, lm_dls(corpus, s))
        corpus, dls = data[key]
        t = time.perf_counter()
        run = train_lm(corpus, s, use_features=RUNS[name] is not None, dls=dls, progress=False)
        seconds = time.perf_counter() - t
        out[name] = dict(run=run, seconds=seconds, settings=s)
        print(f"{name}: valid {run.metrics['valid']['perplexity']:.2f} test {run.metrics['test']['perplexity']:.2f} "
              f"({seconds:.0f} s, vocab {len(run.learn.dls.vocab)})", flush=True)
    return out


def copy_shared_weights(src, dst) -> dict:
    """Copy `src`'s parameters and buffers into `dst` where names match: whole tensors where the
    shapes agree, the leading block where `dst` is wider (the first LSTM's input weights: the
    word-embedding columns; the feature columns keep their initialisation)."""
    import torch
    s_sd, d_sd = src.state_dict(), dst.state_dict()
    whole, part, own = [], [], []
    with torch.no_grad():
        for k, v in d_sd.items():
            w = s_sd.get(k)
            if w is not None and w.shape == v.shape:
                v.copy_(w), whole.append(k)
            elif w is not None and w.dim() == v.dim() and all(a <= b for a, b in zip(w.shape, v.shape)):
                v[tuple(slice(0, n) for n in w.shape)].copy_(w), part.append(k)
            else:
                own.append(k)
    dst.load_state_dict(d_sd)
    missing = [k for k in s_sd if k not in d_sd]
    return dict(whole=whole, part=part, own=own, missing=missing)


def paired_speed(corpus_path: Path, s: LMSettings, size: dict, repeats: int, block_batches: int) -> dict:
    """Training tokens/s of ContextAWD_LSTM (energy) vs fastai's AWD_LSTM, same sizes and weights.

    Both models train on the same `block_batches` batches in each repeat, one block each, back to
    back; even repeats run ours first, odd ones fastai's first. Each repeat gives one paired ratio
    (ours / fastai's tokens per second); the median over the repeats is the figure. One untimed
    block each first."""
    import torch
    from fastai.text.all import AWD_LSTM, CrossEntropyLossFlat, awd_lstm_lm_config, get_language_model
    from fastai.torch_core import set_seed
    from contextlm.lm.model import DEFAULT_LM_CONFIG, context_language_model
    from contextlm.lm.train import load_lm_corpus, lm_dls
    s = dataclasses.replace(s, features=["energy"], **size)
    corpus = load_lm_corpus(corpus_path, s, verbose=False)
    dls = lm_dls(corpus, s)
    arch = {**DEFAULT_LM_CONFIG, **s.arch()}
    fastai_cfg = {k: v for k, v in arch.items() if k in awd_lstm_lm_config}
    set_seed(s.seed)
    theirs = get_language_model(AWD_LSTM, len(dls.vocab), config=dict(fastai_cfg), drop_mult=s.drop_mult)
    set_seed(s.seed)
    twin = context_language_model(len(dls.vocab), 0, arch, s.drop_mult)  # no features: fastai's model exactly?
    same_init = all(torch.equal(a, b) for a, b in zip(theirs.state_dict().values(), twin.state_dict().values()))
    del twin
    set_seed(s.seed)
    ours = context_language_model(len(dls.vocab), len(dls.feature_names), arch, s.drop_mult)
    copied = copy_shared_weights(theirs, ours)
    n_batches = block_batches * (repeats + 1)
    batches = [b for _, b in zip(range(n_batches), dls.train)]
    if len(batches) < n_batches:
        batches = (batches * n_batches)[:n_batches]
    loss_func = CrossEntropyLossFlat()
    models = {"ours": (ours, torch.optim.Adam(ours.parameters(), 1e-3), True),
              "fastai": (theirs, torch.optim.Adam(theirs.parameters(), 1e-3), False)}
    for m, _, _ in models.values():
        m.train()

    def block(name: str, chunk) -> tuple[float, float]:
        model, opt, with_ctx = models[name]
        model.reset()
        t, c = time.perf_counter(), time.process_time()
        for x, ctx, y in chunk:
            out = model(x, ctx)[0] if with_ctx else model(x)[0]
            loss = loss_func(out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        tokens = sum(y.numel() for _, _, y in chunk)
        return tokens / (time.perf_counter() - t), tokens / (time.process_time() - c)

    load_before = os.getloadavg()
    block("ours", batches[:block_batches]), block("fastai", batches[:block_batches])  # warm-up, untimed
    rows = []
    for r in range(repeats):
        chunk = batches[(r + 1) * block_batches:(r + 2) * block_batches]
        order = ("ours", "fastai") if r % 2 == 0 else ("fastai", "ours")
        got = {name: block(name, chunk) for name in order}
        rows.append(dict(first=order[0], ours=got["ours"][0], fastai=got["fastai"][0],
                         ratio=got["ours"][0] / got["fastai"][0], cpu_ratio=got["ours"][1] / got["fastai"][1]))
    load_after = os.getloadavg()
    ratios = [r["ratio"] for r in rows]
    by_first = {name: statistics.median(r["ratio"] for r in rows if r["first"] == name) for name in models}
    return dict(rows=rows, ratio=statistics.median(ratios), ratio_min=min(ratios), ratio_max=max(ratios),
                by_first=by_first,
                cpu_ratio=statistics.median(r["cpu_ratio"] for r in rows),
                ours=statistics.median(r["ours"] for r in rows), fastai=statistics.median(r["fastai"] for r in rows),
                load_before=load_before, load_after=load_after, threads=torch.get_num_threads(),
                size={k: arch[k] for k in ("emb_sz", "n_hid", "n_layers")}, bs=s.bs, bptt=s.bptt,
                block_batches=block_batches, repeats=repeats, same_init=same_init, copied=copied,
                vocab=len(dls.vocab), n_features=len(dls.feature_names))


def sampling_speed(lm, words: int, bs: int, max_len: int, energy: float) -> tuple[float, int]:
    """Seconds to sample at least `words` non-special tokens (`bs` sequences a batch)."""
    t = time.perf_counter()
    got, n = 0, 0
    while got < words:
        toks = lm.generate_tokens(bs, {"energy": energy} if lm.conditioned else None, max_len=max_len, seed=n, bs=bs)
        got += sum(1 for doc in toks for w in doc if not w.startswith("xx"))
        n += 1
    return time.perf_counter() - t, got


def default_size_lm(trained, size: dict, arch: dict):
    """A `TrainedLM` of size `size` (untrained weights) with `trained`'s vocab and features."""
    from contextlm.lm.learner import TrainedLM
    from contextlm.lm.model import context_language_model
    config = {**arch, **size}
    model = context_language_model(len(trained.vocab), len(trained.feature_names), config).eval()
    return TrainedLM(model, trained.vocab, trained.feature_names, trained.scaler, trained.feature_stats, config)


def album_evidence(corpus_path: Path) -> dict:
    """Test R^2 of energy from title alone vs title + album (TF-IDF + ridge)."""
    import pandas as pd
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import Ridge
    df = pd.read_csv(corpus_path)
    tr, te = df[df.split == "train"], df[df.split == "test"]
    out = {}
    for col in ("text", "text_with_album"):
        vec = TfidfVectorizer(**TFIDF)
        model = Ridge(alpha=RIDGE_ALPHA).fit(vec.fit_transform(tr[col].astype(str)), tr.energy)
        pred = model.predict(vec.transform(te[col].astype(str)))
        out[col] = 1 - ((te.energy - pred) ** 2).sum() / ((te.energy - te.energy.mean()) ** 2).sum()
    return out


def corpus_facts(corpus_path: Path) -> dict:
    """Rows per split, albums per split and albums found in more than one split."""
    import pandas as pd
    from contextlm.data.corpus_builders import build_spotify_corpus
    df = pd.read_csv(corpus_path)
    per_album = df.groupby("album_id")["split"].nunique()
    return dict(rows=len(df), by_split=df["split"].value_counts().to_dict(),
                albums=int(df["album_id"].nunique()), albums_split=int((per_album > 1).sum()),
                split_seed=inspect.signature(build_spotify_corpus).parameters["seed"].default)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    b = p.add_argument_group("benchmark")
    b.add_argument("--data-from", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/spotify_songs",
                   help="folder holding spotify_songs.csv (default: %(default)s)")
    b.add_argument("--tp-emb-sz", type=int, default=DEFAULT_SIZE["emb_sz"],
                   help="throughput/sampling model: embedding size (default: %(default)s, fastai's)")
    b.add_argument("--tp-n-hid", type=int, default=DEFAULT_SIZE["n_hid"], help="... hidden size (default: %(default)s)")
    b.add_argument("--tp-n-layers", type=int, default=DEFAULT_SIZE["n_layers"], help="... layers (default: %(default)s)")
    b.add_argument("--repeats", type=int, default=10, help="paired speed repeats, >= 5 (default: %(default)s)")
    b.add_argument("--block-batches", type=int, default=3,
                   help="batches per model per repeat in the speed comparison (default: %(default)s)")
    b.add_argument("--no-report", action="store_true", help="print only, leave BENCHMARKS.md alone")
    b.add_argument("--quick", action="store_true",
                   help=f"smoke run on {QUICK['rows']:,} random rows of the corpus: runs {', '.join(QUICK['runs'])}; "
                        f"{QUICK['epochs']} epoch; speed "
                        f"{QUICK['repeats']} x {QUICK['block_batches']} batches at "
                        f"{'/'.join(map(str, QUICK['tp_size'].values()))}; {QUICK['sample_words']:,} sampled words; "
                        "prints the section, writes it only to $CONTEXTLM_BENCHMARKS_MD")
    add_config_argument(p)
    add_settings_arguments(p, LMSettings, skip=SETTINGS_SKIP, defaults=BENCH_SETTINGS)
    args = p.parse_args(argv)
    if args.repeats < 5:
        p.error("--repeats: at least 5 (the figure is a median of paired ratios)")
    return args


def settings(args: argparse.Namespace) -> LMSettings:
    """LMSettings' defaults < the benchmark's < --config < flags."""
    config = read_settings_file(args.config) if args.config else {}
    quick = {"epochs": QUICK["epochs"]} if args.quick else {}
    values = {**BENCH_SETTINGS, **quick, **config, **given(args, LMSettings)}
    return LMSettings.from_dict(values)


def main(argv: list[str] | None = None) -> None:
    from bench._report import load_text, publish
    from contextlm.data.datasets import get_dataset
    from contextlm.lm.model import DEFAULT_LM_CONFIG
    args = parse_args(argv)
    base = settings(args)
    work = Path(tempfile.mkdtemp(prefix="bench_lm_"))
    corpus_path = get_dataset("spotify-songs", args.data_from, cache_dir=work, progress=False)
    if args.quick:  # the same code on a smaller copy of the corpus file (in the temporary folder)
        import pandas as pd
        small = work / f"quick_{corpus_path.name}"
        pd.read_csv(corpus_path).sample(QUICK["rows"], random_state=0).to_csv(small, index=False)
        corpus_path = small
    names = QUICK["runs"] if args.quick else list(RUNS)
    tp_size = QUICK["tp_size"] if args.quick else dict(emb_sz=args.tp_emb_sz, n_hid=args.tp_n_hid,
                                                       n_layers=args.tp_n_layers)
    repeats, block_batches = (QUICK["repeats"], QUICK["block_batches"]) if args.quick else (args.repeats,
                                                                                           args.block_batches)
    sample = {**SAMPLE, "words": QUICK["sample_words"]} if args.quick else SAMPLE

    load_start = os.getloadavg()
    facts = corpus_facts(corpus_path)
    facts["sampled"] = args.quick
    results = train_runs(corpus_path, base, names)
    speed = paired_speed(corpus_path, base, tp_size, repeats, block_batches)
    print(f"speed: ours/fastai median {speed['ratio']:.3f} (range {speed['ratio_min']:.3f}-{speed['ratio_max']:.3f}) "
          f"over {repeats} paired blocks of {block_batches} batches", flush=True)
    energy_run = results["energy only"]["run"]
    trained = energy_run.lm
    big = default_size_lm(trained, tp_size, {**DEFAULT_LM_CONFIG, **base.arch()})
    sample_s, sampled = sampling_speed(big, sample["words"], sample["bs"], sample["max_len"], sample["energy"])
    trained_s, trained_words = sampling_speed(trained, sample["words"], sample["bs"], sample["max_len"],
                                              sample["energy"])
    print(f"sampling: {sampled} words in {sample_s:.1f} s (throughput size); trained bench model {trained_s:.1f} s")
    album = album_evidence(corpus_path)

    md = section(base, facts, results, speed, sample, (sample_s, sampled), (trained_s, trained_words), album,
                 len(energy_run.learn.dls.vocab), load_text(load_start))
    publish("lm", md, command="python bench/lm.py " + " ".join(sys.argv[1:] if argv is None else argv),
            no_report=args.no_report, quick=args.quick)
    print(json.dumps({k: v for k, v in speed.items() if k != "copied"}), flush=True)


def section(s: LMSettings, facts: dict, results: dict, speed: dict, sample: dict, big: tuple, small: tuple,
            album: dict, vocab: int, load: str) -> str:
    """The BENCHMARKS.md section, every figure from the run."""
    base = results["no features"]["run"].metrics["test"]["perplexity"]
    rows = "\n".join(
        f"| {name} | {r['run'].metrics['valid']['perplexity']:.2f} | {r['run'].metrics['test']['perplexity']:.2f} | "
        f"{r['run'].metrics['test']['perplexity'] / base:.3f} | {r['seconds']:.0f} |" for name, r in results.items())
    n = facts["by_split"]
    where = [k for k in ("context_input", "context_init", "context_bias") if getattr(s, k)]
    size = "/".join(str(speed["size"][k]) for k in ("emb_sz", "n_hid", "n_layers"))
    cp = speed["copied"]
    part = ", ".join(f"`{k}`" for k in cp["part"]) or "none"
    own = f"; {len(cp['own'])} of ours have no fastai counterpart" if cp["own"] else ""
    ratios = ", ".join(f"{r['ratio']:.3f}" for r in speed["rows"])
    lb, la = speed["load_before"], speed["load_after"]
    rhodes = RHODES["conditioned"] / RHODES["unconditioned"]
    big_s, big_words = big
    small_s, small_words = small
    return f"""## Context-conditioned LM on spotify-songs (`bench/lm.py`)

Corpus: TidyTuesday `spotify_songs.csv` as `contextlm data get spotify-songs` builds it: one row per track
({facts['rows']:,} titles{', a random sample (--quick)' if facts.get('sampled') else ''}), text = track title, split by album (seed {facts['split_seed']}; {facts['albums']:,} albums,
{facts['albums_split']} of them in more than one split): train/valid/test {n.get('train', 0):,} / {n.get('valid', 0):,} /
{n.get('test', 0):,} titles. Vocabulary {vocab:,} tokens (train split, min_freq {s.min_freq}).

Perplexity runs: `train_lm` with one `LMSettings` for every row (only `features` differs; the
unconditioned row is the energy run's twin on the same DataLoaders): emb {s.emb_sz}, hidden {s.n_hid},
{s.n_layers} layers, drop_mult {s.drop_mult:g}, bs {s.bs}, bptt {s.bptt}, {s.epochs} epoch(s) of `fit_one_cycle` at
lr {s.lr:g}, wd {s.wd:g}, {s.scaling} feature scaling, context enters at {', '.join(where) or 'nowhere'}
(projection {s.context_proj or 'none'}, context dropout {s.context_dropout:g}), seed {s.seed}.

| features | valid ppl | test ppl | test ppl / no features | train + eval s |
|---|---|---|---|---|
{rows}

Target: conditioned / unconditioned test perplexity <= {TARGET_RATIO} (Nadja Rhodes' energy LSTM:
{RHODES['conditioned']} / {RHODES['unconditioned']} = {rhodes:.3f}).

**Training speed**, ContextAWD_LSTM (energy) vs fastai's AWD_LSTM, emb/hidden/layers {size}, bs {speed['bs']} x
bptt {speed['bptt']}, {speed['threads']} torch threads. Measured: plain training steps (forward, cross-entropy,
backward, Adam step; no fastai callbacks) on the same batches. Both models start from the same weights
(fastai's model built with seed {s.seed}; {len(cp['whole'])} of its tensors copied whole into ours,
{len(cp['part'])} in part ({part}: the word columns; the {speed['n_features']} feature column(s) keep their
initialisation){own}; with no features our builder gives fastai's initial weights exactly:
{'yes' if speed['same_init'] else 'NO'}).
Interleaved: {speed['repeats']} repeats, each one block of {speed['block_batches']} batches per model on the same
batches, ours first in even repeats and fastai's first in odd ones, after one untimed block each. Paired
ratios (ours / fastai tokens per second): {ratios}. **Median {speed['ratio']:.3f}x** (ours first:
{speed['by_first']['ours']:.3f}, fastai's first: {speed['by_first']['fastai']:.3f}; range
{speed['ratio_min']:.3f}-{speed['ratio_max']:.3f}; target >= {TARGET_SPEED}x); medians {speed['ours']:,.0f} vs
{speed['fastai']:,.0f} tokens/s; CPU-time ratio median {speed['cpu_ratio']:.3f}. Load average (1 min)
{lb[0]:.2f} before, {la[0]:.2f} after. 1.0 (equal speed) lies {'inside' if speed['ratio_min'] <= 1 <= speed['ratio_max']
else 'outside'} the range of the paired ratios. The earlier {EARLIER_SPEED['ratio']}x came from
{EARLIER_SPEED['how']}, where drift in the machine's load counted as a difference between the models.

**Sampling**: {big_words:,} words (titles, batches of {sample['bs']} sequences, max {sample['max_len']} tokens,
energy {sample['energy']}) in **{big_s:.1f} s** with the {size} model (untrained weights) on this machine
(target < {sample['target_s']:g} s); the trained benchmark model: {small_words:,} words in {small_s:.1f} s.

**Does the album name help?** Test R^2 of energy read by TF-IDF ({'-'.join(map(str, TFIDF['ngram_range']))}-grams,
min_df {TFIDF['min_df']}) + ridge (alpha {RIDGE_ALPHA:g}): title only {album['text']:.3f}, title + album
{album['text_with_album']:.3f}. The corpus keeps the title as its text and `text_with_album` as a column, so
both can be trained (`--text-col text_with_album`).

Whole run: {load}."""


if __name__ == "__main__":
    main()
