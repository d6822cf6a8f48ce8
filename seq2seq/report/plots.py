"""Every picture the toolkit draws, and the only room that imports matplotlib (the `plot` extra),
always inside a function: training curves (curves.png after every validation), several runs'
validation BLEU overlaid (`seq2seq plot`), and the attention of one translation or one
classification (`--plot-attention`). Each takes plain rows, pieces and weights, so it needs nothing
else of the package.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import UserError

PLOT_EXTRA = "pip install 'seq2seq[plot]'"
# columns of validations.tsv that every run has; the others are the validator's scores (BLEU, chrF)
TRAINING_COLUMNS = (
    "epoch",
    "step",
    "train_loss",
    "valid_loss",
    "valid_ppl",
    "lr",
    "train_tokens",
    "train_seconds",
    "elapsed_seconds",
    "model",
    "search",
)
NAMES = {"bleu": "BLEU", "chrf": "chrF", "macro_f1": "macro-F1"}


def score_columns(row: dict) -> list[str]:
    """The validator's scores in a validation row: BLEU and chrF for translation."""
    return [k for k in row if k not in TRAINING_COLUMNS]


def epoch_rows(rows: Sequence[dict]) -> list[dict]:
    """The validations after each epoch, without the trials of the end of training (which have no
    training figures: their train_loss is empty)."""
    return [r for r in rows if r.get("train_loss") not in ("", None)]


def curves_figure(rows: Sequence[dict], title: str = ""):
    """Left: the validation scores (BLEU, chrF); right: training and validation loss; by epoch."""
    from matplotlib.figure import Figure  # the object API: no pyplot state, no GUI backend
    from matplotlib.ticker import MaxNLocator

    rows = epoch_rows(rows)
    epochs = [float(r["epoch"]) for r in rows]
    fig = Figure(figsize=(10, 4), layout="constrained")
    scores, losses = fig.subplots(1, 2)
    for name, marker in zip(score_columns(rows[0]), "os^vD"):
        scores.plot(epochs, [float(r[name]) for r in rows], f"{marker}-", label=NAMES.get(name, name))
    scores.set(xlabel="epoch", ylabel="score", title="validation")
    losses.plot(epochs, [float(r["train_loss"]) for r in rows], "o-", label="training loss")
    losses.plot(epochs, [float(r["valid_loss"]) for r in rows], "s-", label="validation loss")
    losses.set(xlabel="epoch", ylabel="loss per target token", title="loss")
    for ax in (scores, losses):
        ax.legend()
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        fig.suptitle(title)
    return fig


def runs_figure(runs: dict[str, Sequence[dict]]):
    """Validation BLEU by epoch, one line per run (name -> validation rows)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    for name, rows in runs.items():
        rows = epoch_rows(rows)
        ax.plot([float(r["epoch"]) for r in rows], [float(r["bleu"]) for r in rows], "o-", label=name)
    ax.set(xlabel="epoch", ylabel="BLEU", title="validation BLEU")
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    return fig


def save_figure(fig, path: Path) -> None:
    """Write a PNG atomically: a viewer that reloads it never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", dpi=100)
    os.replace(tmp, path)


def plot_runs(run_dirs: Sequence[str | Path], output: str | Path) -> None:
    """`seq2seq plot`: overlay the validation BLEU of several runs in one PNG."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UserError(f"seq2seq plot needs matplotlib: {PLOT_EXTRA}") from None
    output = Path(output)
    if output.suffix.lower() != ".png":
        raise UserError(f"-o {output}: the picture is a PNG; give a file name ending in .png")
    runs = {str(d): read_validations(Path(d)) for d in run_dirs}
    save_figure(runs_figure(runs), output)


def read_validations(run_dir: Path) -> list[dict]:
    table = run_dir / "validations.tsv"
    if not run_dir.is_dir():
        raise UserError(f"{run_dir} is not a directory; give run directories of seq2seq train")
    if not table.exists():
        raise UserError(f"{run_dir} has no validations.tsv yet; a run writes it after its first validation")
    with open(table, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if not rows or not {"epoch", "bleu"} <= set(rows[0]):
        raise UserError(f"{table} holds no validation rows with epoch and bleu columns")
    return rows


def attention_heatmap(weights: np.ndarray, src: Sequence[str], tgt: Sequence[str], path: Path) -> None:
    """A translation's attention: weights (T, S) as a heatmap, target pieces (rows) by source pieces
    (columns)."""
    Figure = _figure_class("--plot-attention")
    fig = Figure(figsize=(max(4, 0.35 * len(src) + 1.5), max(3, 0.35 * len(tgt) + 1.5)), layout="tight")
    ax = fig.subplots()
    ax.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(src)), src, rotation=90)
    ax.set_yticks(range(len(tgt)), tgt)
    ax.set_xlabel("source")
    ax.set_ylabel("translation")
    fig.savefig(path, dpi=100)


def attention_bars(weights: np.ndarray, pieces: Sequence[str], title: str, path: Path) -> None:
    """A classification's attention: weights (heads, S), a bar per source piece, one panel per head."""
    Figure = _figure_class("--plot-attention")
    heads = weights.shape[0]
    width = max(4, 0.35 * len(pieces) + 1.5)
    fig = Figure(figsize=(width, 2.2 * heads + 0.6), layout="tight")
    axes = fig.subplots(heads, 1, squeeze=False)
    for m, ax in enumerate(axes[:, 0]):
        ax.bar(range(len(pieces)), weights[m], color="0.3")
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"head {m + 1}" if heads > 1 else "attention")
        ax.set_xticks(range(len(pieces)), pieces, rotation=90)
    axes[0, 0].set_title(title)
    fig.savefig(path, dpi=100)


def _figure_class(option: str):
    try:
        from matplotlib.figure import Figure  # the object API: no pyplot state, no GUI backend
    except ImportError:
        raise UserError(f"{option} needs matplotlib: {PLOT_EXTRA}") from None
    return Figure
