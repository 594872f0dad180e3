"""One exception family for everything a user can get wrong.

Every message is a single line that names the file, row, column or field at fault,
so the CLI can print it as is (no traceback) and notebooks show it plainly.
"""


class ContextLMError(Exception):
    """Base class: a problem with the user's input, files or environment."""


class CorpusError(ContextLMError, ValueError):
    """A corpus file is unreadable, or a row/column in it is invalid."""


class ModelFolderError(ContextLMError, ValueError):
    """A saved-model folder is missing, partial, of another kind or mismatched."""


class DatasetError(ContextLMError):
    """A named dataset could not be downloaded, verified or found."""
