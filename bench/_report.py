"""Write one benchmark's section of BENCHMARKS.md without touching the others.

Each benchmark owns the text between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`;
rerunning it replaces only that block, so the file keeps every benchmark's latest run.
`CONTEXTLM_BENCHMARKS_MD=/tmp/copy.md` sends the section to another file (to try a
benchmark's report without touching the committed figures); every benchmark also takes
`--no-report` (print only).
"""
from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
ENV_TARGET = "CONTEXTLM_BENCHMARKS_MD"
HEADER = "# Benchmarks\n\nWritten by the scripts in `bench/` (`make bench` runs them). Not run by CI.\n"


def machine() -> str:
    """One line describing where the figures were measured."""
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


def target() -> Path:
    """BENCHMARKS.md, or the file named by $CONTEXTLM_BENCHMARKS_MD."""
    other = os.environ.get(ENV_TARGET)
    return Path(other) if other else BENCHMARKS


def load_text(before: tuple[float, float, float] | None = None) -> str:
    """The machine's 1-minute load average now (and `before`: an earlier `os.getloadavg()`)."""
    now = os.getloadavg()[0]
    when = f"{before[0]:.2f} before, {now:.2f} after" if before else f"{now:.2f}"
    return f"1-minute load average {when}, on {os.cpu_count()} cores"


def write_section(name: str, markdown: str, command: str | None = None) -> Path:
    """Replace (or append) the block of benchmark `name` in BENCHMARKS.md (or $CONTEXTLM_BENCHMARKS_MD)."""
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
    path = target()
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def publish(name: str, markdown: str, command: str | None = None, no_report: bool = False,
            quick: bool = False) -> Path | None:
    """Print the section and write it, unless `no_report`; a `quick` (smoke) run is written only
    to $CONTEXTLM_BENCHMARKS_MD, never over the committed figures in BENCHMARKS.md."""
    print(markdown, flush=True)
    if no_report or (quick and not os.environ.get(ENV_TARGET)):
        print(f"(section {name!r} not written: {'--no-report' if no_report else '--quick'})", flush=True)
        return None
    path = write_section(name, markdown, command=command)
    print(f"wrote section {name!r} of {path}", flush=True)
    return path
