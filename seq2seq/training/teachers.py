"""Word-level knowledge distillation (Kim and Rush 2016, arXiv:1606.07947, section 3.1; Hinton et
al. 2015): with `train.teachers: MODEL` (or a list of model files, an ensemble), every training batch
also goes through the teachers, without dropout and without gradients, and the loss at each target
token becomes
    (1 - w) * label-smoothed cross entropy against the reference
    + w * cross entropy against q, the teachers' mean predicted distribution,
w = train.teacher_weight. Against q the cross entropy is the KL divergence KL(q || p) plus q's
entropy, a constant of the student: the same gradient. Where `data.distill_from` trains on the
teacher's one best translation (sequence level), this matches its whole distribution at every token
of the references; the two combine. Each teacher costs a forward pass per batch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.batches import Batch
from ..data.tokenizer import Tokenizer
from ..errors import UserError
from ..models.ensemble import check_shared_vocabulary
from ..models.model_file import named_model_file


class Teachers:
    def __init__(self, names: tuple[str, ...], tokenizer: Tokenizer, weight: float):
        missing = "train that model first, or point train.teachers at a model file (best.pt, a release)"
        files = [named_model_file("train.teachers", Path(n), "distill from", missing) for n in names]
        built = [file.build() for file in files]
        for name, (_, cfg, _) in zip(names, built):
            if cfg.task != "translate":
                raise UserError(
                    f"train.teachers {name} is a classifier (task: {cfg.task}); name a translation model"
                )
        check_shared_vocabulary(["the run", *names], [tokenizer, *(t for _, _, t in built)])
        self.models: list[nn.Module] = [model.eval().requires_grad_(False) for model, _, _ in built]
        self.weight = weight

    def distribution(self, batch: Batch, real: Tensor, autocast: Callable) -> Tensor:
        """The teachers' mean predicted distribution at each real target token: (N, V), fp32."""
        device = batch.src.device
        self.models = [model.to(device) for model in self.models]  # (no copy once there)
        with torch.no_grad(), autocast():
            probs = [
                model(batch.src, batch.src_lengths, batch.tgt_in, real).float().softmax(-1)
                for model in self.models
            ]
        return torch.stack(probs).mean(0) if len(probs) > 1 else probs[0]


def distillation_loss(logits: Tensor, reference_loss: Tensor, q: Tensor, weight: float) -> Tensor:
    """The summed loss over N tokens from the student's logits (N, V), its summed loss against the
    references and the teachers' distribution q (N, V): its gradient with respect to the logits is
    softmax(logits) - ((1 - weight) * the references' smoothed distribution + weight * q)."""
    matched = F.cross_entropy(logits.float(), q, reduction="sum")
    return (1 - weight) * reference_loss + weight * matched
