"""`seq2seq translate MODEL [MODEL...] [SENTENCE]...`: translate sentences, a file or standard input,
with one model or an ensemble."""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import sys
from pathlib import Path

from ..errors import UserError
from ..inference.glossary import Glossary
from .options import add_debug, add_decoding, load_translator, open_input, positive, warn


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("translate", help="translate sentences, a file or standard input")
    p.add_argument(
        "models",
        nargs="+",
        metavar="MODEL",
        help="model file (best.pt, last.pt, averaged.pt); several make an ensemble; the leading "
        "arguments that are files are models, the rest sentences",
    )
    p.add_argument("-i", "--input", help="read sentences from this file instead (-: standard input)")
    p.add_argument(
        "-o", "--output", help="write translations to this file instead of standard output (-: it too)"
    )
    p.add_argument("--n-best", type=positive, default=1, help="hypotheses per input (tab-separated in text)")
    p.add_argument(
        "--format",
        choices=("text", "jsonl"),
        default="text",
        help="jsonl: source, n-best with scores, token probabilities and attention",
    )
    p.add_argument("--plot-attention", metavar="DIR", help="write an attention heatmap per sentence (PNG)")
    p.add_argument(
        "--attention-head",
        type=int,
        metavar="N",
        help="report head N's attention weights (default: the heads' average; a Transformer: its last layer)",
    )
    p.add_argument(
        "--document",
        nargs="?",
        const="-",
        metavar="FILE",
        help="translate plain text (FILE, or standard input) as a document: sentences split, "
        "paragraphs, line breaks and whitespace kept",
    )
    p.add_argument(
        "--wrapped",
        action="store_true",
        help="with --document: the text is hard-wrapped; each paragraph is joined before its "
        "sentences are split, and its translation wrapped again to the paragraph's width",
    )
    p.add_argument(
        "--markup",
        choices=("html", "xml"),
        help="the input (--document FILE, --input or standard input) is HTML or XML: the text is "
        "translated, every tag kept, inline tags placed around the words they surrounded",
    )
    p.add_argument(
        "--glossary",
        metavar="FILE.tsv",
        help="source term<TAB>target term per line: where a source term occurs (whole words, any "
        "case), its target term appears in the translation",
    )
    p.add_argument(
        "--source-lang",
        metavar="CODE",
        help="the document's language for sentence splitting (default: the model's data.src_lang)",
    )
    add_decoding(p)
    add_debug(p)
    # sentences after options (`translate MODEL --beam 4 "Hello."`) are left over by argparse
    p.set_defaults(func=run, trailing_positionals="models")


def run(args: argparse.Namespace) -> int:
    from ..inference.output import repeats_advice, stream, write_translations

    args.sentences = _split_models(args)
    args.input = None if args.input == "-" else args.input  # "-": standard input, as usual
    args.output = None if args.output == "-" else args.output
    if args.sentences and args.input:
        raise UserError("give sentences as arguments or --input FILE, not both")
    if args.wrapped and (args.document is None or args.markup):
        raise UserError("--wrapped is for plain-text documents: use it with --document, without --markup")
    if args.document is not None or args.markup:
        _check_document_options(args)
    glossary = Glossary.read(Path(args.glossary)) if args.glossary else None
    translator = load_translator(args, exports=True)
    if glossary:
        if not translator.obeys_glossaries:
            raise UserError(
                f"{args.models[0]} is a CTranslate2 export, which has no constrained search for "
                "--glossary; translate with the model file it was exported from"
            )
        translator.glossary = glossary
    if args.markup:
        return _run_markup(args, translator)
    if args.document is not None:
        return _run_document(args, translator)
    if args.attention_head is not None:
        try:
            translator.show_head(args.attention_head)
        except ValueError as e:
            raise UserError(f"--attention-head {args.attention_head}: {e}") from None
    if args.n_best > translator.search.beam_size:
        raise UserError(f"--n-best {args.n_best} needs a beam at least as large (--beam {args.n_best})")
    plot_dir = Path(args.plot_attention) if args.plot_attention else None
    if plot_dir is not None:
        plot_dir.mkdir(parents=True, exist_ok=True)
    if args.input and args.output and Path(args.input).resolve() == Path(args.output).resolve():
        raise UserError("--output is the --input file; choose another output file")

    path = Path(args.input) if args.input else None
    with _files(path, "--input", args.output) as (source, sink):
        if sys.stderr.isatty():  # at a terminal; in a pipeline stderr carries only the lines' warnings
            logging.getLogger("seq2seq").info(f"translating on {translator.device} in {translator.precision}")
        if args.sentences:
            lines = len(args.sentences)
            repeated = write_translations(
                translator, args.sentences, sink, args.format, args.n_best, warn, plot_dir
            )
        else:
            lines, repeated = stream(translator, source, sink, args.format, args.n_best, warn, plot_dir)
    if repeated:
        warn(repeats_advice(repeated, lines, args.n_best, translator.search.beam_size))
    return 0


@contextlib.contextmanager
def _files(path: Path | None, option: str, output: str | None, newline: str | None = None):
    """(source bytes: the file at `path`, else standard input; sink: `output`, else standard output),
    closed after. The input is opened first: a bad one leaves no empty output file."""
    with contextlib.ExitStack() as opened:
        source = opened.enter_context(open_input(path, option)) if path else sys.stdin.buffer
        sink = (
            opened.enter_context(open(output, "w", encoding="utf-8", newline=newline))
            if output
            else sys.stdout
        )
        yield source, sink


def _lang(args: argparse.Namespace, translator) -> str:
    return args.source_lang or translator.config.data.src_lang


def _check_document_options(args: argparse.Namespace) -> None:
    clashes = [
        ("sentences as arguments", bool(args.sentences)),
        ("--input (give the file to --document)", bool(args.input) and args.document not in (None, "-")),
        ("--n-best", args.n_best > 1),
        ("--format jsonl", args.format != "text"),
        ("--plot-attention", bool(args.plot_attention)),
    ]
    for what, given in clashes:
        if given:
            raise UserError(
                f"--{'markup' if args.markup else 'document'} translates a whole text; drop {what}"
            )
    given = args.document if args.document not in (None, "-") else args.input
    if given and args.output and Path(given).resolve() == Path(args.output).resolve():
        raise UserError("--output is the --document file; choose another output file")


def _run_markup(args: argparse.Namespace, translator) -> int:
    from ..inference.markup import translate_markup

    path = args.document if args.document not in (None, "-") else args.input
    option = "--document" if args.document else "--input"
    with _files(Path(path) if path else None, option, args.output, newline="") as (source, sink):
        text = source.read().decode("utf-8", errors="replace")
        sink.write(translate_markup(text, translator, _lang(args, translator), xml=args.markup == "xml"))
    return 0


def _run_document(args: argparse.Namespace, translator) -> int:
    from ..inference.document import translate_document

    path = Path(args.document) if args.document != "-" else None
    with _files(path, "--document", args.output, newline="") as (source, sink):
        translate_document(translator, source, sink, _lang(args, translator), warn, wrapped=args.wrapped)
    return 0


def _split_models(args: argparse.Namespace) -> list[str]:
    """The first argument and the leading ones after it that are files (or CTranslate2 exports) are
    models; the rest are sentences. A word that names no file but looks like a model file's name (`B.ckpt`) is
    refused: a typo in a path must not be translated as a sentence. Sets args.models; returns the
    sentences."""
    from ..deploy.ctranslate2_engine import is_export

    words = list(args.models)
    count = 1
    while count < len(words) and (Path(words[count]).is_file() or is_export(words[count])):
        count += 1
    if count < len(words) and MODEL_NAME.fullmatch(words[count]):
        raise UserError(
            f"{words[count]} looks like a model file but there is no such file; check the path "
            "(to translate that text, give it with --input or on standard input)"
        )
    args.models = words[:count]
    return words[count:]


# a file name with a model file's suffix, no spaces
MODEL_NAME = re.compile(r"\S+\.(pt|pth|ckpt|bin|safetensors)")
