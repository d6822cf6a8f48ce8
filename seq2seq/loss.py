"""Label-smoothed cross entropy over the real target tokens (Szegedy et al. 2016, section 7)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .tokenizer import PAD_ID


def sequence_loss(logits: Tensor, targets: Tensor, smoothing: float) -> tuple[Tensor, Tensor]:
    """logits (..., V), targets (...) -> (summed loss, number of non-padding tokens).

    With smoothing eps the target distribution is (1 - eps) on the reference token plus eps spread
    uniformly over the vocabulary; padding positions contribute nothing. The loss is computed in
    fp32 whatever precision produced the logits.
    """
    flat_targets = targets.reshape(-1)
    loss = F.cross_entropy(
        logits.reshape(-1, logits.size(-1)).float(),
        flat_targets,
        ignore_index=PAD_ID,
        label_smoothing=smoothing,
        reduction="sum",
    )
    return loss, torch.count_nonzero(flat_targets != PAD_ID)


def rdrop_loss(logits: Tensor, targets: Tensor, smoothing: float, alpha: float) -> Tensor:
    """R-Drop (Liang et al. 2021, arXiv:2106.14448, eq. 3), halved: the same N target tokens predicted
    twice, with two draws of dropout, as logits (2N, V) (first copy, then second) and targets (N,):
        L = (CE(p1) + CE(p2)) / 2 + alpha / 4 * (KL(p1 || p2) + KL(p2 || p1)),
    summed over the tokens like `sequence_loss`, in fp32."""
    logp1, logp2 = torch.log_softmax(logits.float(), dim=-1).chunk(2)
    ce = sum(
        F.nll_loss(logp, targets, reduction="sum") * (1 - smoothing) - logp.mean(-1).sum() * smoothing
        for logp in (logp1, logp2)
    )
    kl = (logp1.exp() - logp2.exp()).mul(logp1 - logp2).sum()  # KL(p1||p2) + KL(p2||p1)
    return ce / 2 + alpha / 4 * kl


def token_log_probs(logits: Tensor, targets: Tensor) -> Tensor:
    """logits (B, T, V), targets (B, T) -> log p of each target token (B, T) in fp32; 0 at padding.

    Their sum over a batch is minus `sequence_loss` without smoothing: the same cross entropy,
    kept per token instead of summed.
    """
    nll = F.cross_entropy(logits.float().transpose(1, 2), targets, ignore_index=PAD_ID, reduction="none")
    return -nll
