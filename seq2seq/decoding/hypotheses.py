"""What a search keeps of its hypotheses: the finished `Hypothesis` it returns, the token histories
of the live ones as tensors (`History`), the GNMT length penalty they are ranked by, and the best
unfinished extensions that fill an n-best list when fewer than n hypotheses finished. Dims: R
sentences (rows), M or C hypotheses per row, L steps, S source length, V vocabulary, K beam size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..special_ids import BOS_ID, EOS_ID, PAD_ID


@dataclass(frozen=True)
class Hypothesis:
    tokens: list[int]  # target ids, without EOS
    score: float  # log p(y | x), EOS included
    norm_score: float  # score / length_penalty(len(token_logprobs))
    token_logprobs: list[float]  # log p of each output token, EOS included
    attention: Tensor | None  # (len(token_logprobs), source length with EOS), when asked for
    # False: the search stopped before it ended (no EOS; see beam_search's n-best); its score and
    # token_logprobs then cover its tokens only
    finished: bool = True


def length_penalty(length: Tensor, alpha: float) -> Tensor:
    """GNMT length penalty ((5 + |Y|) / 6) ** alpha (Wu et al. 2016, eq. 14); 1 when alpha is 0."""
    return ((5.0 + length.float()) / 6.0) ** alpha


@dataclass(frozen=True)
class History:
    """Token histories of hypotheses: tokens/logprobs (R, M, L), lengths (R, M), attention (R, M, L, S)."""

    tokens: Tensor
    logprobs: Tensor
    lengths: Tensor
    attention: Tensor

    @staticmethod
    def empty(rows: int, m: int, steps: int, src_len: int, device) -> History:
        return History(
            torch.full((rows, m, steps), PAD_ID, dtype=torch.long, device=device),
            torch.zeros(rows, m, steps, device=device),
            torch.zeros(rows, m, dtype=torch.long, device=device),
            torch.zeros(rows, m, steps, src_len, device=device),
        )

    def extend(self, origin: Tensor, token: Tensor, logp: Tensor, attn: Tensor | None, t: int) -> History:
        """Candidates (R, C): hypothesis `origin` extended by `token` at step t."""
        h = self.select(origin)
        h.tokens[:, :, t] = token
        h.logprobs[:, :, t] = logp
        h.lengths[:] = t + 1
        if attn is not None:
            h.attention[:, :, t] = attn.gather(1, origin.unsqueeze(2).expand(-1, -1, attn.size(2)))
        return h

    def select(self, index: Tensor) -> History:
        """index (R, C) picks C of the M hypotheses of each row."""

        def pick(x: Tensor) -> Tensor:
            idx = index.view(*index.shape, *([1] * (x.dim() - 2))).expand(*index.shape, *x.shape[2:])
            return x.gather(1, idx)

        return History(pick(self.tokens), pick(self.logprobs), pick(self.lengths), pick(self.attention))

    def rows(self, index: Tensor) -> History:
        return History(self.tokens[index], self.logprobs[index], self.lengths[index], self.attention[index])

    def assign(self, rows: Tensor, other: History) -> None:
        self.tokens[rows], self.logprobs[rows] = other.tokens, other.logprobs
        self.lengths[rows], self.attention[rows] = other.lengths, other.attention

    @staticmethod
    def cat(a: History, b: History) -> History:
        return History(
            *(
                torch.cat([x, y], dim=1)
                for x, y in zip(
                    (a.tokens, a.logprobs, a.lengths, a.attention),
                    (b.tokens, b.logprobs, b.lengths, b.attention),
                )
            )
        )


def unfinished_extensions(
    live: History, scores: Tensor, logits: Tensor, attn: Tensor | None, n: int, t: int, alpha: float
) -> list[list[Hypothesis]]:
    """The n best one-token extensions (EOS, PAD, BOS excluded) of R sentences' live hypotheses at
    step t, unfinished, best first. live (R, K, L), scores (R, K), logits (R, K, V), attn (R, K, S);
    their attention keeps the batch's S columns (beam_search cuts it to the sentence's)."""
    logp = torch.log_softmax(logits, dim=-1, dtype=torch.float32)
    logp[..., [PAD_ID, BOS_ID, EOS_ID]] = float("-inf")
    r, k, v = logp.shape
    cand = (scores.unsqueeze(2) + logp).view(r, k * v)
    top_scores, top_ids = cand.topk(min(n, k * v), dim=1)  # (R, n)
    origin, token = top_ids // v, top_ids % v
    token_logp = logp.view(r, k * v).gather(1, top_ids)
    h = live.extend(origin, token, token_logp, attn, t)
    penalty = float(length_penalty(torch.tensor(t + 1), alpha))
    return [
        [
            hypothesis(
                h.tokens[i, j],
                h.logprobs[i, j],
                h.attention[i, j] if attn is not None else None,
                t + 1,
                float(top_scores[i, j]),
                float(top_scores[i, j]) / penalty,
                h.attention.size(-1),
                finished=False,
            )
            for j in range(top_scores.size(1))
            if torch.isfinite(top_scores[i, j])
        ]
        for i in range(r)
    ]


def hypothesis(
    tokens: Tensor,
    logprobs: Tensor,
    attention: Tensor | None,
    length: int,
    score: float,
    norm_score: float,
    src_len: int,
    finished: bool = True,
) -> Hypothesis:
    """`length`: the steps the hypothesis took (its last one is EOS when finished)."""
    return Hypothesis(
        tokens=tokens[: length - 1 if finished else length].tolist(),
        score=score,
        norm_score=norm_score,
        token_logprobs=logprobs[:length].tolist(),
        attention=attention[:length, :src_len].clone() if attention is not None else None,
        finished=finished,
    )
