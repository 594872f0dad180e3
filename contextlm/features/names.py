"""Normalise artist and track names, split off feat./version tags, parse Spotify ids.

Blog titles, Spotify names and public feature tables spell the same song differently
("Mt. Joy" / "Mt Joy", "Song - Kygo Remix" / "Song (Kygo Remix)", mojibake, accents);
every comparison in contextlm.features goes through these functions so they agree.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_FEAT = r"(?:feat\.?|ft\.?|featuring|with)"
_FEAT_BRACKET = re.compile(rf"[\(\[]\s*{_FEAT}\s+([^\)\]]*)[\)\]]", re.I)
_FEAT_TAIL = re.compile(r"\s+(?:feat\.?|ft\.?|featuring)\s+(.+)$", re.I)
# Tags that make a different recording (different audio features).
_VERSION = re.compile(r"\b(remix|rmx|re-?work|bootleg|flip|vip|live|acoustic|cover|demo|instrumental|"
                      r"dub|reprise|unplugged|stripped|slowed|sped up|mix)\b", re.I)
# Tags that name the same recording (or the post, not the song).
_SAME = re.compile(r"\b(remaster(ed)?|radio edit|single version|original mix|radio mix|explicit|clean|"
                   r"official|video|audio|lyrics?|visuali[sz]er|premiere|out now|free download|"
                   r"mono|stereo|version|edit|bonus track|\d{4})\b", re.I)
_BRACKET = re.compile(r"\s*[\(\[]([^\)\]]*)[\)\]]")
_DASH_TAIL = re.compile(r"\s+[-–—]\s+(.+)$")
_TRACK_ID = re.compile(r"^[0-9A-Za-z]{22}$")
_URI = re.compile(r"^spotify:(?P<type>[a-z]+):(?P<id>[0-9A-Za-z]+)$")
_URL = re.compile(r"^(?:https?://)?open\.spotify\.com/(?:intl-[\w-]+/)?(?P<type>[a-z]+)/(?P<id>[0-9A-Za-z]+)/?(?:\?.*)?$")
_ARTIST_SPLIT = re.compile(r"\s*(?:,|&|\+|/|\bx\b|\bvs\.?|\band\b|\bfeat\.?|\bft\.?|\bfeaturing\b|\bwith\b)\s*", re.I)


def fix_text(text: str) -> str:
    """Repair mojibake (ftfy, only when the text is not plain ASCII) and odd spaces."""
    text = str(text)
    if not text.isascii():
        import ftfy
        text = ftfy.fix_text(text, normalization="NFKC")
    return re.sub(r"\s+", " ", text).strip()


def normalize(text: str | None) -> str:
    """Lower-case word form for comparisons: no accents, punctuation, '&'/'and', 'the '."""
    if text is None:
        return ""
    text = unicodedata.normalize("NFKD", fix_text(text))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = re.sub(r"['’`´]", "", text).replace("&", " and ")
    text = re.sub(r"[\W_]+", " ", text).strip()
    return re.sub(r"^the ", "", text)


@dataclass(frozen=True)
class TitleParts:
    """A track name split into what identifies the song and what marks a version."""
    full: str          # the name without feat. credits or same-recording tags
    short: str         # `full` without any bracketed part
    version: str       # normalised version tags ("kygo remix", "live"), "" for the original
    featured: tuple[str, ...] = ()


def split_title(name: str) -> TitleParts:
    """Separate feat. credits and remix/live tags from a track name (Spotify or blog style)."""
    name = fix_text(name)
    featured = [m.group(1) for m in _FEAT_BRACKET.finditer(name)]
    name = _FEAT_BRACKET.sub("", name)
    m = _FEAT_TAIL.search(name)
    if m:
        featured.append(m.group(1))
        name = name[: m.start()]
    versions: list[str] = []

    def tag(text: str) -> bool:
        """Record a version tag; True when `text` is a tag (to be cut from the name)."""
        rest = _SAME.sub("", text)
        if _VERSION.search(rest):
            versions.append(normalize(rest))
            return True
        return bool(_SAME.search(text)) and len(text.split()) <= 4

    m = _DASH_TAIL.search(name)
    if m and tag(m.group(1)):
        name = name[: m.start()]
    kept = []
    for part in _BRACKET.finditer(name):
        if not tag(part.group(1)):
            kept.append(part.group(0))
    full = _BRACKET.sub(lambda p: p.group(0) if p.group(0) in kept else "", name)
    short = _BRACKET.sub("", name)
    return TitleParts(full=full.strip(" -–—"), short=short.strip(" -–—"), version=" ".join(versions),
                      featured=tuple(f.strip() for f in featured if f.strip()))


def split_artists(artist: str) -> list[str]:
    """The separate names in an artist credit ("A & B", "A x B", "A feat. B")."""
    return [a for a in (p.strip() for p in _ARTIST_SPLIT.split(fix_text(artist))) if a]


def track_id_from(value: str) -> str:
    """The 22-character track id of a Spotify id, URI or open.spotify.com URL.

    Raises ValueError with the reason (an album link, not an id, ...)."""
    value = str(value).strip()
    if _TRACK_ID.match(value):
        return value
    m = _URI.match(value) or _URL.match(value)
    if not m:
        raise ValueError(f"{value!r} is not a Spotify track id, URI or URL")
    if m.group("type") != "track":
        raise ValueError(f"{value!r} is a Spotify {m.group('type')} link, not a track")
    if not _TRACK_ID.match(m.group("id")):
        raise ValueError(f"{value!r}: track id {m.group('id')!r} is not 22 letters/digits")
    return m.group("id")
