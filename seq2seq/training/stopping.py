"""Which epoch ends validate (train.validate_every), and when a run stops before train.epochs:
early stopping (no validation gain in train.early_stopping_patience validations) and the time
budget (train.max_hours). Either ends the run as its last epoch would: the end of training still
chooses best.pt."""

from __future__ import annotations

from ..config.sections import TrainConfig
from .state import Progress


def reason_to_stop(progress: Progress, tc: TrainConfig, hours: float, metric: str) -> str | None:
    """Why the run should end before its next epoch, or None. `hours`: what the run has taken so
    far, its earlier processes included (the same figure in every process)."""
    patience = tc.early_stopping_patience
    if patience and progress.bad_validations >= patience:
        return f"early stopping: no {metric} gain in {patience} validations (best {progress.best_score:.2f})"
    if tc.max_hours and hours >= tc.max_hours and progress.epoch > 0:
        return (
            f"time budget: the run has taken {hours:.2f} h of train.max_hours {tc.max_hours:g} "
            f"after {progress.epoch} epochs; raise it and --resume to go on"
        )
    return None


def validates_after(progress: Progress, tc: TrainConfig, hours: float) -> bool:
    """Whether the epoch just trained (`progress.epoch`, 0-based) is validated: every
    train.validate_every-th, and the run's last, whether train.epochs or the time budget ends it
    (so that best.pt holds a validated epoch of its end). Epochs between only log their training."""
    done = progress.epoch + 1
    return done % tc.validate_every == 0 or done >= tc.epochs or bool(tc.max_hours and hours >= tc.max_hours)
