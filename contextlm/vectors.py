"""Pretrained word vectors (GloVe or word2vec text format) for the LM's and the VAEs' embeddings.

    report = apply_vectors(learn, learn.model.emb, "glove.6B.50d.txt.gz", vocab.itos, freeze=True,
                           counts=id_counts(ids for ids, _ in dls.train.dataset, len(vocab)))

`read_vectors` streams the file line by line (plain or gzip, a progress bar over the bytes
read on stderr) and keeps only the vocabulary's words: a 400k-word file never sits in
memory. A word missing from the file is looked up lower-cased (GloVe 6B is uncased); a
word found neither way, and every special token (`xxunk`, `xxpad`, `xxmaj`, `<pad>`...),
keeps its random initialisation. Only the vectors of kept words are parsed as numbers, but
every line's length is checked. Module top is stdlib only, so the torch-free settings can
call `check_vector_settings`.
"""
from __future__ import annotations

import gzip
import io
import sys
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .errors import ContextLMError

TIED_FREEZE = ("--freeze-vectors with tied weights would freeze the output layer too (it is the same matrix): add "
               "--no-tie-weights to freeze only the input embedding, or leave out --freeze-vectors to fine-tune")
SPECIALS = frozenset(["xxunk", "xxpad", "xxbos", "xxeos", "xxfld", "xxrep", "xxwrep", "xxup", "xxmaj", "xxfake",
                      "<pad>", "<bos>", "<eos>", "<unk>"])
EXAMPLES = 10  # uncovered (most frequent first) and lower-case matches kept in the report


class VectorsError(ContextLMError, ValueError):
    """A vectors file is missing, unreadable, malformed, of the wrong size or useless."""


def check_vector_settings(vectors: str | None, freeze: bool, tied: bool = False) -> None:
    """What the settings classes check before any work: `--freeze-vectors` needs a file, and
    refuses tied weights (see `apply_vectors`)."""
    if freeze and not vectors:
        raise VectorsError("--freeze-vectors needs --vectors FILE")
    if freeze and tied:
        raise VectorsError(TIED_FREEZE)


@dataclass
class VectorsReport:
    """What a vectors file gave a vocabulary; saved in the model folder's config."""
    path: str
    bytes: int
    dim: int
    vectors: int                     # in the file
    vocab_words: int                 # vocabulary types looked up (special tokens are not)
    exact: int
    lowercase: int                   # found only as the lower-cased word
    uncovered: int
    token_share: float | None        # share of the training tokens (of vocabulary words) covered
    seconds: float
    frozen: bool = False
    lowercase_examples: list[str] = field(default_factory=list)   # "Paris->paris"
    uncovered_examples: list[str] = field(default_factory=list)   # most frequent first

    @property
    def covered(self) -> int:
        return self.exact + self.lowercase

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "covered": self.covered}

    def summary(self) -> str:
        """One or two lines for the training log."""
        head = (f"{Path(self.path).name}: {self.covered:,} of {self.vocab_words:,} vocabulary words "
                f"({100 * self.covered / self.vocab_words:.1f} %)")
        if self.token_share is not None:
            head += f", {100 * self.token_share:.1f} % of training tokens"
        if self.lowercase:
            head += f" ({self.lowercase:,} in lower case, e.g. {', '.join(self.lowercase_examples[:3])})"
        head += f"; {self.dim}-d, {'frozen' if self.frozen else 'fine-tuned'}, read in {self.seconds:.1f} s"
        if not self.uncovered:
            return head
        keep = "word keeps its" if self.uncovered == 1 else "words keep their"
        return head + (f"\n{self.uncovered:,} {keep} random init{' (frozen too)' if self.frozen else ''}, "
                       f"e.g. {', '.join(self.uncovered_examples)}")


def id_counts(sequences: Iterable[Sequence[int]], n: int) -> list[int]:
    """How often each of `n` token ids occurs in `sequences` (the training split)."""
    import numpy as np
    out = np.zeros(n, np.int64)
    for ids in sequences:
        out += np.bincount(np.asarray(ids, np.int64), minlength=n)
    return out.tolist()


def _open(path: Path):
    """(text lines, the binary file under them): gzip is recognised by its magic bytes."""
    raw = open(path, "rb")
    stream = gzip.GzipFile(fileobj=raw) if raw.read(2) == b"\x1f\x8b" else raw
    raw.seek(0)
    return io.TextIOWrapper(stream, encoding="utf-8"), raw


def read_vectors(path: str | Path, vocab: Sequence[str], emb_sz: int | None = None,
                 counts: Sequence[int] | None = None, progress: bool = True):
    """(matrix `[len(vocab), dim]` float32, found mask `[len(vocab)]`, `VectorsReport`).
    Rows of words without a vector are zero. `emb_sz` is checked on the first vector, before
    the rest is read; `counts` (per vocab id) adds the share of training tokens covered."""
    import numpy as np
    from tqdm import tqdm
    path, start = Path(path), time.perf_counter()
    if not path.is_file():
        raise VectorsError(f"{path}: no such vectors file" + (" (it is a folder)" if path.is_dir() else ""))
    wanted: dict[str, list[int]] = {}
    for i, w in enumerate(vocab):
        if w not in SPECIALS:
            wanted.setdefault(w, []).append(i)
    lower = {}
    for w, ids in wanted.items():
        lower.setdefault(w.lower(), []).extend(ids)
    exact, fallback = {}, {}  # vocab id -> (vector text, file word, line)
    dim, lineno, n_vectors, header, size = None, 0, 0, False, path.stat().st_size
    text, raw = _open(path)
    bar = tqdm(total=size, unit="B", unit_scale=True, desc=path.name, file=sys.stderr, disable=not progress,
               leave=False)
    try:
        for lineno, line in enumerate(text, 1):
            word, _, rest = line.rstrip().partition(" ")
            if not word:
                continue
            n = rest.count(" ") + 1 if rest else 0
            if dim is None:
                header = lineno == 1 and n == 1 and word.isdigit() and rest.isdigit()
                dim = int(rest) if header else n
                if emb_sz is not None and dim != emb_sz:
                    raise VectorsError(f"{path} has {dim}-d vectors but emb_sz is {emb_sz}: pass --emb-sz {dim}")
                if header:
                    continue
            if n != dim and len(rest.split()) != dim:
                raise VectorsError(f"{path}: line {lineno}: {word!r} has {len(rest.split())} values where "
                                   f"{'the header says' if header else 'the lines before it have'} {dim}")
            n_vectors += 1
            for i in wanted.get(word, ()):
                exact.setdefault(i, (rest, word, lineno))
            for i in lower.get(word.lower(), ()):
                fallback.setdefault(i, (rest, word, lineno))
            if lineno % 4096 == 0:
                bar.update(raw.tell() - bar.n)
    except UnicodeDecodeError:
        raise VectorsError(f"{path}: line {lineno + 1}: not UTF-8 text (word2vec's binary format is not read: "
                           f"convert it to text)") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise VectorsError(f"{path}: not a readable gzip file ({e})") from None
    finally:
        bar.close()
        text.close()
        raw.close()
    if not n_vectors or not dim:
        raise VectorsError(f"{path}: no vectors in it" + ("" if lineno else " (empty file)"))
    found = {**fallback, **exact}
    if not found:
        shown = ", ".join(list(wanted)[:5])
        raise VectorsError(f"{path}: none of the {len(wanted):,} vocabulary words has a vector (e.g. {shown}); "
                           f"is it the right file, or the right --tokenizer?")
    matrix, mask = np.zeros((len(vocab), dim), np.float32), np.zeros(len(vocab), bool)
    for i, (values, word, at) in found.items():
        try:
            matrix[i] = np.array(values.split(), np.float32)
        except ValueError:
            bad = next(v for v in values.split() if not _is_number(v))
            raise VectorsError(f"{path}: line {at}: {word!r}: {bad!r} is not a number") from None
        if not np.isfinite(matrix[i]).all():
            raise VectorsError(f"{path}: line {at}: {word!r}: a value is not finite (nan or inf)")
        mask[i] = True
    looked_up = [i for ids in wanted.values() for i in ids]
    missing = [i for i in looked_up if not mask[i]]
    if counts is not None:
        missing.sort(key=lambda i: -counts[i])
    tokens = sum(counts[i] for i in looked_up) if counts is not None else 0
    share = sum(counts[i] for i in looked_up if mask[i]) / tokens if tokens else None
    low = sorted(i for i in found if i not in exact)
    report = VectorsReport(str(path.resolve()), size, dim, n_vectors, len(looked_up), len(exact), len(low),
                           len(missing), share, round(time.perf_counter() - start, 2),
                           lowercase_examples=[f"{vocab[i]}->{fallback[i][1]}" for i in low[:EXAMPLES]],
                           uncovered_examples=[vocab[i] for i in missing[:EXAMPLES]])
    return matrix, mask, report


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class WithoutFrozen:
    """A fastai splitter minus the frozen parameters: the optimizer never holds them, so
    neither its weight decay nor `learn.freeze()`/`unfreeze()` (which set `requires_grad`
    on every parameter the optimizer holds) can touch them."""

    def __init__(self, splitter: Callable, frozen: Sequence):
        self.splitter, self.frozen = splitter, list(frozen)

    def __call__(self, model) -> list:
        groups = list(self.splitter(model))
        keep = lambda params: [p for p in params if all(p is not f for f in self.frozen)]  # noqa: E731
        if groups and hasattr(groups[0], "requires_grad"):  # one flat group (fastai's `trainable_params`)
            return keep(groups)
        return [keep(group) for group in groups]


def apply_vectors(learn, emb, path: str | Path, vocab: Sequence[str], freeze: bool = False,
                  counts: Sequence[int] | None = None, progress: bool = True,
                  log: Callable[[str], None] | None = print) -> VectorsReport:
    """Copy the vectors of `path` into the rows of `emb` (an `nn.Embedding` of `learn.model`)
    for the words of `vocab` it has, and, with `freeze`, keep the whole matrix fixed. Rows are
    copied as published, not rescaled to the random init's range (GloVe's values are ~10x
    fastai's +-0.1): fine-tuning and the LSTMs adapt, and a frozen matrix keeps its geometry.

    Freezing refuses an embedding whose weight another module shares (a decoder tied to it,
    as fastai's AWD-LSTM is by default): the output layer would silently stop learning, and
    untying it behind the user's back would add `vocab x emb_sz` parameters they did not ask
    for. The caller chooses instead (`TIED_FREEZE`). The report goes to `log` and to
    `learn.vectors_report` (a dict), which the model folders save."""
    import torch
    if len(vocab) != emb.num_embeddings:
        raise VectorsError(f"a vocabulary of {len(vocab)} words for an embedding of {emb.num_embeddings} rows")
    if freeze:
        shared = [name for name, m in learn.model.named_modules()
                  if m is not emb and any(p is emb.weight for p in m.parameters(recurse=False))]
        if shared:
            raise VectorsError(f"{TIED_FREEZE} (shared with {', '.join(shared)})")
    matrix, mask, report = read_vectors(path, vocab, emb.embedding_dim, counts, progress)
    with torch.no_grad():
        rows = torch.from_numpy(mask).to(emb.weight.device)
        emb.weight[rows] = torch.from_numpy(matrix[mask]).to(emb.weight)
    if freeze:
        emb.weight.requires_grad_(False)
        learn.splitter = WithoutFrozen(learn.splitter, [emb.weight])
        learn.opt = None  # rebuilt from the new splitter at the next fit
    report.frozen = freeze
    learn.vectors_report = report.to_dict()
    if log is not None:
        log(report.summary())
    return report
