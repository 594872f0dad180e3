"""Which words are too common to say anything: NLTK's English stopword list.

NLTK's own corpus is used when it is installed (so a user's list matches what NLTK
prints); otherwise a packaged copy of the same list, because the corpus cannot be
downloaded on every machine. A user's own file adds to either.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import ContextLMError

PACKAGED = Path(__file__).resolve().parent.parent / "resources" / "nltk_english_stopwords.txt"
NLTK_RESOURCE = "corpora/stopwords/english"


def _parse(text: str) -> frozenset[str]:
    """One word a line; blank lines and `#` comments skipped; lower-cased."""
    return frozenset(line.strip().lower() for line in text.splitlines()
                     if line.strip() and not line.lstrip().startswith("#"))


def _from_nltk() -> frozenset[str] | None:
    """NLTK's installed corpus, or None when it is missing (it is never downloaded here)."""
    try:
        import nltk
        pointer = nltk.data.find(NLTK_RESOURCE)
    except (ImportError, LookupError, OSError):
        return None
    with pointer.open() as f:
        raw = f.read()
    return _parse(raw.decode("utf-8") if isinstance(raw, bytes) else raw)


def english_stopwords() -> tuple[frozenset[str], str]:
    """NLTK's English stopwords and where they came from (`"nltk"` or `"packaged"`)."""
    words = _from_nltk()
    if words:
        return words, "nltk"
    return _parse(PACKAGED.read_text(encoding="utf-8")), "packaged"


def read_stopword_file(path: str | Path) -> frozenset[str]:
    """A user's stopword file: one word a line (or several separated by spaces/commas)."""
    path = Path(path)
    if not path.is_file():
        raise ContextLMError(f"--stopwords {path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ContextLMError(f"--stopwords {path}: not UTF-8 text; save it as UTF-8, one word a line") from None
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    return frozenset(w.strip().lower() for ln in lines for w in ln.replace(",", " ").split() if w.strip())


def load_stopwords(extra: str | Path | None = None) -> tuple[frozenset[str], str]:
    """NLTK's list plus a user's file; returns the words and a one-line description."""
    words, source = english_stopwords()
    what = f"NLTK English stopwords ({'NLTK corpus' if source == 'nltk' else 'packaged copy'}, {len(words)} words)"
    if extra is not None:
        more = read_stopword_file(extra)
        words = words | more
        what += f" + {len(more)} from {Path(extra).name}"
    return words, what
