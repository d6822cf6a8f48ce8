"""`seq2seq export MODEL --ctranslate2 OUT_DIR [--quantization Q]`: a Transformer model file as a
CTranslate2 model directory, for deployment with that engine."""

from __future__ import annotations

import argparse
import logging

from .options import add_debug

log = logging.getLogger("seq2seq")


def add_command(sub: argparse._SubParsersAction) -> None:
    from ..deploy.ctranslate2_export import QUANTIZATIONS

    p = sub.add_parser("export", help="export a Transformer model file to a CTranslate2 model directory")
    p.add_argument("model", help="a Transformer model file (best.pt)")
    p.add_argument("--ctranslate2", required=True, metavar="OUT_DIR", help="the directory to write (new)")
    p.add_argument(
        "--quantization",
        choices=QUANTIZATIONS,
        default="float32",
        help="the weights' type in the export (default float32; int8 types quantize the weights)",
    )
    add_debug(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..deploy.ctranslate2_export import export_ctranslate2

    out = export_ctranslate2(args.model, args.ctranslate2, args.quantization)
    log.info(f"exported {args.model} to {out} ({args.quantization}); translate with CTranslate2")
    return 0
