"""Dataclass settings that round-trip through JSON, refusing keys they do not know.

A typo in a saved config or a `--settings` override (`"epoch": 10`) is an error that
lists the known names, never a silently ignored key. No torch import: the CLI reads
defaults from these classes before anything heavy loads.
"""
from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, TypeVar

from .errors import ContextLMError

T = TypeVar("T")


class JSONSettings:
    """Mixin for dataclasses: `to_dict()` and a strict `from_dict()`."""
    settings_name = "setting"
    settings_error: type[Exception] = ContextLMError

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls: type[T], d: dict[str, Any]) -> T:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise cls.settings_error(f"unknown {cls.settings_name}(s) {unknown}; known: {sorted(known)}")
        return cls(**d)
