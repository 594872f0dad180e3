"""Settings: dataclasses that validate themselves, round-trip through JSON and make the
command line.

One definition per setting: a field declared with `setting(default, help, group, min=...)`
is checked the same way from Python, a `--config FILE` and a flag, and the flag is the
field name (`emb_sz` -> `--emb-sz`). A typo (`"epoch": 10`) is an error that lists the
known names, never a silently ignored key; a bad value is one line naming the field and
its flag. No torch import: the CLI builds its parser before anything heavy loads.

Why a small generator and not jsonargparse/tyro: the settings were already dataclasses
with JSON round-trips, the generator is ~150 lines with no dependency, and `--help` stays
fast (it must not import torch or a typing-heavy library).
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import MISSING, asdict, field, fields
from pathlib import Path
from typing import Any, Iterable, TypeVar

from .errors import ContextLMError

T = TypeVar("T")


def setting(default: Any = MISSING, help: str = "", group: str = "settings", *, choices: Iterable | None = None,
            min: float | None = None, max: float | None = None, gt: float | None = None,
            cli: bool = True, default_factory: Any = MISSING, metavar: str | None = None) -> Any:
    """A dataclass field with what the checks and the CLI need: `help`, the `--help` group,
    allowed `choices`, bounds (`min`/`max` inclusive, `gt` exclusive), the `metavar` its flag
    shows (`FILE`); `cli=False` keeps it off the command line (ids, sizes from the data)."""
    meta = dict(help=help, group=group, choices=tuple(choices) if choices is not None else None,
                min=min, max=max, gt=gt, cli=cli, metavar=metavar)
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


def override(base: type, name: str, default: Any, help: str | None = None) -> Any:
    """Field `name` of the settings class `base` with another default (and help): a
    subclass changes what it needs, the bounds and the group stay one definition."""
    f = next(f for f in fields(base) if f.name == name)
    meta = {**f.metadata, **({"help": help} if help else {})}
    return field(default=default, metadata=meta)


def _fmt(v: float) -> str:
    """A bound as people write it: 4294967295, not 4.29497e+09; 0.99, not 0.9900."""
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{v:g}"


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _kind(f) -> tuple[str, bool]:
    """('int'|'float'|'str'|'bool'|'ints'|'list'|'dict'|'any', optional) from the field's annotation
    ('ints': a list of whole numbers, each within the field's bounds; 'list': a list of names)."""
    t = str(f.type).replace(" ", "")
    optional = "|None" in t or "None|" in t or t.startswith("Optional[")
    t = t.replace("|None", "").replace("None|", "")
    for kind in ("bool", "int", "float", "str"):
        if t == kind:
            return kind, optional
    if t in ("list[int]", "tuple[int,...]"):
        return "ints", optional
    if t.startswith(("list", "tuple")):
        return "list", optional
    if t.startswith("dict"):
        return "dict", optional
    return "any", optional


def _checked_number(err: type, where: str, m, kind: str, value: Any) -> float | int:
    """`value` as a number of `kind` within the bounds in `m`, else a one-line error."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise err(f"{where}: must be a number")
    if not math.isfinite(value):
        raise err(f"{where}: must be a finite number")
    if kind == "int":
        if value != int(value):
            raise err(f"{where}: must be a whole number")
        value = int(value)
    if m.get("min") is not None and value < m["min"]:
        raise err(f"{where}: must be >= {_fmt(m['min'])}")
    if m.get("gt") is not None and value <= m["gt"]:
        raise err(f"{where}: must be > {_fmt(m['gt'])}")
    if m.get("max") is not None and value > m["max"]:
        raise err(f"{where}: must be <= {_fmt(m['max'])}")
    return value


def check_field(cls: type, f, value: Any) -> Any:
    """`value` if it is valid for field `f` of `cls` (ints given as whole floats are made
    ints), else a one-line error naming the field and its flag."""
    where = f"{f.name}={value!r} ({flag(f.name)})"
    err = getattr(cls, "settings_error", ContextLMError)
    kind, optional = _kind(f)
    m = f.metadata
    if value is None:
        if optional:
            return None
        raise err(f"{where}: a value is required")
    if kind == "bool" and not isinstance(value, bool):
        raise err(f"{where}: must be true or false")
    if kind == "ints":
        if not isinstance(value, (list, tuple)) or not value:
            raise err(f"{where}: must be a non-empty list of whole numbers")
        return [_checked_number(err, where, m, "int", v) for v in value]
    if kind in ("int", "float"):
        value = _checked_number(err, where, m, kind, value)
    if kind == "str" and not isinstance(value, str):
        raise err(f"{where}: must be a string")
    if kind == "list":
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise err(f"{where}: must be a list of names")
        value = list(value)
    if kind == "dict" and not isinstance(value, dict):
        raise err(f"{where}: must be an object")
    if m.get("choices") and value not in m["choices"]:
        raise err(f"{where}: expected one of {', '.join(map(str, m['choices']))}")
    return value


class JSONSettings:
    """Mixin for dataclasses: checked on creation, `to_dict()` and a strict `from_dict()`."""
    settings_name = "setting"
    settings_error: type[Exception] = ContextLMError

    def __post_init__(self) -> None:
        for f in fields(self):
            setattr(self, f.name, check_field(type(self), f, getattr(self, f.name)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls: type[T], d: dict[str, Any]) -> T:
        if not isinstance(d, dict):
            raise cls.settings_error(f"{cls.settings_name}s must be a JSON object, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise cls.settings_error(f"unknown {cls.settings_name}(s) {unknown}; known: {sorted(known)}")
        missing = [f.name for f in fields(cls) if f.name not in d and f.default is MISSING
                   and f.default_factory is MISSING]
        if missing:
            raise cls.settings_error(f"missing {cls.settings_name}(s) {missing}")
        return cls(**d)

    @classmethod
    def check_overrides(cls, d: dict[str, Any]) -> dict[str, Any]:
        """Check a partial dict of this class's fields (e.g. model overrides) field by field."""
        by_name = {f.name: f for f in fields(cls)}
        unknown = sorted(set(d) - set(by_name))
        if unknown:
            raise cls.settings_error(f"unknown {cls.settings_name}(s) {unknown}; known: {sorted(by_name)}")
        return {k: check_field(cls, by_name[k], v) for k, v in d.items()}


# -- the command line --------------------------------------------------------------------------
def add_settings_arguments(parser: argparse.ArgumentParser, cls: type, skip: Iterable[str] = (),
                           defaults: dict[str, Any] | None = None) -> None:
    """One flag per field of `cls` (spelled like the field), grouped as the fields say.
    Flags default to "not given", so `settings_from_args` can layer them over `--config`."""
    skip, defaults, groups = set(skip), dict(defaults or {}), {}
    for f in fields(cls):
        m = f.metadata
        if f.name in skip or not m.get("cli", False):
            continue
        title = m.get("group", "settings")
        if title not in groups:
            groups[title] = parser.add_argument_group(title)
        g = groups[title]
        kind, _ = _kind(f)
        default = defaults.get(f.name, f.default if f.default is not MISSING else
                               (f.default_factory() if f.default_factory is not MISSING else None))
        shown = " ".join(map(str, default)) if isinstance(default, list) else default
        help_ = f"{m.get('help', '')} (default: {shown if shown not in ('', None) else 'none'})".strip()
        kw: dict[str, Any] = dict(dest=f.name, default=argparse.SUPPRESS, help=help_)
        if kind == "bool":
            g.add_argument(flag(f.name), action=argparse.BooleanOptionalAction, **kw)
            continue
        if kind == "list":
            kw.update(nargs="*", metavar="NAME")
        elif kind == "ints":
            kw.update(nargs="+", type=number(int, m.get("min"), m.get("max"), m.get("gt")), metavar="N")
        elif kind in ("int", "float"):
            kw.update(type=number(int if kind == "int" else float, m.get("min"), m.get("max"), m.get("gt")),
                      metavar="N" if kind == "int" else "X")
        if m.get("choices"):  # checked by check_field, so a wrong one is the same one-line error
            kw.update(metavar="{" + ",".join(map(str, m["choices"])) + "}")
        if m.get("metavar"):
            kw.update(metavar=m["metavar"])
        g.add_argument(flag(f.name), **kw)


class number:
    """An argparse type for a bounded number: `number(int, min=1, max=10**6)`. A value out of
    range, NaN, infinite or not a number is a one-line usage error naming the flag; the
    bounds stay readable (`.min`, `.max`, `.gt`) for `--help` and for tests."""

    def __init__(self, kind: type = float, min: float | None = None, max: float | None = None,
                 gt: float | None = None):
        self.kind, self.min, self.max, self.gt = kind, min, max, gt
        self.__name__ = kind.__name__  # argparse names the type in its messages

    def __call__(self, text: str):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r}: must be a finite number")
        if self.kind is int:
            if value != int(value):
                raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
            value = int(value)
        if self.min is not None and value < self.min:
            raise argparse.ArgumentTypeError(f"{text}: must be >= {_fmt(self.min)}")
        if self.gt is not None and value <= self.gt:
            raise argparse.ArgumentTypeError(f"{text}: must be > {_fmt(self.gt)}")
        if self.max is not None and value > self.max:
            raise argparse.ArgumentTypeError(f"{text}: must be <= {_fmt(self.max)}")
        return value


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="JSON file of settings (field names as keys, e.g. a saved settings.json); "
                             "flags given on the command line override it")


def read_settings_file(path: str | Path) -> dict[str, Any]:
    """The JSON object in `path` (one line for every way it can be wrong)."""
    path = Path(path)
    if not path.is_file():
        raise ContextLMError(f"{path}: no such settings file" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ContextLMError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ContextLMError(f"{path}: settings must be a JSON object, got {type(data).__name__}")
    return data


def given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of `cls` that were given as flags."""
    return {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}


def settings_from_args(cls: type[T], args: argparse.Namespace, nested: dict[str, type] | None = None) -> T:
    """Defaults < `--config FILE` < flags. `nested` maps a dict field (e.g. `model`) to the
    class whose flags fill it (e.g. VAEConfig overrides)."""
    values = read_settings_file(args.config) if getattr(args, "config", None) else {}
    values.update(given(args, cls))
    for name, sub in (nested or {}).items():
        merged = {**dict(values.get(name) or {}), **given(args, sub)}
        values[name] = sub.check_overrides(merged)
    return cls.from_dict(values)
