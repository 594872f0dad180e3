"""Execute a notebook in nbs/ the way a user would, on tiny settings.

Notebooks read `CONTEXTLM_TINY=1` from the environment and shrink their data and
epochs; everything else (imports, cells, outputs) runs as written.
"""
from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def run_notebook(name: str, workdir: Path, timeout: int = 300) -> nbformat.NotebookNode:
    """Run `nbs/<name>` with cwd `workdir`; raises CellExecutionError on the first failing cell."""
    nb = nbformat.read(ROOT / "nbs" / name, as_version=4)
    old = os.environ.get("CONTEXTLM_TINY"), os.environ.get("CONTEXTLM_ROOT")
    os.environ["CONTEXTLM_TINY"], os.environ["CONTEXTLM_ROOT"] = "1", str(ROOT)
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(workdir)}}).execute()
    finally:
        for key, value in zip(("CONTEXTLM_TINY", "CONTEXTLM_ROOT"), old):
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return nb
