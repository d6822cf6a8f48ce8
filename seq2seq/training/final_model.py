"""The model a run hands out, chosen at its end on the validation set, with its search settings.

Candidates: best.pt as it stands (the best epoch by the validation after each epoch, or what an
earlier end of this run chose) and, with `train.keep_last` and `train.average_kept`, the average of
the kept epochs (written to averaged.pt); with `train.average_with`, each of them averaged with
those model files too (model_soup.py). Each is decoded on the validation set with every setting of
`validator.final_searches()` (search.beam_size with each of search.length_penalties); the best pair
becomes best.pt with that setting in its config, so `test` and `translate` decode with it. Every trial
is a line of train.log and a row of validations.tsv (its `model` and `search` columns say which).

A run resumed with more epochs must never let a worse epoch replace the chosen model: the average's
score by the validation after each epoch raises `progress.best_score`, which a later epoch has to
beat to be saved as best.pt; the next end of the run chooses again, among the newer candidates and
the model chosen before.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

import torch

from ..config.load import Config, SearchConfig
from ..data.tokenizer import Tokenizer
from ..models.model_file import ModelFile, save_model
from ..models.seq2seq import Seq2Seq
from .kept_models import kept_average
from .model_soup import Weights, soups
from .run_dir import RunDir
from .state import Progress
from .task import Validator
from .validation import Validation

log = logging.getLogger("seq2seq")


@dataclasses.dataclass(frozen=True)
class Trial:
    model: str  # which candidate: "epoch 43", "average of epochs 38-47"
    weights: dict[str, torch.Tensor]
    search: SearchConfig | None  # None: as the validation after each epoch decodes
    result: Validation


def choose_final_model(
    run: RunDir,
    model: Seq2Seq,
    cfg: Config,
    tokenizer: Tokenizer,
    validator: Validator,
    progress: Progress,
    elapsed: float,
    partners: Sequence[Weights] = (),
) -> bool:
    """Choose best.pt among the candidates and settings (module docstring); every process takes
    part (validation is shared), the first one writes. `model` holds the trained weights again
    afterwards. Returns False when there was nothing to choose (already chosen at this update, or
    one candidate and one setting), True when `progress` changed and last.pt should be saved."""
    if progress.chosen_at == progress.step:
        return False
    is_main = validator.world.is_main
    candidates = []
    if run.best.exists():
        candidates.append((progress.best_model or "best.pt", ModelFile.read(run.best).weights))
    trained = {k: v.clone() for k, v in model.state_dict().items()}
    searches = validator.final_searches()
    average = kept_average(run, cfg, progress.epoch)
    if average is not None:
        label, weights = average
        model.load_state_dict(weights)
        if is_main:
            save_model(run.averaged, model, cfg, tokenizer)
        if searches != [None]:  # its score as the epochs were scored: what a later epoch must beat
            result = validator.validate(model)
            log.info(f"{label}: {validator.metric} {result.score:.2f} ({result.search or 'validation'})")
            progress.best_score = max(progress.best_score, result.score)
        candidates.append(average)
    candidates += soups(candidates, partners, cfg.train.average_with)
    if len(candidates) < 2 and searches == [None]:
        model.load_state_dict(trained)
        progress.chosen = ""  # best.pt is the best epoch, as the validation after each epoch chose
        return False
    trials = []
    for label, weights in candidates:
        model.load_state_dict(weights)
        for search in searches:
            result = validator.validate(model, search)
            log.info(f"{label}, {result.search or 'validation'}: {validator.metric} {result.score:.2f}")
            trials.append(Trial(label, weights, search, result))
            progress.history.append(_row(result, label, progress, elapsed))
    chosen = max(trials, key=lambda t: t.result.score)  # the first of equals: best.pt, the listed order
    settled = cfg if chosen.search is None else dataclasses.replace(cfg, search=chosen.search)
    model.load_state_dict(chosen.weights)
    if is_main:
        save_model(run.best, model, settled, tokenizer)
    how = f", {chosen.result.search}" if chosen.result.search else ""
    progress.chosen = f"{chosen.model}{how} ({validator.metric} {chosen.result.score:.2f})"
    log.info(f"chosen for {run.best}: {progress.chosen}")
    if chosen.search is None:  # scored as the epochs are: a later epoch must beat it
        progress.best_score = max(progress.best_score, chosen.result.score)
    progress.best_model, progress.chosen_at = chosen.model, progress.step
    model.load_state_dict(trained)
    return True


def _row(result: Validation, label: str, progress: Progress, elapsed: float) -> dict:
    """A trial's row of validations.tsv: its metrics, the training columns left empty."""
    return (
        {"epoch": progress.epoch, "step": progress.step, "train_loss": ""}
        | result.metrics
        | {"lr": "", "train_tokens": "", "train_seconds": "", "elapsed_seconds": round(elapsed, 1)}
        | {"model": label, "search": result.search}
    )
