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


def token_log_probs(logits: Tensor, targets: Tensor) -> Tensor:
    """logits (B, T, V), targets (B, T) -> log p of each target token (B, T) in fp32; 0 at padding.

    Their sum over a batch is minus `sequence_loss` without smoothing: the same cross entropy,
    kept per token instead of summed.
    """
    nll = F.cross_entropy(logits.float().transpose(1, 2), targets, ignore_index=PAD_ID, reduction="none")
    return -nll
