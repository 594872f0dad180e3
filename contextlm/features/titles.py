"""Read the song out of a post title: 'Artist - "Title"', 'Artist: Title (feat. X)',
'TUNES // Artist – Title', 'Artist shares new track “Title”', '"Title" by Artist'.

Returns a `Query`; when the artist cannot be cut out cleanly (a sentence), the query
keeps the sentence as context and the matcher requires the artist to appear in it.
"""
from __future__ import annotations

import re

from .matching import Query
from .names import fix_text

# Column labels blogs put in front of the song ("TUNES //", "[Streaming]:", "Premiere:").
_PREFIX = re.compile(
    r"^(?:\s*\[[^\]]*\]\s*:?\s*|\s*(?:new music|first listen|first play|listen to|hear|new song|new single|new track|now playing|premiere|"
    r"exclusive|song pick|song of the day|track of the day|pick of the day|song|track|single|tunes|"
    r"streaming|stream|listen|watch|video|free download|download|review|music)\s*(?::|//|[-–—|])\s*)+", re.I)
# Separators between artist, title and the blog's own name.
_SEP = re.compile(r"\s+[-–—~|«»]\s+|\s*//\s*|\s*::\s*|(?<=\w)[:]\s+|(?<=[\w)])\s*:\s*$")
_QUOTES = [("“", "”"), ("''", "''"), ('"', '"'), ("‘", "’"), ("«", "»"), ("'", "'")]
_TRAILING = re.compile(r"\s*(?:\(\d{4}\)|\[[^\]]*\]|[:|«»/–—-])\s*$")
_BY = re.compile(r"^\s*(?:\(?(?:feat\.?|ft\.?)[^)]*\)?\s*)?,?\s*by\s+(.+)$", re.I)


def _quoted(text: str) -> tuple[str, str, str] | None:
    """(before, quoted, after) for the first quoted span that looks like a title."""
    for open_q, close_q in _QUOTES:
        if open_q == "'":
            # Plain apostrophes: only a quote at a word boundary ("Logic's" is not one).
            m = re.search(r"(?:^|(?<=\s))'([^']+?)'(?=$|[\s,.:;!?)\]])", text)
        else:
            m = re.search(re.escape(open_q) + r"(.+?)" + re.escape(close_q), text)
        if m and m.group(1).strip():
            return text[: m.start()], m.group(1).strip(), text[m.end():]
    return None


def _clean(part: str) -> str:
    while True:
        new = _TRAILING.sub("", part).strip(" ,;")
        if new == part:
            return part
        part = new


def parse_post_title(text: str | None) -> Query | None:
    """The song a post title names, or None when it names none we can read."""
    if text is None or not str(text).strip():
        return None
    text = fix_text(text)
    text = re.sub(r"^[^\w\"“‘'\[(«]+", "", text)  # emoji and bullets in front
    body = _PREFIX.sub("", text).strip()
    quoted = _quoted(body)
    if quoted:
        before, title, after = quoted
        before_c, after_c = _clean(before.strip()), after.strip()
        ends_with_sep = bool(re.search(r"(?:[-–—:|]|//)\s*$", before))
        if before_c and ends_with_sep:
            return Query(title=title, artist=before_c)
        by = _BY.match(after_c)
        if not before_c and by:
            return Query(title=title, artist=None, context=by.group(1))
        sep = re.match(r"^\s*(?:[-–—|:]|//)\s*(.+)$", after_c)
        if not before_c and sep:
            artist = _clean(_SEP.split(sep.group(1))[0])
            return Query(title=title, artist=artist) if artist else None
        context = f"{before} {after}".strip()
        return Query(title=title, artist=None, context=context) if context else None
    parts = [_clean(p) for p in _SEP.split(body)]
    parts = [p for p in parts if p]
    if not parts:
        return None
    if len(parts) == 1:
        by = re.match(r"^(.{1,80}?)\s+by\s+(.+)$", parts[0])   # 'Rockstar (feat. X) by Post Malone'
        return Query(title=by.group(1), artist=None, context=by.group(2)) if by else None
    if len(parts) == 2 and re.search(r"\s\|\s", body) and ", " in parts[0]:
        # 'Artist, Title | Blog name': the comma is the separator, the pipe ends the song
        artist, title = parts[0].split(", ", 1)
        return Query(title=title, artist=artist)
    return Query(title=parts[1], artist=parts[0])
