"""Write one benchmark's section of BENCHMARKS.md without touching the others.

Each benchmark owns the text between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`;
rerunning it replaces only that block, so the file keeps every benchmark's latest run.
"""
from __future__ import annotations

import platform
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
HEADER = "# Benchmarks\n\nWritten by the scripts in `bench/` (`make bench` runs them). Not run by CI.\n"


def machine() -> str:
    """One line describing where the figures were measured."""
    import os
    import torch
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{os.cpu_count()} CPU cores ({cpu}), torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), {dev}, Python {platform.python_version()}")


def write_section(name: str, markdown: str, command: str | None = None) -> Path:
    """Replace (or append) the block of benchmark `name` in BENCHMARKS.md."""
    command = command or "python " + " ".join(sys.argv)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=BENCHMARKS.parent).stdout.strip()
    except OSError:
        commit = "?"
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    block = (f"<!-- bench:{name} -->\n{markdown.strip()}\n\n"
             f"_Command:_ `{command}`  \n_Machine:_ {machine()}  \n_Run:_ {stamp}, commit {commit or '?'}\n"
             f"<!-- /bench:{name} -->")
    text = BENCHMARKS.read_text(encoding="utf-8") if BENCHMARKS.exists() else HEADER
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    BENCHMARKS.write_text(text, encoding="utf-8")
    return BENCHMARKS
