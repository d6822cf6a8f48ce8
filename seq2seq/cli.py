"""Command line: `seq2seq train | test | translate | average`.

Each subcommand parses its arguments and calls one function below it. A mistake the user can fix
(UserError, bad arguments) is printed as one line on stderr with exit code 2; --debug shows the
traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import os
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
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a config value (repeatable), e.g. --set train.lr=0.001",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in run_dir from its last.pt")
    _common(p)
    p.set_defaults(func=_train)

    p = sub.add_parser("test", help="translate a test set and score it with sacrebleu")
    p.add_argument("model", help="model file (best.pt, last.pt or an averaged model)")
    p.add_argument("--src", required=True, help="source text, one sentence per line")
    p.add_argument("--ref", required=True, help="reference translations, line-aligned with --src")
    p.add_argument("--output", help="write the translations here, one per line")
    p.add_argument("--lowercase", action="store_true", help="case-insensitive BLEU and chrF")
    p.add_argument("--tokenize", help="sacrebleu tokenizer for BLEU (default 13a), e.g. intl, none")
    p.add_argument(
        "--compare",
        metavar="OTHER_HYPOTHESES",
        help="another system's translations: paired bootstrap resampling against them",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    _decoding(p)
    _common(p)
    p.set_defaults(func=_test)

    p = sub.add_parser("translate", help="translate sentences, a file or standard input")
    p.add_argument("model", help="model file (best.pt, last.pt or an averaged model)")
    p.add_argument("sentences", nargs="*", help="sentences to translate (default: read standard input)")
    p.add_argument("-i", "--input", help="read sentences from this file instead")
    p.add_argument("-o", "--output", help="write translations to this file instead of standard output")
    p.add_argument("--n-best", type=_positive, default=1, help="hypotheses per input (tab-separated in text)")
    p.add_argument(
        "--format",
        choices=("text", "jsonl"),
        default="text",
        help="jsonl: source, n-best with scores, token probabilities and attention",
    )
    p.add_argument("--plot-attention", metavar="DIR", help="write an attention heatmap per sentence (PNG)")
    _decoding(p)
    _common(p)
    p.set_defaults(func=_translate)

    p = sub.add_parser("average", help="average the weights of several checkpoints of one run")
    p.add_argument("checkpoints", nargs="+", help="model files of one run")
    p.add_argument("-o", "--output", required=True, help="the averaged model file to write")
    _common(p)
    p.set_defaults(func=_average)
    return parser


def _decoding(p: argparse.ArgumentParser) -> None:
    p.add_argument("--beam", type=_positive, help="beam size (default: the model's config)")
    p.add_argument("--greedy", action="store_true", help="greedy search (same as --beam 1)")
    p.add_argument("--length-penalty", type=_non_negative, help="GNMT length penalty alpha")
    p.add_argument(
        "--max-len-ratio", type=_non_negative, help="output length <= ratio x source length + offset"
    )
    p.add_argument("--batch-tokens", type=_positive, help="source tokens per decoding batch")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16", "fp16"),
        help="decoding precision (default: the one the model trained with)",
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{value} must be >= 0")
    return value


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


def _load_translator(args: argparse.Namespace):
    from .translator import Translator

    return Translator.load(
        args.model,
        device=args.device,
        precision=args.precision,
        beam_size=1 if args.greedy else args.beam,
        length_penalty=args.length_penalty,
        max_len_ratio=args.max_len_ratio,
        batch_tokens=args.batch_tokens,
    )


def _test(args: argparse.Namespace) -> int:
    import json

    from .translator import test

    result = test(
        _load_translator(args), args.src, args.ref, args.output, args.lowercase, args.tokenize, args.compare
    )
    if args.json:
        result.pop("lines")
        print(json.dumps(result, indent=1))
        return 0
    for name in ("bleu", "chrf", "ter"):
        print(result["lines"][name])
    print(
        f"{result['sentences']} sentences in {result['seconds']:.2f} s "
        f"({result['sentences_per_second']:.1f} sentences/s)"
    )
    if "compare" in result:
        c = result["compare"]
        print(f"paired bootstrap resampling (1000 samples) against {c['baseline']}:")
        for metric in ("BLEU", "chrF"):
            m = c[metric]
            verdict = "significant" if m["significant"] else "not significant"
            print(
                f"  {metric}: model {m['model']:.2f} ({m['model_mean']:.2f} +- {m['model_ci95']:.2f}) vs "
                f"baseline {m['baseline']:.2f}: p = {m['p_value']:.4f}, {verdict} at p < 0.05"
            )
    return 0


def _open_input(path):
    if path.is_dir():
        raise UserError(f"--input {path} is a directory; give a text file")
    try:
        return open(path, "rb")
    except OSError as e:
        raise UserError(f"cannot read --input {path}: {e.strerror}") from None


def _translate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .translator import stream, write_translations

    if args.sentences and args.input:
        raise UserError("give sentences as arguments or --input FILE, not both")
    translator = _load_translator(args)
    if args.n_best > translator.search.beam_size:
        raise UserError(f"--n-best {args.n_best} needs a beam at least as large (--beam {args.n_best})")
    plot_dir = Path(args.plot_attention) if args.plot_attention else None
    if plot_dir is not None:
        plot_dir.mkdir(parents=True, exist_ok=True)
    if args.input and args.output and Path(args.input).resolve() == Path(args.output).resolve():
        raise UserError("--output is the --input file; choose another output file")

    def warn(message: str) -> None:
        print(f"seq2seq: warning: {message}", file=sys.stderr, flush=True)

    sink = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        if args.sentences:
            write_translations(
                translator, list(args.sentences), sink, args.format, args.n_best, warn, plot_dir
            )
        elif args.input:
            with _open_input(Path(args.input)) as source:
                stream(translator, source, sink, args.format, args.n_best, warn, plot_dir)
        else:
            stream(translator, sys.stdin.buffer, sink, args.format, args.n_best, warn, plot_dir)
    finally:
        if sink is not sys.stdout:
            sink.close()
    return 0


def _average(args: argparse.Namespace) -> int:
    from .translator import average

    n = average(args.checkpoints, args.output)
    log.info(f"averaged {n} checkpoints into {args.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    _console_logging()
    try:
        args, unknown = build_parser().parse_known_args(argv)
        if args.command == "translate" and not any(u.startswith("-") for u in unknown):
            # sentences after options (`translate MODEL --beam 4 "Hello."`) land in `unknown`
            args.sentences, unknown = args.sentences + unknown, []
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
