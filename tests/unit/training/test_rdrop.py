"""train.rdrop_alpha: each batch goes through the model twice with two draws of dropout. Without
dropout the two predictions are equal, the KL term and its gradient vanish, and training takes the
same steps as without R-Drop."""

from __future__ import annotations

import random

import torch
from conftest import reversal_config, write_reversal

from seq2seq.cli.train import train
from seq2seq.config.load import config_from_dict
from seq2seq.models.model_file import ModelFile

NO_DROPOUT = {
    "encoder": {"emb_size": 8, "hidden_size": 8, "dropout": 0.0},
    "decoder": {"emb_size": 8, "hidden_size": 16, "attention_size": 8, "dropout": 0.0},
}


def test_without_dropout_rdrop_trains_as_plain_cross_entropy(tmp_path, restore_globals):
    rng = random.Random(0)
    write_reversal(tmp_path / "train.src", tmp_path / "train.tgt", 200, rng)
    write_reversal(tmp_path / "valid.src", tmp_path / "valid.tgt", 10, rng)
    for run, alpha in (("plain", 0.0), ("rdrop", 5.0)):
        train(
            config_from_dict(reversal_config(tmp_path, run, model=NO_DROPOUT, train={"rdrop_alpha": alpha}))
        )
    plain, rdrop = (ModelFile.read(tmp_path / r / "last.pt").weights for r in ("plain", "rdrop"))
    for name in plain:
        torch.testing.assert_close(plain[name], rdrop[name], atol=1e-5, rtol=1e-4)


def test_with_dropout_rdrop_changes_the_updates(tmp_path, restore_globals):
    rng = random.Random(0)
    write_reversal(tmp_path / "train.src", tmp_path / "train.tgt", 200, rng)
    write_reversal(tmp_path / "valid.src", tmp_path / "valid.tgt", 10, rng)
    for run, alpha in (("plain", 0.0), ("rdrop", 5.0)):
        train(config_from_dict(reversal_config(tmp_path, run, train={"rdrop_alpha": alpha})))
    plain, rdrop = (ModelFile.read(tmp_path / r / "last.pt").weights for r in ("plain", "rdrop"))
    assert not torch.allclose(plain["decoder.output.weight"], rdrop["decoder.output.weight"])
