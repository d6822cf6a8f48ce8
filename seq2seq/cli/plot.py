"""`seq2seq plot RUN_DIR [RUN_DIR ...] -o OUT.png`: several runs' validation BLEU in one picture."""

from __future__ import annotations

import argparse
import logging

from .options import add_debug

log = logging.getLogger("seq2seq")


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="overlay the validation BLEU of several runs (PNG)")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories of seq2seq train")
    p.add_argument("-o", "--output", required=True, help="the PNG file to write")
    add_debug(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..report.plots import plot_runs

    plot_runs(args.run_dirs, args.output)
    log.info(f"wrote {args.output}")
    return 0
