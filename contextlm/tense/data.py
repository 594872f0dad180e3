"""Verb-tense data: the lab's file format, tense names, and a larger set built offline
from lemminflect's inflection tables with a split of verbs never seen in training.

The lab format is one verb per line, four space-separated forms in the fixed order
simple present (sp), third person (tp), present progressive (pg), simple past (p).
Its test file holds ten `input target` pairs whose tense conditions live only in the
course's readme, so they are hard-coded here (`LAB_TEST_CONDITIONS`).
"""
from __future__ import annotations

import gzip
import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import ContextLMError, CorpusError

TENSES: tuple[str, ...] = ("sp", "tp", "pg", "p")
TENSE_NAMES: dict[str, str] = {"sp": "simple present", "tp": "third person",
                               "pg": "present progressive", "p": "simple past"}
# Penn tags lemminflect uses for each column (VB, not VBP: VBP of "be" is "am/are").
PENN_TAGS: dict[str, str] = {"sp": "VB", "tp": "VBZ", "pg": "VBG", "p": "VBD"}
_ALIASES: dict[str, str] = {
    **{t: t for t in TENSES},
    **{name.replace(" ", "-"): t for t, name in TENSE_NAMES.items()},
    **{name.replace(" ", "_"): t for t, name in TENSE_NAMES.items()},
    **{name.replace(" ", ""): t for t, name in TENSE_NAMES.items()},
    **{tag.lower(): t for t, tag in PENN_TAGS.items()},
    "present": "sp", "third": "tp", "3rd": "tp", "third-person-singular": "tp",
    "progressive": "pg", "ing": "pg", "past": "p",
}
# (input tense, target tense) of the lab's test.txt lines, in line order (from data_readme.txt).
LAB_TEST_CONDITIONS: tuple[tuple[str, str], ...] = (
    ("sp", "p"), ("sp", "pg"), ("sp", "tp"), ("sp", "tp"), ("p", "tp"),
    ("sp", "pg"), ("p", "sp"), ("pg", "sp"), ("pg", "p"), ("pg", "tp"))

VerbLine = tuple[str, str, str, str]


def tense_code(name: str) -> str:
    """Canonical short code of a tense given any accepted spelling ('past', 'VBD', 'simple-past' -> 'p')."""
    key = str(name).strip().lower().replace(" ", "-")
    if key in _ALIASES:
        return _ALIASES[key]
    if key.replace("-", "") in _ALIASES:
        return _ALIASES[key.replace("-", "")]
    raise ContextLMError(f"unknown tense {name!r}; use one of sp, tp, pg, p "
                         f"({', '.join(f'{t}={TENSE_NAMES[t]}' for t in TENSES)})")


def tense_id(name: str | int) -> int:
    """Index 0..3 of a tense (the condition the model's embedding looks up)."""
    if isinstance(name, int) and not isinstance(name, bool):
        if not 0 <= name < len(TENSES):
            raise ContextLMError(f"tense index {name} is out of range 0..{len(TENSES) - 1}")
        return name
    return TENSES.index(tense_code(name))


@dataclass(frozen=True)
class TensePair:
    """One conversion: `src` in tense `src_tense` should become `tgt` in `tgt_tense` (tense ids)."""
    src: str
    tgt: str
    src_tense: int
    tgt_tense: int

    @property
    def condition(self) -> str:
        return f"{TENSES[self.src_tense]}->{TENSES[self.tgt_tense]}"


def _lines(path: Path) -> list[str]:
    if not path.exists():
        raise CorpusError(f"{path}: no such file")
    if path.is_dir():
        raise CorpusError(f"{path}: is a folder, expected a text file")
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise CorpusError(f"{path}: not UTF-8 text") from None


def read_verb_lines(path: str | Path) -> list[VerbLine]:
    """Read a lab-format verb file (4 forms per line: sp tp pg p); blank lines are skipped."""
    path = Path(path)
    out: list[VerbLine] = []
    for i, line in enumerate(_lines(path), 1):
        words = line.split()
        if not words:
            continue
        if len(words) != 4:
            raise CorpusError(f"{path}: line {i}: expected 4 forms (sp tp pg p), got {len(words)}: {line.strip()!r}")
        out.append(tuple(w.lower() for w in words))  # type: ignore[arg-type]
    if not out:
        raise CorpusError(f"{path}: no verbs in the file")
    return out


def write_verb_lines(path: str | Path, lines: Iterable[Sequence[str]]) -> Path:
    """Write verbs in the lab format (no trailing newline, like the course file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(" ".join(line) for line in lines), encoding="utf-8")
    return path


def read_test_pairs(path: str | Path, conditions: Sequence[tuple[str, str]] | None = LAB_TEST_CONDITIONS
                    ) -> list[TensePair]:
    """Read `input target` lines with tenses from `conditions` (the lab's ten by default), or
    `input target src_tense tgt_tense` lines (used whenever every line has four columns)."""
    path = Path(path)
    rows = [(i, line.split()) for i, line in enumerate(_lines(path), 1) if line.split()]
    if not rows:
        raise CorpusError(f"{path}: no test pairs in the file")
    if all(len(words) == 4 for _, words in rows):
        conditions = None
    if conditions is not None and len(rows) != len(conditions):
        raise CorpusError(f"{path}: {len(rows)} pairs, but {len(conditions)} tense conditions are known; "
                          "write the tenses as columns 3 and 4 (input target src tgt) for another test set")
    pairs = []
    for k, (i, words) in enumerate(rows):
        if conditions is not None and len(words) == 2:
            src_t, tgt_t = conditions[k]
        elif len(words) == 4:
            src_t, tgt_t = words[2], words[3]
        else:
            raise CorpusError(f"{path}: line {i}: expected 'input target' or 'input target src_tense tgt_tense'")
        try:
            pairs.append(TensePair(words[0].lower(), words[1].lower(), tense_id(src_t), tense_id(tgt_t)))
        except ContextLMError as e:
            raise CorpusError(f"{path}: line {i}: {e}") from None
    return pairs


def all_pairs(lines: Iterable[VerbLine], include_same: bool = False) -> list[TensePair]:
    """Every (source tense -> target tense) conversion of every verb: 12 per verb (16 with `include_same`)."""
    return [TensePair(line[a], line[b], a, b) for line in lines
            for a in range(len(TENSES)) for b in range(len(TENSES)) if include_same or a != b]


# --- lemminflect -----------------------------------------------------------------------

def lemminflect_verbs(alphabet: str = "abcdefghijklmnopqrstuvwxyz") -> list[VerbLine]:
    """All verbs in lemminflect's inflection table whose four forms are spelled with `alphabet`.

    The lemma list is read from the table lemminflect ships (`infl_lu.csv.gz`, rows
    tagged `verb`); the forms come from its public `getAllInflections`, taking the
    first (most common) spelling of each tag, so the result is the same offline and
    on every machine with the same lemminflect version."""
    import lemminflect
    table = resources.files("lemminflect") / "resources" / "infl_lu.csv.gz"
    try:
        with gzip.open(table, "rt", encoding="utf-8") as f:
            lemmas = sorted({row.split(",", 2)[0] for row in f if row.split(",", 2)[1:2] == ["verb"]})
    except OSError as e:
        raise ContextLMError(f"lemminflect's inflection table is unreadable ({e}); reinstall lemminflect") from None
    allowed = set(alphabet)
    out: list[VerbLine] = []
    for lemma in lemmas:
        if not set(lemma) <= allowed:
            continue
        infl = lemminflect.getAllInflections(lemma, upos="VERB")
        forms = [infl.get(PENN_TAGS[t], (None,))[0] for t in TENSES]
        if all(f and set(f) <= allowed for f in forms):
            out.append(tuple(forms))  # type: ignore[arg-type]
    return out


def split_heldout(lines: Sequence[VerbLine], fraction: float = 0.1, seed: int = 0,
                  never_held_out: Iterable[str] = ()) -> tuple[list[VerbLine], list[VerbLine]]:
    """Split verbs (whole lines) into training and held-out; a verb any of whose forms is in
    `never_held_out` stays in training, so a model trained on those words meets only new verbs."""
    if not 0 < fraction < 1:
        raise ContextLMError(f"held-out fraction {fraction} must be between 0 and 1")
    keep = set(never_held_out)
    candidates = [i for i, line in enumerate(lines) if not keep.intersection(line)]
    n = round(len(lines) * fraction)
    if n > len(candidates):
        raise ContextLMError(f"cannot hold out {n} verbs: only {len(candidates)} are not reserved for training")
    held = set(random.Random(seed).sample(candidates, n))
    return ([l for i, l in enumerate(lines) if i not in held], [l for i, l in enumerate(lines) if i in held])


def build_lemminflect(out: str | Path, heldout: float = 0.1, seed: int = 0,
                      never_held_out: Sequence[str | Path] = ()) -> dict[str, Path]:
    """Write `train.txt` and `heldout.txt` (lab format) built from lemminflect into the folder `out`.

    Words of the lab-format files in `never_held_out` (e.g. the lab's train.txt and
    test.txt) are kept out of the held-out verbs."""
    reserved: set[str] = set()
    for f in never_held_out:
        for line in _lines(Path(f)):
            reserved.update(w.lower() for w in line.split())
    train, held = split_heldout(lemminflect_verbs(), heldout, seed, reserved)
    out = Path(out)
    return {"train": write_verb_lines(out / "train.txt", train),
            "heldout": write_verb_lines(out / "heldout.txt", held)}
