"""`seq2seq test` for a translation model: translate a source file, score it against its
references, and optionally compare with another system's output by paired bootstrap resampling."""

from __future__ import annotations

import time
from pathlib import Path

from ..data.batches import read_lines
from ..errors import UserError
from ..report.metrics import paired_bootstrap, score
from .translator import Translator


def score_test_set(
    translator: Translator,
    src: str,
    ref: str,
    output: str | None = None,
    lowercase: bool = False,
    tokenize: str | None = None,
    compare: str | None = None,
) -> dict:
    """Translate a source file, score it against references; optionally compare with another
    system's output by paired bootstrap resampling. Returns scores, signatures and timing."""
    src_lines, refs = read_lines(src), read_lines(ref)
    _same_length(src, len(src_lines), ref, len(refs))
    other = read_lines(compare) if compare else None
    if other is not None:
        _same_length(compare, len(other), ref, len(refs))
    start = time.perf_counter()
    hyps = [t.text for t in translator.translate(src_lines)]
    seconds = time.perf_counter() - start
    if output:
        Path(output).write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
    scores = score(hyps, refs, lowercase=lowercase, tokenize=tokenize)
    result = {
        "bleu": round(scores.bleu, 2),
        "chrf": round(scores.chrf, 2),
        "ter": round(scores.ter, 2),
        "signatures": scores.signatures,
        "lines": scores.lines,
        "sentences": len(src_lines),
        "seconds": round(seconds, 3),
        "sentences_per_second": round(len(src_lines) / max(seconds, 1e-9), 1),
        "device": translator.device,
        "precision": translator.precision,
    }
    if other is not None:
        result["compare"] = paired_bootstrap(hyps, other, refs, compare, lowercase, tokenize)
    return result


def _same_length(a: str, n_a: int, b: str, n_b: int) -> None:
    if n_a != n_b:
        raise UserError(f"{a} has {n_a} lines but {b} has {n_b}; they must be line-aligned")
