"""Command line: `seq2seq train | test | translate | classify | chat | score | serve | plot | average |
data | export`.

Each command is a module `cli/<command>.py` with `add_command(subparsers)`, which defines its
arguments and sets `func`, the handler that calls one function below it. Here: the assembly of the
commands, and what every command shares: a mistake the user can fix (UserError, bad arguments) is
printed as one line on stderr with exit code 2; --debug shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from .. import __version__
from ..errors import UserError
from ..runtime import process
from . import average, chat, classify, data, export, plot, score, serve, test, train, translate

# the commands, in the order `seq2seq --help` lists them
COMMANDS = (train, test, translate, classify, chat, score, serve, plot, average, data, export)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (no usage dump) and exit code 2."""

    def error(self, message: str):
        raise UserError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="seq2seq", description="Attention RNN neural machine translation, text classification and chat."
    )
    parser.add_argument("--version", action="version", version=f"seq2seq {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in COMMANDS:
        command.add_command(sub)
    return parser


def entry() -> None:
    """The `seq2seq` command and `python -m seq2seq`: `main` in a process set up for it (process.py:
    freed memory kept for reuse, no interpreter teardown at the end). Tests call `main`."""
    process.keep_freed_memory()
    try:
        main()
    except SystemExit as e:
        process.leave(e.code)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    _console_logging()
    try:
        args, unknown = build_parser().parse_known_args(argv)
        trailing = getattr(args, "trailing_positionals", None)
        if trailing and not any(u.startswith("-") for u in unknown):
            # positionals after options (`translate MODEL --beam 4 "Hello."`) land in `unknown`
            setattr(args, trailing, getattr(args, trailing) + unknown)
            unknown = []
        if unknown:  # argparse reports these from the top parser; point at the subcommand's help
            raise UserError(
                f"unrecognized arguments: {' '.join(unknown)} (see 'seq2seq {args.command} --help')"
            )
        code = args.func(args)
    except UserError as e:
        if debug:
            raise
        print(f"seq2seq: error: {e}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 141
    _exit(code)


def _exit(code: int) -> None:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # a torchrun worker whose process group is destroyed and whose files are saved and closed:
        # skip the interpreter's teardown, where a thread that gloo leaves behind can abort the
        # process (SIGABRT) now and then after a finished run, and torchrun would report a failure
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
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
