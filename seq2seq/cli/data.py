"""`seq2seq data NAME [--out DIR] [--from DIR]`: put a public corpus where the configs read it."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .options import add_debug

log = logging.getLogger("seq2seq")


def add_command(sub: argparse._SubParsersAction) -> None:
    from ..data.datasets import DATASETS

    p = sub.add_parser(
        "data",
        help="download a public corpus (or copy a local copy), every file checked by its SHA-256",
        description="; ".join(f"{d.name}: {d.description}" for d in DATASETS.values()),
    )
    p.add_argument("name", choices=sorted(DATASETS), help="the corpus")
    p.add_argument("--out", help="the folder to fill (default: data/NAME, where the configs read it)")
    p.add_argument(
        "--from",
        dest="source",
        help="copy from this folder (the files by name, plain or .gz) instead of downloading",
    )
    add_debug(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.datasets import DATASETS, fetch_dataset

    dataset = DATASETS[args.name]
    out = Path(args.out or Path("data") / dataset.name)
    paths = fetch_dataset(dataset, out, Path(args.source) if args.source else None)
    log.info(f"{dataset.name}: {len(paths)} files in {out}, every one checked")
    log.info(f"terms of use: {dataset.terms}")
    return 0
