"""`seq2seq score MODEL --src S --tgt T`: the model's log-probability of given translations."""

from __future__ import annotations

import argparse
import sys

from ..errors import UserError
from .options import add_debug, add_decoding, load_translator


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="score given translations: log-probabilities under the model")
    p.add_argument("model", help="model file (best.pt, last.pt or an averaged model)")
    p.add_argument("--src", required=True, help="source text, one sentence per line")
    p.add_argument("--tgt", required=True, help="the translations to score, line-aligned with --src")
    p.add_argument("-o", "--output", help="write the scores here instead of standard output")
    p.add_argument(
        "--format",
        choices=("text", "jsonl"),
        default="text",
        help="text: total and per-token log-probability; jsonl: also the pieces and their probabilities",
    )
    add_decoding(p, search=False)
    add_debug(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.batches import read_lines
    from ..decoding.forced import write_scores

    src, tgt = read_lines(args.src), read_lines(args.tgt)
    if len(src) != len(tgt):
        raise UserError(
            f"{args.src} has {len(src)} lines but {args.tgt} has {len(tgt)}; they must be line-aligned"
        )
    args.models = [args.model]  # force-decoding an ensemble has no teacher-forced forward yet
    translator = load_translator(args)
    sink = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        write_scores(
            translator.model,
            translator.tokenizer,
            src,
            tgt,
            translator.search.batch_tokens,
            sink,
            args.format,
        )
    finally:
        if sink is not sys.stdout:
            sink.close()
    return 0
