"""Scores with sacrebleu: corpus BLEU, chrF and TER with their signatures, perplexity, and paired
bootstrap resampling between two systems. sacrebleu is imported inside the functions, so
translating alone never pays its import.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Scores:
    bleu: float
    chrf: float
    ter: float | None
    signatures: dict[str, str] = field(default_factory=dict)
    lines: dict[str, str] = field(default_factory=dict)  # as sacrebleu prints them: "BLEU|sig = ..."


def score(
    hypotheses: Sequence[str],
    references: Sequence[str],
    lowercase: bool = False,
    tokenize: str | None = None,
    with_ter: bool = True,
) -> Scores:
    """Corpus BLEU, chrF (and TER) with sacrebleu; defaults: cased BLEU with 13a tokenization.
    With tokenize="none" the text is tokenized on purpose: no warning that it looks tokenized."""
    from sacrebleu.metrics import BLEU, CHRF, TER  # here, so translating alone never pays sacrebleu's import

    bleu = BLEU(lowercase=lowercase, tokenize=tokenize, force=tokenize == "none")
    metrics = {"bleu": bleu, "chrf": CHRF(lowercase=lowercase)}
    if with_ter:
        metrics["ter"] = TER()
    refs = [list(references)]
    values, signatures, lines = {}, {}, {}
    for name, metric in metrics.items():
        result = metric.corpus_score(list(hypotheses), refs)
        values[name], signatures[name] = result.score, str(metric.get_signature())
        lines[name] = result.format(signature=signatures[name])
    return Scores(values["bleu"], values["chrf"], values.get("ter"), signatures, lines)


def perplexity(nll: float) -> float:
    return math.exp(min(nll, 50.0))


def paired_bootstrap(
    hyps: Sequence[str],
    other: Sequence[str],
    refs: Sequence[str],
    other_name: str,
    lowercase: bool = False,
    tokenize: str | None = None,
) -> dict:
    """Whether `hyps` score better than `other` against `refs` by chance, with sacrebleu's paired
    bootstrap resampling (1,000 samples) for BLEU and chrF; the figures as `seq2seq test --compare`
    reports them."""
    from sacrebleu.metrics import BLEU, CHRF  # here, so translating alone never pays sacrebleu's import
    from sacrebleu.significance import PairedTest

    metrics = {"BLEU": BLEU(lowercase=lowercase, tokenize=tokenize), "chrF": CHRF(lowercase=lowercase)}
    test = PairedTest([("baseline", other), ("model", hyps)], metrics, [refs], test_type="bs", n_samples=1000)
    _, scores = test()
    out = {"baseline": other_name, "test": "paired bootstrap resampling, 1000 samples"}
    # sacrebleu names each result after its metric's signature ("chrF2"): take them in order
    results = [pair for key, pair in scores.items() if key != "System"]
    for name, (base, ours) in zip(metrics, results, strict=True):
        # sacrebleu's p-value is two-sided (how often a resample differs by as much either way):
        # the direction is the one the scores on the whole set show
        better = "model" if ours.score > base.score else "baseline" if ours.score < base.score else "neither"
        # no difference at all: sacrebleu counts resampled differences strictly above the observed
        # 0 and, with identical outputs, finds none, so it reports its smallest p-value (1/1001)
        p_value = 1.0 if better == "neither" else float(ours.p_value)
        out[name] = {
            "baseline": round(float(base.score), 2),
            "model": round(float(ours.score), 2),
            "better": better,
            "model_mean": round(float(ours.mean), 2),  # numpy floats in some cases: plain for JSON
            "model_ci95": round(float(ours.ci), 2),
            "p_value": round(p_value, 4),
            "significant": p_value < 0.05,
        }
    return out
