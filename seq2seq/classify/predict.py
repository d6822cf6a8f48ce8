"""Classify encoded texts with a TextClassifier: the one path that validation during training,
`seq2seq test` and `seq2seq classify` share.

Texts are sorted by length into token-budget batches (little padding), classified, and put back in
their original order. Dims: N texts, L labels, M heads, S_i pieces of text i with its EOS.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np
import torch

from ..data.batches import pad_src, sorted_batches
from ..models.classifier import TextClassifier


@torch.inference_mode()
def predict(
    model: TextClassifier,
    ids: list[np.ndarray],
    batch_tokens: int,
    autocast: Callable = contextlib.nullcontext,
    with_attention: bool = False,
) -> tuple[np.ndarray, list[np.ndarray] | None]:
    """Label log-probabilities (N, L) in fp32 and, when asked, each text's attention weights
    (M, S_i). Leaves the model in eval mode."""
    model.eval()
    device = next(model.parameters()).device
    lengths = np.array([len(x) + 1 for x in ids], dtype=np.int64)
    logprobs = np.zeros((len(ids), model.output.out_features), dtype=np.float32)
    weights: list[np.ndarray] | None = [np.zeros((0, 0))] * len(ids) if with_attention else None
    for batch in sorted_batches(lengths, batch_tokens):
        src, src_lengths = pad_src([ids[i] for i in batch])
        with autocast():
            logits, alpha = model.classify(src.to(device), src_lengths.to(device))
        logprobs[batch] = torch.log_softmax(logits.float(), dim=-1).cpu().numpy()
        if weights is not None:
            alpha = alpha.float().cpu().numpy()  # (B, M, S)
            for row, i in enumerate(batch):
                weights[i] = alpha[row, :, : lengths[i]]
    return logprobs, weights
