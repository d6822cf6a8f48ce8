"""`seq2seq export MODEL --ctranslate2 OUT_DIR [--quantization Q]`: a Transformer model file as a
CTranslate2 model directory, for deployment with that engine; `seq2seq export MODEL --int8 OUT.pt`:
a model file (RNN or Transformer) with int8 weights, for decoding on a CPU."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..errors import UserError
from .options import add_debug

log = logging.getLogger("seq2seq")


def add_command(sub: argparse._SubParsersAction) -> None:
    from ..deploy.ctranslate2_export import QUANTIZATIONS

    p = sub.add_parser(
        "export", help="export a model file to CTranslate2 (Transformers) or with int8 weights (any)"
    )
    p.add_argument("model", help="a model file (best.pt)")
    p.add_argument("--ctranslate2", metavar="OUT_DIR", help="the CTranslate2 directory to write (new)")
    p.add_argument(
        "--quantization",
        choices=QUANTIZATIONS,
        help="the weights' type in a CTranslate2 export (default float32; int8 types quantize the weights)",
    )
    p.add_argument(
        "--int8",
        metavar="OUT.pt",
        help="the model file to write (new), its linear and recurrent layers int8 (PyTorch dynamic "
        "quantization; decodes on the CPU)",
    )
    add_debug(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.ctranslate2 and args.int8:
        raise UserError(
            "--ctranslate2 and --int8 are two kinds of export: give one (int8 weights in CTranslate2: "
            "--ctranslate2 OUT_DIR --quantization int8)"
        )
    if args.int8:
        return _int8(args)
    if not args.ctranslate2:
        raise UserError(
            "say what to export: --ctranslate2 OUT_DIR or --int8 OUT.pt (see 'seq2seq export --help')"
        )
    from ..deploy.ctranslate2_export import export_ctranslate2

    quantization = args.quantization or "float32"
    out = export_ctranslate2(args.model, args.ctranslate2, quantization)
    log.info(f"exported {args.model} to {out} ({quantization}); translate with CTranslate2")
    _advise(args.model)
    return 0


def _advise(model: str) -> None:
    from ..deploy.advice import advice
    from ..models.model_file import ModelFile

    log.info(advice(ModelFile.read(model).cfg()))


def _int8(args: argparse.Namespace) -> int:
    from ..deploy.int8_export import export_int8

    if args.quantization:
        raise UserError(
            "--quantization is for --ctranslate2; --int8 writes int8 weights already: leave it off"
        )
    out = export_int8(args.model, args.int8)
    before, after = Path(args.model).stat().st_size, out.stat().st_size
    log.info(
        f"exported {args.model} to {out} with int8 weights ({after / 1e6:.1f} MB, "
        f"{before / 1e6:.1f} MB before); it decodes on the CPU"
    )
    _advise(args.model)
    return 0
