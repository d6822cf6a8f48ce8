"""`seq2seq classify MODEL [TEXT]...`: label texts, a file or standard input with a classifier."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UserError
from .options import add_debug, open_input, positive, warn


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("classify", help="label texts, a file or standard input with a classifier")
    p.add_argument("model", help="classifier model file (best.pt of a task: classify run)")
    p.add_argument("texts", nargs="*", help="texts to label (default: read standard input)")
    p.add_argument("-i", "--input", help="read texts from this file instead (-: standard input)")
    p.add_argument("-o", "--output", help="write labels to this file instead of standard output (-: it too)")
    p.add_argument(
        "--format",
        choices=("text", "jsonl"),
        default="text",
        help="jsonl: the label probabilities and the attention weight of every source piece",
    )
    p.add_argument("--plot-attention", metavar="DIR", help="write an attention bar chart per text (PNG)")
    p.add_argument("--batch-tokens", type=positive, help="source tokens per batch")
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="auto (default): cuda when PyTorch sees a GPU",
    )
    add_debug(p)
    # texts after options (`classify MODEL --format jsonl "Hello."`) are left over by argparse
    p.set_defaults(func=run, trailing_positionals="texts")


def run(args: argparse.Namespace) -> int:
    from ..classify.labeler import Labeler, stream, write_labels

    args.input = None if args.input == "-" else args.input  # "-": standard input, as usual
    args.output = None if args.output == "-" else args.output
    if args.texts and args.input:
        raise UserError("give texts as arguments or --input FILE, not both")
    if args.input and args.output and Path(args.input).resolve() == Path(args.output).resolve():
        raise UserError("--output is the --input file; choose another output file")
    labeler = Labeler.load(args.model, args.device, args.batch_tokens)
    plot_dir = Path(args.plot_attention) if args.plot_attention else None
    if plot_dir is not None:
        plot_dir.mkdir(parents=True, exist_ok=True)
    sink = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        if args.texts:
            write_labels(labeler, list(args.texts), sink, args.format, plot_dir)
        elif args.input:
            with open_input(Path(args.input)) as source:
                stream(labeler, source, sink, args.format, warn, plot_dir)
        else:
            stream(labeler, sys.stdin.buffer, sink, args.format, warn, plot_dir)
    finally:
        if sink is not sys.stdout:
            sink.close()
    return 0
