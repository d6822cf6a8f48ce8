"""`run_training(task)`: start a training run, new or resumed, in this process (one of several
under torchrun): check and create the run directory, seed, restore last.pt, and hand over to the
`Trainer` (train.py)."""

from __future__ import annotations

import logging

import torch

from ..config.load import save_config
from ..runtime.device import pick_device
from ..runtime.distributed import World
from .run_dir import RunDir
from .state import Progress, continue_stopped_run, seed
from .task import Task
from .train import Trainer

log = logging.getLogger("seq2seq")


def run_training(task: Task, resume: bool = False, accept_changed_data: bool = False) -> Progress:
    """Train the task's model as its config says; with `resume`, continue the run in its run_dir
    from last.pt (with `accept_changed_data`, even if a data file's content changed). Started by
    torchrun, this process is one of several data-parallel workers."""
    world = World.from_environment(pick_device(task.cfg.train.device, "train.device").type)
    try:
        return _train(task, resume, world, accept_changed_data)
    finally:
        world.close()  # a process group left alive at exit can abort the interpreter


def _train(task: Task, resume: bool, world: World, accept_changed_data: bool) -> Progress:
    if not world.is_main:
        log.setLevel(logging.WARNING)
    cfg = task.cfg
    run = RunDir.check(cfg, resume, accept_changed_data)
    world.barrier()  # every process has looked at the run directory before the first one writes to it
    with world.first():
        if world.is_main:
            run.create()
    seed(cfg.train.seed + world.rank)  # each process its own dropout masks
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    trainer = Trainer(task, run, world)
    try:
        if trainer.start is not None:  # last.pt, or the model file a fine-tuning run starts from
            trainer.model.load_state_dict(trainer.start.weights)
        if run.resume_from is not None:
            trainer.state.load_state_dict(run.resume_from.train_state)
            p = trainer.progress
            log.info(f"resuming {run.path} at epoch {p.epoch + 1}, batch {p.position}, update {p.step}")
            note = continue_stopped_run(p, run.resume_from.cfg().train, cfg.train)
            if note:
                log.info(note)
        if world.is_main:
            save_config(cfg, run.path / "config.yaml")
        progress = trainer.fit()
        world.barrier()  # every process is done with the others before the group goes away
    except KeyboardInterrupt:
        log.info(trainer.state.interrupted(run.last))
        raise
    finally:
        trainer.close()
    if progress.chosen:  # the end of training chose best.pt: its figure, not the epochs' best
        log.info(f"done: {run.best} holds {progress.chosen}, chosen on the validation set")
    else:
        log.info(
            f"done: best validation {trainer.validator.metric} {progress.best_score:.2f}, model in {run.best}"
        )
    return progress
