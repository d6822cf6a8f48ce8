"""Training as pictures: `run_dir/curves.png` after every validation (drawn by report/plots.py)
and TensorBoard events when `train.tensorboard` is on.

Both are made from the validation rows alone (the rows of validations.tsv), so they are the same
after a resume. tensorboard (the `tensorboard` extra) is imported inside the functions that use it;
without matplotlib a run says once in train.log how to get curves.png and goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from ..errors import UserError
from ..report.plots import PLOT_EXTRA, curves_figure, save_figure, score_columns

log = logging.getLogger("seq2seq")


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
