"""Training as pictures: `run_dir/curves.png` after every validation, TensorBoard events when
`train.tensorboard` is on, and several runs' validation BLEU overlaid (`seq2seq plot`).

Both pictures are drawn from the validation rows alone (the rows of validations.tsv), so they are
the same after a resume. matplotlib (the `plot` extra) and tensorboard (the `tensorboard` extra)
are imported inside the functions that use them: without matplotlib a run says once in train.log
how to get curves.png and goes on.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import UserError

log = logging.getLogger("seq2seq")

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


class TrainingPictures:
    """The trainer's hook: `update` per logged update, `validation` per validation, `close` at the
    end. Inactive (it does nothing) in the processes that do not write the run directory."""

    def __init__(self, run_dir: Path, tensorboard: bool, active: bool = True):
        self.run_dir, self.active, self.can_draw = run_dir, active, True
        self._tensorboard, self._writer = tensorboard and active, None
        if self._tensorboard:
            try:
                import torch.utils.tensorboard  # noqa: F401
            except ImportError:  # said before training starts, not at the first event
                raise UserError(
                    "train.tensorboard: true needs the tensorboard package: "
                    "pip install 'seq2seq[tensorboard]', or set train.tensorboard: false"
                ) from None

    def _events(self, step: int):
        """The event writer, opened at the first event. A resumed run's killed predecessor may have
        written events after the step it saved: they all lie at or after this first new event's
        step, and `purge_step` hides them, so each step keeps one value."""
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.run_dir / "tensorboard"), purge_step=step)
        return self._writer

    def update(self, step: int, loss: float, lr: float, tokens_per_second: float) -> None:
        """A logged update: its loss per target token, learning rate and training throughput."""
        if self._tensorboard:
            events = self._events(step)
            events.add_scalar("train/loss", loss, step)
            events.add_scalar("train/lr", lr, step)
            events.add_scalar("train/tokens_per_s", tokens_per_second, step)

    def validation(self, rows: Sequence[dict], text: Sequence[str] = ()) -> None:
        """rows: every validation so far, the last one new; text: what was logged about it
        (sacrebleu's lines, the example translations)."""
        if not self.active:
            return
        row = rows[-1]
        if self._tensorboard:
            step = int(row["step"])
            events = self._events(step)
            for name in score_columns(row):
                events.add_scalar(f"valid/{name}", float(row[name]), step)
            events.add_scalar("valid/loss", float(row["valid_loss"]), step)
            if text:
                events.add_text("valid/examples", _preformatted(text), step)
            events.flush()
        if self.can_draw:
            try:
                fig = curves_figure(rows, title=self.run_dir.name)
            except ImportError:
                self.can_draw = False
                log.info(f"no curves.png: it needs matplotlib ({PLOT_EXTRA}); training goes on without it")
                return
            save_figure(fig, self.run_dir / "curves.png")

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _preformatted(lines: Sequence[str]) -> str:
    """TensorBoard renders text as Markdown: indent it into a code block, kept as written."""
    return "\n".join("    " + line for text in lines for line in text.split("\n"))
