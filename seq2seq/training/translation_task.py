"""task: translate, what translation brings to the trainer: parallel text (`training_data`), the
teacher-forced loss over the target tokens, and the BLEU validator (`validation`). A chatbot is this
task on (utterance, reply) pairs."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..config.load import Config
from ..data.batches import Batch
from ..data.tokenizer import Tokenizer
from ..data.training_data import TrainingData, load_training_data
from ..errors import UserError
from ..models.loss import rdrop_loss, sequence_loss
from ..runtime.distributed import World
from ..special_ids import PAD_ID
from .synthetic_pairs import with_synthetic_pairs
from .teachers import Teachers, distillation_loss
from .validation import Validator


class TranslationTask:
    unit = "target tokens"  # what the loss is summed over, and training speed counted in

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.teachers: Teachers | None = None  # train.teachers, once the tokenizer is known

    def load(
        self, world: World, autocast: Callable, saved: Tokenizer | None = None
    ) -> tuple[Tokenizer, TrainingData, Validator]:
        tc = self.cfg.train
        if tc.teachers and tc.rdrop_alpha:  # (before any translating for synthetic pairs)
            raise UserError(
                "train.teachers and train.rdrop_alpha are two regularizers of one loss; set one of them"
            )
        d = load_training_data(with_synthetic_pairs(self.cfg), saved)
        validator = Validator(self.cfg, d.tokenizer, d.valid, d.valid_src, d.valid_ref, world, autocast)
        if tc.teachers:
            self.teachers = Teachers(tc.teachers, d.tokenizer, tc.teacher_weight)
        return d.tokenizer, d, validator

    def batch_loss(self, model: nn.Module, batch: Batch, autocast: Callable) -> Tensor:
        """The summed, label-smoothed loss over the batch's target tokens (`n_tgt_tokens`), with
        train.rdrop_alpha the R-Drop loss of two passes; with train.teachers, matched to their
        distribution as well (teachers.py)."""
        tc = self.cfg.train
        real = batch.tgt_out != PAD_ID
        if tc.rdrop_alpha:  # the batch twice, with two draws of dropout
            twice = [torch.cat([t, t]) for t in (batch.src, batch.src_lengths, batch.tgt_in, real)]
            with autocast():
                logits = model(*twice)  # (2N, V)
            return rdrop_loss(logits, batch.tgt_out[real], tc.label_smoothing, tc.rdrop_alpha)
        with autocast():
            logits = model(batch.src, batch.src_lengths, batch.tgt_in, real)  # (N, V)
        loss, _ = sequence_loss(logits, batch.tgt_out[real], tc.label_smoothing)
        if self.teachers is not None:
            q = self.teachers.distribution(batch, real, autocast)
            return distillation_loss(logits, loss, q, self.teachers.weight)
        return loss
