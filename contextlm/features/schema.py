"""The Spotify audio-feature schema: names and the ranges a valid value lies in.

Used to validate corpora (an energy of -1 is P4KxSpotify's "not found", not a real
value) and to check requested sampling levels against what a model was trained on.
"""
import math

# The eleven features of Spotify's /audio-features endpoint, in its order.
AUDIO_FEATURES = ("danceability", "energy", "key", "loudness", "mode", "speechiness",
                  "acousticness", "instrumentalness", "liveness", "valence", "tempo")

# Inclusive valid ranges. key -1 means "no key detected"; loudness is in dB, tempo in BPM.
FEATURE_RANGES: dict[str, tuple[float, float]] = {
    "danceability": (0.0, 1.0), "energy": (0.0, 1.0), "speechiness": (0.0, 1.0),
    "acousticness": (0.0, 1.0), "instrumentalness": (0.0, 1.0), "liveness": (0.0, 1.0),
    "valence": (0.0, 1.0), "mode": (0.0, 1.0), "key": (-1.0, 11.0),
    "loudness": (-70.0, 10.0), "tempo": (0.0, 300.0),
    "duration_ms": (0.0, math.inf), "time_signature": (0.0, 7.0), "popularity": (0.0, 100.0),
}


def valid_range(name: str) -> tuple[float, float] | None:
    """The valid range of a known feature (case-insensitive), or None for a user's own column."""
    return FEATURE_RANGES.get(name.lower())
