"""Lexical constraints for the batched beam search: every hypothesis that ends must contain each of
its sentence's constraints (target piece sequences, e.g. a glossary's terms), by dynamic beam
allocation (Post & Vilar 2018, arXiv:1804.06609), vectorized over sentences and beams as in Hu et
al. 2019 (arXiv:1904.01033) and fairseq's constrained beam search.

At each step a hypothesis is extended by its model's best tokens and, besides them, by the next
token of each constraint it can advance (its in-progress phrase's next piece, or else the first
piece of every unmet constraint), however improbable. Candidates are grouped into banks by how
many constraint pieces they have met, and the beam is shared among the banks: the best of each
bank first, then the second best of each, and so on, higher banks first. EOS is allowed only to a
hypothesis that has met all its constraints (or has reached the length limit). Dims: B sentences,
M hypotheses per sentence, C constraints per sentence, P pieces per constraint, V vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..special_ids import EOS_ID


@dataclass(frozen=True)
class Constraints:
    """Each sentence's constraints: pieces (B, C, P), -1 past a constraint's end; lengths (B, C),
    0 for the padding of a sentence with fewer than C."""

    pieces: Tensor
    lengths: Tensor

    @staticmethod
    def of(per_sentence: list[list[list[int]]], device) -> Constraints:
        c = max(1, max(len(s) for s in per_sentence))
        p = max([1] + [len(x) for s in per_sentence for x in s])
        pieces = torch.full((len(per_sentence), c, p), -1, dtype=torch.long)
        lengths = torch.zeros(len(per_sentence), c, dtype=torch.long)
        for b, sentence in enumerate(per_sentence):
            for i, ids in enumerate(sentence):
                pieces[b, i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
                lengths[b, i] = len(ids)
        return Constraints(pieces.to(device), lengths.to(device))

    def total(self) -> Tensor:
        """(B,) pieces to meet per sentence."""
        return self.lengths.sum(dim=1)

    def rows(self, index: Tensor) -> Constraints:
        return Constraints(self.pieces[index], self.lengths[index])

    def start(self, m: int) -> ConstraintState:
        """The state of M fresh hypotheses per sentence: padding constraints count as met."""
        b, c = self.lengths.shape
        met = (self.lengths == 0).unsqueeze(1).expand(b, m, c).clone()
        zeros = torch.zeros(b, m, dtype=torch.long, device=self.lengths.device)
        return ConstraintState(self, met, zeros - 1, zeros.clone())


@dataclass(frozen=True)
class ConstraintState:
    """Per hypothesis (B, M): which constraints it has met (B, M, C), the one it is in the middle
    of (-1: none) and how many of that one's pieces it has produced."""

    constraints: Constraints
    met: Tensor
    current: Tensor
    position: Tensor

    def select(self, index: Tensor) -> ConstraintState:
        """index (B, M') picks hypotheses of each sentence."""
        met = self.met.gather(1, index.unsqueeze(2).expand(-1, -1, self.met.size(2)))
        current, position = self.current.gather(1, index), self.position.gather(1, index)
        return ConstraintState(self.constraints, met, current, position)

    def rows(self, index: Tensor) -> ConstraintState:
        c = self.constraints.rows(index)
        return ConstraintState(c, self.met[index], self.current[index], self.position[index])

    def all_met(self) -> Tensor:
        return self.met.all(dim=2) & (self.current < 0)

    def met_pieces(self) -> Tensor:
        """(B, M) constraint pieces met: the bank of each hypothesis."""
        done = (self.met * self.constraints.lengths.unsqueeze(1)).sum(dim=2)
        return done + self.position

    def wanted(self) -> Tensor:
        """(B, M, C) the tokens that advance a constraint, -1 for none: the next piece of the phrase
        in progress, or else the first piece of each unmet constraint."""
        pieces = self.constraints.pieces
        b, c, p = pieces.shape
        firsts = pieces[:, :, 0].unsqueeze(1).masked_fill(self.met, -1)  # (B, M, C)
        busy = self.current >= 0
        flat = pieces.view(b, 1, c * p).expand(-1, self.current.size(1), -1)
        index = (self.current.clamp(min=0) * p + self.position.clamp(max=p - 1)).unsqueeze(2)
        following = torch.full_like(firsts, -1)
        following[:, :, :1] = flat.gather(2, index)
        return torch.where(busy.unsqueeze(2), following, firsts)

    def extensions(self, logp: Tensor, must_end: Tensor, per_sentence: int, k: int) -> tuple[Tensor, Tensor]:
        """The candidate tokens of each hypothesis (R, k + C) and their log-probabilities, from its
        next-token log-probabilities (R, V): EOS only where every constraint is met (or must_end),
        the k best tokens, then the C tokens that advance a constraint (-inf where there is none,
        or where it is among the k already, or repeats another). `per_sentence` 1: the first
        step, one row per sentence."""
        state = self.select(torch.zeros_like(self.current[:, :1])) if per_sentence == 1 else self
        eos = logp[:, EOS_ID].masked_fill(~state.all_met().view(-1) & ~must_end, float("-inf"))
        logp[:, EOS_ID] = eos
        best_logp, best = logp.topk(min(k, logp.size(1)), dim=1)
        wanted = state.wanted().view(logp.size(0), -1)  # (R, C)
        wanted_logp = logp.gather(1, wanted.clamp(min=0))
        repeated = (wanted.unsqueeze(2) == best.unsqueeze(1)).any(dim=2)
        earlier = torch.ones(wanted.size(1), wanted.size(1), dtype=torch.bool, device=wanted.device).tril(-1)
        repeated |= ((wanted.unsqueeze(2) == wanted.unsqueeze(1)) & earlier).any(dim=2)
        wanted_logp = wanted_logp.masked_fill((wanted < 0) | repeated, float("-inf"))
        return torch.cat([best_logp, wanted_logp], dim=1), torch.cat([best, wanted.clamp(min=0)], dim=1)

    def advance(self, origin: Tensor, token: Tensor) -> ConstraintState:
        """The states of candidates (B, N): hypothesis `origin` extended by `token`."""
        s = self.select(origin)
        pieces, lengths = self.constraints.pieces, self.constraints.lengths
        b, c, p = pieces.shape
        busy = s.current >= 0
        current = s.current.clamp(min=0)
        flat = pieces.view(b, c * p)
        expected = flat.gather(1, current * p + s.position.clamp(max=p - 1))
        goes_on = busy & (token == expected)
        position = torch.where(goes_on, s.position + 1, 0)
        now = torch.where(goes_on, s.current, -1)
        complete = goes_on & (position == lengths.gather(1, current))
        met = s.met | (complete.unsqueeze(2) & F.one_hot(current, c).bool())
        # a token that does not go on with the phrase in progress may begin an unmet constraint
        begins = (~goes_on).unsqueeze(2) & ~met & (pieces[:, :, 0].unsqueeze(1) == token.unsqueeze(2))
        any_begins = begins.any(dim=2)
        first = begins.float().argmax(dim=2)
        now = torch.where(complete, -1, torch.where(any_begins, first, now))
        position = torch.where(complete, 0, torch.where(any_begins, 1, position))
        single = any_begins & (lengths.gather(1, first) == 1)
        met = met | (single.unsqueeze(2) & F.one_hot(first, c).bool())
        now = torch.where(single, -1, now)
        position = torch.where(single, 0, position)
        return ConstraintState(self.constraints, met, now, position)


def bank_priority(scores: Tensor, banks: Tensor) -> Tensor:
    """Dynamic beam allocation as an order: candidates (B, N) rank within their bank by score, and
    the order is the best of each bank (higher banks first), then the second best of each, ...
    Returns a priority (higher first; -inf where the score is -inf)."""
    top = int(banks.max()) + 1
    order = scores.argsort(dim=1, descending=True, stable=True)
    sorted_banks = banks.gather(1, order)
    onehot = F.one_hot(sorted_banks, top)
    rank_sorted = (onehot.cumsum(dim=1) * onehot).sum(dim=2) - 1
    rank = torch.empty_like(rank_sorted).scatter_(1, order, rank_sorted)
    key = rank * top + (top - 1 - banks)
    return (-key.float()).masked_fill(torch.isneginf(scores), float("-inf"))
