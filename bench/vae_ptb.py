"""Sentence VAE vs the LSTM-LM with the same decoder on PTB, same CPU budget each.

Per-sentence test figures (nats): reconstruction NLL, KL, -ELBO, importance-weighted
NLL and its perplexity, active units, mutual information; plus the two homotopies
from the literature. Anchors: timbmg/Sentence-VAE test NLL(recon) 103.97, KL 7.27;
He et al. 2019: a VAE can beat its own LM baseline in NLL with KL and MI > 0.

    python bench/vae_ptb.py                                # 30 min per model, both at once on 2 cores
    python bench/vae_ptb.py --budget-min 12 --iw-sentences 1000
    python bench/vae_ptb.py --eval-only --iw-samples 1000  # evaluate the saved models again

Each model trains in its own process with one thread (the two run side by side on a
2-core machine). The number of batches is fixed from a throughput measurement on the
first batches, so fit_one_cycle and the KL schedule see the whole run.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TIE_NATS = 0.1  # IW-NLL differences below this (nats per sentence) are reported as a tie
HOMOTOPIES = [("he was silent for a long moment", "it was my turn"),
              ("where can i find a book on machine learning", "how can i become a successful entrepreneur")]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "ptb"), help="folder with ptb.*.txt")
    p.add_argument("--out", default=str(ROOT / "runs" / "bench_vae_ptb"))
    p.add_argument("--budget-min", type=float, default=30.0, help="training minutes per model")
    p.add_argument("--jobs", type=int, default=2, help="models trained at once (1 thread each)")
    p.add_argument("--epochs", type=int, default=4, help="epochs the budget is divided into")
    p.add_argument("--emb", type=int, default=256)
    p.add_argument("--hidden", type=int, default=256, help="decoder LSTM size (the same for both models)")
    p.add_argument("--enc-hidden", type=int, default=64,
                   help="VAE encoder LSTM size per direction (small: the encoder's cost comes out of the VAE's budget)")
    p.add_argument("--latent", type=int, default=32)
    p.add_argument("--bs", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--max-len", type=int, default=60)
    p.add_argument("--word-dropout", type=float, default=0.0)
    p.add_argument("--schedule", default="cyclical")
    p.add_argument("--n-cycles", type=int, default=4)
    p.add_argument("--free-bits", type=float, default=0.12)
    p.add_argument("--iw-samples", type=int, default=500, help="importance samples (He et al. 2019 use 500)")
    p.add_argument("--iw-sentences", type=int, default=500, help="test sentences for IW-NLL (0: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads per model")
    p.add_argument("--eval-only", action="store_true",
                   help="reload the models under --out and evaluate again (e.g. with more --iw-samples)")
    p.add_argument("--train-one", choices=["vae", "lm"], help=argparse.SUPPRESS)
    p.add_argument("--no-report", action="store_true", help="do not write BENCHMARKS.md")
    return p.parse_args(argv)


def train_one(args: argparse.Namespace) -> None:
    """Train (or, with --eval-only, reload) and evaluate one model; writes `<out>/<name>/`
    (model folder) and `<out>/<name>.json`."""
    import torch
    from fastai.callback.training import GradientClip
    from contextlm.vae.callbacks import KLAnnealing
    from contextlm.vae.data import read_ptb, sentence_dataloaders
    from contextlm.vae.learner import load_vae_learner, vae_learner

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    name, out = args.train_one, Path(args.out)
    dls = sentence_dataloaders(read_ptb(args.data), tokenizer="whitespace", max_len=args.max_len, bs=args.bs,
                               seed=args.seed)
    if args.eval_only:
        learn = load_vae_learner(out / name, dls=dls)
        if learn.vocab.itos != dls.vocab.itos:
            sys.exit(f"{out / name}: its vocab differs from the one built from {args.data}")
        result = json.loads((out / f"{name}.json").read_text())
    else:
        is_vae = name == "vae"
        cbs = [GradientClip(5.0)] + ([KLAnnealing(args.schedule, n_cycles=args.n_cycles)] if is_vae else [])
        config = dict(emb_sz=args.emb, enc_hidden=args.enc_hidden, dec_hidden=args.hidden, latent_sz=args.latent,
                      word_dropout=args.word_dropout if is_vae else 0.0, use_latent=is_vae)
        learn = vae_learner(dls, config, free_bits=args.free_bits if is_vae else 0.0, cbs=cbs)
        result = fit_in_budget(args, learn, dls, name)
        learn.save_model(out / name, extra={"benchmark": "vae_ptb"})
    result.update(evaluate(args, learn, dls))
    result.setdefault("iw_by_k", {})[str(args.iw_samples)] = result["iw_subset"]["iw_nll"]  # kept across --eval-only
    (out / f"{name}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result), flush=True)


def fit_in_budget(args: argparse.Namespace, learn, dls, name: str) -> dict:
    """fit_one_cycle for as many batches as a throughput probe says fit `--budget-min`. The probe
    trains a copy of the model, so the benchmarked model starts from its initial weights."""
    import copy
    import torch
    from contextlm.vae.objectives import vae_loss
    probe = copy.deepcopy(learn.model).train()
    opt = torch.optim.Adam(probe.parameters(), 1e-4)
    it, n_probe, start = iter(dls.train), 16, None
    for i in range(n_probe + 2):
        if i == 2:
            start = time.time()
        b = next(it)
        loss = vae_loss(probe(*b[:-1]), b[-1], learn.vocab.pad_id)[0]
        opt.zero_grad(), loss.backward(), opt.step()
    spb = (time.time() - start) / n_probe
    del opt, probe
    total_batches = int(args.budget_min * 60 / spb)
    # validation each epoch costs about a third of a training batch per batch
    total_batches = max(args.epochs, total_batches - args.epochs * len(dls.valid) // 3)
    epoch_size = max(args.bs, total_batches * args.bs // args.epochs)
    dls.train.epoch_size, dls.train.n = epoch_size, min(epoch_size, len(dls.train.dataset))
    print(f"{name}: {spb:.3f} s/batch -> {args.epochs} epochs of {len(dls.train)} batches", flush=True)
    torch.manual_seed(args.seed)
    t0 = time.time()
    with learn.no_bar():
        learn.fit_one_cycle(args.epochs, args.lr)
    return dict(name=name, train_args={k: v for k, v in vars(args).items() if k not in ("train_one", "eval_only")},
                train_command=command_line(), train_s=time.time() - t0, s_per_batch=spb, epochs=args.epochs,
                epoch_batches=len(dls.train), train_sentences_seen=args.epochs * dls.train.n,
                valid_history=[list(map(float, v)) for v in learn.recorder.values],
                metric_names=list(learn.recorder.metric_names))


def evaluate(args: argparse.Namespace, learn, dls) -> dict:
    """Test figures: all sentences for recon/KL/ELBO/AU/MI; IW-NLL (k samples) on a seeded subset."""
    import random
    from contextlm.vae.callbacks import vae_metrics
    from contextlm.vae.data import SentenceDL
    learn.metrics = vae_metrics(0)
    with learn.no_bar():
        full = dict(zip(["loss", "recon", "kl", "neg_elbo", "elbo_ppl", "au", "mi"],
                        map(float, learn.validate(dl=dls.test))))
    test_items = dls.test.dataset
    if args.iw_sentences and args.iw_sentences < len(test_items):
        test_items = random.Random(args.seed).sample(list(test_items), args.iw_sentences)
    iw_dl = SentenceDL(test_items, pad_id=dls.vocab.pad_id, bs=args.bs, shuffle=False)
    learn.metrics = vae_metrics(args.iw_samples)
    t1 = time.time()
    with learn.no_bar():
        sub = dict(zip(["loss", "recon", "kl", "neg_elbo", "elbo_ppl", "iw_nll", "iw_ppl", "au", "mi"],
                       map(float, learn.validate(dl=iw_dl))))
    return dict(full_test=full, iw_subset=sub, iw_samples=args.iw_samples, eval_bs=args.bs, iw_subset_n=len(test_items),
                iw_s=time.time() - t1, n_test=len(dls.test.dataset))


def run_all(args: argparse.Namespace, argv: list[str]) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cmds = [[sys.executable, __file__, *argv, "--train-one", name] for name in ("vae", "lm")]
    if args.jobs >= 2:
        procs = [subprocess.Popen(c) for c in cmds]
        codes = [p.wait() for p in procs]
    else:
        codes = [subprocess.run(c).returncode for c in cmds]
    if any(codes):
        sys.exit(f"training failed (exit codes {codes})")
    if not args.no_report:
        report(args, out)


def fmt(v, nd=2):
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))


def command_line() -> str:
    """The command as the user typed it (a training subprocess drops the `--train-one NAME` it was given)."""
    argv = sys.argv[1:]
    if "--train-one" in argv:
        i = argv.index("--train-one")
        argv = argv[:i] + argv[i + 2:]
    return " ".join(["python bench/vae_ptb.py", *argv])


def report(args: argparse.Namespace, out: Path) -> str:
    from bench._report import write_section
    from contextlm.vae.learner import load_vae_learner

    res = {n: json.loads((out / f"{n}.json").read_text()) for n in ("vae", "lm")}
    k = res["vae"]["iw_samples"]
    args = argparse.Namespace(**{**vars(args), **res["vae"].get("train_args", {})})  # describe the training run
    learn = load_vae_learner(out / "vae")
    vocab = learn.vocab
    lines = [
        "## Sentence VAE vs LSTM-LM on PTB",
        "",
        f"Penn Treebank (Mikolov), `{Path(args.data).name}`: 42,068 / 3,370 / 3,761 sentences, 10k vocab "
        f"(whitespace tokens, `<unk>` as the unknown id, max {args.max_len} tokens). Same decoder for both "
        f"(emb {args.emb}, LSTM {args.hidden}, 1 layer); VAE: biLSTM encoder ({args.enc_hidden} per direction), latent {args.latent}, z as "
        f"initial state and concatenated to every input, {args.schedule} KL annealing "
        f"({args.n_cycles} cycles, ratio 0.5, beta_max 1), free bits {args.free_bits}/dim, word dropout "
        f"{args.word_dropout}. Adam one-cycle lr {args.lr}, bs {args.bs}, gradient clip 5. "
        f"Budget: {args.budget_min:g} min of training per model, both models side by side, {args.threads} thread(s) each; "
        f"the number of batches is fixed from a throughput probe at the start (at most {args.epochs} passes over "
        f"the training set), so the real time (in the table) drifts with the machine's load.",
        "",
        "| model | train time | sentences seen | test recon NLL | KL | -ELBO | ELBO ppl | AU | MI | "
        f"IW-NLL (k={k}) | IW ppl | -ELBO on IW subset |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, label in (("vae", "VAE"), ("lm", "LSTM-LM")):
        r, f, s = res[n], res[n]["full_test"], res[n]["iw_subset"]
        lines.append(f"| {label} | {r['train_s'] / 60:.1f} min | {r['train_sentences_seen']:,} | {fmt(f['recon'])} | "
                     f"{fmt(f['kl'])} | {fmt(f['neg_elbo'])} | {fmt(f['elbo_ppl'], 1)} | {int(f['au'])} | "
                     f"{fmt(f['mi'])} | {fmt(s['iw_nll'])} | {fmt(s['iw_ppl'], 1)} | {fmt(s['neg_elbo'])} |")
    v, l = res["vae"]["iw_subset"], res["lm"]["iw_subset"]
    diff = v["iw_nll"] - l["iw_nll"]
    verdict = ("below the baseline" if diff <= -TIE_NATS else "above the baseline" if diff >= TIE_NATS else
               f"a tie: the difference is under {TIE_NATS} nat per sentence")
    by_k = ", ".join(f"k={k}: {x:.3f}" for k, x in sorted(res["vae"].get("iw_by_k", {}).items(), key=lambda kv: int(kv[0])))
    lines += [
        "",
        f"Recon/KL/-ELBO/AU/MI on all {res['vae']['n_test']:,} test sentences; IW-NLL on "
        f"{res['vae']['iw_subset_n']:,} of them (seeded subset; for the LM it is the exact NLL). "
        f"Per sentence, nats; perplexities per target token with `<eos>`. MI: He et al. 2019's estimator "
        f"(aggregate posterior from each test batch, so at most log(bs) = {math.log(res['vae'].get('eval_bs', args.bs)):.2f}).",
        "",
        f"**Against the targets:** IW-NLL VAE {v['iw_nll']:.3f} vs LM {l['iw_nll']:.3f} ({diff:+.3f}; {verdict}; "
        f"VAE estimates {by_k} — more samples tighten the bound); KL {fmt(res['vae']['full_test']['kl'])} "
        f"(target >= 3); active units {int(res['vae']['full_test']['au'])} (target >= 5). Anchor timbmg/Sentence-VAE "
        f"(GPU, 10 epochs): recon 103.97, KL 7.27.",
        "",
        "### Homotopies (VAE, greedy decoding of 8 points on the line between the posterior means)",
        "",
    ]
    for s0, s1 in HOMOTOPIES:
        unk = sorted({w for s in (s0, s1) for w in s.split() if w not in vocab.stoi})
        lines.append(f"`{s0}` → `{s1}` — PTB vocab covers {'every word' if not unk else 'all but ' + ', '.join(unk)}"
                     f"{'' if not unk else ' (read as <unk>)'}:")
        lines.append("")
        table = learn.interpolate(s0, s1, steps=8, path="lerp")
        lines += [f"    {row.t:.2f}  {row.text}" for row in table.itertuples()]
        lines.append("")
    lines.append("Samples from the prior (greedy): " + " / ".join(f"`{s}`" for s in learn.sample(5, method="greedy")))
    md = "\n".join(lines)
    cmd = res["vae"].get("train_command", command_line())
    if cmd != command_line():  # evaluated again with --eval-only
        cmd = f"{cmd}` then `{command_line()}"
    write_section("vae_ptb", md, command=cmd)
    print(md)
    return md


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.train_one:
        train_one(args)
    else:
        run_all(args, argv)


if __name__ == "__main__":
    main()
