"""Command line: `seq2seq train | test | translate | average`.

Each subcommand parses its arguments and calls one function below it. A mistake the user can fix
(UserError, bad arguments) is printed as one line on stderr with exit code 2; --debug shows the
traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import sys

from . import __version__
from .errors import UserError

log = logging.getLogger("seq2seq")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (no usage dump) and exit code 2."""

    def error(self, message: str):
        raise UserError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="seq2seq", description="Attention RNN neural machine translation.")
    parser.add_argument("--version", action="version", version=f"seq2seq {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("train", help="train a model from a YAML config")
    p.add_argument("config", help="YAML config file, e.g. configs/toy.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value (repeatable), e.g. --set train.lr=0.001")
    p.add_argument("--resume", action="store_true", help="continue the run in run_dir from its last.pt")
    _common(p)
    p.set_defaults(func=_train)
    return parser


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", action="store_true", help="show tracebacks")


def _train(args: argparse.Namespace) -> int:
    from .config import load_config
    from .train import train

    cfg = load_config(args.config, args.overrides)
    try:
        train(cfg, resume=args.resume)
    except KeyboardInterrupt:
        return 130
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    _console_logging()
    try:
        args = build_parser().parse_args(argv)
        code = args.func(args)
    except UserError as e:
        if debug:
            raise
        print(f"seq2seq: error: {e}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


def _console_logging() -> None:
    logger = logging.getLogger("seq2seq")
    if not any(getattr(h, "_seq2seq_console", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.setLevel(logging.INFO)
        handler._seq2seq_console = True
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
