"""`seq2seq average CKPT... -o OUT`: average the weights of several checkpoints of one run."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..errors import UserError
from .options import add_debug

log = logging.getLogger("seq2seq")


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("average", help="average the weights of several checkpoints of one run")
    p.add_argument("checkpoints", nargs="+", help="model files of one run")
    p.add_argument("-o", "--output", required=True, help="the averaged model file to write")
    add_debug(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..models.model_file import average

    output = Path(args.output)
    if any(output.resolve() == Path(p).resolve() for p in args.checkpoints if Path(p).exists()):
        raise UserError(f"the output {output} is one of the inputs; choose a new file name")
    averaged = average(args.checkpoints)
    averaged.build()  # its config and weights fit, as every model file's do
    averaged.write(output)
    log.info(f"averaged {len(args.checkpoints)} checkpoints into {output}")
    return 0
