"""Score search candidates against what a row names, and decide: matched, ambiguous, unmatched.

Never take the first hit: every candidate gets a title and an artist similarity
(rapidfuzz), a different version (remix, live) costs points, and a weak or tied best
is reported with its reason instead of being used.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from .names import normalize, split_artists, split_title

MIN_SCORE = 85.0        # below this a candidate is "weak"
TIE_MARGIN = 2.0        # two different songs this close are "ambiguous"
VERSION_PENALTY = 20.0  # a remix/live where the row names the original, or vice versa
ANY_VERSION_PENALTY = 5.0  # --any-version: another version passes, but the named one still wins


@dataclass(frozen=True)
class Query:
    """What a row names. `artist` None means the artist is somewhere in `context`
    (a sentence such as 'Tula shares the visuals for "Bullet"')."""
    title: str
    artist: str | None = None
    context: str = ""

    @property
    def key(self) -> str:
        """A stable cache key: the same song written the same way is searched once."""
        artist = normalize(self.artist) if self.artist else "?" + normalize(self.context)
        return f"{artist}|{normalize(self.title)}|{split_title(self.title).version}"

    def describe(self) -> str:
        return f"{self.artist} - {self.title}" if self.artist else f'"{self.title}" in "{self.context}"'


@dataclass(frozen=True)
class Candidate:
    """A track a source offers for a query."""
    id: str
    name: str
    artists: tuple[str, ...]
    album: str = ""
    popularity: int = 0

    def describe(self) -> str:
        return f"{self.name} — {', '.join(self.artists)}"


@dataclass(frozen=True)
class Scored:
    candidate: Candidate
    score: float
    title_score: float
    artist_score: float
    penalty: float


@dataclass
class Decision:
    """The outcome for one query; `track` is set only when status is 'matched'."""
    status: str                      # matched | ambiguous | unmatched
    reason: str
    track: Candidate | None = None
    score: float | None = None
    others: list[Scored] = field(default_factory=list)


def _title_score(q_title: str, c_name: str, version_penalty: float) -> tuple[float, float]:
    """Title similarity (0-100) and the version penalty."""
    q, c = split_title(q_title), split_title(c_name)
    score = max(fuzz.ratio(normalize(q.full), normalize(c.full)),
                fuzz.ratio(normalize(q.short), normalize(c.short)))
    if _numbers(q.full) != _numbers(c.full) and _numbers(q.short) != _numbers(c.short):
        score = min(score, 60.0)  # "Part 2" is not "Part 1", however alike the letters
    penalty = 0.0
    if q.version != c.version and (not q.version or not c.version
                                   or fuzz.token_set_ratio(q.version, c.version) < 80):
        penalty = version_penalty
    return score, penalty


def _numbers(text: str) -> list[str]:
    return sorted(w for w in normalize(text).split() if w.isdigit())


def _contains_words(haystack: str, needle: str) -> bool:
    return bool(needle) and f" {needle} " in f" {haystack} "


def _artist_score(query: Query, cand: Candidate) -> float:
    names = [normalize(a) for a in cand.artists] + [normalize(" & ".join(cand.artists))]
    if query.artist is None:
        # Sentence form: the artist must appear word for word in the sentence.
        # "Franc Moody's new EP" names Franc Moody: try the sentence with possessives cut too.
        contexts = {normalize(query.context), normalize(re.sub(r"(?<=\w)['’]s\b", "", query.context))}
        return 100.0 if any(len(n) >= 3 and _contains_words(c, n) for n in names for c in contexts) else 0.0
    wanted = {normalize(query.artist)} | {normalize(a) for a in split_artists(query.artist)}
    return max((fuzz.ratio(w, n) for w in wanted for n in names if w and n), default=0.0)


_VERSION_WORDS = re.compile(r"\b(remix(es|ed)?|rework|cover(s|ed)?|live at|acoustic version|bootleg)\b", re.I)


def score(query: Query, cand: Candidate, version_penalty: float = VERSION_PENALTY) -> Scored:
    """Both the title and the artist must agree: the score is the weaker of the two."""
    title_s, penalty = _title_score(query.title, cand.name, version_penalty)
    if (query.artist is None and not penalty and _VERSION_WORDS.search(query.context)
            and not split_title(cand.name).version):
        penalty = version_penalty  # "X's remix of Y's 'Song'" is not the original recording
    artist_s = _artist_score(query, cand)
    return Scored(cand, min(title_s, artist_s) - penalty, title_s, artist_s, penalty)


def _song_key(s: Scored) -> tuple[str, str, str]:
    parts = split_title(s.candidate.name)
    return normalize(s.candidate.artists[0] if s.candidate.artists else ""), normalize(parts.full), parts.version


def decide(query: Query, candidates: list[Candidate], min_score: float = MIN_SCORE,
           version_penalty: float = VERSION_PENALTY) -> Decision:
    """Pick the best-scoring song; among releases of that same song, the most popular."""
    if not candidates:
        return Decision("unmatched", "search found no track")
    scored = sorted((score(query, c, version_penalty) for c in candidates),
                    key=lambda s: (-s.score, -s.candidate.popularity, s.candidate.id))
    best = scored[0]
    if best.score < min_score:
        why = (f"title {best.title_score:.0f}, artist {best.artist_score:.0f}"
               + (f", version -{best.penalty:.0f}" if best.penalty else ""))
        return Decision("unmatched", f"weak match: best '{best.candidate.describe()}' scored "
                        f"{best.score:.0f} < {min_score:.0f} ({why})", score=best.score, others=scored[:3])
    rivals = [s for s in scored[1:] if s.score >= best.score - TIE_MARGIN and _song_key(s) != _song_key(best)]
    if rivals:
        names = "; ".join(f"'{s.candidate.describe()}' {s.score:.0f}" for s in [best] + rivals[:2])
        return Decision("ambiguous", f"{1 + len(rivals)} different songs score alike: {names}",
                        score=best.score, others=[best] + rivals)
    same = [s for s in scored if _song_key(s) == _song_key(best) and s.score == best.score]
    chosen = min(same, key=lambda s: (-s.candidate.popularity, s.candidate.id))
    note = f" (most popular of {len(same)} releases)" if len(same) > 1 else ""
    if best.penalty:
        note += "; another version than the one named"
    return Decision("matched", f"score {best.score:.0f}{note}", track=chosen.candidate, score=best.score)
