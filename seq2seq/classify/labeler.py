"""Use a trained classifier model file: label lines or a stream, test against reference labels.

Everything here needs only the model file: the config (with the label list), tokenizer and weights
are all inside it. Classification goes through `predict.predict` in the precision the model
trained and validated in (`train.precision`, resolved for the device), as validation does, so the
same model and data give the same figures.
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

import numpy as np
import torch

from ..config.load import Config
from ..data.batches import read_lines
from ..data.line_stream import line_batches
from ..data.tokenizer import Tokenizer
from ..errors import UserError
from ..models.classifier import TextClassifier
from ..models.model_file import ModelFile
from ..report.plots import attention_bars
from ..runtime.device import pick_device, pick_precision
from ..runtime.precision import DTYPES
from .data import label_ids
from .metrics import class_scores, confusion_matrix, confusion_table, label_table
from .predict import predict


@dataclass(frozen=True)
class Labeling:
    text: str
    label: str | None  # None for a blank line
    probabilities: np.ndarray  # (L,) in the order of the model's labels
    pieces: list[str]  # the text's source pieces, </s> included
    attention: np.ndarray | None  # (heads, pieces), when asked for


@dataclass
class Labeler:
    model: TextClassifier
    tokenizer: Tokenizer
    config: Config
    batch_tokens: int
    autocast: Callable = contextlib.nullcontext  # the precision validation classified in

    @classmethod
    def load(cls, path: str | Path, device: str = "auto", batch_tokens: int | None = None) -> Labeler:
        model, cfg, tokenizer = ModelFile.read(path).build()
        if cfg.task != "classify":
            raise UserError(
                f"{path} is a translation model (task: {cfg.task}), not a classifier; use seq2seq translate "
                f"{path}, or train a classifier with task: classify"
            )
        where = pick_device(device, "--device")
        precision = pick_precision(cfg.train.precision, where)
        return cls(
            model.to(where).eval(),
            tokenizer,
            cfg,
            batch_tokens or cfg.data.batch_tokens,
            functools.partial(
                torch.autocast, where.type, dtype=DTYPES[precision], enabled=precision != "fp32"
            ),
        )

    @property
    def labels(self) -> tuple[str, ...]:
        return self.config.classify.labels

    def classify(self, lines: Sequence[str], with_attention: bool = False) -> list[Labeling]:
        """One Labeling per line, in order; a blank line gets no label."""
        ids = self.tokenizer.src.encode(lines)
        logprobs, weights = predict(self.model, ids, self.batch_tokens, self.autocast, with_attention)
        out = []
        for i, line in enumerate(lines):
            blank = not line.strip()
            out.append(
                Labeling(
                    line,
                    None if blank else self.labels[int(logprobs[i].argmax())],
                    np.exp(logprobs[i]),
                    self.tokenizer.src.pieces(ids[i]) + ["</s>"],
                    weights[i] if weights is not None else None,
                )
            )
        return out


# ---------------------------------------------------------------- seq2seq test


def test(labeler: Labeler, src: str, ref: str, output: str | None = None) -> dict:
    """Classify a text file and score it against a label file: accuracy, macro-F1, the per-label
    figures and the confusion matrix (rows: reference labels, columns: predicted). `output`: a
    file to write the predicted labels to, one per line."""
    texts, refs = read_lines(src), read_lines(ref)
    if len(texts) != len(refs):
        raise UserError(f"{src} has {len(texts)} lines but {ref} has {len(refs)}; they must be line-aligned")
    gold = label_ids(ref, labeler.labels, "the model knows")
    start = time.perf_counter()
    ids = labeler.tokenizer.src.encode(texts)
    logprobs, _ = predict(labeler.model, ids, labeler.batch_tokens, labeler.autocast)
    seconds = time.perf_counter() - start
    predicted = logprobs.argmax(axis=1)
    if output:
        Path(output).write_text("".join(labeler.labels[i] + "\n" for i in predicted), encoding="utf-8")
    confusion = confusion_matrix(gold, predicted, len(labeler.labels))
    scores = class_scores(confusion)
    return {
        "accuracy": round(scores.accuracy, 2),
        "macro_f1": round(scores.macro_f1, 2),
        "labels": {
            label: {
                "precision": round(float(scores.precision[i]), 2),
                "recall": round(float(scores.recall[i]), 2),
                "f1": round(float(scores.f1[i]), 2),
                "support": int(scores.support[i]),
            }
            for i, label in enumerate(labeler.labels)
        },
        "confusion": confusion.tolist(),
        "lines": {
            "labels": label_table(labeler.labels, scores),
            "confusion": confusion_table(labeler.labels, confusion),
        },
        "sentences": len(texts),
        "seconds": round(seconds, 3),
        "sentences_per_second": round(len(texts) / max(seconds, 1e-9), 1),
    }


# ---------------------------------------------------------------- seq2seq classify


def stream(
    labeler: Labeler,
    source: BinaryIO,
    sink: TextIO,
    fmt: str = "text",
    warn: Callable[[str], None] = print,
    plot_dir: Path | None = None,
) -> int:
    """Label a byte stream line by line, one output line per input line, in order; a pipe is
    batched, a terminal answered at once. Returns the number of lines."""
    count = 0
    for first, texts in line_batches(source, warn):
        write_labels(labeler, texts, sink, fmt, plot_dir, first_line=first)
        count += len(texts)
    return count


def write_labels(
    labeler: Labeler, texts: list[str], sink: TextIO, fmt: str, plot_dir: Path | None, first_line: int = 1
) -> None:
    with_attention = fmt == "jsonl" or plot_dir is not None
    for offset, labeling in enumerate(labeler.classify(texts, with_attention)):
        if fmt == "jsonl":
            sink.write(json.dumps(_as_json(labeling, labeler.labels), ensure_ascii=False) + "\n")
        else:
            sink.write((labeling.label or "") + "\n")
        if plot_dir is not None and labeling.label is not None:
            plot_attention(labeling, plot_dir / f"line{first_line + offset:06d}.png")
    sink.flush()


def _as_json(labeling: Labeling, labels: Sequence[str]) -> dict:
    if labeling.label is None:
        return {"text": labeling.text, "label": None}
    return {
        "text": labeling.text,
        "label": labeling.label,
        "probabilities": {label: round(float(p), 4) for label, p in zip(labels, labeling.probabilities)},
        "pieces": labeling.pieces,
        "attention": [[round(float(w), 4) for w in head] for head in labeling.attention],
    }


def plot_attention(labeling: Labeling, path: Path) -> None:
    """A bar per source piece, its height the attention weight; one panel per head."""
    title = f"{labeling.label} (p = {labeling.probabilities.max():.2f})"
    attention_bars(labeling.attention, labeling.pieces, title, path)
