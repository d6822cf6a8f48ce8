"""`seq2seq train CONFIG [--set KEY=VALUE]... [--resume [--accept-changed-data]]`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from .options import add_debug

if TYPE_CHECKING:
    from ..config.load import Config
    from ..training.state import Progress
    from ..training.task import Task

log = logging.getLogger("seq2seq")


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a model from a YAML config (first the runs its requires: names, if any)"
    )
    p.add_argument("config", help="YAML config file, e.g. configs/toy.yaml")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a config value (repeatable), e.g. --set train.lr=0.001",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in run_dir from its last.pt")
    p.add_argument(
        "--accept-changed-data",
        action="store_true",
        help="with --resume: go on although a data file's content differs from what the run trained on",
    )
    add_debug(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..config.load import load_config
    from ..training.prerequisites import required_runs
    from ..training.run_dir import holds_run

    cfg = load_config(args.config, args.overrides)
    try:
        for path, required in required_runs(args.config, cfg):
            resume = holds_run(Path(required.run_dir))
            done = "resuming (or, if it is finished, checking)" if resume else "training"
            log.info(f"{args.config} requires {path}: {done} its run in {required.run_dir}")
            train(required, resume=resume)
        train(cfg, resume=args.resume, accept_changed_data=args.accept_changed_data)
    except KeyboardInterrupt:
        return 130
    return 0


def task_for(cfg: Config) -> Task:
    """The task the config names, built once; it settles the config (a classifier's label set)."""
    from ..classify.task import ClassificationTask
    from ..training.translation_task import TranslationTask

    return {"translate": TranslationTask, "classify": ClassificationTask}[cfg.task](cfg)


def train(cfg: Config, resume: bool = False, accept_changed_data: bool = False) -> Progress:
    """`seq2seq train` in Python: train the config's task (training/run.py)."""
    from ..training.run import run_training

    return run_training(task_for(cfg), resume, accept_changed_data)
