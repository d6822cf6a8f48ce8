"""`seq2seq test MODEL [MODEL...] --src FILE --ref FILE`: translate a test set (with one model or an
ensemble) and score it with sacrebleu."""

from __future__ import annotations

import argparse

from .cli_options import add_debug, add_decoding, add_models, load_translator


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("test", help="translate a test set and score it with sacrebleu")
    add_models(p)
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
    add_decoding(p)
    add_debug(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from .translator import test

    result = test(
        load_translator(args), args.src, args.ref, args.output, args.lowercase, args.tokenize, args.compare
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
