"""A run's directory: refuse to clobber another run, check a resume, hold the log and the table.

Layout: config.yaml (resolved), train.log, validations.tsv, best.pt, last.pt, and with
train.keep_last epochN.pt of the last epochs (and averaged.pt with train.average_kept).
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..config.load import Config, flatten, to_dict
from ..errors import UserError
from ..models.model_file import ModelFile

# keys that may differ when resuming: they do not change what the run computes up to now. The
# device says where, not what: resumed on the same machine with `auto` for `cpu` (or the reverse)
# a run is bit-identical; moved between CPU and GPU it continues with the other device's rounding
# and random generator.
SAFE_TO_CHANGE = (
    "run_dir",  # where the run is, not what it is: a run may be moved or copied
    "requires",  # the runs trained before this one; their models are compared by content
    "data.src_lang",  # read by translate --document only
    "train.device",
    "train.compile",
    "train.epochs",
    "train.early_stopping_patience",
    "train.max_hours",
    "train.validate_every",
    "train.cooldown_epochs",  # like train.epochs, it changes the rate of the epochs still to come
    "train.checkpoint_every",
    "train.keep_last",
    "train.average_kept",
    "train.average_with",  # like average_kept, what the end of the run weighs
    "train.log_every",
    "train.examples",
    "train.threads",
    "train.tensorboard",
    "search.",
    "cache_dir",
)
# the data files: a run is tied to their content, not their paths (last.pt keeps each one's
# SHA-256), so it may be resumed from another working directory or with the files moved
DATA_FILES = (
    "data.train_src",
    "data.train_tgt",
    "data.valid_src",
    "data.valid_tgt",
    "data.distill_from",  # the teacher's model file (synthetic_pairs.py)
    "data.back_translate_from",  # the reverse model's file (synthetic_pairs.py)
    "data.monolingual_tgt",
    "train.init_from",  # the model file a fine-tuning run starts from (fine_tuning.py)
    "train.teachers",  # the word-level teachers' model files (teachers.py)
    "classify.train_labels",
    "classify.valid_labels",
)


@dataclass
class RunDir:
    path: Path
    resume_from: ModelFile | None  # last.pt when resuming
    data_digests: dict[str, str] = field(default_factory=dict)  # DATA_FILES' SHA-256, for last.pt

    @property
    def best(self) -> Path:
        return self.path / "best.pt"

    @property
    def last(self) -> Path:
        return self.path / "last.pt"

    @property
    def averaged(self) -> Path:
        return self.path / "averaged.pt"

    def epoch(self, number: int) -> Path:
        """The model at the end of epoch `number` (1-based), kept when train.keep_last is set."""
        return self.path / f"epoch{number}.pt"

    @classmethod
    def open(cls, cfg: Config, resume: bool) -> RunDir:
        """Check, then create (a single process does both; in distributed training every process
        checks and only the first one creates)."""
        run = cls.check(cfg, resume)
        run.create()
        return run

    @classmethod
    def check(cls, cfg: Config, resume: bool, accept_changed_data: bool = False) -> RunDir:
        """Refuse to clobber another run; when resuming, load last.pt and refuse a config that
        changes the run, or data files whose content changed (unless `accept_changed_data`).
        Reads only."""
        path = Path(cfg.run_dir)
        resume_from = None
        digests = data_digests(cfg)
        if path.exists() and not path.is_dir():
            raise UserError(f"run_dir {path} is a file; choose a directory path for run_dir")
        if holds_run(path):
            if not resume:
                raise UserError(
                    f"run directory {path} already holds a run; continue it with --resume, "
                    "or choose another one with --set run_dir=NEW_DIR"
                )
            if (path / "last.pt").exists():
                resume_from = ModelFile.read(path / "last.pt")
                if resume_from.train_state is None:
                    raise UserError(f"{path / 'last.pt'} holds no training state; cannot resume from it")
                state = resume_from.train_state
                saved_digests = state.get("data_digests")  # None in last.pt of older versions
                _check_same_run(resume_from.cfg(), cfg, path, saved_digests is None)
                if saved_digests is not None and not accept_changed_data:
                    _check_same_data(saved_digests, digests, cfg, path)
                _check_same_threads(state.get("threads"), cfg, path)
        return cls(path, resume_from, digests)

    def create(self) -> None:
        """Make the directory, check that it is writable, log to train.log, and remove the
        temporary files of a save that a killed process left half-written."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            raise UserError(
                f"cannot write to run directory {self.path} ({e.strerror or e}); choose a writable run_dir"
            ) from None
        for stale in self.path.glob(".*.pt.*.tmp"):
            stale.unlink(missing_ok=True)
        _log_to(self.path / "train.log")

    def write_validations(self, rows: list[dict]) -> None:
        """Rewrite validations.tsv from the saved history (atomic), so that after a resume it
        never holds rows of validations that the checkpoint does not know about. The columns are
        the rows' keys: the training figures around the task's validation metrics."""
        buf = io.StringIO()
        columns = list(dict.fromkeys(k for row in rows for k in row))  # rows of older versions have fewer
        writer = csv.DictWriter(buf, fieldnames=columns, delimiter="\t", lineterminator="\n", restval="")
        writer.writeheader()
        writer.writerows(rows)
        tmp = self.path / ".validations.tsv.tmp"
        tmp.write_text(buf.getvalue(), encoding="utf-8")
        os.replace(tmp, self.path / "validations.tsv")


def holds_run(path: Path) -> bool:
    """Whether `path` holds a run. A train.log alone is what a run that failed while setting up
    (bad data, tokenizer) leaves: no run to protect, and refusing it would turn the corrected
    command into an error."""
    return path.is_dir() and any(p.name != "train.log" for p in path.iterdir())


def data_digests(cfg: Config) -> dict[str, str]:
    """The SHA-256 of each data file the config names (DATA_FILES), by key; of a list of files
    (data.distill_from's ensemble), of their contents in order. A file that is not there or cannot
    be read has none: loading the data says what is wrong with it."""
    keys, digests = flatten(to_dict(cfg)), {}
    for key in DATA_FILES:
        paths = keys.get(key) or []
        paths = [paths] if isinstance(paths, str) else paths
        if not paths or not all(Path(p).is_file() for p in paths):
            continue
        digest = hashlib.sha256()
        try:
            for p in paths:
                with open(p, "rb") as f:
                    while chunk := f.read(1 << 20):
                        digest.update(chunk)
        except OSError:
            continue
        digests[key] = digest.hexdigest()
    return digests


def _check_same_run(saved: Config, new: Config, path: Path, compare_data_paths: bool) -> None:
    """Every key but the safe ones must be as saved; data files are compared by content
    (`_check_same_data`), or by path for a last.pt of an older version that kept no digests."""
    old_keys, new_keys = flatten(to_dict(saved)), flatten(to_dict(new))
    safe = SAFE_TO_CHANGE if compare_data_paths else SAFE_TO_CHANGE + DATA_FILES
    changed = [
        k
        for k in sorted(set(old_keys) | set(new_keys))
        if old_keys.get(k) != new_keys.get(k) and not k.startswith(safe)
    ]
    if changed:
        listed = ", ".join(f"{k} ({old_keys.get(k)!r} -> {new_keys.get(k)!r})" for k in changed)
        raise UserError(
            f"cannot resume {path} with a config that changes the run: {listed}; "
            "restore those values or start a new run_dir"
        )


def _check_same_data(saved: dict[str, str], now: dict[str, str], cfg: Config, path: Path) -> None:
    keys = flatten(to_dict(cfg))
    for key in DATA_FILES:
        if key in now and saved.get(key) != now[key]:  # a missing file: the data loader says so
            named = keys.get(key)
            named = ", ".join(named) if isinstance(named, list) else named
            raise UserError(
                f"cannot resume {path}: {key} ({named or 'none'}) is not the content the run "
                "trained on (its SHA-256 differs); restore that file, start a new run_dir, or resume "
                "with --accept-changed-data to go on with the new content"
            )


def _check_same_threads(saved: int | None, cfg: Config, path: Path) -> None:
    """The sums inside a CPU's matrix products are split among its threads, so another thread count
    rounds differently and the resumed run would not be bit-identical to one never stopped.
    train.threads may change (e.g. from 0, torch's default, to the number that default was) as
    long as the count stays the same. (last.pt files of older versions do not record it.)"""
    if saved is None or cfg.train.device == "cuda":
        return
    now = cfg.train.threads or torch.get_num_threads()
    if now != saved:
        raise UserError(
            f"cannot resume {path} with {now} CPU threads: it trained with {saved}, and the run would "
            f"not continue bit-identically with another number; set train.threads={saved}"
        )


def _log_to(file: Path) -> None:
    logger = logging.getLogger("seq2seq")
    for handler in [h for h in logger.handlers if isinstance(h, logging.FileHandler)]:
        logger.removeHandler(handler)
        handler.close()
    handler = logging.FileHandler(file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
