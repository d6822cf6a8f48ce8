"""The models of the last epochs, kept as epochN.pt (`train.keep_last`), and their average
(`train.average_kept`), which the end of training weighs against the best epoch (`final_model`).

Averaging the weights of the last checkpoints of a run (Vaswani et al. 2017, section 6.1; Popel
and Bojar 2018, section 4.9) usually scores better than any one of them.
"""

from __future__ import annotations

import logging

from ..config.load import Config
from ..data.tokenizer import Tokenizer
from ..models.model_file import average, save_model
from ..models.seq2seq import Seq2Seq
from .run_dir import RunDir

log = logging.getLogger("seq2seq")


def keep_epoch(run: RunDir, epoch: int, model: Seq2Seq, cfg: Config, tokenizer: Tokenizer) -> None:
    """With train.keep_last N, save the model of epoch `epoch` (1-based) and drop epoch - N's."""
    keep = cfg.train.keep_last
    if keep:
        save_model(run.epoch(epoch), model, cfg, tokenizer)
        run.epoch(epoch - keep).unlink(missing_ok=True)


def kept_average(run: RunDir, cfg: Config, epoch: int) -> tuple[str, dict] | None:
    """With train.keep_last N and train.average_kept, the mean of the weights of the kept models
    of the last N epochs up to `epoch` (1-based), and what to call it; None with fewer than two."""
    if cfg.train.keep_last < 2 or not cfg.train.average_kept:
        return None
    epochs = range(max(1, epoch - cfg.train.keep_last + 1), epoch + 1)
    paths = [run.epoch(e) for e in epochs if run.epoch(e).exists()]
    if len(paths) < 2:
        return None
    return f"average of epochs {epochs.start}-{epoch}", average(paths).weights
