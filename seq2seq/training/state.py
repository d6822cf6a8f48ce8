"""Where a training run is, and everything it needs to continue exactly there.

`TrainState` holds the optimizer, the learning-rate schedule, the gradient scaler and the
`Progress` counters; its state_dict adds every process's random generators. With the weights it is
what last.pt holds (the position inside the epoch's batch order and the validation history
included), saved atomically at every epoch end and every `train.checkpoint_every` updates.
"""

from __future__ import annotations

import dataclasses
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..config.load import Config, TrainConfig
from ..data.tokenizer import Tokenizer
from ..errors import UserError
from ..models.model_file import save_model
from ..models.seq2seq import Seq2Seq
from ..runtime.distributed import World
from .schedule import Schedule


@dataclass
class Progress:
    """Counters that say where a run is; saved in last.pt."""

    epoch: int = 0  # the epoch in progress (0-based)
    position: int = 0  # batches of this epoch already trained on
    step: int = 0  # optimizer updates so far
    epoch_loss: float = 0.0  # summed training loss of this epoch so far
    epoch_tokens: int = 0
    epoch_seconds: float = 0.0  # pure training time of this epoch so far
    best_score: float = float("-inf")  # the best validation score: BLEU, or a classifier's macro-F1
    bad_validations: int = 0  # validations since the score last improved
    elapsed: float = 0.0  # seconds of earlier processes of this run
    history: list[dict] = field(default_factory=list)  # one row per validation
    best_model: str = ""  # what best.pt holds: "epoch 7", or the model the end of training chose
    chosen_at: int = -1  # the update at which the end of training last chose best.pt
    chosen: str = ""  # what that choice put in best.pt, and its score: the run's closing line

    @classmethod
    def from_saved(cls, saved: dict) -> Progress:
        """The progress a last.pt holds; one written before best_score was named so calls it best_bleu."""
        saved = dict(saved)
        if "best_bleu" in saved:
            saved["best_score"] = saved.pop("best_bleu")
        return cls(**saved)

    def record_validation(self, row: dict, score: float) -> bool:
        """Add a validation's row; True if its score (higher is better) is the best so far."""
        improved = score > self.best_score
        self.best_score, self.bad_validations = (
            (score, 0) if improved else (self.best_score, self.bad_validations + 1)
        )
        if improved:
            self.best_model = row.get("model", "")
        self.history.append(row)
        return improved

    def next_epoch(self) -> None:
        self.epoch, self.position = self.epoch + 1, 0
        self.epoch_loss, self.epoch_tokens, self.epoch_seconds = 0.0, 0, 0.0


class TrainState:
    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        schedule: Schedule,
        scaler: torch.amp.GradScaler,
        world: World,
    ):
        self.optimizer, self.schedule, self.scaler, self.world = optimizer, schedule, scaler, world
        self.progress = Progress()
        self.started = time.monotonic()
        self.saved_step: int | None = None  # the update that last.pt holds
        self.data_digests: dict[str, str] = {}  # the data files' SHA-256, checked on resume (run_dir.py)

    def elapsed(self) -> float:
        """Seconds this run has taken, its earlier processes included."""
        return self.progress.elapsed + time.monotonic() - self.started

    def state_dict(self) -> dict:
        """The training state; `rng` holds every process's random generators, in rank order."""
        return {
            "progress": dataclasses.asdict(self.progress) | {"elapsed": self.elapsed()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": self.world.gather(_rng_state()),
            # how a CPU splits its sums depends on it: a resume must use the same (run_dir.py)
            "threads": torch.get_num_threads(),
            "data_digests": self.data_digests,
        }

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        if len(state["rng"]) != self.world.size:
            raise UserError(
                f"this run was saved by {len(state['rng'])} process(es); resume it with the same number "
                f"(now {self.world.size}): each one's random generators and share of the data must match"
            )
        _set_rng_state(state["rng"][self.world.rank])
        self.progress = Progress.from_saved(state["progress"])
        self.saved_step = self.progress.step
        self.started = time.monotonic()

    def save_last(self, path: Path, model: Seq2Seq, cfg: Config, tokenizer: Tokenizer) -> None:
        """Save the weights with this state; every process takes part: it gathers their random
        generators, and the first one writes."""
        state = self.state_dict()
        if self.world.is_main:
            save_model(path, model, cfg, tokenizer, state)
        self.saved_step = self.progress.step

    def interrupted(self, last: Path) -> str:
        """What a stop by Ctrl-C left in `last` (last.pt), and how to continue."""
        step, saved = self.progress.step, self.saved_step
        if saved == step:
            return f"interrupted: saved {last} at update {step}; continue with the same command and --resume"
        # a second Ctrl-C stopped an update midway, with no save
        held = f"{last} holds update {saved}" if saved is not None else "nothing was saved yet"
        return (
            f"interrupted at once in update {step + 1}; {held}; continue with the same command and --resume"
        )


def continue_stopped_run(progress: Progress, saved: TrainConfig, new: TrainConfig) -> str | None:
    """Let a resumed run that early stopping had ended go on when the new config asks for it.

    Raising train.epochs of such a run starts its count of validations without gain again at 0:
    it trains until the new train.epochs, or until train.early_stopping_patience more validations
    bring no gain. Raising the patience alone keeps the count, so the run gets the difference. The
    weights, optimizer, learning rate, best score and best.pt carry on as saved. Returns what to
    log, or None when the run was not stopped early or nothing was raised."""
    patience = saved.early_stopping_patience
    if not patience or progress.bad_validations < patience or new.epochs <= saved.epochs:
        return None
    held = progress.bad_validations
    progress.bad_validations = 0
    return (
        f"early stopping had ended this run ({held} validations without gain); train.epochs raised "
        f"from {saved.epochs} to {new.epochs}: continuing, the count of validations without gain "
        "starts again at 0"
    )


def seed(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def _rng_state() -> dict:
    return {
        "python": random.getstate(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _set_rng_state(state: dict) -> None:
    random.setstate(_as_tuple(state["python"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(x):
    """random.setstate needs the tuples that saving turned into lists back."""
    return tuple(_as_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x
