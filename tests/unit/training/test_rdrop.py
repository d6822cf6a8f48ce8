"""train.rdrop_alpha: each batch goes through the model twice with two draws of dropout. Without
dropout the two predictions are equal, the KL term and its gradient vanish, and training takes the
same steps as without R-Drop."""

from __future__ import annotations

import torch
from helpers import reversal_config, reversal_corpus, tiny_model

from seq2seq.cli.train import train
from seq2seq.config.load import config_from_dict
from seq2seq.models.model_file import ModelFile

NO_DROPOUT = tiny_model(dropout=0.0)


def test_without_dropout_rdrop_trains_as_plain_cross_entropy(tmp_path, restore_globals):
    reversal_corpus(tmp_path, 200, 10)
    for run, alpha in (("plain", 0.0), ("rdrop", 5.0)):
        train(
            config_from_dict(reversal_config(tmp_path, run, model=NO_DROPOUT, train={"rdrop_alpha": alpha}))
        )
    plain, rdrop = (ModelFile.read(tmp_path / r / "last.pt").weights for r in ("plain", "rdrop"))
    for name in plain:
        torch.testing.assert_close(plain[name], rdrop[name], atol=1e-5, rtol=1e-4)


def test_with_dropout_rdrop_changes_the_updates(tmp_path, restore_globals):
    reversal_corpus(tmp_path, 200, 10)
    for run, alpha in (("plain", 0.0), ("rdrop", 5.0)):
        train(config_from_dict(reversal_config(tmp_path, run, train={"rdrop_alpha": alpha})))
    plain, rdrop = (ModelFile.read(tmp_path / r / "last.pt").weights for r in ("plain", "rdrop"))
    assert not torch.allclose(plain["decoder.output.weight"], rdrop["decoder.output.weight"])
