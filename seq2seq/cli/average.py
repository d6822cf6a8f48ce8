"""`seq2seq average CKPT... -o OUT`: average the weights of several checkpoints of one run."""

from __future__ import annotations

import argparse
import logging

from .options import add_debug

log = logging.getLogger("seq2seq")


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("average", help="average the weights of several checkpoints of one run")
    p.add_argument("checkpoints", nargs="+", help="model files of one run")
    p.add_argument("-o", "--output", required=True, help="the averaged model file to write")
    add_debug(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..inference.translator import average

    n = average(args.checkpoints, args.output)
    log.info(f"averaged {n} checkpoints into {args.output}")
    return 0
