"""What a feature provider must offer: search tracks and fetch features by id.

Spotify is the one provider today (`spotify.SpotifySource`); another (a different API,
a local service) only has to implement this small interface, and the store, the
matcher, the report and the CLI stay the same.
"""
from __future__ import annotations

from collections import Counter
from typing import Mapping, Protocol, Sequence

from .matching import Candidate, Query


class FeatureSource(Protocol):
    name: str               # stored with every row it produced ("spotify")
    batch_size: int         # the most ids one features request takes
    calls: Counter          # requests made, by endpoint (for reports and tests)

    def search(self, query: Query) -> list[Candidate]:
        """Tracks that may be the one `query` names (ranking is the matcher's job)."""

    def audio_features(self, ids: Sequence[str]) -> Mapping[str, Mapping | None]:
        """Features per id for at most `batch_size` ids; None for a track without features."""
