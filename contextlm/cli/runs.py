"""`contextlm runs list` and `contextlm runs compare`: the run registry (written by
contextlm/experiments/registry.py, read by registry_lookup.py, shown by registry_reports.py)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..settings import number
from ._common import add_command, check_output, wrote

KINDS = ("lm", "vae", "cvae-tense")


def register(sub, groups) -> None:
    group = sub.add_parser(
        "runs", help="list and compare registered training runs",
        description="Every `contextlm train ...` records its run in the registry (--runs-dir, else $CONTEXTLM_RUNS, "
                    "else runs/): settings, command line, code version, data hashes, history, final metrics.",
        epilog="examples:\n  contextlm runs list\n  contextlm runs list --kind vae --grep ptb\n"
               "  contextlm runs compare 20250101-120000-lm-1a2b 1c3d",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    rs = group.add_subparsers(dest="runs_command", metavar="SUBCOMMAND", required=True)

    p = add_command(rs, "list", "registered runs, newest first", [
        "contextlm runs list",
        "contextlm runs list --kind lm --grep spotify --limit 10",
        "contextlm runs list --runs-dir /data/contextlm-runs",
    ], _list)
    p.add_argument("--kind", choices=KINDS, help="only runs of this kind")
    p.add_argument("--grep", metavar="TEXT",
                   help="only runs whose id, status, command, settings, data or model folder contain TEXT "
                        "(case-insensitive)")
    p.add_argument("--limit", type=number(int, min=1, max=10**6), default=50, help="show at most N runs (default 50)")
    _runs_dir_argument(p)

    p = add_command(rs, "compare", "final metrics side by side, the settings that differ, loss (and KL) curves in "
                                   "one PNG", [
        "contextlm runs compare 20250101-120000-lm-1a2b 20250101-130000-lm-9f0e",
        "contextlm runs compare 1a2b 9f0e 77c1 --out compare.png",
        "contextlm runs compare runs/20250101-120000-vae-1a2b runs/20250102-090000-vae-3c4d",
    ], _compare)
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="run ids, the unique start or end of one (e.g. its last 4 hex digits), or run folders")
    p.add_argument("--out", type=Path, help="PNG of the curves (default: RUNS/compare-<ids>.png, replaced)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    _runs_dir_argument(p)


def _runs_dir_argument(p) -> None:
    p.add_argument("--runs-dir", type=Path, metavar="DIR",
                   help="the registry (default: $CONTEXTLM_RUNS, else runs/)")


def _list(args) -> int:
    from ..experiments.registry import runs_dir
    from ..experiments.registry_lookup import list_runs
    from ..experiments.registry_reports import runs_table
    infos = list_runs(args.runs_dir, kind=args.kind, grep=args.grep)
    root = runs_dir(args.runs_dir)
    if not infos:
        what = " matching" if args.kind or args.grep else ""
        print(f"no{what} runs in {root}")
        return 0
    print(runs_table(infos[:args.limit]))
    if len(infos) > args.limit:
        print(f"... {len(infos) - args.limit} older runs (--limit)")
    return 0


def _compare(args) -> int:
    from ..errors import ContextLMError
    from ..experiments.registry_lookup import find_run
    from ..experiments.registry_reports import compare_table, default_compare_png, plot_compare
    if args.out:
        check_output(args.out, "--out", args.overwrite, (".png",))
    infos = [find_run(ref, args.runs_dir) for ref in args.runs]
    ids = [i["id"] for i in infos]
    if len(set(ids)) < len(ids):
        raise ContextLMError(f"a run is named twice: {', '.join(ids)}")
    print(compare_table(infos))
    png = plot_compare(infos, args.out or default_compare_png(infos, args.runs_dir))
    print()
    wrote(png, "loss curves" + (" and KL" if any(i.get("kind") in ("vae", "cvae-tense") for i in infos) else ""))
    return 0
