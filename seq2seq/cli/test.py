"""`seq2seq test MODEL [MODEL...] --src FILE --ref FILE`: translate a test set (with one model or an
ensemble) and score it with sacrebleu, or, for a classifier, label it and print accuracy, macro-F1,
per-label figures and the confusion matrix."""

from __future__ import annotations

import argparse

from ..errors import UserError
from .options import add_debug, add_decoding, add_models, load_translator


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("test", help="score a model on a test set (BLEU and chrF, or accuracy and F1)")
    add_models(p, exports=True)
    p.add_argument("--src", required=True, help="source text, one sentence per line")
    p.add_argument(
        "--ref",
        required=True,
        help="reference translations (or labels, for a classifier), line-aligned with --src",
    )
    p.add_argument("--output", help="write the translations (or labels) here, one per line")
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


# options that mean something for translation only, and their "not given" values
TRANSLATION_ONLY = {
    "lowercase": False,
    "tokenize": None,
    "compare": None,
    "beam": None,
    "greedy": False,
    "length_penalty": None,
    "max_len_ratio": None,
    "precision": None,
}


def run(args: argparse.Namespace) -> int:
    import json

    from ..deploy.ctranslate2_engine import is_export
    from ..inference.scoring import score_test_set
    from ..models.model_file import ModelFile

    model = args.models[0]
    if not is_export(model) and ModelFile.read(model).cfg().task == "classify":
        return run_classifier(args)

    result = score_test_set(
        load_translator(args, exports=True),
        args.src,
        args.ref,
        args.output,
        args.lowercase,
        args.tokenize,
        args.compare,
    )
    if args.json:
        result.pop("lines")
        print(json.dumps(result, indent=1))
        return 0
    for name in ("bleu", "chrf", "ter"):
        print(result["lines"][name])
    print(
        f"{result['sentences']} sentences in {result['seconds']:.2f} s "
        f"({result['sentences_per_second']:.1f} sentences/s) on {result['device']} in {result['precision']}"
    )
    if "compare" in result:
        c = result["compare"]
        print(f"paired bootstrap resampling (1000 samples) against {c['baseline']}:")
        for metric in ("BLEU", "chrF"):
            m = c[metric]
            verdict = "significant" if m["significant"] else "not significant"
            better = {"model": "the model is better", "baseline": "the baseline is better"}.get(
                m["better"], "equal scores"
            )
            print(
                f"  {metric}: model {m['model']:.2f} ({m['model_mean']:.2f} +- {m['model_ci95']:.2f}) vs "
                f"baseline {m['baseline']:.2f}: {better}, p = {m['p_value']:.4f}, {verdict} at p < 0.05"
            )
    return 0


def run_classifier(args: argparse.Namespace) -> int:
    import json

    from ..classify.labeler import Labeler, test

    model = args.models[0]
    if len(args.models) > 1:
        raise UserError(f"ensembles are of translation models; {model} is a classifier: give it alone")
    for name, unset in TRANSLATION_ONLY.items():
        if getattr(args, name) != unset:
            option = "--" + name.replace("_", "-")
            raise UserError(f"{option} is for translation models; {model} is a classifier")
    labeler = Labeler.load(model, args.device, args.batch_tokens)
    result = test(labeler, args.src, args.ref, args.output)
    lines = result.pop("lines")
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"accuracy {result['accuracy']:.2f}, macro-F1 {result['macro_f1']:.2f}")
    print("\n".join(["", *lines["labels"], "", *lines["confusion"], ""]))
    print(
        f"{result['sentences']} sentences in {result['seconds']:.2f} s "
        f"({result['sentences_per_second']:.1f} sentences/s)"
    )
    return 0
