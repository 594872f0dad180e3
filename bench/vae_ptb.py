"""Sentence VAE vs the LSTM-LM with the same decoder on PTB, same CPU budget each.

Per-sentence test figures (nats): reconstruction NLL, KL, -ELBO, importance-weighted
NLL and its perplexity, active units, mutual information; plus the two homotopies
from the literature. Anchors: timbmg/Sentence-VAE's test recon NLL and KL; He et al.
2019: a VAE can beat its own LM baseline in NLL with KL and MI > 0.

    python bench/vae_ptb.py                                # both models at once, one thread each
    python bench/vae_ptb.py --budget-min 12 --iw-sentences 1000
    python bench/vae_ptb.py --eval-only --iw-samples 1000  # evaluate the saved models again
    python bench/vae_ptb.py --quick                        # smoke run: prints, never writes BENCHMARKS.md

Both models train through the library recipe: `SentenceVAESettings` (the flags below are its
field names and `VAEConfig`'s; the benchmark's own defaults are shown) -> `train_vae`
(`sentence_dataloaders`, `vae_learner`, `vae_callbacks`: gradient clipping, KL annealing for
the VAE). The LM is the same settings with `use_latent` false, no free bits and no word
dropout. Each model trains in its own process. The number of batches is fixed from a
throughput probe on a copy of the model before the first epoch, so `fit_one_cycle` and the
KL schedule see the whole run; the benchmarked model starts from its own initial weights.
Sizes, settings and figures in the BENCHMARKS.md section are read from the run itself.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contextlm.settings import (add_config_argument, add_settings_arguments, given,  # noqa: E402
                                read_settings_file)
from contextlm.vae.config import VAEConfig  # noqa: E402
from contextlm.vae.settings import SentenceVAESettings  # noqa: E402

TIE_NATS = 0.1  # IW-NLL differences below this (nats per sentence) are reported as a tie
HOMOTOPIES = [("he was silent for a long moment", "it was my turn"),
              ("where can i find a book on machine learning", "how can i become a successful entrepreneur")]
HOMOTOPY_STEPS, PRIOR_SAMPLES = 8, 5
ANCHOR = dict(name="timbmg/Sentence-VAE", how="GPU, 10 epochs", recon=103.97, kl=7.27)
TARGETS = dict(kl=3.0, au=5)
PROBE_BATCHES, PROBE_WARMUP = 16, 2   # timed batches of the throughput probe, after untimed ones
VALID_COST = 1 / 3                    # a validation batch costs about this many training batches
# The benchmark's settings where they differ from SentenceVAESettings' / VAEConfig's defaults.
BENCH_SETTINGS = dict(bs=64, lr=3e-3, seed=0, max_len=60, free_bits=0.12, tokenizer="whitespace")
BENCH_MODEL = dict(enc_hidden=64)     # a small encoder: its cost comes out of the VAE's budget
# Not flags here: PTB has no columns, features or labels; the budget sets the epoch size; the
# bench's --iw-samples is the evaluation's (the training's validation IW stays off).
SETTINGS_SKIP = ("text_col", "split_col", "group_col", "valid_pct", "test_pct", "sentences", "features",
                 "label_col", "scaling", "drop_missing", "encoding", "tokenizer", "epoch_size", "iw_samples")
MODEL_SKIP = ("use_latent", "label_emb_sz", "cond_encoder")
QUICK = dict(budget_min=0.25, epochs=1, eval_iw_samples=5, iw_sentences=50)  # --quick: a smoke run
NAMES = {"vae": "VAE", "lm": "LSTM-LM"}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    b = p.add_argument_group("benchmark")
    b.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "ptb"), help="folder with ptb.*.txt (default: %(default)s)")
    b.add_argument("--out", help="folder for the two model folders and their JSON results "
                                 "(default: runs/bench_vae_ptb, runs/bench_vae_ptb_quick with --quick)")
    b.add_argument("--budget-min", type=float, default=30.0, help="training minutes per model (default: %(default)s)")
    b.add_argument("--jobs", type=int, default=2, help="models trained at once, one process each (default: %(default)s)")
    b.add_argument("--threads", type=int, default=1, help="torch threads per model (default: %(default)s)")
    b.add_argument("--iw-samples", dest="eval_iw_samples", type=int, default=500,
                   help="importance samples of the test IW-NLL; He et al. 2019 use 500 (default: %(default)s)")
    b.add_argument("--iw-sentences", type=int, default=500, help="test sentences for IW-NLL, 0: all (default: %(default)s)")
    b.add_argument("--eval-only", action="store_true",
                   help="reload the models under --out and evaluate again (e.g. with more --iw-samples)")
    b.add_argument("--no-report", action="store_true", help="print only, leave BENCHMARKS.md alone")
    b.add_argument("--quick", action="store_true",
                   help=f"smoke run (defaults {', '.join(f'{k}={v}' for k, v in QUICK.items())}, the --quick "
                        f"output folder); prints the section, writes it only to $CONTEXTLM_BENCHMARKS_MD")
    b.add_argument("--train-one", choices=list(NAMES), help=argparse.SUPPRESS)
    add_config_argument(p)
    add_settings_arguments(p, SentenceVAESettings, skip=SETTINGS_SKIP, defaults=BENCH_SETTINGS)
    add_settings_arguments(p, VAEConfig, skip=MODEL_SKIP, defaults=BENCH_MODEL)
    if "--quick" in (sys.argv[1:] if argv is None else argv):
        p.set_defaults(**QUICK)  # flags given still win
    args = p.parse_args(argv)
    args.out = args.out or str(ROOT / "runs" / ("bench_vae_ptb_quick" if args.quick else "bench_vae_ptb"))
    return args


def model_settings(args: argparse.Namespace, name: str) -> SentenceVAESettings:
    """Settings of one model: SentenceVAESettings' defaults < the bench's < --config < flags."""
    config = read_settings_file(args.config) if args.config else {}
    values = {**BENCH_SETTINGS, **config, **given(args, SentenceVAESettings)}
    model = {**BENCH_MODEL, **dict(config.get("model") or {}), **given(args, VAEConfig)}
    if name == "lm":  # the same decoder without z
        model.update(use_latent=False, word_dropout=0.0)
        values["free_bits"] = 0.0
    values["model"] = VAEConfig.check_overrides(model)
    return SentenceVAESettings.from_dict(values)


def budget_probe(budget_s: float, epochs: int, clock=time.perf_counter):
    """A fastai callback, first in `before_fit`: times `PROBE_BATCHES` training batches on a
    copy of the model (its own optimizer: the benchmarked model keeps its initial weights),
    then sizes the training epochs so the whole `fit_one_cycle` fits `budget_s` seconds of
    `clock` (wall time; `time.process_time` counts the process's CPU time, which other jobs on
    a shared machine do not eat).
    `.info` holds the probe's figures and the real fit's seconds."""
    import copy
    import torch
    from fastai.callback.core import Callback
    from contextlm.vae.objectives import vae_loss

    class BudgetProbe(Callback):
        order = -100

        def before_fit(self):
            learn, dl = self.learn, self.learn.dls.train
            probe = copy.deepcopy(learn.model).train()
            opt = torch.optim.Adam(probe.parameters(), 1e-4)
            it, start = iter(dl), None
            for i in range(PROBE_BATCHES + PROBE_WARMUP):
                if i == PROBE_WARMUP:
                    start = clock()
                b = next(it)
                loss = vae_loss(probe(*b[:-1]), b[-1], learn.vocab.pad_id)[0]
                opt.zero_grad(), loss.backward(), opt.step()
            spb = (clock() - start) / PROBE_BATCHES
            del opt, probe, it
            total = int(budget_s / spb) - int(epochs * len(learn.dls.valid) * VALID_COST)
            epoch_size = max(dl.bs, max(epochs, total) * dl.bs // epochs)
            dl.epoch_size, dl.n = epoch_size, min(epoch_size, len(dl.dataset))
            self.info = dict(s_per_batch=spb, epoch_batches=len(dl), epoch_sentences=dl.n)
            print(f"probe: {spb:.3f} s/batch -> {epochs} epochs of {len(dl)} batches", flush=True)
            self.t0 = clock()

        def after_fit(self):
            self.info["train_s"] = clock() - self.t0

    return BudgetProbe()


def train_one(args: argparse.Namespace) -> None:
    """Train (or, with --eval-only, reload) and evaluate one model; writes `<out>/<name>/`
    (model folder) and `<out>/<name>.json`."""
    import torch
    from contextlm.vae.data import read_ptb, sentence_dataloaders
    from contextlm.vae.learner import load_vae_learner
    from contextlm.vae.train import save_vae_run, sentence_table, train_vae

    torch.set_num_threads(args.threads)
    name, out = args.train_one, Path(args.out)
    if args.eval_only:
        result = json.loads((out / f"{name}.json").read_text())
        if "settings" not in result:
            sys.exit(f"{out / name}.json: written by an older bench/vae_ptb.py (no settings); train again")
        s = SentenceVAESettings.from_dict(result["settings"])
        learn = load_vae_learner(out / name)
        dls = sentence_dataloaders(read_ptb(args.data), tokenizer=s.tokenizer, vocab=learn.vocab, max_len=s.max_len,
                                   bs=s.bs, seed=s.seed)
        learn.dls = dls
    else:
        s = model_settings(args, name)
        table = sentence_table(s, ptb=args.data)
        probe = budget_probe(args.budget_min * 60, s.epochs)
        learn = train_vae(table, s, cbs=[probe], progress=False)
        learn.remove_cb(probe)
        dls = learn.dls
        frames = dls.frames
        result = dict(name=name, settings=s.to_dict(), network=network(learn),
                      bench=dict(budget_min=args.budget_min, jobs=args.jobs, threads=args.threads,
                                 probe_batches=PROBE_BATCHES),
                      train_command=command_line(), **probe.info, epochs=s.epochs,
                      train_sentences_seen=s.epochs * probe.info["epoch_sentences"],
                      sentences={split: len(frames[split]) for split in frames}, vocab_sz=len(learn.vocab),
                      optimizer=getattr(learn.opt_func, "__name__", str(learn.opt_func)),
                      valid_history=[list(map(float, v)) for v in learn.recorder.values],
                      metric_names=list(learn.recorder.metric_names))
        save_vae_run(learn, out / name, overwrite=True, extra={"benchmark": "vae_ptb"})
    result.update(evaluate(args, learn, dls, s))
    result.setdefault("iw_by_k", {})[str(args.eval_iw_samples)] = result["iw_subset"]["iw_nll"]  # kept across --eval-only
    (out / f"{name}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k not in ("valid_history", "settings")}), flush=True)


def network(learn) -> dict:
    """The trained model's `VAEConfig`, without the ids that come from the vocab."""
    cfg = learn.model.config.to_dict()
    return {k: v for k, v in cfg.items() if k not in ("pad_id", "bos_id", "eos_id", "unk_id")}


def evaluate(args: argparse.Namespace, learn, dls, s: SentenceVAESettings) -> dict:
    """Test figures: all sentences for recon/KL/ELBO/AU/MI; IW-NLL (k samples) on a seeded subset."""
    import random
    from contextlm.vae.callbacks import vae_metrics
    from contextlm.vae.data import SentenceDL
    learn.metrics = vae_metrics(0)
    with learn.no_bar(), learn.no_logging():
        full = dict(zip(["loss", "recon", "kl", "neg_elbo", "elbo_ppl", "au", "mi"],
                        map(float, learn.validate(dl=dls.test))))
    test_items = dls.test.dataset
    if args.iw_sentences and args.iw_sentences < len(test_items):
        test_items = random.Random(s.seed).sample(list(test_items), args.iw_sentences)
    iw_dl = SentenceDL(test_items, pad_id=dls.vocab.pad_id, bs=s.bs, shuffle=False)
    learn.metrics = vae_metrics(args.eval_iw_samples)
    t1 = time.time()
    with learn.no_bar(), learn.no_logging():
        sub = dict(zip(["loss", "recon", "kl", "neg_elbo", "elbo_ppl", "iw_nll", "iw_ppl", "au", "mi"],
                       map(float, learn.validate(dl=iw_dl))))
    return dict(full_test=full, iw_subset=sub, iw_samples=args.eval_iw_samples, eval_bs=dls.test.bs,
                iw_subset_n=len(test_items), iw_s=time.time() - t1, n_test=len(dls.test.dataset))


def run_all(args: argparse.Namespace, argv: list[str]) -> None:
    from bench._report import load_text
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    cmds = [[sys.executable, __file__, *argv, "--train-one", name] for name in NAMES]
    if args.jobs >= 2:
        procs = [subprocess.Popen(c) for c in cmds]
        codes = [p.wait() for p in procs]
    else:
        codes = [subprocess.run(c).returncode for c in cmds]
    if any(codes):
        sys.exit(f"training failed (exit codes {codes})")
    report(args, out, load_text(load_before))


def fmt(v, nd=2):
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))


def command_line() -> str:
    """The command as the user typed it (a training subprocess drops the `--train-one NAME` it was given)."""
    argv = sys.argv[1:]
    if "--train-one" in argv:
        i = argv.index("--train-one")
        argv = argv[:i] + argv[i + 2:]
    return " ".join(["python bench/vae_ptb.py", *argv])


def describe(res: dict, data: str) -> str:
    """The setup paragraph, from the results' settings and networks."""
    s, net, lm_net, bench = res["vae"]["settings"], res["vae"]["network"], res["lm"]["network"], res["vae"]["bench"]
    n = res["vae"]["sentences"]
    z = " and ".join(w for w, on in (("as initial state", net["z_init"]), ("concatenated to every input",
                                                                         net["z_concat"])) if on) or "unused (!)"
    same = all(net[k] == lm_net[k] for k in ("emb_sz", "dec_hidden", "n_layers"))
    tf = (f", teacher forcing {s['tf_start']:g} -> {s['tf_end']:g} over {s['tf_ratio']:.0%} of training"
          if s["tf_start"] < 1 or s["tf_end"] < 1 else "")
    side = "both models side by side" if bench["jobs"] >= 2 else "one model after the other"
    return (
        f"Penn Treebank (Mikolov), `{Path(data).name}`: {n.get('train', 0):,} / {n.get('valid', 0):,} / "
        f"{n.get('test', 0):,} sentences (train/valid/test), vocabulary of {res['vae']['vocab_sz']:,} from the "
        f"train split ({s['tokenizer']} tokens, `<unk>` as the unknown id, max {s['max_len']} tokens). "
        f"{'Same decoder for both' if same else 'Decoders differ'} (emb {net['emb_sz']}, LSTM {net['dec_hidden']}, "
        f"{net['n_layers']} layer(s), dropouts emb {net['emb_dropout']:g} / out {net['out_dropout']:g}); "
        f"VAE: biLSTM encoder ({net['enc_hidden']} per direction), latent {net['latent_sz']}, z {z}, "
        f"{s['kl_schedule']} KL annealing ({s['n_cycles']} cycles, ratio {s['kl_ratio']:g}, beta_max "
        f"{s['beta_max']:g}, warm-up {s['kl_warmup']:g}), free bits {s['free_bits']:g}/dim, word dropout "
        f"{net['word_dropout']:g}. {res['vae'].get('optimizer', 'Adam')} one-cycle lr {s['lr']:g}, bs {s['bs']}, "
        f"gradient clip {s['grad_clip']:g}, seed {s['seed']}{tf} (`SentenceVAESettings` + `train_vae`). "
        f"Budget: {bench['budget_min']:g} min of training per model, {side}, {bench['threads']} thread(s) each; "
        f"the number of batches is fixed from a throughput probe ({bench['probe_batches']} batches on a copy of "
        f"the model) before the first epoch (at most {s['epochs']} passes over the training set), so the real "
        f"time (in the table) drifts with the machine's load.")


def report(args: argparse.Namespace, out: Path, load: str = "") -> str:
    from bench._report import publish
    from contextlm.vae.learner import load_vae_learner

    res = {n: json.loads((out / f"{n}.json").read_text()) for n in NAMES}
    vae = res["vae"]
    k = vae["iw_samples"]
    learn = load_vae_learner(out / "vae")
    vocab = learn.vocab
    lines = [
        "## Sentence VAE vs LSTM-LM on PTB", "", describe(res, args.data), "",
        "| model | train time | sentences seen | test recon NLL | KL | -ELBO | ELBO ppl | AU | MI | "
        f"IW-NLL (k={k}) | IW ppl | -ELBO on IW subset |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, label in NAMES.items():
        r, f, s = res[n], res[n]["full_test"], res[n]["iw_subset"]
        lines.append(f"| {label} | {r['train_s'] / 60:.1f} min | {r['train_sentences_seen']:,} | {fmt(f['recon'])} | "
                     f"{fmt(f['kl'])} | {fmt(f['neg_elbo'])} | {fmt(f['elbo_ppl'], 1)} | {int(f['au'])} | "
                     f"{fmt(f['mi'])} | {fmt(s['iw_nll'])} | {fmt(s['iw_ppl'], 1)} | {fmt(s['neg_elbo'])} |")
    v, l = vae["iw_subset"], res["lm"]["iw_subset"]
    diff = v["iw_nll"] - l["iw_nll"]
    verdict = ("below the baseline" if diff <= -TIE_NATS else "above the baseline" if diff >= TIE_NATS else
               f"a tie: the difference is under {TIE_NATS} nat per sentence")
    by_k = ", ".join(f"k={kk}: {x:.3f}" for kk, x in sorted(vae.get("iw_by_k", {}).items(), key=lambda kv: int(kv[0])))
    kl, au = vae["full_test"]["kl"], int(vae["full_test"]["au"])
    met = lambda ok: "met" if ok else "missed"  # noqa: E731
    lines += [
        "",
        f"Recon/KL/-ELBO/AU/MI on all {vae['n_test']:,} test sentences; IW-NLL on "
        f"{vae['iw_subset_n']:,} of them (seeded subset; for the LM it is the exact NLL). "
        f"Per sentence, nats; perplexities per target token with `<eos>`. MI: He et al. 2019's estimator "
        f"(aggregate posterior from each test batch, so at most log(bs) = {math.log(vae['eval_bs']):.2f}). "
        f"Throughput probe: VAE {vae['s_per_batch']:.3f} s/batch, LM {res['lm']['s_per_batch']:.3f} s/batch"
        f"{'; ' + load if load else ''}.",
        "",
        f"**Against the targets:** IW-NLL VAE {v['iw_nll']:.3f} vs LM {l['iw_nll']:.3f} ({diff:+.3f}; {verdict}; "
        f"VAE estimates {by_k} — more samples tighten the bound); KL {fmt(kl)} (target >= {TARGETS['kl']:g}: "
        f"{met(kl >= TARGETS['kl'])}); active units {au} (target >= {TARGETS['au']}: {met(au >= TARGETS['au'])}). "
        f"Anchor {ANCHOR['name']} ({ANCHOR['how']}): recon {ANCHOR['recon']}, KL {ANCHOR['kl']}.",
        "",
        f"### Homotopies (VAE, greedy decoding of {HOMOTOPY_STEPS} points on the line between the posterior means)",
        "",
    ]
    for s0, s1 in HOMOTOPIES:
        unk = sorted({w for s in (s0, s1) for w in s.split() if w not in vocab.stoi})
        lines.append(f"`{s0}` → `{s1}` — the vocabulary covers {'every word' if not unk else 'all but ' + ', '.join(unk)}"
                     f"{'' if not unk else ' (read as <unk>)'}:")
        lines.append("")
        table = learn.interpolate(s0, s1, steps=HOMOTOPY_STEPS, path="lerp")
        lines += [f"    {row.t:.2f}  {row.text}" for row in table.itertuples()]
        lines.append("")
    lines.append("Samples from the prior (greedy): "
                 + " / ".join(f"`{s}`" for s in learn.sample(PRIOR_SAMPLES, method="greedy")))
    md = "\n".join(lines)
    cmd = vae.get("train_command", command_line())
    if cmd != command_line():  # evaluated again with --eval-only
        cmd = f"{cmd}` then `{command_line()}"
    publish("vae_ptb", md, command=cmd, no_report=args.no_report, quick=args.quick)
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
