"""What several commands share: --debug, the decoding options and the translator they describe,
reading --input and warning on stderr, and argument types that refuse a bad number in one line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import BinaryIO

from ..errors import UserError


def add_debug(p: argparse.ArgumentParser) -> None:
    """Every command takes --debug; `cli/main.py` reads it before parsing, to show tracebacks."""
    p.add_argument("--debug", action="store_true", help="show tracebacks")


def add_decoding(p: argparse.ArgumentParser, search: bool = True) -> None:
    """The options of decoding with a model; without `search`, only batch size, device and
    precision (for commands that read the model's probabilities but do not search)."""
    if search:
        p.add_argument("--beam", type=positive, help="beam size (default: the model's config)")
        p.add_argument("--greedy", action="store_true", help="greedy search (same as --beam 1)")
        p.add_argument("--length-penalty", type=non_negative, help="GNMT length penalty alpha")
        p.add_argument(
            "--max-len-ratio", type=non_negative, help="output length <= ratio x source length + offset"
        )
        p.add_argument("--max-len-offset", type=count, help="the offset of that limit, in pieces")
    else:
        p.set_defaults(beam=None, greedy=False, length_penalty=None, max_len_ratio=None, max_len_offset=None)
    p.add_argument("--batch-tokens", type=positive, help="source tokens per batch")
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="auto (default): the GPU when PyTorch sees one, else the CPU",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the recurrent decoder's step (pays on a GPU; not on the CPU)",
    )
    p.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16", "fp16"),
        help="decoding precision; auto: bf16 where the device has bf16 matrix units, else fp32 "
        "(default: the one the model trained in, or fp32 where that one is slower)",
    )


def add_models(p: argparse.ArgumentParser, exports: bool = False) -> None:
    """The MODEL arguments; `exports`: the command takes a CTranslate2 export too."""
    export = " or a CTranslate2 export directory" if exports else ""
    p.add_argument(
        "models",
        nargs="+",
        metavar="MODEL",
        help=f"model file (best.pt, last.pt, averaged.pt){export}; several model files make an ensemble",
    )


def load_translator(args: argparse.Namespace, exports: bool = False):
    """The model file(s) `args.models` with the search that the decoding options ask for; with
    `exports`, a CTranslate2 export directory too (`translate`, `test` and `serve` take one)."""
    from ..deploy.ctranslate2_engine import is_export, load_export
    from ..inference.translator import Translator

    export = next((p for p in args.models if is_export(p)), None)
    if export is not None and not exports:
        raise UserError(
            f"{export} is a CTranslate2 export; seq2seq {args.command} needs a model file "
            "(an export serves seq2seq translate, test and serve)"
        )
    load = load_export if export is not None else Translator.load
    return load(
        args.models,
        device=args.device,
        precision=args.precision,
        compile=args.compile,
        beam_size=1 if args.greedy else args.beam,
        length_penalty=args.length_penalty,
        max_len_ratio=args.max_len_ratio,
        max_len_offset=args.max_len_offset,
        batch_tokens=args.batch_tokens,
    )


def open_input(path: Path, option: str = "--input") -> BinaryIO:
    """The --input file (or another option's), opened for reading bytes."""
    if path.is_dir():
        raise UserError(f"{option} {path} is a directory; give a text file")
    try:
        return open(path, "rb")
    except OSError as e:
        raise UserError(f"cannot read {option} {path}: {e.strerror}") from None


def warn(message: str) -> None:
    print(f"seq2seq: warning: {message}", file=sys.stderr, flush=True)


def positive(text: str) -> int:
    return _whole_number(text, least=1)


def count(text: str) -> int:
    return _whole_number(text, least=0)


def _whole_number(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"{value} must be at least {least}")
    return value


def non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{value} must be >= 0")
    return value
