"""`--device` / `--precision` and the process's place in a launch (RANK, WORLD_SIZE): torch-free,
so the CLI builds its flags and the experiments code asks "am I rank 0?" without loading torch."""
from __future__ import annotations

import os
from dataclasses import dataclass

from ..settings import JSONSettings, add_settings_arguments, given, setting

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass
class RuntimeSettings(JSONSettings):
    """Where a `train` command runs (not saved with the model: the same model trains anywhere)."""
    device: str = setting("auto", "auto: cuda when a GPU is visible, else cpu", "device and precision",
                          choices=DEVICES)
    precision: str = setting("fp32", "fp32, or bf16/fp16 mixed precision (CUDA only)", "device and precision",
                             choices=PRECISIONS)


def add_runtime_arguments(parser) -> None:
    """`--device` and `--precision` on a train command."""
    add_settings_arguments(parser, RuntimeSettings)


def runtime_settings(args) -> RuntimeSettings:
    """The `--device` / `--precision` given on the command line (not read from `--config`)."""
    return RuntimeSettings(**given(args, RuntimeSettings))


def rank() -> int:
    return int(os.environ.get("RANK", 0))


def world_size() -> int:
    return max(1, int(os.environ.get("WORLD_SIZE", 1)))


def is_main() -> bool:
    """True in the process that writes files (rank 0, or the only process)."""
    return rank() == 0


