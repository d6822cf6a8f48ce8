"""Classification data: a text file and a line-aligned label file (one label per line) -> encoded
texts and label ids -> padded batches.

The texts are encoded in one go and held in memory (a classification corpus is small beside a
translation corpus); batches are cut by `epoch_batches` (data/batches.py), so their order is a
pure function of (seed, epoch) and a position inside an epoch is an index, which makes resuming exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.batches import check_text_file, pad_src, read_lines
from ..data.tokenizer import SubwordVocab
from ..errors import UserError


@dataclass(frozen=True)
class LabeledBatch:
    """src (B, S) ids + EOS, PAD-padded; src_lengths (B,) with EOS; labels (B,) label ids."""

    src: torch.Tensor
    src_lengths: torch.Tensor
    labels: torch.Tensor

    @property
    def n_tgt_tokens(self) -> int:
        """What the training loss is normalized by: one target (the label) per sentence."""
        return len(self.labels)

    def to(self, device: torch.device) -> LabeledBatch:
        tensors = (self.src, self.src_lengths, self.labels)
        return LabeledBatch(*(t.to(device, non_blocking=True) for t in tensors))


class LabeledCorpus:
    """Encoded texts and their label ids."""

    def __init__(self, ids: list[np.ndarray], labels: np.ndarray):
        self.ids, self.labels = ids, labels
        self.src_lengths = np.array([len(x) for x in ids], dtype=np.int64)  # (N,) pieces, without EOS
        self.tgt_lengths = np.zeros_like(self.src_lengths)  # no target text: batches go by the source

    def __len__(self) -> int:
        return len(self.ids)

    def batch(self, indices: np.ndarray) -> LabeledBatch:
        src, src_lengths = pad_src([self.ids[i] for i in indices])
        return LabeledBatch(src, src_lengths, torch.from_numpy(self.labels[indices]))

    def for_epoch(self, epoch: int, resuming: bool = False) -> LabeledCorpus:
        """The training corpus of every epoch: a classifier's segmentation is not sampled."""
        return self

    def drop_sampled(self) -> None:
        """Nothing to drop (see for_epoch)."""

    def close(self) -> None:
        """Nothing to close: the texts are held in memory."""


def check_labeled(text_path: str | Path, labels_path: str | Path) -> str:
    """Validate a text file and its label file; return the text file's content digest."""
    n_text, digest = check_text_file(text_path)
    n_labels, _ = check_text_file(labels_path)
    if n_text != n_labels:
        raise UserError(
            f"{text_path} has {n_text} lines but {labels_path} has {n_labels}; a label file must be "
            "line-aligned with its text file, one label per line"
        )
    return digest


def read_labels(path: str | Path) -> list[str]:
    """The labels of a label file, one per line (spaces around a label are dropped)."""
    labels = [line.strip() for line in read_lines(path)]
    for number, label in enumerate(labels, 1):
        if not label:
            raise UserError(f"{path}, line {number}: no label; every line needs one label")
    return labels


def label_set(path: str | Path) -> tuple[str, ...]:
    """The sorted distinct labels of a label file: a classifier's outputs, in order."""
    labels = tuple(sorted(set(read_labels(path))))
    if len(labels) < 2:
        raise UserError(f"{path} holds only the label {labels[0]!r}; a classifier needs at least two labels")
    return labels


def label_ids(path: str | Path, known: Sequence[str], source: str) -> np.ndarray:
    """The label file's labels as ids into `known`; an unknown label is an error that names it,
    the labels known and `source`, where they come from."""
    index = {label: i for i, label in enumerate(known)}
    labels = read_labels(path)
    for number, label in enumerate(labels, 1):
        if label not in index:
            shown = ", ".join(known[:30]) + (", ..." if len(known) > 30 else "")
            raise UserError(
                f"{path}, line {number}: unknown label {label!r}; the labels {source} are: {shown}"
            )
    return np.array([index[label] for label in labels], dtype=np.int64)


def load_labeled(
    text_path: str | Path, labels_path: str | Path, known: Sequence[str], source: str, vocab: SubwordVocab
) -> tuple[LabeledCorpus, list[str], np.ndarray]:
    """The encoded corpus, the raw texts, and the label ids of a text file and its label file."""
    check_labeled(text_path, labels_path)
    texts = read_lines(text_path)
    labels = label_ids(labels_path, known, source)
    return LabeledCorpus(vocab.encode(texts), labels), texts, labels
