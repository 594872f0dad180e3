"""Benchmark the energy-conditioned LM on the real spotify-songs corpus (not run by CI).

1. test perplexity with all audio features / energy only / no features (same data,
   settings, seed and epoch budget), and the ratio to the unconditioned model;
2. training throughput of ContextAWD_LSTM vs fastai's own AWD_LSTM of the same sizes,
   measured in the same run, batches interleaved so machine noise hits both alike;
3. sampling speed: seconds to sample 10,000 words with the default-size model;
4. whether the album name helps: how much energy a TF-IDF ridge regressor reads from the
   title alone vs title + album (test R^2).

    python bench/lm.py --data-from ../shared/data/spotify_songs          # writes BENCHMARKS.md
    python bench/lm.py --data-from DIR --epochs 1 --quick                   # a smoke run
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._report import write_section  # noqa: E402
from contextlm.data.corpus import load_corpus  # noqa: E402
from contextlm.data.datasets import get_dataset  # noqa: E402
from contextlm.lm.data import lm_dataloaders  # noqa: E402
from contextlm.features.schema import AUDIO_FEATURES  # noqa: E402
from contextlm.lm.learner import context_language_model_learner, evaluate_perplexity  # noqa: E402


def train_and_test(corpus_path, features, args):
    from fastai.basics import set_seed
    corpus = load_corpus(corpus_path, "text", features, split_col="split")
    set_seed(args.seed)
    dls = lm_dataloaders(corpus, bs=args.bs, seq_len=args.bptt, min_freq=2)
    set_seed(args.seed)
    learn = context_language_model_learner(dls, use_features=bool(features), drop_mult=args.drop_mult,
                                           config=dict(emb_sz=args.emb_sz, n_hid=args.n_hid, n_layers=args.n_layers))
    t = time.perf_counter()
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(args.epochs, args.lr)
    train_s = time.perf_counter() - t
    lm = learn.trained_lm()
    res = {split: evaluate_perplexity(lm, corpus.part(split).text, corpus.features(split), args.bs, args.bptt)
           for split in ("valid", "test")}
    return res, train_s, len(dls.vocab), lm


def throughput(corpus_path, args, n_batches=12, repeats=3):
    """Train tokens/s of ContextAWD_LSTM (energy) vs fastai's AWD_LSTM of the same sizes, on the
    same batches, interleaved (A B A B ...) so machine noise hits both alike."""
    from fastai.basics import set_seed
    from fastai.text.all import AWD_LSTM, CrossEntropyLossFlat, awd_lstm_lm_config, get_language_model
    from contextlm.lm.model import context_language_model
    corpus = load_corpus(corpus_path, "text", ["energy"], split_col="split")
    dls = lm_dataloaders(corpus, bs=args.bs, seq_len=args.bptt, min_freq=2)
    config = {**awd_lstm_lm_config, "emb_sz": args.tp_emb_sz, "n_hid": args.tp_n_hid, "n_layers": args.tp_n_layers}
    set_seed(0)
    ours = context_language_model(len(dls.vocab), 1, config)
    theirs = get_language_model(AWD_LSTM, len(dls.vocab), config=dict(config))
    batches = [b for _, b in zip(range(n_batches), dls.train)]
    loss_func = CrossEntropyLossFlat()

    def run(model, with_features):
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        model.train()
        model.reset()
        t = time.perf_counter()
        for x, f, y in batches:
            out = model(x, f)[0] if with_features else model(x)[0]
            loss = loss_func(out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return sum(y.numel() for _, _, y in batches) / (time.perf_counter() - t)

    run(ours, True), run(theirs, False)  # warm-up
    ours_tps, theirs_tps = [], []
    for _ in range(repeats):
        ours_tps.append(run(ours, True))
        theirs_tps.append(run(theirs, False))
    return statistics.median(ours_tps), statistics.median(theirs_tps), config


def sampling_speed(lm, words=10_000, bs=512):
    """Seconds to sample at least `words` non-special tokens."""
    t = time.perf_counter()
    got, n = 0, 0
    while got < words:
        toks = lm.generate_tokens(bs, {"energy": 0.9} if lm.conditioned else None, max_len=30, seed=n, bs=bs)
        got += sum(1 for doc in toks for w in doc if not w.startswith("xx"))
        n += 1
    return time.perf_counter() - t, got


def album_evidence(corpus_path):
    """Test R^2 of energy from title alone vs title + album (TF-IDF + ridge)."""
    import pandas as pd
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import Ridge
    df = pd.read_csv(corpus_path)
    out = {}
    for col in ("text", "text_with_album"):
        tr, te = df[df.split == "train"], df[df.split == "test"]
        vec = TfidfVectorizer(min_df=2, ngram_range=(1, 2))
        model = Ridge(alpha=1.0).fit(vec.fit_transform(tr[col].astype(str)), tr.energy)
        pred = model.predict(vec.transform(te[col].astype(str)))
        out[col] = 1 - ((te.energy - pred) ** 2).sum() / ((te.energy - te.energy.mean()) ** 2).sum()
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-from", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/spotify_songs")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--emb-sz", type=int, default=100)
    p.add_argument("--n-hid", type=int, default=200)
    p.add_argument("--n-layers", type=int, default=2)
    p.add_argument("--drop-mult", type=float, default=0.5)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--bs", type=int, default=64)
    p.add_argument("--bptt", type=int, default=40)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--tp-emb-sz", type=int, default=400, help="throughput/sampling model size (fastai default)")
    p.add_argument("--tp-n-hid", type=int, default=1152)
    p.add_argument("--tp-n-layers", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="energy-only vs none, small throughput run")
    args = p.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    corpus_path = get_dataset("spotify-songs", args.data_from, cache_dir=Path(tempfile.mkdtemp()), progress=False)

    runs = {"no features": [], "energy only": ["energy"]}
    if not args.quick:
        runs["all 11 audio features"] = list(AUDIO_FEATURES)
    results = {}
    for name, feats in runs.items():
        res, train_s, vocab, lm = train_and_test(corpus_path, feats, args)
        results[name] = (res, train_s)
        print(f"{name}: valid {res['valid']['perplexity']:.2f} test {res['test']['perplexity']:.2f} "
              f"({train_s:.0f} s, vocab {vocab})", flush=True)
    base = results["no features"][0]["test"]["perplexity"]

    ours_tps, theirs_tps, tp_cfg = throughput(corpus_path, args)
    print(f"throughput: ours {ours_tps:.0f} tok/s, fastai {theirs_tps:.0f} tok/s", flush=True)

    from contextlm.data.tokens import Vocab
    from contextlm.lm.learner import TrainedLM
    from contextlm.lm.model import context_language_model
    vocab_itos = lm.vocab.itos
    big = context_language_model(len(vocab_itos), lm.model.n_features,
                                 dict(emb_sz=args.tp_emb_sz, n_hid=args.tp_n_hid, n_layers=args.tp_n_layers))
    big_lm = TrainedLM(big, Vocab(vocab_itos), lm.feature_names, lm.scaler, lm.feature_stats, {})
    sample_s, sampled = sampling_speed(big_lm)
    trained_s, trained_words = sampling_speed(lm)
    print(f"sampling: {sampled} words in {sample_s:.1f} s (default size); trained bench model {trained_s:.1f} s")
    album = album_evidence(corpus_path)

    rows = "\n".join(f"| {name} | {r['valid']['perplexity']:.2f} | {r['test']['perplexity']:.2f} | "
                     f"{r['test']['perplexity'] / base:.3f} | {s:.0f} |" for name, (r, s) in results.items())
    md = f"""## Energy-conditioned LM on spotify-songs (`bench/lm.py`)

Corpus: TidyTuesday `spotify_songs.csv`, one row per track (28,352 titles), text = track title,
split by album (seed 42): train/valid/test 22,682 / 2,836 / 2,834 titles. Model for the perplexity
runs: emb {args.emb_sz}, hidden {args.n_hid}, {args.n_layers} layers, drop_mult {args.drop_mult}, bs {args.bs},
bptt {args.bptt}, {args.epochs} epochs of `fit_one_cycle` at lr {args.lr}, vocab from the train split (min_freq 2),
standard feature scaling; the same seed and budget for every row.

| features | valid ppl | test ppl | test ppl / no features | train s |
|---|---|---|---|---|
{rows}

Target: conditioned / unconditioned test perplexity <= 0.95 (Nadja Rhodes' energy LSTM: 130.9 / 131.5 = 0.995).

**Training throughput** (same run, interleaved, median of 3 x {12} batches of {args.bs}x{args.bptt},
emb {tp_cfg['emb_sz']} / hidden {tp_cfg['n_hid']} / {tp_cfg['n_layers']} layers): ContextAWD_LSTM (energy)
{ours_tps:,.0f} tokens/s vs fastai AWD_LSTM {theirs_tps:,.0f} tokens/s: **{ours_tps / theirs_tps:.3f}x** (target >= 0.95x).

**Sampling**: {sampled:,} words (titles, batches of 512 sequences, max 30 tokens) in **{sample_s:.1f} s** with the
default size (400/1152/3) on this machine (target < 30 s); the bench model: {trained_words:,} words in {trained_s:.1f} s.

**Does the album name help?** Test R^2 of energy read by TF-IDF (1-2 grams) + ridge: title only
{album['text']:.3f}, title + album {album['text_with_album']:.3f}. The corpus keeps the title as its text and
`text_with_album` as a column, so both can be trained (`--text-col text_with_album`).
"""
    write_section("lm", md, command="python bench/lm.py " + " ".join(sys.argv[1:]))
    print(md)


if __name__ == "__main__":
    main()
