"""Sweep parameters: the `--param NAME=RANGE` parser, the sweepable settings fields, the metrics."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from typing import Any

from ..errors import ContextLMError
from ..settings import _kind, check_field

# --metric name -> the Recorder column watched per epoch (train_loss, valid_loss, then the validation metrics)
METRICS = {
    "lm": {"valid_perplexity": "perplexity", "valid_loss": "valid_loss", "valid_accuracy": "accuracy",
           "train_loss": "train_loss"},
    "vae": {"valid_neg_elbo": "neg_elbo", "valid_loss": "valid_loss", "valid_recon": "recon", "valid_kl": "kl",
            "valid_elbo_ppl": "elbo_ppl", "valid_au": "au", "valid_mi": "mi", "train_loss": "train_loss"},
}
DEFAULT_METRIC = {"lm": "valid_perplexity", "vae": "valid_neg_elbo"}
MAXIMIZED = {"valid_accuracy", "valid_au", "valid_mi"}
SYNTAX = "expected NAME=LOW:HIGH, NAME=log:LOW:HIGH, NAME=int:LOW:HIGH or NAME=cat:A,B,... (e.g. lr=log:1e-4:1e-2)"


def default_direction(metric: str) -> str:
    return "maximize" if metric in MAXIMIZED else "minimize"


def check_metric(kind: str, metric: str) -> str:
    if metric not in METRICS[kind]:
        raise ContextLMError(f"--metric {metric}: unknown for a {kind} sweep; known: {', '.join(METRICS[kind])}")
    return METRICS[kind][metric]


# -- parameters -----------------------------------------------------------------------------------
def sweep_classes(kind: str) -> list[tuple[type, str | None]]:
    """The settings classes a sweep of `kind` draws from, with the dict field they fill."""
    if kind == "lm":
        from ..lm.settings import LMSettings
        return [(LMSettings, None)]
    from ..vae.config import VAEConfig
    from ..vae.settings import SentenceVAESettings
    return [(SentenceVAESettings, None), (VAEConfig, "model")]


def sweepable(kind: str) -> dict[str, tuple[type, Any, str | None]]:
    """name -> (class, field, nested) of every field a `--param` may name: the command-line
    settings that are numbers, booleans or strings (not lists)."""
    out = {}
    for cls, nested in sweep_classes(kind):
        for f in fields(cls):
            if f.metadata.get("cli") and _kind(f)[0] in ("int", "float", "bool", "str") and f.name not in out:
                out[f.name] = (cls, f, nested)
    return out


@dataclass(frozen=True)
class Param:
    """One swept setting: a float or int range (`log` for a log scale) or categorical choices."""
    name: str
    kind: str                      # 'float' | 'int' | 'cat'
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()
    nested: str | None = None      # 'model' for a VAEConfig field

    def suggest(self, trial) -> Any:
        if self.kind == "cat":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def spec(self) -> str:
        if self.kind == "cat":
            return f"{self.name}=cat:{','.join(json.dumps(c) for c in self.choices)}"
        return f"{self.name}={'log:' if self.log else ''}{'int:' if self.kind == 'int' else ''}{self.low!r}:{self.high!r}"


def _value(text: str, kind: str, where: str) -> Any:
    text = text.strip()
    if kind == "bool":
        low = text.lower()
        if low in ("true", "yes", "1"):
            return True
        if low in ("false", "no", "0"):
            return False
        raise ContextLMError(f"{where}: {text!r} is not true or false")
    if kind == "str":
        return None if text.lower() == "none" else text
    try:
        v = float(text)
    except ValueError:
        raise ContextLMError(f"{where}: {text!r} is not a number") from None
    return int(v) if kind == "int" and math.isfinite(v) and v == int(v) else v


def parse_param(text: str, kind: str) -> Param:
    """`NAME=[log:][int:]LOW:HIGH` or `NAME=cat:A,B,...` checked against the field `NAME` (its
    type and declared bounds); every problem is one line."""
    where = f"--param {text!r}"
    name, sep, spec = text.partition("=")
    name, spec = name.strip(), spec.strip()
    if not sep or not name or not spec:
        raise ContextLMError(f"{where}: {SYNTAX}")
    known = sweepable(kind)
    lists = {f.name for cls, _ in sweep_classes(kind) for f in fields(cls) if f.metadata.get("cli")} - set(known)
    if name in lists:
        raise ContextLMError(f"{where}: {name} is a list setting and cannot be swept; give it as a flag")
    if name not in known:
        raise ContextLMError(f"{where}: unknown {kind} setting {name!r}; known: {', '.join(sorted(known))}")
    cls, f, nested = known[name]
    fkind = _kind(f)[0]

    def checked(v):
        try:
            return check_field(cls, f, v)
        except ContextLMError as e:
            raise ContextLMError(f"{where}: {e}") from None

    if spec.startswith("cat:"):
        items = [c for c in spec[4:].split(",")]
        if not items or any(not c.strip() for c in items):
            raise ContextLMError(f"{where}: {SYNTAX}")
        choices = tuple(checked(_value(c, fkind, where)) for c in items)
        if len(set(choices)) != len(choices):
            raise ContextLMError(f"{where}: a choice is given twice")
        return Param(name, "cat", choices=choices, nested=nested)
    parts = spec.split(":")
    log = parts[0] == "log"
    parts = parts[1:] if log else parts
    if parts and parts[0] in ("int", "float"):
        if parts[0] != fkind:
            raise ContextLMError(f"{where}: {name} is a{'n' if fkind == 'int' else ''} {fkind} setting, "
                                 f"not {parts[0]}")
        parts = parts[1:]
    if fkind not in ("int", "float"):
        raise ContextLMError(f"{where}: {name} is a {fkind} setting; give its choices: {name}=cat:A,B")
    if len(parts) != 2:
        raise ContextLMError(f"{where}: {SYNTAX}")
    low, high = (checked(_value(p, fkind, where)) for p in parts)
    if not low < high:
        raise ContextLMError(f"{where}: LOW {low} must be below HIGH {high}")
    if log and low <= 0:
        raise ContextLMError(f"{where}: a log range needs LOW > 0")
    return Param(name, fkind, float(low) if fkind == "float" else int(low),
                 float(high) if fkind == "float" else int(high), log=log, nested=nested)


def parse_params(texts: list[str] | None, kind: str) -> list[Param]:
    params = [parse_param(t, kind) for t in texts or []]
    if not params:
        raise ContextLMError("give at least one --param NAME=RANGE, e.g. --param lr=log:1e-4:1e-2")
    names = [p.name for p in params]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ContextLMError(f"--param {twice[0]} is given twice")
    return params


def trial_settings(kind: str, base: dict[str, Any], params: list[Param], values: dict[str, Any]):
    """The settings object of one trial: `base` with the trial's values put in."""
    d = json.loads(json.dumps(base))
    for p in params:
        if p.nested:
            d[p.nested] = {**(d.get(p.nested) or {}), p.name: values[p.name]}
        else:
            d[p.name] = values[p.name]
    cls, _ = sweep_classes(kind)[0]
    return cls.from_dict(d)
