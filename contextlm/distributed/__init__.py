"""Beyond one process: device, precision, data-parallel training (see `runtime.py` for the design).
The package import is torch-free; `contextlm.distributed.runtime` loads torch, fastai and accelerate."""
from .settings import RuntimeSettings, add_runtime_arguments, is_main, rank, runtime_settings, world_size

__all__ = ["RuntimeSettings", "add_runtime_arguments", "is_main", "rank", "runtime_settings", "world_size"]
