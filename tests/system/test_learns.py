"""System test: `train(cfg)` learns to reverse sequences, and leaves a complete run directory.

The task: a source line is 3-8 symbols from a 12-letter alphabet, the target is the same symbols in
reverse order, which needs attention to solve. A tiny model reaches validation BLEU >= 99 in 12
epochs over 2000 pairs (about 10 s on 2 CPU cores, for every seed tried); the test asks for 90.
"""

from __future__ import annotations

import csv

import pytest
from helpers import reversal_config, reversal_corpus, tiny_model

from seq2seq.cli.train import train
from seq2seq.config.load import config_from_dict, load_config
from seq2seq.data.batches import read_lines
from seq2seq.decoding.translate import translate
from seq2seq.models.model_file import ModelFile, load_model
from seq2seq.report.metrics import score

EPOCHS = 12


def test_training_learns_to_reverse(tmp_path, restore_globals):
    reversal_corpus(tmp_path, 2000, 100)
    cfg = config_from_dict(
        reversal_config(
            tmp_path,
            data={"batch_tokens": 400},
            model=tiny_model(32, dropout=0.0),
            train={"epochs": EPOCHS, "lr": 0.01, "label_smoothing": 0.0, "examples": 1, "seed": 1},
            search={"beam_size": 3},
        )
    )

    progress = train(cfg)

    bleus = [row["bleu"] for row in progress.history]
    assert len(bleus) == EPOCHS
    assert bleus[0] < 20, "the task is not solved before training"
    assert progress.best_score >= 90, f"validation BLEU per epoch: {bleus}"

    run = tmp_path / "run"
    for name in ("best.pt", "last.pt", "config.yaml", "validations.tsv", "train.log"):
        assert (run / name).is_file(), name
    assert load_config(run / "config.yaml") == cfg
    with open(run / "validations.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert [int(r["epoch"]) for r in rows] == list(range(1, EPOCHS + 1))
    assert [float(r["bleu"]) for r in rows] == bleus
    log = (run / "train.log").read_text(encoding="utf-8")
    assert "new best BLEU" in log and "nrefs:1" in log  # sacrebleu's signature is logged
    assert ModelFile.read(run / "last.pt").train_state["progress"]["epoch"] == EPOCHS

    # best.pt is the model that scored best: reloaded, it translates to the same BLEU
    model, saved_cfg, tokenizer = load_model(run / "best.pt")
    assert saved_cfg == cfg
    sources, references = read_lines(cfg.data.valid_src), read_lines(cfg.data.valid_tgt)
    hypotheses = [
        t.text for t in translate(model, tokenizer, sources, cfg.search, max_src_len=cfg.data.max_len)
    ]
    assert score(hypotheses, references, with_ter=False).bleu == pytest.approx(progress.best_score, abs=0.01)
