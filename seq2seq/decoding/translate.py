"""Translate text with a model and score it with sacrebleu: the one path that validation during
training, `seq2seq test` and `seq2seq translate` all share.

Inputs are sorted by length into token-budget batches (little padding), decoded, and put back in
their original order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..config.load import SearchConfig
from ..data.batches import pad_src, sorted_batches
from ..data.tokenizer import Tokenizer
from ..models.seq2seq import Seq2Seq
from .constraints import Constraints
from .hypotheses import Hypothesis
from .search import beam_search, greedy_search, max_lengths


@dataclass(frozen=True)
class Translation:
    source: str
    hypotheses: list[Hypothesis]  # best first; empty for an empty line
    texts: list[str]  # detokenized, one per hypothesis
    parts: int = 1  # > 1: the line was longer than max_src_len and translated in this many parts

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
    *,
    max_src_len: int,
    sampler: Callable | None = None,
    constraints: Sequence[list[list[int]]] | None = None,
) -> list[Translation]:
    """Translate lines with greedy (beam_size 1) or beam search, or with `sampler` when given (a
    `sampler.Sampler`); one Translation per line, in order.

    An empty line gives an empty translation. A line of more than `max_src_len` pieces (0: no
    limit) is cut into parts of at most that many pieces, each translated on its own, and the
    parts' translations are joined with a space (their attention is not kept). Validation,
    `seq2seq test` and `seq2seq translate` all pass the model's data.max_len, so they cut alike.

    `constraints`: per line, target piece sequences that its translation must contain (a
    glossary's terms; the beam search's lexical constraints, the first part of a cut line), even
    with beam_size 1; None: the plain search.
    """
    model.eval()
    pool = searched_n_best(n_best, search.beam_size)
    return translate_lines(
        tokenizer,
        lines,
        lambda chunks, wanted=None: _decode(model, chunks, search, pool, with_attention, sampler, wanted),
        max_src_len,
        constraints,
        n_best,
    )


def searched_n_best(n_best: int, beam_size: int) -> int:
    """How many hypotheses the search keeps for an n-best list of `n_best`: the whole beam, so that
    `translate_lines` can give distinct texts (a model trained with subword sampling writes the
    same sentence in other pieces: "Ein Hund." twice in a 3-best list)."""
    return n_best if n_best == 1 else max(n_best, beam_size)


def distinct_first(hyps: list[Hypothesis], texts: list[str], n: int) -> tuple[list[Hypothesis], list[str]]:
    """The first `n` of the hypotheses (best first), those whose text no better one has taken
    before the rest, which only fill the list when too few texts differ."""
    seen: set[str] = set()
    first, rest = [], []
    for pair in zip(hyps, texts):
        (rest if pair[1] in seen else first).append(pair)
        seen.add(pair[1])
    chosen = (first + rest)[:n]
    return [h for h, _ in chosen], [t for _, t in chosen]


def translate_lines(
    tokenizer: Tokenizer,
    lines: Sequence[str],
    decode: Callable[..., list[list[Hypothesis]]],
    max_src_len: int,
    constraints: Sequence[list[list[int]]] | None = None,
    n_best: int = 1,
) -> list[Translation]:
    """What `translate` does around the search, for any decoder: `decode` turns source id
    sequences into their hypotheses (best first; `searched_n_best` of them); lines are cut at
    `max_src_len` pieces and the parts joined as `translate` says; an n-best list gives distinct
    texts first (`distinct_first`). (ctranslate2_engine.py decodes with CTranslate2 this way.)"""
    ids = tokenizer.src.encode(lines)
    chunks, owner = [], []  # the pieces to decode, and the line each belongs to
    for i, (line, x) in enumerate(zip(lines, ids)):
        if not line.strip():
            continue
        step = max_src_len or max(len(x), 1)
        for start in range(0, max(len(x), 1), step):
            chunks.append(x[start : start + step])
            owner.append(i)
    if constraints is None:
        found = decode(chunks)
    else:  # each line's constraints go with its first part
        firsts = [k == 0 or owner[k - 1] != i for k, i in enumerate(owner)]
        found = decode(chunks, [constraints[i] if first else [] for i, first in zip(owner, firsts)])
    per_line: list[list[list[Hypothesis]]] = [[] for _ in lines]
    for i, hyps in zip(owner, found):
        per_line[i].append(hyps)
    out = []
    for line, parts in zip(lines, per_line):
        if len(parts) <= 1:
            hyps = parts[0] if parts else []
            texts = [tokenizer.tgt.decode(h.tokens) for h in hyps]
        else:  # the k-th hypothesis of a split line joins the k-th (or last) one of every part
            picks = [[p[min(k, len(p) - 1)] for p in parts] for k in range(max(map(len, parts)))]
            hyps = [_joined(hs) for hs in picks]
            texts = [" ".join(tokenizer.tgt.decode(h.tokens) for h in hs) for hs in picks]
        hyps, texts = distinct_first(hyps, texts, n_best)
        out.append(Translation(line, hyps, texts, max(len(parts), 1)))
    return out


def _decode(
    model: Seq2Seq,
    chunks: list[np.ndarray],
    search: SearchConfig,
    n_best: int,
    with_attention: bool,
    sampler: Callable | None = None,
    constraints: list[list[list[int]]] | None = None,
) -> list[list[Hypothesis]]:
    """Decode id sequences in length-sorted token-budget batches; results in input order. A batch
    with constraints decodes with the constrained beam search."""
    device = next(model.parameters()).device
    lengths = np.array([len(x) + 1 for x in chunks], dtype=np.int64)
    results: list[list[Hypothesis]] = [[] for _ in chunks]
    for batch in sorted_batches(lengths, search.batch_tokens):
        src, src_lengths = pad_src([chunks[i] for i in batch])
        src, src_lengths = src.to(device), src_lengths.to(device)
        max_lens = max_lengths(src_lengths, search.max_len_ratio, search.max_len_offset)
        wanted = [constraints[i] for i in batch] if constraints is not None else []
        constrained = Constraints.of(wanted, device) if any(wanted) else None
        if constrained is None and sampler is not None:
            found = sampler(model, src, src_lengths, max_lens, with_attention)
        elif constrained is None and search.beam_size == 1:
            found = greedy_search(model, src, src_lengths, max_lens, with_attention)
        else:
            found = beam_search(
                model,
                src,
                src_lengths,
                max_lens,
                search.beam_size,
                search.length_penalty,
                n_best,
                with_attention,
                constrained,
            )
        for i, hyps in zip(batch, found):
            results[i] = hyps
    return results


def _joined(hyps: list[Hypothesis]) -> Hypothesis:
    return Hypothesis(
        tokens=[t for h in hyps for t in h.tokens],
        score=sum(h.score for h in hyps),
        norm_score=sum(h.norm_score for h in hyps),
        token_logprobs=[x for h in hyps for x in h.token_logprobs],
        attention=None,
        finished=all(h.finished for h in hyps),
    )
