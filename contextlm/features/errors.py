"""Errors of the feature pipeline: each message is one line that says what to do next."""
from ..errors import ContextLMError


class SpotifyError(ContextLMError):
    """The Spotify Web API refused or failed; whatever was fetched before is in the store."""


class FeatureStoreError(ContextLMError):
    """The SQLite feature store is unreadable, locked or of another kind."""
