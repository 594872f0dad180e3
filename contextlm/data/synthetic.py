"""A synthetic corpus of short music reviews whose wording depends on the song's energy.

Real music writing ties words to sound only loosely; this generator ties them on
purpose, so a demo or a test can check that conditioning works: each energy-bearing
slot takes a word from `HIGH_ENERGY_WORDS` with probability `energy`, otherwise from
`LOW_ENERGY_WORDS` (valence does the same for mood words). A model that sees energy
can predict those slots; one that does not can only guess from the review so far.

    python -m contextlm.data.synthetic --n 2000 --seed 0 --out data/synthetic_reviews.csv
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

# Word scales ordered from the calmest to the most intense. A slot at energy e takes the
# word near position e * (len - 1) (Gaussian jitter of `_JITTER` positions), so knowing
# the energy narrows each slot to a few words, while a reader who does not know it can
# only infer it roughly from the words already seen.
ENERGY_SCALES = {
    "adj": ["hushed", "muted", "delicate", "tender", "languid", "dreamy", "mellow", "gentle", "warm", "steady",
            "lively", "bouncy", "punchy", "driving", "urgent", "fierce", "raucous", "pounding", "frantic",
            "explosive"],
    "noun": ["chimes", "whispers", "cello", "piano", "harp", "strings", "organ", "pads", "bass", "claps",
             "guitars", "synths", "horns", "drums", "riffs", "breakbeats", "sirens", "subwoofers"],
    "verb": ["fade", "breathe", "drift", "float", "linger", "sway", "glide", "hum", "pulse", "bounce", "swing",
             "rush", "race", "surge", "stomp", "roar", "thrash", "explode"],
    "scene": ["falling asleep", "a candlelit room", "a rainy afternoon", "a quiet evening", "an empty cafe",
              "a snowy walk", "a long train ride", "a sunday morning", "a road trip", "a summer barbecue",
              "a house party", "a sweaty club", "a packed dance floor", "a festival crowd", "a late-night rave",
              "a mosh pit"],
}
VALENCE_SCALE = ["bleak", "lonely", "somber", "aching", "haunting", "wistful", "bittersweet", "tender-hearted",
                 "hopeful", "warm", "bright", "playful", "cheerful", "sunny", "joyful", "euphoric"]
_JITTER = 1.0


def _third(scale: list[str], top: bool) -> list[str]:
    k = len(scale) // 3
    return scale[-k:] if top else scale[:k]


HIGH_ENERGY_WORDS = frozenset(w for sc in ENERGY_SCALES.values() for p in _third(sc, True) for w in p.split())
LOW_ENERGY_WORDS = frozenset(w for sc in ENERGY_SCALES.values() for p in _third(sc, False) for w in p.split())

_SYLLABLES = ["ka", "lo", "mi", "ra", "ven", "tor", "sa", "lu", "ne", "dri", "mo", "zel", "fa", "no", "rin", "tha"]
_TITLE_WORDS = ["night", "river", "gold", "echo", "summer", "ghost", "fire", "glass", "moon", "city", "heart",
                "silver", "wild", "ocean", "static", "honey", "neon", "paper", "storm", "velvet"]
_TEMPLATES = [
    "{artist} returns with {a_adj} new single, \"{title}\".",
    "The {noun} {verb} over {mood} lyrics while the {noun2} {verb2} underneath.",
    "It is {a_mood} record, made for {scene}.",
    "Expect {adj} {noun} and {adj2} {noun2} from start to finish.",
    "On \"{title}\", {artist} sounds {mood} and {adj}.",
    "By the final chorus the {noun} {verb} and everything feels {adj}.",
    "A {mood} song for {scene}, carried by {adj} {noun}.",
]


def _article(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _pick(rng: np.random.Generator, scale: list[str], level: float) -> str:
    pos = level * (len(scale) - 1) + rng.normal(0, _JITTER)
    return scale[int(np.clip(round(pos), 0, len(scale) - 1))]


def review(rng: np.random.Generator, energy: float, valence: float, artist: str, title: str) -> str:
    """One review of 2-3 sentences; energy and valence choose the words of their slots."""
    def slot(kind):
        return _pick(rng, ENERGY_SCALES[kind], energy)

    def mood():
        return _pick(rng, VALENCE_SCALE, valence)

    sentences = []
    for t in rng.choice(len(_TEMPLATES), size=rng.integers(2, 4), replace=False):
        adj, mood_word = slot("adj"), mood()
        sentences.append(_TEMPLATES[t].format(
            artist=artist, title=title, adj=adj, a_adj=_article(adj), adj2=slot("adj"), noun=slot("noun"),
            noun2=slot("noun"), verb=slot("verb"), verb2=slot("verb"), scene=slot("scene"), mood=mood_word,
            a_mood=_article(mood_word)))
    return " ".join(sentences)


def synthetic_reviews(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """`n` reviews with columns text, artist, title, energy, valence, danceability, tempo."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        artist = "".join(rng.choice(_SYLLABLES, size=rng.integers(2, 4))).capitalize()
        title = " ".join(rng.choice(_TITLE_WORDS, size=rng.integers(1, 3))).title()
        energy, valence = float(rng.random()), float(rng.random())
        rows.append({
            "text": review(rng, energy, valence, artist, title), "artist": artist, "title": title,
            "energy": round(energy, 3), "valence": round(valence, 3),
            "danceability": round(float(np.clip(0.3 + 0.5 * energy + rng.normal(0, 0.1), 0, 1)), 3),
            "tempo": round(float(np.clip(70 + 110 * energy + rng.normal(0, 10), 40, 220)), 1),
        })
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Write the synthetic energy-dependent review corpus.")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("data/synthetic_reviews.csv"))
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    synthetic_reviews(args.n, args.seed).to_csv(args.out, index=False)
    print(f"wrote {args.n} reviews: {args.out}")


if __name__ == "__main__":
    main()
