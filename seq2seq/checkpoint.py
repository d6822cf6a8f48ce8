"""Model files: one self-contained, safely loadable file per model, written atomically.

A model file holds the weights, the resolved config (a classifier's label list included), the
SentencePiece model(s), the toolkit version and a format version; `last.pt` also holds the full
training state for exact resuming. Only tensors and plain Python values go in, so loading uses
torch.load(weights_only=True) and never runs code from the file.
"""

from __future__ import annotations

import errno
import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import __version__
from .config import Config, config_from_dict, to_dict
from .errors import UserError
from .model import build
from .tokenizer import Tokenizer

FORMAT = "seq2seq-model"
FORMAT_VERSION = 1


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


def bundle(model: nn.Module, cfg: Config, tokenizer: Tokenizer, train_state: dict | None = None) -> dict:
    out = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "toolkit_version": __version__,
        "config": to_dict(cfg),
        "tokenizer": tokenizer.state(),
        "model": model.state_dict(),
    }
    if train_state is not None:
        out["train_state"] = train_state
    return out


def save_model(
    path: str | Path, model: nn.Module, cfg: Config, tokenizer: Tokenizer, train_state: dict | None = None
) -> None:
    atomic_save(bundle(model, cfg, tokenizer, train_state), path)


def load_bundle(path: str | Path) -> dict:
    """Read a model file safely; every way it can be wrong is one clear UserError."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"model file {path} not found; check the path (a run writes best.pt and last.pt)")
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


def config_of(data: dict, path: str | Path) -> Config:
    try:
        return config_from_dict(data["config"])
    except (UserError, KeyError, TypeError) as e:
        raise UserError(f"{path} holds a config this version cannot read ({e})") from None


def model_from_bundle(data: dict, path: str | Path) -> tuple[nn.Module, Config, Tokenizer]:
    """The model (a Seq2Seq or, for task: classify, a TextClassifier), its config and tokenizer."""
    cfg = config_of(data, path)
    tokenizer = Tokenizer.from_state(data["tokenizer"])
    model = build(cfg, len(tokenizer.src), len(tokenizer.tgt))
    try:
        model.load_state_dict(data["model"])
    except (RuntimeError, KeyError) as e:
        raise UserError(f"{path}: the weights do not fit the model its config describes ({e})") from None
    return model, cfg, tokenizer


def average_weights(state_dicts: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of several models' floating-point weights (computed in fp32); other
    tensors are taken from the first."""
    return {
        name: torch.stack([sd[name].float() for sd in state_dicts]).mean(0).to(t.dtype)
        if t.is_floating_point()
        else t
        for name, t in state_dicts[0].items()
    }


def load_model(path: str | Path) -> tuple[nn.Module, Config, Tokenizer]:
    """Model (eval mode, CPU), its config and tokenizer from a model file."""
    model, cfg, tokenizer = model_from_bundle(load_bundle(path), path)
    return model.eval(), cfg, tokenizer
