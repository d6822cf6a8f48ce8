"""`seq2seq serve MODEL [MODEL ...]`: translate over HTTP, with a web page at / (see server.py); MODEL
may be a CTranslate2 export, as in `translate`."""

from __future__ import annotations

import argparse
import sys

from ..errors import UserError
from .options import add_debug, add_decoding, add_models, load_translator, non_negative, positive


def add_command(sub: argparse._SubParsersAction) -> None:
    from ..serving.api import Limits

    limits = Limits()  # the defaults live there, once
    p = sub.add_parser("serve", help="translate over HTTP, with a web page")
    add_models(p, exports=True)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=_port, default=8000, help="port to listen on (0: any free one)")
    p.add_argument(
        "--max-lines",
        type=positive,
        default=limits.max_lines,
        help="sentences per request (default %(default)s)",
    )
    p.add_argument(
        "--max-chars",
        type=positive,
        default=limits.max_chars,
        help="characters per sentence (default %(default)s)",
    )
    p.add_argument(
        "--max-queue",
        type=positive,
        default=limits.max_queue,
        help="sentences waiting to be decoded; past this, 503 with Retry-After (default %(default)s)",
    )
    p.add_argument(
        "--max-beam", type=positive, default=limits.max_beam, help="largest beam_size a request may ask for"
    )
    p.add_argument(
        "--batch-wait-ms",
        type=non_negative,
        default=limits.batch_wait_ms,
        help="how long a decoding batch waits for concurrent requests to join (default %(default)s)",
    )
    p.add_argument(
        "--threads",
        type=positive,
        help="torch threads for decoding (default: torch's, one per core); 1 when the cores are shared",
    )
    add_decoding(p)
    add_debug(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..serving.api import Limits
    from ..serving.server import serve

    limits = Limits(args.max_lines, args.max_chars, args.max_queue, args.max_beam, args.batch_wait_ms)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    translator = load_translator(args, exports=True)
    if translator.search.beam_size > limits.max_beam:
        raise UserError(
            f"the default beam ({translator.search.beam_size}) is above --max-beam {limits.max_beam}; "
            "raise --max-beam or pass a smaller --beam"
        )

    def announce(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    serve(translator, [Path(m).name for m in args.models], args.host, args.port, limits, announce)
    return 0


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0 to 65535)")
    return value
