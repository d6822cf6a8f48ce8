"""task: classify, what text classification brings to the trainer: a text file and a label file
(`classify/data.py`), the cross entropy of each sentence's label, and a validator whose score is
macro-F1, with accuracy and a per-label table in the log.

The label set is part of the config (`classify.labels`); when the config leaves it empty, it is
settled here, before anything else, from the training label file, so the run's config.yaml, its
resume check and its model files all hold it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch.nn.functional as F
from torch import Tensor

from ..config.load import Config
from ..data import tokenizer
from ..errors import UserError
from ..models.classifier import TextClassifier
from ..runtime.distributed import World
from ..training.validation import Validation
from .data import LabeledBatch, LabeledCorpus, check_labeled, label_set, load_labeled
from .metrics import class_scores, confusion_matrix, label_table
from .predict import predict

log = logging.getLogger("seq2seq")


class ClassificationTask:
    unit = "sentences"  # what the loss is summed over, and training speed counted in

    def __init__(self, cfg: Config):
        c = cfg.classify
        self.labels_from = "that classify.labels lists" if c.labels else f"of {c.train_labels}"
        if not c.labels:
            check_labeled(cfg.data.train_src, c.train_labels)
            c = dataclasses.replace(c, labels=label_set(c.train_labels))
        self.cfg = dataclasses.replace(cfg, classify=c)

    def load(
        self, world: World, autocast: Callable, saved: tokenizer.Tokenizer | None = None
    ) -> tuple[tokenizer.Tokenizer, LabeledCorpus, ClassificationValidator]:
        cfg = self.cfg
        d, c = cfg.data, cfg.classify
        digest = check_labeled(d.train_src, c.train_labels)
        check_labeled(d.valid_src, c.valid_labels)  # a bad path fails now, not after the tokenizer
        text = Path(d.train_src)
        cache = Path(cfg.cache_dir)
        tok = saved or tokenizer.train_or_load(cfg.tokenizer, text, text, digest, cache, log.info)
        train, _, _ = load_labeled(d.train_src, c.train_labels, c.labels, self.labels_from, tok.src)
        valid, texts, _ = load_labeled(d.valid_src, c.valid_labels, c.labels, self.labels_from, tok.src)
        usable = int((train.src_lengths <= d.max_len).sum())
        if usable == 0:
            raise UserError(
                f"all {len(train):,} training texts are longer than data.max_len ({d.max_len} pieces); "
                "raise data.max_len"
            )
        counts = np.bincount(train.labels, minlength=len(c.labels))
        common, share = c.labels[int(counts.argmax())], 100 * counts.max() / len(train)
        log.info(
            f"data: {len(train):,} training texts ({len(train) - usable:,} longer than {d.max_len} pieces "
            f"skipped), {len(valid):,} validation texts; {len(c.labels)} labels, the most frequent "
            f"{common!r} on {share:.1f} % of the training texts"
        )
        return tok, train, ClassificationValidator(cfg, valid, texts, world, autocast)

    def batch_loss(self, model: TextClassifier, batch: LabeledBatch, autocast: Callable) -> Tensor:
        """The summed, label-smoothed cross entropy of the batch's labels (`n_tgt_tokens`: one per text)."""
        with autocast():
            logits = model(batch.src, batch.src_lengths)  # (B, L)
        return F.cross_entropy(
            logits.float(), batch.labels, label_smoothing=self.cfg.train.label_smoothing, reduction="sum"
        )


class ClassificationValidator:
    metric = "macro-F1"

    def __init__(
        self, cfg: Config, corpus: LabeledCorpus, texts: list[str], world: World, autocast: Callable
    ):
        """`corpus`: the encoded validation texts and their labels; `texts`: the raw lines (for the
        examples in the log)."""
        self.cfg, self.corpus, self.texts, self.world, self.autocast = cfg, corpus, texts, world, autocast

    def final_searches(self) -> list[None]:
        """A classifier has no search to choose at the end of training: only its validation."""
        return [None]

    def validate(self, model: TextClassifier, search: None = None) -> Validation:
        """Loss, accuracy and macro-F1 of the validation texts; each process classifies a share and
        the results are gathered, so the figures are what one process would find. Leaves `model`
        in train mode. (`search`: for the trainer's interface; there is none to choose.)"""
        cfg, world, labels = self.cfg, self.world, self.cfg.classify.labels
        start = time.perf_counter()
        n = len(self.corpus)
        share = math.ceil(n / world.size)
        mine = self.corpus.ids[world.rank * share : (world.rank + 1) * share]
        logprobs = np.concatenate(world.gather(predict(model, mine, cfg.data.batch_tokens, self.autocast)[0]))
        model.train()
        gold, predicted = self.corpus.labels, logprobs.argmax(axis=1)
        nll = float(-logprobs[np.arange(n), gold].mean())
        scores = class_scores(confusion_matrix(gold, predicted, len(labels)))
        metrics = {
            "valid_loss": round(nll, 4),
            "accuracy": round(scores.accuracy, 2),
            "macro_f1": round(scores.macro_f1, 2),
        }
        examples = [
            f"example {i + 1}\n  text:      {self.texts[i]}\n  reference: {labels[gold[i]]}\n"
            f"  predicted: {labels[predicted[i]]} (p = {math.exp(logprobs[i].max()):.2f})"
            for i in range(min(cfg.train.examples, n))
        ]
        return Validation(
            metrics,
            score=metrics["macro_f1"],
            summary=(
                f"validation loss {nll:.3f}, accuracy {scores.accuracy:.2f}, macro-F1 {scores.macro_f1:.2f}, "
                f"classified in {time.perf_counter() - start:.1f} s"
            ),
            details=[*label_table(labels, scores), *examples],
        )
