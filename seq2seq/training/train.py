"""The `Trainer`: build everything from the task's config, then loop over epochs: update,
validate, save (`run.py` starts it, for a new run or a resumed one).

The loop is here and reads top to bottom; the rest are calls to their own rooms: where a run is and
how it resumes exactly (`state`), the learning-rate schedule (`schedule`), a diverging run
(`divergence`), Ctrl-C (`interrupt`), curves.png and TensorBoard (`curves`). What the model predicts
comes from the task the caller gives, a `Task` (`translation_task`, `classify/task.py`): the data it
reads, the loss of a batch, and the validator that measures an epoch; the loop never asks which
task it trains.

Under torchrun every process runs this same loop on its own share of each update's batches; the
gradients are averaged by DistributedDataParallel, the numbers that decide what happens next (token
counts, losses, Ctrl-C, BLEU) are summed or gathered so every process takes the same decision, and
only the first process writes.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time

import torch
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from ..data import batches as data
from ..data.training_data import whole_updates
from ..models.build import build
from ..models.model_file import save_model
from ..runtime.device import describe, pick_device, pick_precision, precision_warning
from ..runtime.distributed import World
from ..runtime.interrupt import on_interrupt
from ..runtime.memory import RELEASE_EVERY, release_free_memory
from ..runtime.precision import DTYPES
from .curves import TrainingPictures
from .divergence import check_loss, check_scaler
from .final_model import choose_final_model
from .fine_tuning import starting_model
from .kept_models import keep_epoch
from .model_soup import soup_partners
from .run_dir import RunDir
from .schedule import Schedule
from .state import Progress, TrainState
from .stopping import reason_to_stop, validates_after
from .task import Task
from .validation import report, training_line

log = logging.getLogger("seq2seq")


class Trainer:
    def __init__(self, task: Task, run: RunDir, world: World | None = None):
        world = world or World()
        self.task, cfg = task, task.cfg
        self.cfg, self.run, self.world = cfg, run, world
        tc = cfg.train
        self.device = torch.device(world.device) if world.size > 1 else pick_device(tc.device, "train.device")
        self.precision = pick_precision(tc.precision, self.device)
        self.autocast = functools.partial(
            torch.autocast,
            self.device.type,
            dtype=DTYPES[self.precision],
            enabled=self.precision != "fp32",
        )
        self.pictures = TrainingPictures(run.path, tc.tensorboard, active=world.is_main)
        # a resumed run keeps the tokenizer its last.pt holds, a fine-tuning run its train.init_from
        # file's: the ids its model learned
        self.start = run.resume_from or starting_model(cfg)
        saved = self.start.vocab() if self.start else None
        with world.first():  # the first process builds the tokenizer and corpus caches; others reuse them
            self.tokenizer, self.corpora, self.validator = self.task.load(world, self.autocast, saved)
        self.model = build(cfg, len(self.tokenizer.src), len(self.tokenizer.tgt)).to(self.device)
        log.info(f"model: {sum(p.numel() for p in self.model.parameters()):,} parameters")
        self.soup_partners = soup_partners(cfg, self.model, self.tokenizer)  # checked before training
        chosen = " (auto)" if tc.precision == "auto" else ""
        log.info(f"training on {describe(self.device)} in {self.precision}{chosen}")
        if warning := precision_warning(tc.precision, self.device, "train.precision"):
            log.warning(warning)
        if tc.compile:
            self.model.compile_steps(cuda_graphs=self.device.type == "cuda")
        self.ddp = self.model if world.size == 1 else DistributedDataParallel(self.model)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=tc.lr, betas=tc.betas, weight_decay=tc.weight_decay, fused=True
        )
        self.schedule = Schedule(self.optimizer, tc)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        self.state = TrainState(self.optimizer, self.schedule, self.scaler, world)
        self.state.data_digests = run.data_digests
        # a signal sets `stop_requested` in this process at any moment; `interrupted` becomes true
        # only where all processes agree on it (in update()), so that all stop after the same update
        self.stop_requested = False
        self.interrupted = False

    @property
    def progress(self) -> Progress:
        return self.state.progress

    # ------------------------------------------------------------ the loop

    def fit(self) -> Progress:
        tc = self.cfg.train
        with on_interrupt(self._interrupt, escalate=self.world.size == 1):
            while self.progress.epoch < tc.epochs and not self._stopping_early():
                self.train_epoch()
                if self.interrupted:
                    self.save_last()
                    raise KeyboardInterrupt
                self.end_epoch()
            self.choose_final_model()
        return self.progress

    def train_epoch(self) -> None:
        p, tc, world = self.progress, self.cfg.train, self.world
        with world.first():  # the first process writes a sampled segmentation (data.sampling_alpha)
            corpus = self.corpora.for_epoch(p.epoch, resuming=p.position > 0)
        if self.device.type == "cuda" and world.size == 1 and p.epoch + 1 < tc.epochs:
            self.corpora.prepare(p.epoch + 1)  # the next segmentation while the GPU trains on this one
        plan = data.epoch_batches(corpus.src_lengths, corpus.tgt_lengths, self.cfg.data, tc.seed, p.epoch)
        per_update = tc.accumulate * world.size
        usable = whole_updates(len(plan), per_update)
        bar = tqdm(
            total=usable,
            initial=p.position,
            desc=f"epoch {p.epoch + 1}",
            unit="batch",
            dynamic_ncols=True,
            leave=False,
            disable=not world.is_main,
        )
        self.model.train()
        while p.position < usable and not self.interrupted:
            group = plan[p.position : p.position + per_update]
            start = time.perf_counter()
            loss, tokens = self.update([corpus.batch(b) for b in group[world.rank :: world.size]])
            p.epoch_seconds += time.perf_counter() - start
            p.position, p.step = p.position + len(group), p.step + 1
            self.schedule.after_update(p.epoch + p.position / usable)
            p.epoch_loss, p.epoch_tokens = p.epoch_loss + loss, p.epoch_tokens + tokens
            bar.update(len(group))
            bar.set_postfix(
                loss=f"{loss / tokens:.3f}",
                lr=f"{self._lr():.2e}",
                tok_s=f"{p.epoch_tokens / max(p.epoch_seconds, 1e-9):.0f}",
                refresh=False,
            )
            if p.step % RELEASE_EVERY == 0:
                release_free_memory()
            if p.step % tc.log_every == 0:
                log.debug(
                    f"epoch {p.epoch + 1} update {p.step}: loss {loss / tokens:.4f} lr {self._lr():.3g}"
                )
                self.pictures.update(
                    p.step, loss / tokens, self._lr(), p.epoch_tokens / max(p.epoch_seconds, 1e-9)
                )
            if tc.checkpoint_every and p.step % tc.checkpoint_every == 0:
                self.save_last()
        bar.close()

    def update(self, batches: list) -> tuple[float, int]:
        """One optimizer update over this process's batches (several: gradient accumulation). The
        loss is normalized by the target tokens of the whole update, over all processes, so N
        processes compute the gradient one process would over all their batches. Returns the
        summed loss and the tokens, over all processes."""
        tc, world = self.cfg.train, self.world
        local_tokens = sum(b.n_tgt_tokens for b in batches)
        total_tokens, requested = world.sum([local_tokens, float(self.stop_requested)])
        self.interrupted = requested > 0  # a Ctrl-C in any process stops them all after this update
        self.optimizer.zero_grad(set_to_none=True)
        summed = 0.0
        for i, batch in enumerate(batches):
            # DDP averages gradients over processes: scale by their number to sum instead
            with self._sync_gradients(last=i == len(batches) - 1):
                loss = self.batch_loss(batch.to(self.device))
                self.scaler.scale(loss * world.size / total_tokens).backward()
            summed += float(loss.detach())
        (summed,) = world.sum([summed])
        where = f"update {self.progress.step + 1} (epoch {self.progress.epoch + 1})"
        check_loss(summed, where, self.precision)
        if tc.clip_grad_norm:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), tc.clip_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        check_scaler(self.scaler, where)
        return summed, int(total_tokens)

    def batch_loss(self, batch) -> Tensor:
        """The summed training loss of one batch, its targets counted in `n_tgt_tokens`: the one
        place the loop meets what the model predicts, which the task knows."""
        return self.task.batch_loss(self.ddp, batch, self.autocast)

    def _sync_gradients(self, last: bool):
        """DDP averages gradients at the backward of an update's last batch only."""
        return contextlib.nullcontext() if last or self.ddp is self.model else self.ddp.no_sync()

    def end_epoch(self) -> None:
        """Validate (train.validate_every), keep the epoch, save last.pt."""
        p = self.progress
        if validates_after(p, self.cfg.train, self._hours()):
            self.validate()
        else:
            log.info(training_line(p, self.task.unit))
        p.next_epoch()
        if self.world.is_main:  # before last.pt: a run killed between the two redoes this epoch
            keep_epoch(self.run, p.epoch, self.model, self.cfg, self.tokenizer)
        self.save_last()
        self.corpora.drop_sampled()  # after last.pt: a run resumed before needs this epoch's copy

    def validate(self) -> None:
        """Validate the epoch just trained: log it, keep the best model, adjust the learning rate."""
        p, metric = self.progress, self.validator.metric
        result = self.validator.validate(self.model)
        release_free_memory()  # what decoding the validation set allocated
        row = report(result, p, self._lr(), self.state.elapsed(), self.task.unit)
        if p.record_validation(row, result.score) and self.world.is_main:
            save_model(self.run.best, self.model, self.cfg, self.tokenizer)
            log.info(f"new best {metric} {result.score:.2f}: saved {self.run.best}")
        self.schedule.after_validation(result.score)
        if self.world.is_main:
            self.run.write_validations(p.history)
        self.pictures.validation(p.history, result.details)

    def choose_final_model(self) -> None:
        """best.pt becomes the best of the candidates and search settings on validation."""
        chosen = choose_final_model(
            self.run,
            self.model,
            self.cfg,
            self.tokenizer,
            self.validator,
            self.progress,
            self.state.elapsed(),
            self.soup_partners,
        )
        if chosen:
            if self.world.is_main:
                self.run.write_validations(self.progress.history)
            self.save_last()  # a resumed run continues from the choice: its score and history

    def save_last(self) -> None:
        self.state.save_last(self.run.last, self.model, self.cfg, self.tokenizer)

    def close(self) -> None:
        """Close the training pictures and the corpus files."""
        self.pictures.close()
        self.corpora.close()

    # ------------------------------------------------------------ helpers

    def _hours(self) -> float:
        """What the run has taken so far, its earlier processes included, alike in every process."""
        return self.world.sum([self.state.elapsed()])[0] / self.world.size / 3600

    def _stopping_early(self) -> bool:
        reason = reason_to_stop(self.progress, self.cfg.train, self._hours(), self.validator.metric)
        if reason:
            log.info(reason)
        return reason is not None

    def _interrupt(self) -> None:
        self.stop_requested = True

    def _lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]
