"""Issue 13.8: contextlm's recurrent VAE against timbmg/Sentence-VAE's GRU VAE (`_timbmg.py`),
side by side in one process, one thread.

Every model gets the same PTB batches (bs 32, the library's length-bucketed training order;
and, for the raw step, the same sentences in random order as timbmg's own loader batches
them). The timed blocks are interleaved (A B C .. A B C ..) and each repetition gives a
ratio timbmg seconds / model seconds, so load that drifts over the run hits both sides of
a ratio alike; the figure is the median of the paired ratios. Time is the process's CPU
time (one thread: what the computation costs, not how busy the machine is), wall time is
kept beside it.

- raw step: forward, loss, backward, `torch.optim.Adam` step: the same optimizer for all;
- through `VAELearner.fit`: `fit_one_cycle` with the library's callbacks (`vae_callbacks`:
  gradient clipping, KL annealing) and fastai's Adam, over the same batches, timed from
  `before_train` to `after_train` (the validation pass is left out);
- bs 1: a training step on one sentence, and greedy generation (30 tokens) at bs 1 and 32,
  with oneDNN on and off for the recurrent layers.

"before" rows run the same model as the library ran it before issue 13.8's changes: oneDNN
as torch sets it (on) in generation too, and the teacher-forced decoder never packed.
"""
from __future__ import annotations

import statistics
import time
from itertools import islice
from typing import Callable

import torch

SIZES = dict(emb_sz=300, enc_hidden=256, dec_hidden=256, latent_sz=16)  # timbmg's defaults
MAX_LEN = 60                                                             # timbmg's max_sequence_length
ENC_HALF = 128  # a biLSTM of 128 per direction: timbmg's encoder state width (256), split in two


def sentence_batches(data: str, bs: int, n: int, seed: int = 0):
    """`(loaders, bucketed, random)`: the library's PTB loaders and `n` training batches of
    `bs` in its bucketed order and, for the same loader's sentences, in random order."""
    import random
    from contextlm.vae.data import pad_batch, read_ptb, sentence_dataloaders
    dls = sentence_dataloaders(read_ptb(data), tokenizer="whitespace", max_len=MAX_LEN, bs=bs, seed=seed)
    bucketed = list(islice(dls.train, n))
    items = random.Random(seed).sample(list(dls.train.dataset), bs * n)
    rand = []
    for i in range(0, len(items), bs):
        tokens, lengths = pad_batch([ids for ids, _ in items[i:i + bs]], dls.vocab.pad_id)
        rand.append((tokens, lengths, tokens[:, 1:]))
    return dls, bucketed, rand


def contextlm_model(vocab, cell: str, before: bool = False, **sizes):
    """contextlm's recurrent VAE at timbmg's sizes (`before`: oneDNN on, never packed;
    `sizes`: other `VAEConfig` sizes)."""
    from contextlm.vae.config import VAEConfig
    from contextlm.vae.model import SentenceVAE
    model = SentenceVAE(VAEConfig(vocab_sz=len(vocab), **vocab.special_ids(), cell=cell, **{**SIZES, **sizes}))
    if before:
        model.onednn_generation, model.pack_padding = None, 1.0
    return model


def reference_model(vocab):
    from bench._timbmg import TimbmgVAE
    return TimbmgVAE(len(vocab), vocab.pad_id, vocab.unk_id, SIZES["emb_sz"], SIZES["dec_hidden"], SIZES["latent_sz"])


def raw_trainer(model, batches, pad_id: int) -> Callable[[], None]:
    """One pass of training steps over `batches` with torch's Adam."""
    from bench._timbmg import TimbmgVAE, timbmg_loss
    from contextlm.vae.objectives import vae_loss
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    model.train()

    def run() -> None:
        for tokens, lengths, targets in batches:
            if isinstance(model, TimbmgVAE):
                loss = timbmg_loss(model, tokens, lengths)
            else:
                loss = vae_loss(model(tokens, lengths), targets, pad_id)[0]
            opt.zero_grad()
            loss.backward()
            opt.step()
    return run


def fit_trainer(model, batches, dls) -> Callable[[], float]:
    """`fit_one_cycle(1)` of a `VAELearner` over `batches` with the library's callbacks;
    returns the CPU seconds of the training phase."""
    from fastai.callback.core import Callback
    from fastai.data.core import DataLoaders
    from contextlm.vae.data import SentenceDL
    from contextlm.vae.learner import VAELearner
    from contextlm.vae.settings import SentenceVAESettings
    from contextlm.vae.train import vae_callbacks

    class Fixed(SentenceDL):
        """The given batches, in their order, every epoch."""
        def get_idxs(self):
            return list(range(len(self.dataset)))

    bs = len(batches[0][0])
    items = [(ids[:int(n)].tolist(), None) for tokens, lengths, _ in batches for ids, n in zip(tokens, lengths)]
    train = Fixed(items, pad_id=dls.vocab.pad_id, bs=bs, shuffle=False)
    valid = SentenceDL(list(dls.valid.dataset)[:bs], pad_id=dls.vocab.pad_id, bs=bs, shuffle=False)
    loaders = DataLoaders(train, valid)
    loaders.vocab = dls.vocab

    class Clock(Callback):
        def before_train(self):
            self.start = time.process_time()

        def after_train(self):
            self.train_cpu_s = time.process_time() - self.start

    clock = Clock()
    learn = VAELearner(loaders, model, cbs=vae_callbacks(SentenceVAESettings()) + [clock])

    def run() -> float:
        with learn.no_bar(), learn.no_logging():
            learn.fit_one_cycle(1, 1e-3)
        return clock.train_cpu_s
    return run


def interleaved(tasks: dict[str, Callable[[], float | None]], reps: int) -> dict[str, list[tuple[float, float]]]:
    """`(cpu s, wall s)` of every task per repetition, the tasks taking turns (after one
    untimed warm-up round); a task may return its own CPU seconds (the fit's training phase)."""
    for task in tasks.values():
        task()
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in tasks}
    order = list(tasks)
    for r in range(reps):
        for name in order[r % len(order):] + order[:r % len(order)]:  # rotate who goes first
            c0, w0 = time.process_time(), time.perf_counter()
            own = tasks[name]()
            cpu = time.process_time() - c0 if own is None else own
            times[name].append((cpu, time.perf_counter() - w0))
    return times


def paired(times: dict[str, list[tuple[float, float]]], ref: str, name: str, which: int = 0) -> float:
    """Median over repetitions of ref's seconds / name's seconds (> 1: name is faster)."""
    return statistics.median(a[which] / b[which] for a, b in zip(times[ref], times[name]))


def switched(task: Callable[[], None], on: bool) -> Callable[[], None]:
    """`task` with oneDNN on or off (`contextlm.vae.model.onednn`)."""
    from contextlm.vae.model import onednn

    def run() -> None:
        with onednn(on):
            task()
    return run


def generation(model, bs: int, steps: int = 30) -> Callable[[], None]:
    """Greedy decoding of `steps` tokens from fixed codes (every step runs: no early stop)."""
    z = torch.randn(bs, model.config.z_dim, generator=torch.Generator().manual_seed(0))
    model.eval()

    @torch.no_grad()
    def run() -> None:
        memory = model.decoder_memory(*model.context(z, None, bs))
        state = model.initial_state(memory)
        inp = torch.full((bs, 1), model.config.bos_id)
        for step in range(steps):
            logits, state = model.next_logits(inp, state, memory, step)
            inp = logits.argmax(-1, keepdim=True)
    return run


def measure(data: str, reps: int = 5, n_batches: int = 8, n_single: int = 16, seed: int = 0) -> dict:
    """Every figure of the speed section (see the module docstring) as a JSON-able dict."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    dls, bucketed, rand = sentence_batches(data, 32, n_batches, seed)
    vocab, pad = dls.vocab, dls.vocab.pad_id
    names = {"lstm": ("lstm", False), "gru": ("gru", False), "lstm_before": ("lstm", True),
             "gru_before": ("gru", True)}
    half = {f"{c}_enc{ENC_HALF}": c for c in ("lstm", "gru")}  # the encoder's share (raw step only)
    out: dict = dict(reps=reps, n_batches=n_batches, bs=32, n_single=n_single, sizes=SIZES, max_len=MAX_LEN, enc_half=ENC_HALF,
                     tokens_bucketed=sum(int(b[1].sum()) for b in bucketed),
                     tokens_random=sum(int(b[1].sum()) for b in rand),
                     fill_bucketed=fill(bucketed, pad), fill_random=fill(rand, pad),
                     params={"timbmg": n_params(reference_model(vocab)),
                             **{c: n_params(contextlm_model(vocab, c)) for c in ("lstm", "gru")}})
    for label, batches in (("raw", bucketed), ("raw_random", rand)):
        tasks = {"timbmg": raw_trainer(reference_model(vocab), batches, pad)}
        tasks.update({n: raw_trainer(contextlm_model(vocab, c, b), batches, pad) for n, (c, b) in names.items()})
        if label == "raw":
            tasks.update({n: raw_trainer(contextlm_model(vocab, c, enc_hidden=ENC_HALF), batches, pad)
                          for n, c in half.items()})
        out[label] = summary(interleaved(tasks, reps), [n for n in tasks if n != "timbmg"])
        print(label, out[label]["ratio"], flush=True)
    tasks = {"timbmg": raw_trainer(reference_model(vocab), bucketed, pad)}
    tasks.update({n: fit_trainer(contextlm_model(vocab, c, b), bucketed, dls) for n, (c, b) in names.items()})
    out["fit"] = summary(interleaved(tasks, reps), list(names))
    print("fit", out["fit"]["ratio"], flush=True)
    # oneDNN on vs off around the whole block: training steps on one sentence, and generation
    _, single, _ = sentence_batches(data, 1, n_single, seed)
    tasks = {}
    for cell in ("lstm", "gru"):
        train_model, gen_model = contextlm_model(vocab, cell), contextlm_model(vocab, cell)
        gen_model.onednn_generation = None  # the block's setting rules
        for on in (True, False):
            key = f"{cell}_onednn_{'on' if on else 'off'}"
            tasks[f"train1_{key}"] = switched(raw_trainer(train_model, single, pad), on)
            tasks[f"gen1_{key}"] = switched(generation(gen_model, 1), on)
            tasks[f"gen32_{key}"] = switched(generation(gen_model, 32), on)
    times = interleaved(tasks, reps)
    out["onednn"] = {k: dict(cpu_ms=1000 * statistics.median(t[0] for t in v), wall_ms=1000 * statistics.median(
        t[1] for t in v)) for k, v in times.items()}
    out["onednn_off_speedup"] = {k.replace("_onednn_on", ""): paired(times, k, k[:-3] + "_off")
                                 for k in times if k.endswith("_on")}
    print("onednn off speed-up", out["onednn_off_speedup"], flush=True)
    return out


def summary(times: dict[str, list[tuple[float, float]]], names: list[str]) -> dict:
    """Median seconds per block, and the paired ratios against timbmg (CPU and wall)."""
    return dict(cpu_s={k: statistics.median(t[0] for t in v) for k, v in times.items()},
                ratio={n: paired(times, "timbmg", n) for n in names},
                ratio_wall={n: paired(times, "timbmg", n, 1) for n in names})


def fill(batches, pad: int) -> float:
    """Share of target positions that hold a token (not padding)."""
    return sum(int((b[2] != pad).sum()) for b in batches) / sum(b[2].numel() for b in batches)


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())
