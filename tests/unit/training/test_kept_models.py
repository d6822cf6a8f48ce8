"""train.keep_last keeps the last N epochs' models; train.average_kept averages them at the end into
averaged.pt, which is their arithmetic mean and replaces best.pt only if it validates better
(the choice itself, with scripted scores: test_final_model.py)."""

from __future__ import annotations

import torch
from helpers import reversal_config, reversal_corpus

from seq2seq.cli.train import train
from seq2seq.config.load import config_from_dict
from seq2seq.models.model_file import ModelFile


def test_the_last_epochs_are_kept_and_averaged(tmp_path, restore_globals):
    reversal_corpus(tmp_path, 300, 20)
    cfg = config_from_dict(
        reversal_config(tmp_path, train={"epochs": 4, "keep_last": 2, "average_kept": True})
    )
    progress = train(cfg)

    run = tmp_path / "run"
    assert sorted(p.name for p in run.glob("epoch*.pt")) == ["epoch3.pt", "epoch4.pt"]
    kept = [ModelFile.read(run / f"epoch{e}.pt").weights for e in (3, 4)]
    averaged = ModelFile.read(run / "averaged.pt").weights
    for name, value in averaged.items():
        assert torch.allclose(value, (kept[0][name] + kept[1][name]) / 2, atol=1e-7), name
    assert not torch.equal(kept[0]["decoder.output.weight"], kept[1]["decoder.output.weight"])
    # the last epoch's model is last.pt's; best.pt is whichever validated best
    assert all(torch.equal(v, ModelFile.read(run / "last.pt").weights[k]) for k, v in kept[1].items())
    log = (run / "train.log").read_text(encoding="utf-8")
    assert "average of epochs 3-4, beam 2, length penalty 1: BLEU" in log
    best = ModelFile.read(run / "best.pt").weights
    best_is_average = all(torch.equal(v, averaged[k]) for k, v in best.items())
    assert best_is_average == ("best.pt: average of epochs 3-4" in log)
    assert progress.best_score >= max(row["bleu"] for row in progress.history)
