"""Greedy and beam search over the Seq2Seq interface (`encode`, `decode_step`, `select`).

Both are batched over sentences and beams together: every step is a handful of tensor operations
for the whole batch, and sentences that are finished leave the batch. Dims: B sentences, K beam
size, N hypotheses kept per sentence (n-best), V vocabulary, S source length, L steps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from torch import Tensor

from ..models.seq2seq import Seq2Seq
from ..special_ids import BOS_ID, EOS_ID, PAD_ID
from .constraints import Constraints, bank_priority
from .hypotheses import History, Hypothesis, hypothesis, length_penalty, unfinished_extensions


def max_lengths(src_lengths: Tensor, ratio: float, offset: int) -> Tensor:
    """Longest output (tokens before EOS) allowed per sentence: floor(ratio * |x|) + offset."""
    return (src_lengths.float() * ratio).floor().long() + offset


@torch.inference_mode()
def greedy_search(
    model: Seq2Seq,
    src: Tensor,
    src_lengths: Tensor,
    max_lens: Tensor,
    with_attention: bool = False,
    pick: Callable[[Tensor], Tensor] | None = None,
) -> list[list[Hypothesis]]:
    """Pick the most probable token at every step; src (B, S), src_lengths (B,), max_lens (B,).
    `pick` chooses each step's tokens from the log-probabilities (b, V) -> (b,) instead (sampling,
    sampler.py); the scores stay the model's log-probabilities of the picked tokens."""
    memory, state = model.encode(src, src_lengths)
    n, steps = src.size(0), int(max_lens.max()) + 1
    tokens = src.new_full((n, steps), PAD_ID)
    logprobs = torch.zeros(n, steps, device=src.device)  # stays 0 after a sentence's EOS
    attention = torch.zeros(n, steps, src.size(1), device=src.device) if with_attention else None
    lengths = torch.zeros(n, dtype=torch.long, device=src.device)
    active = torch.arange(n, device=src.device)  # original rows of the sentences still decoding
    prev = src.new_full((n,), BOS_ID)
    for t in range(steps):
        logits, state, alpha = model.decode_step(prev, memory, state)
        logp = next_token_logprobs(logits, t >= max_lens[active])  # (b, V)
        if pick is None:
            best_logp, best = logp.max(dim=-1)
        else:
            best = pick(logp)
            best_logp = logp.gather(1, best.unsqueeze(1)).squeeze(1)
        tokens[active, t], logprobs[active, t] = best, best_logp
        if attention is not None:
            attention[active, t] = alpha.float()
        done = best == EOS_ID
        lengths[active[done]] = t + 1
        if bool(done.all()):
            break
        if bool(done.any()):
            keep = (~done).nonzero().squeeze(1)
            active, memory, state, best = active[keep], memory.select(keep), state.select(keep), best[keep]
        prev = best
    scores = logprobs.sum(dim=1)
    return [
        [
            hypothesis(
                tokens[b],
                logprobs[b],
                attention[b] if attention is not None else None,
                int(lengths[b]),
                float(scores[b]),
                float(scores[b]),
                int(src_lengths[b]),
            )
        ]
        for b in range(n)
    ]


@torch.inference_mode()
def beam_search(
    model: Seq2Seq,
    src: Tensor,
    src_lengths: Tensor,
    max_lens: Tensor,
    beam_size: int,
    alpha: float,
    n_best: int = 1,
    with_attention: bool = False,
    constraints: Constraints | None = None,
) -> list[list[Hypothesis]]:
    """Beam search with GNMT length normalization; returns the n_best hypotheses per sentence.

    At every step each sentence's K live hypotheses are extended by every token; of the 2K best
    candidates, those that end in EOS and rank within the first K join the sentence's finished
    pool (the N best by normalized score are kept), and the K best others live on. A sentence is
    done when no live hypothesis can beat its N-th best finished one any more (scores only fall
    as tokens are added, and the penalty is largest at the maximum length, so the best score a
    live one can still reach is known), or at its maximum length.

    Every sentence gets N hypotheses. Fewer than N finish only when the maximum length leaves
    room for fewer than N outputs (e.g. a limit of 0 tokens: only the empty one); the rest are
    then the best unfinished ones: the extensions, by one token other than EOS, of the
    hypotheses that were live at the sentence's last step (`finished=False`, one token past the
    limit, scored without EOS).

    With `constraints` (constraints.py) every finished hypothesis holds its sentence's constraints
    (unless it reached the length limit, which grows by their pieces): candidates also include
    the tokens that advance a constraint, and the 2K are chosen by dynamic beam allocation
    instead of by score alone. Without them the search is exactly the plain one.
    """
    K, N = beam_size, n_best
    B, S = src.shape
    device = src.device
    cstate = None
    if constraints is not None:
        max_lens = max_lens + constraints.total()
        cstate = constraints.start(K)
    steps = int(max_lens.max()) + 1
    memory, state = model.encode(src, src_lengths)  # memory: one row per sentence, shared by its beams

    # live hypotheses, one row per active sentence
    live_scores = torch.full((B, K), float("-inf"), device=device)
    live_scores[:, 0] = 0.0
    live = History.empty(B, K, steps, S if with_attention else 0, device)
    # finished pool per active sentence, and results per original sentence
    pool_norm = torch.full((B, N), float("-inf"), device=device)
    pool_scores = torch.full((B, N), float("-inf"), device=device)
    pool = History.empty(B, N, steps, S if with_attention else 0, device)
    out_norm, out_scores = pool_norm.clone(), pool_scores.clone()
    out = History.empty(B, N, steps, S if with_attention else 0, device)

    unfinished: dict[int, list[Hypothesis]] = {}  # original sentence -> fill for its n-best
    active = torch.arange(B, device=device)
    prev = src.new_full((B,), BOS_ID)
    for t in range(steps):
        b = active.numel()
        logits, state, alpha_t = model.decode_step(prev, memory, state)
        at_max = t >= max_lens[active]  # (b,) must end now
        # the 2K best candidates of a sentence are among the 2K best extensions of each of its
        # hypotheses: rank per hypothesis first, then only K x 2K sums instead of K x V
        per_sentence = logits.size(0) // b  # hypotheses per sentence: 1 at the first step, then K
        if cstate is None:
            ext_logp, ext_token = best_extensions(logits, at_max.repeat_interleave(per_sentence), 2 * K)
        else:
            must_end = at_max.repeat_interleave(per_sentence)
            logp = next_token_logprobs(logits, must_end)
            ext_logp, ext_token = cstate.extensions(logp, must_end, per_sentence, 2 * K)
        if t == 0:  # the first step's one hypothesis per sentence (BOS) becomes K copies
            beams = torch.arange(B, device=device).repeat_interleave(K)
            ext_logp, ext_token, alpha_t, state = (
                ext_logp[beams],
                ext_token[beams],
                alpha_t[beams],
                state.select(beams),
            )
        per_hyp = ext_logp.size(1)
        cand = (live_scores.unsqueeze(2) + ext_logp.view(b, K, per_hyp)).view(b, K * per_hyp)
        if cstate is None:
            top_scores, top_ids = cand.topk(min(2 * K, K * per_hyp), dim=1)  # (b, 2K)
        else:  # the 2K by dynamic beam allocation over the banks of constraint pieces met
            whose = torch.arange(K * per_hyp, device=device) // per_hyp
            states = cstate.advance(whose.expand(b, -1), ext_token.view(b, K * per_hyp))
            priority = bank_priority(cand, states.met_pieces())
            top_priority, top_ids = priority.topk(min(2 * K, K * per_hyp), dim=1)
            top_scores, candidates = cand.gather(1, top_ids), states.select(top_ids)
        origin = top_ids // per_hyp
        token = ext_token.view(b, K * per_hyp).gather(1, top_ids)
        token_logp = ext_logp.view(b, K * per_hyp).gather(1, top_ids)
        attn = alpha_t.float().view(b, K, -1) if with_attention else None
        extended = live.extend(origin, token, token_logp, attn, t)  # (b, 2K, L)

        ends = (token == EOS_ID) & torch.isfinite(top_scores)
        ends[:, K:] = False
        if bool(ends.any()):
            norm = (top_scores / length_penalty(torch.tensor(t + 1), alpha)).masked_fill(~ends, float("-inf"))
            if cstate is not None:  # one that the length limit ended with a constraint unmet ranks last
                norm = norm - UNMET * (~candidates.all_met()).float()
            merged_norm = torch.cat([pool_norm, norm], dim=1)
            pool_norm, pick = merged_norm.topk(N, dim=1)
            pool_scores = torch.cat([pool_scores, top_scores], dim=1).gather(1, pick)
            pool = History.cat(pool, extended).select(pick)

        before, before_scores = live, live_scores  # the live hypotheses this step extended
        if cstate is None:
            live_scores, pick = top_scores.masked_fill(token == EOS_ID, float("-inf")).topk(K, dim=1)
        else:
            pick = top_priority.masked_fill(token == EOS_ID, float("-inf")).topk(K, dim=1).indices
            live_scores, cstate = top_scores.gather(1, pick), candidates.select(pick)
        live = extended.select(pick)
        reorder = (torch.arange(b, device=device).unsqueeze(1) * K + origin.gather(1, pick)).view(-1)
        state = state.select(reorder)
        prev = token.gather(1, pick).view(-1)

        best_live = live_scores.max(dim=1).values
        reachable = best_live / length_penalty(max_lens[active] + 1, alpha) if alpha > 0 else best_live
        done = at_max | (pool_norm[:, -1] >= reachable) | torch.isneginf(best_live)
        if bool(done.any()):
            rows = active[done]
            out_norm[rows], out_scores[rows] = pool_norm[done], pool_scores[done]
            out.assign(rows, pool.rows(done))
            short = done & torch.isneginf(pool_norm[:, -1])  # fewer than N finished
            if bool(short.any()):
                attn = alpha_t.float().view(b, K, -1)[short] if with_attention else None
                hyp_logits = logits if per_sentence == K else logits.repeat_interleave(K, 0)  # (b*K, V)
                step = (hyp_logits.view(b, K, -1)[short], attn, N, t, alpha)
                found = unfinished_extensions(before.rows(short), before_scores[short], *step)
                unfinished.update(zip(active[short].tolist(), found))
            keep = (~done).nonzero().squeeze(1)
            if keep.numel() == 0:
                break
            active, live_scores = active[keep], live_scores[keep]
            cstate = cstate.rows(keep) if cstate is not None else None
            pool_norm, pool_scores, live, pool = (
                pool_norm[keep],
                pool_scores[keep],
                live.rows(keep),
                pool.rows(keep),
            )
            flat = (keep.unsqueeze(1) * K + torch.arange(K, device=device)).view(-1)
            memory, state, prev = memory.select(keep), state.select(flat), prev[flat]

    if cstate is not None:  # the norm scores without the ranking's UNMET
        plain = out_scores / length_penalty(out.lengths, alpha)
        out_norm = torch.where(out_norm < -UNMET / 2, plain, out_norm)
    results = []
    for b in range(B):
        hyps = [
            hypothesis(
                out.tokens[b, i],
                out.logprobs[b, i],
                out.attention[b, i] if with_attention else None,
                int(out.lengths[b, i]),
                float(out_scores[b, i]),
                float(out_norm[b, i]),
                int(src_lengths[b]),
            )
            for i in range(N)
            if torch.isfinite(out_norm[b, i])
        ]
        fill = unfinished.get(b, [])[: N - len(hyps)]
        if with_attention:
            fill = [dataclasses.replace(h, attention=h.attention[:, : int(src_lengths[b])]) for h in fill]
        results.append(hyps + fill)
    return results


ROWS_AT_ONCE = 512
UNMET = 1e9  # subtracted from the rank of a hypothesis that ended without all its constraints


def best_extensions(logits: Tensor, must_end: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The k (at most V) most probable next tokens of each row, best first, and their
    log-probabilities: logits (R, V), must_end (R,) -> log-probabilities (R, k) fp32, tokens (R, k).

    Taken ROWS_AT_ONCE rows at a time: the fp32 log-probabilities of a whole batch of hypotheses
    (1,535 x 5,483 = 34 MB) would be larger than what glibc's malloc keeps for reuse (32 MB at
    most), so every step would get them in fresh pages from the kernel, a page fault every 4 KB."""
    k = min(k, logits.size(1))
    parts = [
        next_token_logprobs(rows, end).topk(k, dim=1)
        for rows, end in zip(logits.split(ROWS_AT_ONCE), must_end.split(ROWS_AT_ONCE))
    ]
    if len(parts) == 1:
        return parts[0]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def next_token_logprobs(logits: Tensor, must_end: Tensor) -> Tensor:
    """Log-probabilities in fp32; PAD and BOS are never produced; rows where must_end is set may
    only produce EOS."""
    logp = torch.log_softmax(logits, dim=-1, dtype=torch.float32)
    logp[:, PAD_ID] = float("-inf")
    logp[:, BOS_ID] = float("-inf")
    if bool(must_end.any()):
        not_eos = torch.ones(logp.size(-1), dtype=torch.bool, device=logp.device)
        not_eos[EOS_ID] = False
        logp = logp.masked_fill(must_end.unsqueeze(1) & not_eos, float("-inf"))
    return logp
