"""Classification figures from a confusion matrix: accuracy, per-label precision, recall and F1,
and macro-F1 (the unweighted mean of the per-label F1, so a rare label counts as much as a common
one). Figures are percentages, as BLEU and chrF are.

Dims: N examples, L labels. Rows of the matrix are the reference labels, columns the predicted ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def confusion_matrix(gold: np.ndarray, predicted: np.ndarray, n_labels: int) -> np.ndarray:
    """gold (N,), predicted (N,) label ids -> (L, L) counts: [i, j] = examples of label i predicted j."""
    counts = np.bincount(np.asarray(gold) * n_labels + np.asarray(predicted), minlength=n_labels * n_labels)
    return counts.reshape(n_labels, n_labels)


@dataclass(frozen=True)
class ClassScores:
    accuracy: float
    macro_f1: float  # over the labels that occur in the references or the predictions
    precision: np.ndarray  # (L,)
    recall: np.ndarray  # (L,)
    f1: np.ndarray  # (L,)
    support: np.ndarray  # (L,) reference examples per label
    predicted: np.ndarray  # (L,) predictions per label


def class_scores(confusion: np.ndarray) -> ClassScores:
    """Figures of a confusion matrix. A label never predicted has precision 0, one with no
    reference example recall 0; a label absent from both says nothing and is left out of macro-F1."""
    confusion = np.asarray(confusion, dtype=np.int64)
    correct = np.diag(confusion)
    support, predicted = confusion.sum(axis=1), confusion.sum(axis=0)
    precision = 100 * correct / np.maximum(predicted, 1)
    recall = 100 * correct / np.maximum(support, 1)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    seen = (support + predicted) > 0
    return ClassScores(
        accuracy=float(100 * correct.sum() / max(confusion.sum(), 1)),
        macro_f1=float(f1[seen].mean()) if seen.any() else 0.0,
        precision=precision,
        recall=recall,
        f1=f1,
        support=support,
        predicted=predicted,
    )


def label_table(labels: Sequence[str], scores: ClassScores) -> list[str]:
    """The per-label figures as aligned text lines, a header first."""
    width = max(5, *(len(label) for label in labels))
    lines = [f"{'label':<{width}}  precision  recall     F1  support"]
    for i, label in enumerate(labels):
        lines.append(
            f"{label:<{width}}  {scores.precision[i]:9.2f}  {scores.recall[i]:6.2f}  "
            f"{scores.f1[i]:5.2f}  {scores.support[i]:7d}"
        )
    return lines


def confusion_table(labels: Sequence[str], confusion: np.ndarray) -> list[str]:
    """The confusion matrix as aligned text lines: a row per reference label, a column per
    predicted label (columns are numbered; the numbers are the rows' order)."""
    width = max(len(label) for label in labels) + 4
    cell = max(3, len(str(int(np.max(confusion, initial=0)))) + 1)
    header = " " * width + "".join(f"{j + 1:>{cell}}" for j in range(len(labels)))
    rows = [
        f"{f'{i + 1}. {label}':<{width}}" + "".join(f"{int(n):>{cell}}" for n in confusion[i])
        for i, label in enumerate(labels)
    ]
    return ["reference (rows) by predicted (columns)", header, *rows]
