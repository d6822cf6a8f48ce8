"""The fixtures of the tests (the plain helpers are in helpers.py): a tiny generated parallel corpus,
a tiny config and a tiny (untrained) model file, all in temporary directories; a small Transformer
and a tiny recurrent model trained on the reversal task, and the Transformer's CTranslate2 export;
a fixture that undoes what train() and the CLI set globally. Everything under tests/system is
marked `system`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import (
    kept_globals,
    make_pairs,
    reversal_config,
    reversal_corpus,
    small_transformer,
    tiny_config_dict,
    tiny_model,
    write_lines,
)

from seq2seq.cli.main import main
from seq2seq.cli.train import train as train_model
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


@pytest.fixture(scope="session")
def trained_transformer(tmp_path_factory) -> Path:
    """A small Transformer (embeddings tied) trained on the reversal task to validation BLEU
    ~99 (12 epochs, ~25 s on 2 cores): the folder with the corpus (train/valid .src/.tgt) and the
    run, run/best.pt."""
    return _trained(
        tmp_path_factory.mktemp("transformer"),
        model=small_transformer(),
        train={"lr": 0.005, "schedule": "warmup_decay", "warmup_steps": 50},
        batch_tokens=100,  # more, smaller updates: the Transformer learns the task in as many epochs
    )


@pytest.fixture(scope="session")
def trained_rnn(tmp_path_factory) -> Path:
    """A tiny recurrent model (GRU, Bahdanau attention) trained on the reversal task to validation
    BLEU ~100 (12 epochs, ~20 s on 2 cores), as `trained_transformer`."""
    return _trained(tmp_path_factory.mktemp("rnn"), model=tiny_model(32, dropout=0.0), train={"lr": 0.01})


def _trained(root: Path, model: dict, train: dict, batch_tokens: int = 400) -> Path:
    reversal_corpus(root, 2000, 100)
    raw = reversal_config(
        root,
        data={"batch_tokens": batch_tokens},
        model=model,
        train={"epochs": 12, "label_smoothing": 0.0, "examples": 0, "seed": 1} | train,
        search={"beam_size": 3},
    )
    with kept_globals():
        train_model(config_from_dict(raw))
    return root


@pytest.fixture(scope="session")
def exported(trained_transformer, tmp_path_factory) -> Path:
    """The `trained_transformer`'s model file exported to CTranslate2 (float32); skips without ctranslate2."""
    pytest.importorskip("ctranslate2")
    out = tmp_path_factory.mktemp("export") / "ct2"
    with kept_globals(), pytest.raises(SystemExit) as exit_:
        main(["export", str(trained_transformer / "run" / "best.pt"), "--ctranslate2", str(out)])
    assert exit_.value.code == 0
    return out
