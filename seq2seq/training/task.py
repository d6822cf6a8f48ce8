"""What a task brings to the trainer: the interface that `train.py` depends on, and that
`translation_task.TranslationTask` and `classify/task.py`'s `ClassificationTask` provide.

A task is built once from the config (`task_for` in cli/train.py). It may settle the config (a
classifier's label set comes from its training labels), loads the data (the tokenizer, the training
corpus of each epoch, a validator over the validation data), and computes the summed loss of a
batch. The trainer asks nothing else: the head, the loss and the metric live in the task's rooms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
from torch import Tensor, nn

from ..config.load import Config, SearchConfig
from ..data.tokenizer import Tokenizer
from ..runtime.distributed import World
from .validation import Validation


class Corpus(Protocol):
    """Training examples by index: their lengths in pieces (N,) and padded batches of them."""

    src_lengths: np.ndarray
    tgt_lengths: np.ndarray

    def batch(self, indices: np.ndarray): ...  # -> a batch with .to(device) and .n_tgt_tokens


class Corpora(Protocol):
    """The training corpus of each epoch (a new sampled segmentation with subword regularization)."""

    def for_epoch(self, epoch: int, resuming: bool = False) -> Corpus: ...

    def drop_sampled(self) -> None: ...

    def close(self) -> None: ...  # the files it reads from


class Validator(Protocol):
    metric: str  # the name of the score, for messages
    world: World

    def validate(self, model: nn.Module, search: SearchConfig | None = None) -> Validation:
        """The validation after each epoch; with `search`, decoded by it instead."""
        ...

    def final_searches(self) -> list[SearchConfig | None]:
        """The decoding settings the end of training chooses among; None: `validate`'s own."""
        ...


class Task(Protocol):
    """What a task brings to the trainer; built once from the config (cli/train.py's `task_for`)."""

    cfg: Config  # the config, settled by the task (a classifier's label set)
    unit: str  # what the loss is summed over and normalized by: "target tokens", "sentences"

    def load(
        self, world: World, autocast: Callable, saved: Tokenizer | None = None
    ) -> tuple[Tokenizer, Corpora, Validator]:
        """`saved`: the tokenizer a resumed run's last.pt (or train.init_from's file) holds, used
        as it is."""
        ...

    def batch_loss(self, model: nn.Module, batch, autocast: Callable) -> Tensor: ...
