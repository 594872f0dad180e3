"""The text-VAE family of issue 13 side by side: the same CPU budget per model, the same data,
the same metrics, one table per corpus; and the speed of the recurrent VAE against
timbmg/Sentence-VAE's GRU VAE (issue 13.8).

    python bench/vae_zoo.py                                  # speed + PTB words + PTB characters
    python bench/vae_zoo.py --corpus ptb --budget-min 3      # one corpus
    python bench/vae_zoo.py --variants rnn,cnn,lm --quick    # smoke run: prints, never writes BENCHMARKS.md
    python bench/vae_zoo.py --reuse --iw-samples 100         # evaluate the saved models again
    python bench/vae_zoo.py --speed-only                     # only the timbmg comparison

Rows (`--variants`): `rnn` (biLSTM encoder + LSTM decoder, Bowman), `gru` (the same with GRU
cells), `map` (rnn with a feature-map latent), `cnn` and `hybrid` (Semeniuta et al.),
`ladder` (linear deterministic layers) and `ladder-conv` (Sønderby et al.), `gmm` (rnn with a
mixture prior), `li` (rnn trained as an autoencoder, beta = 0, for the first 30 % of the
budget, then annealed, with the bench's free bits: Li et al. 2019), `lm` (the LSTM-LM twin: the rnn decoder without z, the baseline row), and on
PTB words `glove50` / `rand50` (rnn with 50-d embeddings from GloVe 6B or random).

Every model trains through the library recipe (`SentenceVAESettings` -> `train_vae`) with
bench/vae_ptb.py's settings and its throughput probe (`budget_probe`: the number of batches
is fixed before the first epoch so the one-cycle and KL schedules see the whole run), in its
own process, one thread, two processes at a time. The budget is CPU time (`--budget-min` CPU
minutes per model, validation included): other jobs on a shared machine slow a model down
but do not shorten its training. Evaluation is the library's
`evaluate_vae` on the test split (IW-NLL on a seeded subset). Training tokens/s count the
target tokens (words or characters with `<eos>`) per CPU second of the training phase.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.vae_ptb import BENCH_MODEL, BENCH_SETTINGS, budget_probe, fmt, network  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
# Per row: VAEConfig overrides and training-setting overrides. A feature map has one unit per
# position and dimension (62 x latent_sz), so a free-bits floor per unit would buy ~100 nats of
# KL for nothing: the map trains without one.
VARIANTS: dict[str, tuple[dict, dict]] = {
    "rnn": ({}, {}),
    "gru": (dict(cell="gru"), {}),
    "map": (dict(latent_map=True, latent_sz=4), dict(free_bits=0.0)),
    "cnn": (dict(arch="cnn"), {}),
    "hybrid": (dict(arch="hybrid"), {}),
    "ladder": (dict(arch="ladder"), {}),
    "ladder-conv": (dict(arch="ladder", ladder_layers="conv"), {}),
    "gmm": (dict(prior="gmm"), {}),
    "li": ({}, dict(kl_warmup=0.3)),
    "lm": (dict(use_latent=False, word_dropout=0.0), dict(free_bits=0.0)),
    "glove50": (dict(emb_sz=50), dict(vectors="--glove")),
    "rand50": (dict(emb_sz=50), {}),
}
CORPORA = {"ptb": dict(tokenizer="whitespace", max_len=60, rows=["lm", *(v for v in VARIANTS if v != "lm")]),
           "ptb-chars": dict(tokenizer="char", max_len=120, rows=["lm", "rnn", "cnn", "hybrid", "ladder"])}
LABELS = {"rnn": "RNN VAE (LSTM)", "gru": "RNN VAE (GRU)", "map": "RNN VAE, feature-map latent",
          "cnn": "CNN VAE", "hybrid": "Hybrid VAE", "ladder": "Ladder VAE (linear)",
          "ladder-conv": "Ladder VAE (conv)", "gmm": "RNN VAE, mixture prior (K=10)",
          "li": "RNN VAE, autoencoder warm-up 30% + free bits (Li et al.)", "lm": "LSTM-LM twin (baseline)",
          "glove50": "RNN VAE, GloVe-50 embeddings", "rand50": "RNN VAE, random 50-d embeddings"}
EPOCHS = 1           # one pass of the probe-sized epoch: one validation pass, the schedules see all of it
TARGET_IW_GAIN = 1.0  # nats per sentence the best VAE should sit below the LM twin
TARGET_CNN_SPEED = 3.0
TARGET_LSTM, TARGET_GRU = 1.0, 1.5
QUICK = dict(budget_min=0.15, iw_samples=5, iw_sentences=20, speed_reps=1)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", choices=[*CORPORA, "all"], default="all", help="(default: %(default)s)")
    p.add_argument("--variants", help=f"comma-separated rows (default: all of the corpus): {', '.join(VARIANTS)}")
    p.add_argument("--data", default=str(SHARED / "ptb"), help="PTB folder (default: %(default)s)")
    p.add_argument("--glove", default=str(SHARED / "glove" / "glove.6B.50d.txt.gz"),
                   help="GloVe 6B 50-d vectors of the glove50 row (default: %(default)s)")
    p.add_argument("--out", help="results folder (default: runs/bench_vae_zoo, runs/bench_vae_zoo_quick)")
    p.add_argument("--budget-min", type=float, default=3.0, help="training minutes per model (default: %(default)s)")
    p.add_argument("--jobs", type=int, default=2, help="models trained at once (default: %(default)s)")
    p.add_argument("--iw-samples", type=int, default=50, help="importance samples of the test IW-NLL (default: %(default)s)")
    p.add_argument("--iw-sentences", type=int, default=200, help="test sentences for IW-NLL (default: %(default)s)")
    p.add_argument("--speed-reps", type=int, default=5, help="interleaved repetitions of the speed test (default: %(default)s)")
    p.add_argument("--speed-only", action="store_true", help="only the timbmg comparison")
    p.add_argument("--no-speed", action="store_true", help="keep the saved speed figures (or none)")
    p.add_argument("--reuse", action="store_true", help="evaluate the saved models again instead of training")
    p.add_argument("--no-report", action="store_true", help="print only, leave BENCHMARKS.md alone")
    p.add_argument("--quick", action="store_true",
                   help=f"smoke run ({', '.join(f'{k}={v}' for k, v in QUICK.items())}); never writes BENCHMARKS.md")
    p.add_argument("--train-one", nargs=2, metavar=("CORPUS", "VARIANT"), help=argparse.SUPPRESS)
    if "--quick" in (sys.argv[1:] if argv is None else argv):
        p.set_defaults(**QUICK)
    args = p.parse_args(argv)
    args.out = Path(args.out or ROOT / "runs" / ("bench_vae_zoo_quick" if args.quick else "bench_vae_zoo"))
    args.corpora = list(CORPORA) if args.corpus == "all" else [args.corpus]
    wanted = args.variants.split(",") if args.variants else None
    unknown = sorted(set(wanted or []) - set(VARIANTS))
    if unknown:
        p.error(f"unknown variants {', '.join(unknown)} (choose from {', '.join(VARIANTS)})")
    args.rows = {c: [v for v in CORPORA[c]["rows"] if wanted is None or v in wanted] for c in args.corpora}
    return args


def settings(args: argparse.Namespace, corpus: str, variant: str):
    """The row's `SentenceVAESettings`: vae_ptb's bench settings < the corpus < the variant."""
    from contextlm.vae.settings import SentenceVAESettings
    model, train = VARIANTS[variant]
    if train.get("vectors") == "--glove":
        train = {**train, "vectors": args.glove}
    c = CORPORA[corpus]
    return SentenceVAESettings.from_dict({**BENCH_SETTINGS, "epochs": EPOCHS, "tokenizer": c["tokenizer"],
                                          "max_len": c["max_len"], **train, "model": {**BENCH_MODEL, **model}})


def token_clock():
    """A fastai callback: target tokens and CPU seconds of the training batches."""
    from fastai.callback.core import Callback

    class TokenClock(Callback):
        def before_fit(self):
            self.tokens, self.cpu_s = 0, 0.0

        def before_train(self):
            self.start = time.process_time()

        def after_train(self):
            self.cpu_s += time.process_time() - self.start

        def after_batch(self):
            if self.training:
                self.tokens += int((self.yb[0] != self.learn.vocab.pad_id).sum())

    return TokenClock()


def train_one(args: argparse.Namespace, corpus: str, variant: str) -> None:
    """Train (or reload with --reuse) and evaluate one row; writes `<out>/<corpus>/<variant>.json`."""
    import torch
    from contextlm.vae.data import read_ptb, sentence_dataloaders
    from contextlm.vae.evaluate import evaluate_vae
    from contextlm.vae.learner import load_vae_learner
    from contextlm.vae.train import save_vae_run, train_vae

    torch.set_num_threads(1)
    out = args.out / corpus
    out.mkdir(parents=True, exist_ok=True)
    s, table = settings(args, corpus, variant), read_ptb(args.data)
    path = out / f"{variant}.json"
    if args.reuse:
        result = json.loads(path.read_text())
        learn = load_vae_learner(out / variant)
        dls = sentence_dataloaders(table, tokenizer=s.tokenizer, vocab=learn.vocab, max_len=s.max_len, bs=s.bs,
                                   seed=s.seed)
    else:
        probe, clock = budget_probe(args.budget_min * 60, s.epochs, clock=time.process_time), token_clock()
        learn = train_vae(table, s, cbs=[probe, clock], progress=False)
        learn.remove_cbs([probe, clock])
        dls = learn.dls
        result = dict(corpus=corpus, variant=variant, settings=s.to_dict(), network=network(learn),
                      budget_min=args.budget_min, **probe.info, train_tokens=clock.tokens, train_cpu_s=clock.cpu_s,
                      tokens_per_cpu_s=clock.tokens / clock.cpu_s, vocab_sz=len(learn.vocab),
                      train_sentences=len(dls.train.dataset),
                      vectors=getattr(learn, "vectors_report", None))
        save_vae_run(learn, out / variant, overwrite=True, extra={"benchmark": "vae_zoo"})
    t0 = time.time()
    result["test"] = evaluate_vae(learn, dls.test, args.iw_samples, args.iw_sentences, seed=s.seed)
    result.update(eval_s=time.time() - t0, n_test=len(dls.test.dataset))
    path.write_text(json.dumps(result, indent=2, default=str))
    print(f"{corpus}/{variant}: " + json.dumps(result["test"]), flush=True)


def run_rows(args: argparse.Namespace, argv: list[str]) -> list[str]:
    """Every (corpus, variant) in its own process, `--jobs` at a time; returns the failed rows."""
    todo = [(c, v) for c in args.corpora for v in args.rows[c]]
    running: list[tuple[subprocess.Popen, str]] = []
    failed = []
    while todo or running:
        while todo and len(running) < args.jobs:
            c, v = todo.pop(0)
            running.append((subprocess.Popen([sys.executable, __file__, *argv, "--train-one", c, v]), f"{c}/{v}"))
        time.sleep(2)
        for proc, name in list(running):
            if proc.poll() is not None:
                running.remove((proc, name))
                if proc.returncode:
                    failed.append(f"{name} (exit {proc.returncode})")
    return failed


# -- report ------------------------------------------------------------------------------------
def met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def speed_section(sp: dict) -> list[str]:
    r, rr, f = sp["raw"], sp["raw_random"], sp["fit"]
    row = lambda name, d: " | ".join(f"{d['ratio'][k]:.2f}x" for k in (name, f"{name}_before"))  # noqa: E731
    one, half = sp["onednn"], sp.get("enc_half", 128)
    lines = [
        "### Speed of the recurrent VAE against timbmg/Sentence-VAE (issue 13.8)", "",
        f"One process, one thread, {sp['bs']}-sentence PTB batches ({sp['n_batches']} per timed block, "
        f"max {sp['max_len']} words), emb {sp['sizes']['emb_sz']} / hidden {sp['sizes']['dec_hidden']} "
        f"(contextlm's encoder: biLSTM/biGRU {sp['sizes']['enc_hidden']} per direction) / latent "
        f"{sp['sizes']['latent_sz']}. Reference: `bench/_timbmg.py`, timbmg's architecture rebuilt (unidirectional "
        f"GRU encoder, packed GRU decoder with z in h0, embedding dropout 0.5). Figures: timbmg's seconds / "
        f"contextlm's for the same block, median of {sp['reps']} interleaved repetitions, CPU time (> 1: "
        f"contextlm is faster). *before*: the model as it ran before this change (oneDNN on, decoder not packed). "
        f"Parameters: timbmg {sp['params']['timbmg']:,}, LSTM {sp['params']['lstm']:,}, GRU {sp['params']['gru']:,}."
        + (f" Measured by `{sp['command']}`." if "command" in sp else ""),
        "",
        "| contextlm model | raw step, library batches | before | raw step, random batches | before | "
        "through `VAELearner.fit` | before |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, label in (("lstm", "LSTM VAE"), ("gru", "GRU VAE")):
        lines.append(f"| {label} | {row(name, r)} | {row(name, rr)} | {row(name, f)} |")
    lines += [
        "",
        f"Library batches are length-bucketed ({sp['fill_bucketed']:.0%} of the target positions hold a token); "
        f"random batches are the same loader's sentences in random order, as timbmg's own loader makes them "
        f"({sp['fill_random']:.0%} tokens). Raw step: forward, loss, backward, `torch.optim.Adam` for all. Fit: "
        f"`fit_one_cycle` with the library's callbacks (gradient clipping, KL annealing) and fastai's Adam, "
        f"training phase only, against timbmg's raw step. The encoder's share: with {half} per direction "
        f"(timbmg's encoder state width, split in two directions) the raw step runs at "
        + ", ".join(f"{k.split('_')[0].upper()} {v:.2f}x" for k, v in r["ratio"].items() if k.endswith(f"_enc{half}"))
        + " timbmg.",
        "",
        "oneDNN for the recurrent layers (median CPU ms per block; speed-up = on / off, paired):",
        "",
        "| block | LSTM on | LSTM off | LSTM speed-up off | GRU on | GRU off | GRU speed-up off |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, label in (("train1", f"{sp['n_single']} training steps at bs 1"),
                       ("gen1", "greedy generation, 30 tokens, bs 1"), ("gen32", "greedy generation, 30 tokens, bs 32")):
        cells = []
        for cell in ("lstm", "gru"):
            cells += [f"{one[f'{key}_{cell}_onednn_on']['cpu_ms']:.0f}", f"{one[f'{key}_{cell}_onednn_off']['cpu_ms']:.0f}",
                      f"{sp['onednn_off_speedup'][f'{key}_{cell}']:.2f}x"]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lstm, gru = r["ratio"]["lstm"], r["ratio"]["gru"]
    lines += [
        "",
        f"**Against the targets** (raw step, library batches): LSTM {lstm:.2f}x timbmg (target >= {TARGET_LSTM:g}x: "
        f"{met(lstm >= TARGET_LSTM)}); GRU {gru:.2f}x (target >= {TARGET_GRU:g}x: {met(gru >= TARGET_GRU)}); "
        f"through fit LSTM {f['ratio']['lstm']:.2f}x, GRU {f['ratio']['gru']:.2f}x.",
    ]
    return lines


def corpus_section(args: argparse.Namespace, corpus: str, res: dict[str, dict]) -> list[str]:
    any_r = next(iter(res.values()))
    s = next((r for v, r in res.items() if v != "lm"), any_r)["settings"]
    counts = [seen(r) for r in res.values()]
    k = any_r["test"].get("iw_samples", args.iw_samples)
    title = "PTB, words" if corpus == "ptb" else "PTB, characters"
    lines = [f"### {title}", "",
             f"`{s['tokenizer']}` tokens, max {s['max_len']} per sentence, vocabulary {any_r['vocab_sz']:,}; "
             f"{any_r['budget_min']:g} CPU minutes of training per model, one thread (bs {s['bs']}, one-cycle lr "
             f"{s['lr']:g}, cyclical KL annealing, free bits {s['free_bits']:g} nats/unit; the LM and the feature map "
             f"train without free bits), so the models saw {min(counts):,} to {max(counts):,} training sentences "
             f"(the training split holds {train_size(any_r)}); test split "
             f"({any_r['n_test']:,} sentences), IW-NLL with k={k} on {any_r['test'].get('iw_sentences', '?')} of them. "
             f"Per sentence, nats; ELBO = -(recon + KL).", "",
             "| model | ELBO | recon | KL | IW-NLL | IW ppl | AU | MI | params | sentences seen | train tokens/CPU s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for v, r in res.items():
        t = r["test"]
        extra = [f"{n} {fmt(t[n], 2) if not n.startswith('au') else int(t[n])}" for n in sorted(t)
                 if n.startswith(("kl_", "au_")) or n == "aux"]
        label = LABELS[v] + (f" ({', '.join(extra)})" if extra else "")
        lines.append(f"| {label} | {fmt(-t['neg_elbo'])} | {fmt(t['recon'])} | {fmt(t['kl'])} | {fmt(t.get('iw_nll'))} "
                     f"| {fmt(t.get('iw_ppl'), 1)} | {int(t['au'])} | {fmt(t['mi'])} | {t['params']:,} | "
                     f"{seen(r):,} | {r['tokens_per_cpu_s']:,.0f} |")
    lines += ["", *targets(corpus, res)]
    return lines


def train_size(r: dict) -> str:
    """The training set's size, to read 'sentences seen' against."""
    return f"{r.get('train_sentences', '?'):,} sentences" if isinstance(r.get("train_sentences"), int) else "?"


def seen(r: dict) -> int:
    return r["epoch_sentences"] * r["settings"]["epochs"]


def targets(corpus: str, res: dict[str, dict]) -> list[str]:
    """The issue's targets for this corpus, met or not, with the measured figures."""
    out = []
    vaes = {v: r for v, r in res.items() if v != "lm" and r["test"].get("iw_nll") is not None}
    if "lm" in res and vaes and corpus == "ptb":
        best = min(vaes, key=lambda v: vaes[v]["test"]["iw_nll"])
        gain = res["lm"]["test"]["iw_nll"] - vaes[best]["test"]["iw_nll"]
        out.append(f"- Best VAE by IW-NLL: {LABELS[best]}, {vaes[best]['test']['iw_nll']:.2f} vs the LM twin's "
                   f"{res['lm']['test']['iw_nll']:.2f} (LM minus VAE: {gain:+.2f} nats; target >= {TARGET_IW_GAIN:g}: "
                   f"{met(gain >= TARGET_IW_GAIN)}; training sentences seen: VAE {seen(vaes[best]):,}, LM {seen(res['lm']):,}).")
    for v in ("ladder", "ladder-conv"):
        if v in res:
            aus = {n: int(x) for n, x in res[v]["test"].items() if n.startswith("au_")}
            out.append(f"- {LABELS[v]}: active units per layer {aus} (target >= 1 in every layer: "
                       f"{met(bool(aus) and min(aus.values()) >= 1)}).")
    if "cnn" in res and "rnn" in res:
        ratio = res["cnn"]["tokens_per_cpu_s"] / res["rnn"]["tokens_per_cpu_s"]
        out.append(f"- CNN VAE trains at {ratio:.2f}x the LSTM VAE's tokens per CPU second (target >= "
                   f"{TARGET_CNN_SPEED:g}x: {met(ratio >= TARGET_CNN_SPEED)}).")
    if "glove50" in res and "rand50" in res:
        g, r = res["glove50"]["test"], res["rand50"]["test"]
        cov = (res["glove50"].get("vectors") or {})
        share = cov.get("token_share")
        out.append(f"- GloVe-50 vs random 50-d: IW-NLL {fmt(g.get('iw_nll'))} vs {fmt(r.get('iw_nll'))}, "
                   f"-ELBO {fmt(g['neg_elbo'])} vs {fmt(r['neg_elbo'])}"
                   + (f" (GloVe covers {share:.1%} of the training tokens)" if isinstance(share, float) else "") + ".")
    return out


def report(args: argparse.Namespace, load: str, failed: list[str]) -> None:
    from bench._report import publish
    lines = ["## VAE zoo (issue 13)", "",
             "Every member of the VAE family on the same data with the same budget and metrics "
             "(`bench/vae_zoo.py`: library recipe `SentenceVAESettings` -> `train_vae`, evaluation "
             "`contextlm.vae.evaluate.evaluate_vae`), and the recurrent VAE's speed against "
             f"timbmg/Sentence-VAE. Models trained {args.jobs} at a time, one thread each; {load}.", ""]
    speed = args.out / "speed.json"
    if speed.exists():
        lines += speed_section(json.loads(speed.read_text())) + [""]
    for corpus in CORPORA:
        folder = args.out / corpus
        res = {v: json.loads((folder / f"{v}.json").read_text()) for v in CORPORA[corpus]["rows"]
               if (folder / f"{v}.json").exists()}
        if res:
            lines += corpus_section(args, corpus, res) + [""]
    if failed:
        lines += [f"**Rows that failed to train or evaluate:** {', '.join(failed)} (their previous results, if any, "
                  f"are shown)."]
    cmd = "python bench/vae_zoo.py " + " ".join(sys.argv[1:])
    publish("vae_zoo", "\n".join(lines), command=cmd.strip(), no_report=args.no_report, quick=args.quick)


def main(argv: list[str] | None = None) -> None:
    from bench._report import load_text
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.train_one:
        train_one(args, *args.train_one)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    if not args.no_speed:
        from bench._vae_speed import measure
        n = (2, 4) if args.quick else (8, 16)
        sp = measure(args.data, reps=args.speed_reps, n_batches=n[0], n_single=n[1])
        sp["command"] = " ".join(["python bench/vae_zoo.py", *argv])
        (args.out / "speed.json").write_text(json.dumps(sp, indent=2))
    failed = [] if args.speed_only else run_rows(args, argv)
    report(args, load_text(load_before), failed)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
