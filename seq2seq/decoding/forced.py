"""Score given translations: force-decode each (source, translation) pair with the model and read
off log p(y | x), token by token (what `seq2seq score` prints).

The teacher-forced forward and the cross entropy are the ones training and validation use, so the
summed scores of a validation set are minus its validation loss. Pairs are decoded in
length-sorted token-budget batches, as `seq2seq test` decodes, and returned in input order.
Dims: B pairs, S source length, T target length (EOS included), V target vocabulary.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

import numpy as np
import torch

from ..data.batches import collate, sorted_batches
from ..data.tokenizer import Tokenizer
from ..models.loss import token_log_probs
from ..models.seq2seq import Seq2Seq


@dataclass(frozen=True)
class PairScore:
    tokens: list[int]  # the translation's target ids, without EOS
    # log p of each target token given the source and the tokens before it; EOS last
    token_logprobs: list[float]

    @property
    def score(self) -> float:
        """log p(y | x): the total over the tokens, EOS included."""
        return math.fsum(self.token_logprobs)

    @property
    def score_per_token(self) -> float:
        return self.score / len(self.token_logprobs)


@torch.inference_mode()
def score_ids(
    model: Seq2Seq, src: Sequence[np.ndarray], tgt: Sequence[np.ndarray], batch_tokens: int
) -> list[PairScore]:
    """Source and target id sequences (no BOS/EOS) -> one PairScore per pair, in order."""
    model.eval()
    device = next(model.parameters()).device
    lengths = np.array([max(len(s), len(t)) + 1 for s, t in zip(src, tgt)], dtype=np.int64)
    scores: list[PairScore | None] = [None] * len(src)
    for batch in sorted_batches(lengths, batch_tokens):
        b = collate([src[i] for i in batch], [tgt[i] for i in batch]).to(device)
        logp = token_log_probs(model(b.src, b.src_lengths, b.tgt_in), b.tgt_out).cpu()  # (B, T)
        for row, i in enumerate(batch):
            scores[i] = PairScore(tgt[i].tolist(), logp[row, : len(tgt[i]) + 1].tolist())
    return scores


def score_pairs(
    model: Seq2Seq, tokenizer: Tokenizer, src: Sequence[str], tgt: Sequence[str], batch_tokens: int
) -> list[PairScore]:
    """Source lines and their given translations -> one PairScore per pair, in order."""
    return score_ids(model, tokenizer.src.encode(src), tokenizer.tgt.encode(tgt), batch_tokens)


def as_json(source: str, target: str, s: PairScore, tokenizer: Tokenizer) -> dict:
    """A pair's line of `seq2seq score --format jsonl`."""
    return {
        "source": source,
        "target": target,
        "score": round(s.score, 4),
        "score_per_token": round(s.score_per_token, 4),
        "pieces": tokenizer.tgt.pieces(s.tokens) + ["</s>"],
        "token_probs": [round(math.exp(lp), 4) for lp in s.token_logprobs],
    }


def write_scores(
    model: Seq2Seq,
    tokenizer: Tokenizer,
    src: Sequence[str],
    tgt: Sequence[str],
    batch_tokens: int,
    sink: TextIO,
    fmt: str = "text",
    chunk: int = 10_000,
) -> None:
    """`seq2seq score`: one line per pair, in order, `score<TAB>score_per_token` or a JSON
    object; a large corpus goes chunk by chunk, so memory stays flat and output flows."""
    for start in range(0, len(src), chunk):
        part_src, part_tgt = src[start : start + chunk], tgt[start : start + chunk]
        for s, t, scored in zip(
            part_src, part_tgt, score_pairs(model, tokenizer, part_src, part_tgt, batch_tokens)
        ):
            if fmt == "jsonl":
                sink.write(json.dumps(as_json(s, t, scored, tokenizer), ensure_ascii=False) + "\n")
            else:
                sink.write(f"{scored.score:.4f}\t{scored.score_per_token:.4f}\n")
        sink.flush()
