"""Shared helpers: a tiny generated parallel corpus, a tiny config and a tiny (untrained) model file,
all in temporary directories; a fixture that undoes what train() and the CLI set globally."""

from __future__ import annotations

import contextlib
import logging
import random
from pathlib import Path

import pytest
import torch

from seq2seq.config.load import TokenizerConfig, config_from_dict
from seq2seq.data.batches import check_parallel
from seq2seq.data.tokenizer import Tokenizer, train_or_load
from seq2seq.models.build import build_model
from seq2seq.models.model_file import save_model

ROOT = Path(__file__).resolve().parent.parent


# Disjoint alphabets: a piece of a target word can never occur in the source text.
def _words(consonants: str, vowels: str, n: int, seed: int) -> tuple[str, ...]:
    rng = random.Random(seed)
    words: dict[str, None] = {}
    while len(words) < n:
        words["".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(rng.randint(1, 3)))] = None
    return tuple(words)


SRC_WORDS = _words("bcdfghjklm", "aei", 40, seed=1)
TGT_WORDS = _words("nprstvwxz", "ouy", 40, seed=2)


def make_pairs(n: int, seed: int = 0, min_words: int = 2, max_words: int = 8) -> tuple[list[str], list[str]]:
    """n sentence pairs; the target is the word-by-word translation of the source, reversed."""
    rng = random.Random(seed)
    lexicon = dict(zip(SRC_WORDS, TGT_WORDS, strict=True))
    src, tgt = [], []
    for _ in range(n):
        words = [rng.choice(SRC_WORDS) for _ in range(rng.randint(min_words, max_words))]
        src.append(" ".join(words))
        tgt.append(" ".join(lexicon[w] for w in reversed(words)))
    return src, tgt


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture
def corpus(tmp_path) -> dict[str, Path]:
    """train/valid files of the tiny corpus in tmp_path: {'train_src': path, ...}."""
    paths = {}
    for split, n, seed in (("train", 300, 0), ("valid", 20, 1)):
        src, tgt = make_pairs(n, seed)
        paths[f"{split}_src"] = write_lines(tmp_path / f"{split}.src", src)
        paths[f"{split}_tgt"] = write_lines(tmp_path / f"{split}.tgt", tgt)
    return paths


@pytest.fixture(scope="session")
def tokenizer(tmp_path_factory) -> Tokenizer:
    """A joint unigram tokenizer trained once on the tiny corpus."""
    root = tmp_path_factory.mktemp("tokenizer")
    src, tgt = make_pairs(300, seed=0)
    src_path, tgt_path = write_lines(root / "train.src", src), write_lines(root / "train.tgt", tgt)
    return train_or_load(
        TokenizerConfig(vocab_size=60),
        src_path,
        tgt_path,
        check_parallel(src_path, tgt_path),
        root / "cache",
        log=lambda s: None,
    )


def tiny_config_dict(tmp_path: Path, paths: dict[str, Path] | None = None) -> dict:
    """A complete, valid raw config with a tiny model; files and directories under tmp_path."""
    paths = paths or {
        k: tmp_path / f"{k.replace('_', '.')}" for k in ("train_src", "train_tgt", "valid_src", "valid_tgt")
    }
    return {
        "run_dir": str(tmp_path / "run"),
        "cache_dir": str(tmp_path / "cache"),
        "data": {k: str(v) for k, v in paths.items()} | {"batch_tokens": 200},
        "tokenizer": {"vocab_size": 60},
        "model": {
            "encoder": {"emb_size": 8, "hidden_size": 8},
            "decoder": {"emb_size": 8, "hidden_size": 16, "attention_size": 8},
        },
        "train": {"epochs": 1, "examples": 0},
        "search": {"beam_size": 2},
    }


@pytest.fixture
def config_dict(tmp_path) -> dict:
    return tiny_config_dict(tmp_path)


# ---------------------------------------------------------------- the reversal task

SYMBOLS = "abcdefghijkl"


def write_reversal(path_src: Path, path_tgt: Path, n: int, rng: random.Random) -> None:
    """n lines of 3-8 symbols; the target is the source reversed (it needs attention to learn)."""
    src = [" ".join(rng.choice(SYMBOLS) for _ in range(rng.randint(3, 8))) for _ in range(n)]
    path_src.write_text("".join(s + "\n" for s in src), encoding="utf-8")
    path_tgt.write_text("".join(" ".join(reversed(s.split())) + "\n" for s in src), encoding="utf-8")


def reversal_config(root: Path, run: str = "run", **sections: dict) -> dict:
    """A raw config for the reversal files train.src/tgt and valid.src/tgt in `root`: a tiny
    recurrent model, one epoch, no examples, one thread; `sections` are merged into the defaults
    (e.g. model={...} replaces the model section, train={...} adds to the train section)."""
    raw = {
        "run_dir": str(root / run),
        "cache_dir": str(root / "cache"),
        "data": {
            f"{split}_{side}": str(root / f"{split}.{side}")
            for split in ("train", "valid")
            for side in ("src", "tgt")
        }
        | {"batch_tokens": 200},
        "tokenizer": {"vocab_size": 20},
        "model": {
            "encoder": {"emb_size": 8, "hidden_size": 8},
            "decoder": {"emb_size": 8, "hidden_size": 16, "attention_size": 8},
        },
        "train": {"epochs": 1, "examples": 0, "threads": 1},
        "search": {"beam_size": 2},
    }
    for name, values in sections.items():
        raw[name] = values if name == "model" else raw[name] | values
    return raw


# ---------------------------------------------------------------- global state and a model file


@pytest.fixture
def restore_globals():
    """train() sets torch's thread count and adds a log file handler; cli.main() adds a console
    handler bound to the sys.stderr of the moment (a capsys one in a test): undo all of it."""
    with kept_globals():
        yield


@contextlib.contextmanager
def kept_globals():
    """What restore_globals does, for fixtures of a wider scope."""
    threads = torch.get_num_threads()
    logger = logging.getLogger("seq2seq")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        for handler in [h for h in logger.handlers if h not in handlers]:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(level)
        logger.propagate = propagate


TINY_MODEL_MAX_LEN = 12  # pieces: a line of ~6 words or more is translated in parts


@pytest.fixture(scope="session")
def model_file(tmp_path_factory, tokenizer) -> Path:
    """A real, untrained model file of the tiny config (no training needed to load and decode)."""
    root = tmp_path_factory.mktemp("model")
    raw = tiny_config_dict(root)
    raw["data"]["max_len"] = TINY_MODEL_MAX_LEN
    cfg = config_from_dict(raw)
    torch.manual_seed(0)
    model = build_model(cfg.model, len(tokenizer.src), len(tokenizer.tgt))
    save_model(root / "model.pt", model, cfg, tokenizer)
    return root / "model.pt"
