"""A synthetic corpus of short music reviews whose wording depends on the song's energy.

Real music writing ties words to sound only loosely; this generator ties them on
purpose, so a demo or a test can check that conditioning works: each energy-bearing
slot takes a word from `HIGH_ENERGY_WORDS` with probability `energy`, otherwise from
`LOW_ENERGY_WORDS` (valence does the same for mood words). A model that sees energy
can predict those slots; one that does not can only guess from the review so far.

    python -m contextlm.data.synthetic --n 3000 --seed 0 --out data/synthetic_reviews.csv
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

HIGH_ENERGY = {
    "adj": ["explosive", "frantic", "pounding", "blistering", "thunderous", "relentless", "raucous", "ferocious",
            "breakneck", "electrifying"],
    "noun": ["drums", "riffs", "synths", "guitars", "bass drops", "horns", "breakbeats", "power chords"],
    "verb": ["crash", "explode", "race", "roar", "stomp", "surge", "thrash", "blaze"],
    "scene": ["a packed dance floor", "a festival crowd", "a late-night rave", "a sweaty club", "a mosh pit",
              "a midnight drive at full speed"],
}
LOW_ENERGY = {
    "adj": ["gentle", "hushed", "mellow", "delicate", "dreamy", "sparse", "tender", "quiet", "languid", "muted"],
    "noun": ["piano", "strings", "acoustic guitar", "soft vocals", "ambient pads", "brushed drums", "cello",
             "music box chimes"],
    "verb": ["drift", "float", "linger", "murmur", "sway", "fade", "breathe", "glide"],
    "scene": ["a rainy afternoon", "a quiet evening at home", "falling asleep", "a slow walk in the snow",
              "an empty café at dawn", "a candlelit room"],
}
HIGH_VALENCE = ["joyful", "sunny", "bright", "hopeful", "playful", "warm", "cheerful", "uplifting"]
LOW_VALENCE = ["melancholic", "bittersweet", "haunting", "somber", "aching", "wistful", "lonely", "bleak"]

HIGH_ENERGY_WORDS = frozenset(w for ws in HIGH_ENERGY.values() for p in ws for w in p.split())
LOW_ENERGY_WORDS = frozenset(w for ws in LOW_ENERGY.values() for p in ws for w in p.split())

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


def _pick(rng: np.random.Generator, high, low, p_high: float) -> str:
    pool = high if rng.random() < p_high else low
    return pool[rng.integers(len(pool))]


def review(rng: np.random.Generator, energy: float, valence: float, artist: str, title: str) -> str:
    """One review of 3-5 sentences; energy and valence choose the words of their slots."""
    def slot(kind):
        return _pick(rng, HIGH_ENERGY[kind], LOW_ENERGY[kind], energy)

    def mood():
        return _pick(rng, HIGH_VALENCE, LOW_VALENCE, valence)

    sentences = []
    for t in rng.choice(len(_TEMPLATES), size=rng.integers(3, 6), replace=False):
        adj, mood_word = slot("adj"), mood()
        sentences.append(_TEMPLATES[t].format(
            artist=artist, title=title, adj=adj, a_adj=_article(adj), adj2=slot("adj"), noun=slot("noun"),
            noun2=slot("noun"), verb=slot("verb"), verb2=slot("verb"), scene=slot("scene"), mood=mood_word,
            a_mood=_article(mood_word)))
    return " ".join(sentences)


def synthetic_reviews(n: int = 3000, seed: int = 0) -> pd.DataFrame:
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
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("data/synthetic_reviews.csv"))
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    synthetic_reviews(args.n, args.seed).to_csv(args.out, index=False)
    print(f"wrote {args.n} reviews: {args.out}")


if __name__ == "__main__":
    main()
