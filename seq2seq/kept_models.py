"""The models of the last epochs, kept as epochN.pt (`train.keep_last`), and their average.

Averaging the weights of the last checkpoints of a run (Vaswani et al. 2017, section 6.1; Popel
and Bojar 2018, section 4.9) usually scores better than any one of them.
"""

from __future__ import annotations

import logging

from .checkpoint import average_weights, load_bundle, save_model
from .config import Config
from .model import Seq2Seq
from .run_dir import RunDir
from .tokenizer import Tokenizer
from .train_state import Progress
from .validation import Validator

log = logging.getLogger("seq2seq")


def keep_epoch(run: RunDir, epoch: int, model: Seq2Seq, cfg: Config, tokenizer: Tokenizer) -> None:
    """With train.keep_last N, save the model of epoch `epoch` (1-based) and drop epoch - N's."""
    keep = cfg.train.keep_last
    if keep:
        save_model(run.epoch(epoch), model, cfg, tokenizer)
        run.epoch(epoch - keep).unlink(missing_ok=True)


def average_kept(
    run: RunDir, model: Seq2Seq, cfg: Config, tokenizer: Tokenizer, validator: Validator, progress: Progress
) -> None:
    """Average the kept epoch models into averaged.pt and validate it; it becomes best.pt if its
    validation score beats the best epoch's. Every process takes part (validation is shared); the
    first one writes. `model` holds the trained weights again afterwards."""
    last = progress.epoch
    epochs = range(max(1, last - cfg.train.keep_last + 1), last + 1)
    paths = [run.epoch(e) for e in epochs if run.epoch(e).exists()]
    if len(paths) < 2:
        return
    trained = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(average_weights([load_bundle(p)["model"] for p in paths]))
    result = validator.validate(model)
    metric = validator.metric
    log.info(f"average of epochs {epochs.start}-{last}: {metric} {result.score:.2f}, {result.summary}")
    if validator.world.is_main:
        save_model(run.averaged, model, cfg, tokenizer)
        if result.score > progress.best_bleu:
            save_model(run.best, model, cfg, tokenizer)
            log.info(f"the average is the new best ({metric} {result.score:.2f}): saved {run.best}")
    progress.best_bleu = max(progress.best_bleu, result.score)
    model.load_state_dict(trained)
