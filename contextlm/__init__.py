"""contextlm: language models conditioned on what music sounds like."""
from .version import __version__
from .errors import ContextLMError, CorpusError, ModelFolderError, DatasetError

__all__ = ["__version__", "ContextLMError", "CorpusError", "ModelFolderError", "DatasetError"]
