"""Audio features: the Spotify schema, fetching, the SQLite store, CSV import."""
from .schema import AUDIO_FEATURES, FEATURE_RANGES

__all__ = ["AUDIO_FEATURES", "FEATURE_RANGES"]
