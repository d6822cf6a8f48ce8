"""`train(cfg)`: build everything from the config, then loop over epochs: update, validate, save.

Everything a run needs to continue exactly where it stopped (weights, optimizer, scheduler, every
random generator, the position inside the epoch's batch order, the validation history) is saved
atomically in last.pt at every epoch end and every `train.checkpoint_every` updates.

Under torchrun every process runs this same loop on its own share of each update's batches; the
gradients are averaged by DistributedDataParallel, the numbers that decide what happens next (token
counts, losses, Ctrl-C, BLEU) are summed or gathered so every process takes the same decision, and
only the first process writes.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import functools
import logging
import math
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from . import data, evaluate, tokenizer
from .checkpoint import save_model
from .config import Config, TrainConfig, save_config
from .distributed import World
from .errors import UserError
from .loss import sequence_loss
from .model import Seq2Seq, build_model
from .run_dir import RunDir
from .tokenizer import PAD_ID

log = logging.getLogger("seq2seq")


@dataclass
class Progress:
    """Counters that say where a run is; saved in last.pt."""

    epoch: int = 0  # the epoch in progress (0-based)
    position: int = 0  # batches of this epoch already trained on
    step: int = 0  # optimizer updates so far
    epoch_loss: float = 0.0  # summed training loss of this epoch so far
    epoch_tokens: int = 0
    epoch_seconds: float = 0.0  # pure training time of this epoch so far
    best_bleu: float = float("-inf")
    bad_validations: int = 0  # validations since BLEU last improved
    elapsed: float = 0.0  # seconds of earlier processes of this run
    history: list[dict] = field(default_factory=list)  # one row per validation


class Trainer:
    def __init__(self, cfg: Config, run: RunDir, world: World | None = None):
        world = world or World()
        self.cfg, self.run, self.world = cfg, run, world
        tc = cfg.train
        self.device = torch.device(world.device) if world.size > 1 else _device(tc.device)
        self.autocast = functools.partial(
            torch.autocast,
            self.device.type,
            dtype=evaluate.DTYPES[tc.precision],
            enabled=tc.precision != "fp32",
        )
        with world.first():  # the first process builds the tokenizer and corpus caches; others reuse them
            self.tokenizer, self.train_data, self.valid_data, self.valid_src, self.valid_ref = _load_data(cfg)
        self.model: Seq2Seq = build_model(cfg.model, len(self.tokenizer.src), len(self.tokenizer.tgt)).to(
            self.device
        )
        log.info(f"model: {sum(p.numel() for p in self.model.parameters()):,} parameters")
        self.ddp = self.model if world.size == 1 else DistributedDataParallel(self.model)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=tc.lr, betas=tc.betas, weight_decay=tc.weight_decay, fused=True
        )
        self.scheduler = _scheduler(self.optimizer, tc)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=tc.precision == "fp16")
        if tc.precision == "fp16" and self.device.type == "cpu":
            log.warning("fp16 on CPU is slow (no fp16 matrix units); train.precision: bf16 is the fast one")
        self.progress = Progress()
        self.started = time.monotonic()
        # a signal sets `stop_requested` in this process at any moment; `interrupted` becomes true
        # only where all processes agree on it (in update()), so that all stop after the same update
        self.stop_requested = False
        self.interrupted = False
        self.saved_step: int | None = None  # the update that last.pt holds

    # ------------------------------------------------------------ the loop

    def fit(self) -> Progress:
        tc = self.cfg.train
        with _on_interrupt(self._interrupt, escalate=self.world.size == 1):
            while self.progress.epoch < tc.epochs and not self._stopping_early():
                self.train_epoch()
                if self.interrupted:
                    self.save_last()
                    raise KeyboardInterrupt
                self.end_epoch()
        return self.progress

    def train_epoch(self) -> None:
        p, tc, world = self.progress, self.cfg.train, self.world
        plan = data.epoch_batches(
            self.train_data.src_lengths, self.train_data.tgt_lengths, self.cfg.data, tc.seed, p.epoch
        )
        usable = len(plan) - len(plan) % world.size  # every process gets as many batches
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
            group = plan[p.position : p.position + tc.accumulate * world.size]
            start = time.perf_counter()
            loss, tokens = self.update([self.train_data.batch(b) for b in group[world.rank :: world.size]])
            p.epoch_seconds += time.perf_counter() - start
            p.position, p.step = p.position + len(group), p.step + 1
            p.epoch_loss, p.epoch_tokens = p.epoch_loss + loss, p.epoch_tokens + tokens
            bar.update(len(group))
            bar.set_postfix(
                loss=f"{loss / tokens:.3f}",
                lr=f"{self._lr():.2e}",
                tok_s=f"{p.epoch_tokens / max(p.epoch_seconds, 1e-9):.0f}",
                refresh=False,
            )
            if p.step % RELEASE_EVERY == 0:
                _release_free_memory()
            if p.step % tc.log_every == 0:
                log.debug(
                    f"epoch {p.epoch + 1} update {p.step}: loss {loss / tokens:.4f} lr {self._lr():.3g}"
                )
            if tc.checkpoint_every and p.step % tc.checkpoint_every == 0:
                self.save_last()
        bar.close()

    def update(self, batches: list[data.Batch]) -> tuple[float, int]:
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
            batch = batch.to(self.device)
            real = batch.tgt_out != PAD_ID
            # DDP averages gradients over processes: scale by their number to sum instead
            with self._sync_gradients(last=i == len(batches) - 1):
                with self.autocast():
                    logits = self.ddp(batch.src, batch.src_lengths, batch.tgt_in, real)  # (N, V)
                loss, _ = sequence_loss(logits, batch.tgt_out[real], tc.label_smoothing)
                self.scaler.scale(loss * world.size / total_tokens).backward()
            summed += float(loss.detach())
        (summed,) = world.sum([summed])
        where = f"update {self.progress.step + 1} (epoch {self.progress.epoch + 1})"
        if not math.isfinite(summed):
            fix = (
                "fp16 holds values up to 65504 only: use train.precision: bf16 (fp32's range) or fp32"
                if tc.precision == "fp16"
                else "Lower train.lr, keep train.clip_grad_norm on, or use train.precision: fp32"
            )
            raise UserError(
                f"training loss became {summed} at {where}; stopped, and last.pt is left as it was. {fix}"
            )
        if tc.clip_grad_norm:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), tc.clip_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.scaler.is_enabled() and self.scaler.get_scale() < MIN_FP16_SCALE:
            raise UserError(
                f"fp16 gradients kept overflowing up to {where}: the gradient scaler skipped those "
                f"updates and fell to {self.scaler.get_scale():.1e}; stopped, and last.pt is left as it was. "
                "Use train.precision: bf16 (fp32's range) or fp32"
            )
        if tc.schedule == "warmup_decay":
            self.scheduler.step()
        return summed, int(total_tokens)

    def _sync_gradients(self, last: bool):
        """DDP averages gradients at the backward of an update's last batch only."""
        return contextlib.nullcontext() if last or self.ddp is self.model else self.ddp.no_sync()

    def end_epoch(self) -> None:
        """Validate, log, keep the best model, adjust the learning rate, save last.pt."""
        p, tc = self.progress, self.cfg.train
        row = self.validate()
        _release_free_memory()  # what decoding the validation set allocated
        improved = row["bleu"] > p.best_bleu
        p.best_bleu, p.bad_validations = (
            (row["bleu"], 0) if improved else (p.best_bleu, p.bad_validations + 1)
        )
        if improved and self.world.is_main:
            save_model(self.run.best, self.model, self.cfg, self.tokenizer)
            log.info(f"new best BLEU {row['bleu']:.2f}: saved {self.run.best}")
        if tc.schedule == "plateau":
            self.scheduler.step(row["bleu"])
        p.history.append(row)
        if self.world.is_main:
            self.run.write_validations(p.history)
        p.epoch, p.position = p.epoch + 1, 0
        p.epoch_loss, p.epoch_tokens, p.epoch_seconds = 0.0, 0, 0.0
        self.save_last()

    def validate(self) -> dict:
        """Validation loss and BLEU; each process takes a share of the sentences and the results
        are gathered, so BLEU is the same as one process would find."""
        p, cfg, world = self.progress, self.cfg, self.world
        start = time.perf_counter()
        lengths = np.maximum(self.valid_data.src_lengths, self.valid_data.tgt_lengths) + 1
        batches = data.sorted_batches(lengths, cfg.data.batch_tokens, cfg.data.batch_sentences)
        total, tokens = world.sum(
            list(
                evaluate.validation_loss(
                    self.model, self.valid_data, batches[world.rank :: world.size], self.autocast
                )
            )
        )
        nll = total / max(tokens, 1)
        decoder = evaluate.inference_copy(self.model, cfg.train.precision)
        share = math.ceil(len(self.valid_src) / world.size)
        mine = self.valid_src[world.rank * share : (world.rank + 1) * share]
        translations = [
            t
            for part in world.gather(evaluate.translate(decoder, self.tokenizer, mine, cfg.search))
            for t in part
        ]
        scores = evaluate.score([t.text for t in translations], self.valid_ref, with_ter=False)
        train_loss = p.epoch_loss / max(p.epoch_tokens, 1)
        row = {
            "epoch": p.epoch + 1,
            "step": p.step,
            "train_loss": round(train_loss, 4),
            "valid_loss": round(nll, 4),
            "valid_ppl": round(evaluate.perplexity(nll), 3),
            "bleu": round(scores.bleu, 2),
            "chrf": round(scores.chrf, 2),
            "lr": self._lr(),
            "train_tokens": p.epoch_tokens,
            "train_seconds": round(p.epoch_seconds, 1),
            "elapsed_seconds": round(self._elapsed(), 1),
        }
        log.info(
            f"epoch {row['epoch']} (update {p.step}): train loss {train_loss:.3f}, "
            f"{p.epoch_tokens / max(p.epoch_seconds, 1e-9):,.0f} target tokens/s over "
            f"{p.epoch_seconds:.1f} s of training; validation loss {nll:.3f}, ppl {row['valid_ppl']:.2f}, "
            f"decoded in {time.perf_counter() - start:.1f} s"
        )
        log.info(scores.lines["bleu"])
        log.info(scores.lines["chrf"])
        for i, t in enumerate(translations[: cfg.train.examples]):
            log.info(
                f"example {i + 1}\n  source:     {t.source}\n  reference:  {self.valid_ref[i]}\n"
                f"  hypothesis: {t.text}"
            )
        self.model.train()
        return row

    # ------------------------------------------------------------ state

    def state_dict(self) -> dict:
        """The training state; `rng` holds every process's random generators, in rank order."""
        return {
            "progress": dataclasses.asdict(self.progress) | {"elapsed": self._elapsed()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": self.world.gather(_rng_state()),
        }

    def load_state_dict(self, state: dict, weights: dict) -> None:
        self.model.load_state_dict(weights)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        if len(state["rng"]) != self.world.size:
            raise UserError(
                f"this run was saved by {len(state['rng'])} process(es); resume it with the same number "
                f"(now {self.world.size}): each one's random generators and share of the data must match"
            )
        _set_rng_state(state["rng"][self.world.rank])
        self.progress = Progress(**state["progress"])
        self.saved_step = self.progress.step
        self.started = time.monotonic()

    def save_last(self) -> None:
        state = self.state_dict()  # every process takes part: it gathers their random generators
        if self.world.is_main:
            save_model(self.run.last, self.model, self.cfg, self.tokenizer, state)
        self.saved_step = self.progress.step

    # ------------------------------------------------------------ helpers

    def _stopping_early(self) -> bool:
        patience = self.cfg.train.early_stopping_patience
        if patience and self.progress.bad_validations >= patience:
            log.info(
                f"early stopping: no BLEU gain in {patience} validations (best {self.progress.best_bleu:.2f})"
            )
            return True
        return False

    def _interrupt(self) -> None:
        self.stop_requested = True

    def _lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def _elapsed(self) -> float:
        return self.progress.elapsed + time.monotonic() - self.started


# GradScaler halves its scale at each update whose fp16 gradients overflow (and skips that update):
# from 2**16 to below 2**-8 takes at least 24 of them, with few good updates between: nothing learns.
MIN_FP16_SCALE = 2.0**-8


def train(cfg: Config, resume: bool = False) -> Progress:
    """Train from a config; with `resume`, continue the run in cfg.run_dir from its last.pt.
    Started by torchrun, this process is one of several data-parallel workers."""
    world = World.from_environment(_device(cfg.train.device).type)
    try:
        return _train(cfg, resume, world)
    finally:
        world.close()  # a process group left alive at exit can abort the interpreter


def _train(cfg: Config, resume: bool, world: World) -> Progress:
    if not world.is_main:
        log.setLevel(logging.WARNING)
    run = RunDir.check(cfg, resume)
    world.barrier()  # every process has looked at the run directory before the first one writes to it
    with world.first():
        if world.is_main:
            run.create()
    _seed(cfg.train.seed + world.rank)  # each process its own dropout masks
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    trainer = Trainer(cfg, run, world)
    if run.resume_from is not None:
        trainer.load_state_dict(run.resume_from["train_state"], run.resume_from["model"])
        p = trainer.progress
        log.info(f"resuming {run.path} at epoch {p.epoch + 1}, batch {p.position}, update {p.step}")
    if world.is_main:
        save_config(cfg, run.path / "config.yaml")
    try:
        progress = trainer.fit()
        world.barrier()  # every process is done with the others before the group goes away
    except KeyboardInterrupt:
        step, saved = trainer.progress.step, trainer.saved_step
        if saved == step:
            log.info(
                f"interrupted: saved {run.last} at update {step}; continue with the same command and --resume"
            )
        else:  # a second Ctrl-C stopped an update midway, with no save
            held = f"{run.last} holds update {saved}" if saved is not None else "nothing was saved yet"
            log.info(f"interrupted at once in update {step + 1}; {held}; continue with --resume")
        raise
    log.info(f"done: best validation BLEU {progress.best_bleu:.2f}, model in {run.best}")
    return progress


def _load_data(cfg: Config):
    d, cache = cfg.data, Path(cfg.cache_dir)
    digest = data.check_parallel(d.train_src, d.train_tgt)
    data.check_parallel(d.valid_src, d.valid_tgt)  # a bad path fails now, not after the tokenizer
    tok = tokenizer.train_or_load(
        cfg.tokenizer,
        Path(d.train_src),
        Path(d.train_tgt),
        digest,
        cache,
        log.info,
        shared_vocab=cfg.model.tie_src_tgt_embeddings,
    )
    train_data = data.encode_corpus(Path(d.train_src), Path(d.train_tgt), digest, tok, cache)
    valid_data = data.load_corpus(d.valid_src, d.valid_tgt, tok, cache)
    valid_src, valid_ref = data.read_lines(d.valid_src), data.read_lines(d.valid_tgt)
    usable = int(((train_data.src_lengths <= d.max_len) & (train_data.tgt_lengths <= d.max_len)).sum())
    if usable == 0:
        raise UserError(
            f"all {len(train_data):,} training pairs are longer than data.max_len "
            f"({d.max_len} pieces); raise data.max_len"
        )
    log.info(
        f"data: {len(train_data):,} training pairs ({len(train_data) - usable:,} longer than "
        f"{d.max_len} pieces skipped), {len(valid_data):,} validation pairs"
    )
    return tok, train_data, valid_data, valid_src, valid_ref


def _scheduler(optimizer: torch.optim.Optimizer, tc: TrainConfig):
    if tc.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=tc.plateau_factor, patience=tc.plateau_patience, min_lr=tc.min_lr
        )
    if tc.schedule == "warmup_decay":  # linear warmup, then inverse square root decay
        warmup, floor = tc.warmup_steps, tc.min_lr / tc.lr
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: max(floor, min((step + 1) / warmup, (warmup / (step + 1)) ** 0.5))
        )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("train.device is cuda but PyTorch sees no GPU; use train.device: cpu or auto")
    return torch.device(name)


# Batches of varying shape leave the C heap fragmented: freed activation memory stays resident in
# holes between live blocks, and the process's memory creeps up over an epoch. Returning the free
# pages to the system every few dozen updates costs a few milliseconds.
RELEASE_EVERY = 50


@functools.cache
def _libc():
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc (macOS, musl): nothing to do
        return None


def _release_free_memory() -> None:
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def _seed(seed: int) -> None:
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
    return tuple(_as_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x


@contextlib.contextmanager
def _on_interrupt(handler, escalate: bool):
    """Ctrl-C (SIGINT) or SIGTERM (what torchrun and job schedulers send to stop a worker) asks the
    loop to save and stop after the current update. With `escalate`, a second one interrupts at
    once; under torchrun every worker gets the signal twice (from the terminal and from torchrun),
    so there it never escalates, and torchrun kills a worker that does not stop in time."""
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.getsignal(s) for s in signals}

    def restore():
        for s in signals:
            signal.signal(s, previous[s] if previous[s] is not None else signal.SIG_DFL)

    def first(signum, frame):
        handler()
        if escalate:
            restore()

    for s in signals:
        signal.signal(s, first)
    try:
        yield
    finally:
        restore()
