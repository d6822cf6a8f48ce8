"""Translate text with a model and score it with sacrebleu: the one path that validation during
training, `seq2seq test` and `seq2seq translate` all share.

Inputs are sorted by length into token-budget batches (little padding), decoded, and put back in
their original order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from sacrebleu.metrics import BLEU, CHRF, TER

from .config import SearchConfig
from .data import Corpus, pad_src, sorted_batches
from .loss import sequence_loss
from .model import Seq2Seq
from .search import Hypothesis, beam_search, greedy_search, max_lengths
from .tokenizer import Tokenizer


@dataclass(frozen=True)
class Translation:
    source: str
    hypotheses: list[Hypothesis]  # best first
    texts: list[str]  # detokenized, one per hypothesis

    @property
    def text(self) -> str:
        return self.texts[0] if self.texts else ""


def translate(
    model: Seq2Seq,
    tokenizer: Tokenizer,
    lines: Sequence[str],
    search: SearchConfig,
    n_best: int = 1,
    with_attention: bool = False,
) -> list[Translation]:
    """Translate lines with greedy (beam_size 1) or beam search; one Translation per line, in order."""
    model.eval()
    device = next(model.parameters()).device
    ids = tokenizer.src.encode(lines)
    lengths = np.array([len(x) + 1 for x in ids])
    results: list[list[Hypothesis]] = [[] for _ in lines]
    for batch in sorted_batches(lengths, search.batch_tokens):
        src, src_lengths = pad_src([ids[i] for i in batch])
        src, src_lengths = src.to(device), src_lengths.to(device)
        max_lens = max_lengths(src_lengths, search.max_len_ratio, search.max_len_offset)
        if search.beam_size == 1:
            found = greedy_search(model, src, src_lengths, max_lens, with_attention)
        else:
            found = beam_search(model, src, src_lengths, max_lens, search.beam_size,
                                search.length_penalty, n_best, with_attention)
        for i, hyps in zip(batch, found):
            results[i] = hyps
    return [
        Translation(line, hyps, [tokenizer.tgt.decode(h.tokens) for h in hyps])
        for line, hyps in zip(lines, results)
    ]


@dataclass(frozen=True)
class Scores:
    bleu: float
    chrf: float
    ter: float | None
    signatures: dict[str, str] = field(default_factory=dict)
    lines: dict[str, str] = field(default_factory=dict)  # sacrebleu's own one-line summaries


def score(hypotheses: Sequence[str], references: Sequence[str], lowercase: bool = False,
          tokenize: str | None = None, with_ter: bool = True) -> Scores:
    """Corpus BLEU, chrF and TER with sacrebleu (defaults: cased BLEU, 13a tokenization)."""
    bleu = BLEU(lowercase=lowercase, tokenize=tokenize)
    chrf = CHRF(lowercase=lowercase)
    refs = [list(references)]
    b, c = bleu.corpus_score(list(hypotheses), refs), chrf.corpus_score(list(hypotheses), refs)
    signatures = {"bleu": str(bleu.get_signature()), "chrf": str(chrf.get_signature())}
    lines = {"bleu": str(b), "chrf": str(c)}
    ter_score = None
    if with_ter:
        ter = TER(case_sensitive=not lowercase)
        t = ter.corpus_score(list(hypotheses), refs)
        ter_score, signatures["ter"], lines["ter"] = t.score, str(ter.get_signature()), str(t)
    return Scores(b.score, c.score, ter_score, signatures, lines)


@torch.inference_mode()
def validation_loss(model: Seq2Seq, corpus: Corpus, batch_tokens: int, autocast) -> float:
    """Mean per-token negative log-likelihood (no label smoothing) over a whole corpus."""
    model.eval()
    device = next(model.parameters()).device
    total, tokens = 0.0, 0
    lengths = np.maximum(corpus.src_lengths, corpus.tgt_lengths) + 1
    for indices in sorted_batches(lengths, batch_tokens):
        batch = corpus.batch(indices).to(device)
        with autocast():
            logits = model(batch.src, batch.src_lengths, batch.tgt_in)
        loss, n = sequence_loss(logits, batch.tgt_out, smoothing=0.0)
        total, tokens = total + float(loss), tokens + int(n)
    return total / max(tokens, 1)


def perplexity(nll: float) -> float:
    return math.exp(min(nll, 50.0))
