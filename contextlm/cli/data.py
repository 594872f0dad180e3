"""`contextlm data get NAME [--from DIR]` and `contextlm data synth`."""
from __future__ import annotations

from pathlib import Path

from ..settings import number
from ._common import add_command, seed_type, wrote


def register(sub, groups) -> None:
    from ..data.datasets import DATASETS
    names = ", ".join(DATASETS)
    p = add_command(groups["data"], "get", f"download (sha256-checked) or copy a named dataset: {names}", [
        "contextlm data get spotify-songs",
        "contextlm data get spotify-songs --from ../shared/data/spotify_songs",
        "contextlm data get ptb --from ~/corpora/ptb --cache ./datasets",
        "contextlm data get spotify-lyrics --from ~/Downloads/kaggle-lyrics --language all",
    ], _get)
    p.add_argument("name", choices=list(DATASETS), metavar="NAME", help=names)
    p.add_argument("--from", dest="from_dir", type=Path, help="copy the original files from this folder")
    p.add_argument("--cache", type=Path, help="cache folder (default: $CONTEXTLM_DATA or ~/.cache/contextlm/datasets)")
    p.add_argument("--no-verify", action="store_true", help="accept files whose sha256 differs from the original")
    p.add_argument("--force", action="store_true", help="fetch and build again even if present")
    p.add_argument("--language", metavar="CODES",
                   help="spotify-lyrics: languages to keep, e.g. en,es or all (default: en)")
    p.add_argument("--print-path", action="store_true", help="print only the path of the main file (for scripts)")

    p = add_command(groups["data"], "synth", "write the synthetic energy-dependent review corpus", [
        "contextlm data synth --n 2000 --seed 0 --out data/synthetic_reviews.csv",
    ], _synth)
    p.add_argument("--n", type=number(int, min=1, max=10**6), default=2000, help="number of reviews (default 2000)")
    p.add_argument("--seed", type=seed_type(), default=0, help="seed (default 0)")
    p.add_argument("--out", type=Path, default=Path("data/synthetic_reviews.csv"))


def _get(args) -> int:
    from ..data.datasets import get_dataset
    path = get_dataset(args.name, args.from_dir, args.cache, verify=not args.no_verify, force=args.force,
                       progress=not args.print_path, options={"language": args.language})
    if args.print_path:
        print(path)
    else:
        wrote(path.parent, f"dataset {args.name}")
        print(f"main file: {path}")
    return 0


def _synth(args) -> int:
    from ..data.synthetic import synthetic_reviews
    args.out.parent.mkdir(parents=True, exist_ok=True)
    synthetic_reviews(args.n, args.seed).to_csv(args.out, index=False)
    wrote(args.out, f"{args.n} synthetic reviews")
    return 0
