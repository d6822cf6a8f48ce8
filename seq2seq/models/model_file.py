"""Model files: one self-contained, safely loadable file per model, written atomically.

A model file holds the weights, the resolved config (a classifier's label list included), the
SentencePiece model(s), the toolkit version and a format version; `last.pt` also holds the full
training state for exact resuming, and a file of `seq2seq export --int8` its int8 matrices beside
the other weights (int8.py). Only tensors and plain Python values go in, so loading uses
torch.load(weights_only=True) and never runs code from the file.
"""

from __future__ import annotations

import errno
import os
import pickle
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import __version__
from ..config.load import Config, config_from_dict, to_dict
from ..data.tokenizer import Tokenizer
from ..errors import UserError
from .build import build
from .int8 import Int8Weights, load_int8

FORMAT = "seq2seq-model"
FORMAT_VERSION = 2  # the newest this version reads: 1 the weights, 2 int8 matrices beside them


def atomic_save(obj: Any, path: str | Path) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over `path`:
    a crash or a full disk leaves either the old file or the new one, never half of one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            raise UserError(
                f"no space left on the disk while saving {path}; the previous "
                f"{path.name} is intact; free some space and resume"
            ) from None
        if isinstance(e, OSError):
            raise UserError(f"cannot save {path}: {e.strerror or e}; the previous file is intact") from None
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@dataclass
class ModelFile:
    """What a model file holds, read and written here only: the resolved config and the tokenizer
    as plain values, the weights, in last.pt the training state, in an int8 file the int8
    matrices. `source` names where it was read from (for messages)."""

    config: dict[str, Any]  # config.to_dict of the resolved config
    tokenizer: dict[str, torch.Tensor]  # Tokenizer.state()
    weights: dict[str, torch.Tensor]  # the model's state_dict(), less the int8 matrices
    train_state: dict | None = None  # TrainState.state_dict(): last.pt only
    toolkit_version: str = __version__
    source: str = field(default="", compare=False)
    int8: Int8Weights | None = None  # int8.int8_weights: files of export --int8 only

    @classmethod
    def of(
        cls, model: nn.Module, cfg: Config, tokenizer: Tokenizer, train_state: dict | None = None
    ) -> ModelFile:
        return cls(to_dict(cfg), tokenizer.state(), model.state_dict(), train_state)

    def write(self, path: str | Path) -> None:
        data = {
            "format": FORMAT,
            "format_version": 1 if self.int8 is None else 2,  # the oldest format that holds it
            "toolkit_version": self.toolkit_version,
            "config": self.config,
            "tokenizer": self.tokenizer,
            "model": self.weights,
        }
        if self.train_state is not None:
            data["train_state"] = self.train_state
        if self.int8 is not None:
            data["int8"] = self.int8
        atomic_save(data, path)

    @classmethod
    def read(cls, path: str | Path) -> ModelFile:
        """Read a model file safely; every way it can be wrong is one clear UserError."""
        data = _read(Path(path))
        try:
            return cls(
                data["config"],
                data["tokenizer"],
                data["model"],
                data.get("train_state"),
                data.get("toolkit_version", "unknown"),
                str(path),
                data.get("int8"),
            )
        except KeyError as e:
            raise UserError(
                f"{path} is a seq2seq model file without its {e.args[0]}; it cannot be used"
            ) from None

    def cfg(self) -> Config:
        try:
            return config_from_dict(self.config)
        except (UserError, KeyError, TypeError) as e:
            raise UserError(f"{self.source} holds a config this version cannot read ({e})") from None

    def vocab(self) -> Tokenizer:
        return Tokenizer.from_state(self.tokenizer)

    def build(self) -> tuple[nn.Module, Config, Tokenizer]:
        """The model (a Seq2Seq or, for task: classify, a TextClassifier), its config and tokenizer;
        from an int8 file, the model with its int8 layers (CPU only)."""
        cfg, tokenizer = self.cfg(), self.vocab()
        model = build(cfg, len(tokenizer.src), len(tokenizer.tgt))
        try:
            if self.int8 is None:
                model.load_state_dict(self.weights)
            else:
                model = load_int8(model, self.weights, self.int8)
        except (RuntimeError, KeyError, ValueError) as e:
            raise UserError(
                f"{self.source}: the weights do not fit the model its config describes ({e})"
            ) from None
        return model, cfg, tokenizer


def save_model(
    path: str | Path, model: nn.Module, cfg: Config, tokenizer: Tokenizer, train_state: dict | None = None
) -> None:
    ModelFile.of(model, cfg, tokenizer, train_state).write(path)


def load_model(path: str | Path) -> tuple[nn.Module, Config, Tokenizer]:
    """Model (eval mode, CPU), its config and tokenizer from a model file."""
    model, cfg, tokenizer = ModelFile.read(path).build()
    return model.eval(), cfg, tokenizer


def named_model_file(key: str, path: Path, use: str, missing: str) -> ModelFile:
    """The trained model file a config key names as the start of a run (train.init_from, data.
    distill_from): one clear line for a directory (a CTranslate2 export), a missing file, and an
    int8 file, which a run cannot `use` ("fine-tune", "distill from"); `missing` says what to do."""
    if path.is_dir():
        raise UserError(
            f"{key} {path} is a directory (a CTranslate2 export?); name the model file it came from"
        )
    if not path.is_file():
        raise UserError(f"{key} {path}: no such model file; {missing}")
    file = ModelFile.read(path)
    if file.int8 is not None:
        raise UserError(f"{key} {path} is an int8 model file; {use} the model file it was exported from")
    return file


def _read(path: Path) -> dict:
    if not path.exists():
        raise UserError(f"model file {path} not found; check the path (a run writes best.pt and last.pt)")
    if path.is_dir() and (path / "model.bin").is_file():
        raise UserError(
            f"{path} is a CTranslate2 export, which translate, test and serve take; "
            "here give the model file (.pt) it was exported from"
        )
    if path.is_dir():
        raise UserError(f"{path} is a directory; give a model file such as {path / 'best.pt'}")
    unreadable = (
        f"{path} is not a readable seq2seq model file (truncated, damaged or another kind of file); "
        "use a best.pt or last.pt that a finished save wrote"
    )
    try:
        with open(path, "rb") as f:
            is_zip = zipfile.is_zipfile(f)
    except OSError as e:
        raise UserError(f"cannot read model file {path}: {e.strerror or e}") from None
    # torch.save always writes a zip archive; anything else (a text file, random bytes, a legacy
    # pickle) would reach the unpickler, whose errors on garbage are KeyError, IndexError, ...
    if not is_zip:
        raise UserError(unreadable)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UserError(
            f"{path} holds Python objects that a seq2seq model file never has; "
            "refusing to load it, since loading could run code from it"
        ) from None
    except Exception:  # a damaged archive fails in many ways; all mean "not a model file"
        raise UserError(unreadable) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError(f"{path} is a PyTorch file but not a seq2seq model file")
    version = data.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise UserError(
            f"{path} has model format version {version!r}, newer than this seq2seq "
            f"({__version__}) reads (up to {FORMAT_VERSION}); upgrade seq2seq"
        )
    return data


def average(paths: Sequence[str | Path]) -> ModelFile:
    """The model files of one run averaged: the element-wise mean of their floating-point weights
    (computed in fp32, stored in their type; other tensors from the first), with the first one's
    config and tokenizer. Files of another model or tokenizer are refused."""
    files = [ModelFile.read(p) for p in paths]
    for f in files:
        if f.int8 is not None:
            raise UserError(
                f"{f.source} is an int8 model file; average the checkpoints it was exported from, "
                "then export the average with seq2seq export --int8"
            )
    first = files[0]
    for other in files[1:]:
        if other.config["model"] != first.config["model"] or other.weights.keys() != first.weights.keys():
            raise UserError(
                f"{other.source} does not have the same model as {first.source}; "
                "average checkpoints of one run"
            )
        if other.tokenizer.keys() != first.tokenizer.keys() or not all(
            torch.equal(other.tokenizer[k], first.tokenizer[k]) for k in first.tokenizer
        ):
            raise UserError(
                f"{other.source} has another tokenizer than {first.source}; average checkpoints of one run"
            )
    return ModelFile(first.config, first.tokenizer, mean_weights([f.weights for f in files]))


def mean_weights(weights: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of the floating-point tensors of several state dicts of one model
    (computed in fp32, stored in the first's types and on its device); the other tensors from the
    first."""
    return {
        name: torch.stack([w[name].to(t.device, torch.float32) for w in weights]).mean(0).to(t.dtype)
        if t.is_floating_point()
        else t
        for name, t in weights[0].items()
    }
