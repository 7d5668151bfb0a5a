"""The command line both floor jobs share: ``--sales FILE --marketing FILE --out FOLDER``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def job_main(run: Callable[[Path, Path, Path], None], description: str, argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sales", type=Path, required=True)
    parser.add_argument("--marketing", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    run(args.sales, args.marketing, args.out)
