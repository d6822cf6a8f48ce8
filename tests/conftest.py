"""The fixtures of the tests (the plain helpers are in helpers.py): a tiny generated parallel corpus,
a tiny config and a tiny (untrained) model file, all in temporary directories; a fixture that undoes
what train() and the CLI set globally. Everything under tests/system is marked `system`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import kept_globals, make_pairs, tiny_config_dict, write_lines

from seq2seq.config.load import TokenizerConfig, config_from_dict
from seq2seq.data.batches import check_parallel
from seq2seq.data.tokenizer import Tokenizer, train_or_load
from seq2seq.models.build import build_model
from seq2seq.models.model_file import save_model

SYSTEM = Path(__file__).resolve().parent / "system"
TINY_MODEL_MAX_LEN = 12  # pieces: a line of ~6 words or more is translated in parts


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests under tests/system train models or run whole commands: `-m "not system"` leaves
    them out."""
    for item in items:
        if item.path.is_relative_to(SYSTEM):
            item.add_marker(pytest.mark.system)


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


@pytest.fixture
def config_dict(tmp_path) -> dict:
    return tiny_config_dict(tmp_path)


@pytest.fixture
def restore_globals():
    """train() sets torch's thread count and adds a log file handler; cli.main() adds a console
    handler bound to the sys.stderr of the moment (a capsys one in a test): undo all of it."""
    with kept_globals():
        yield


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
