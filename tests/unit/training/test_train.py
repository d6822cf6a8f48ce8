"""train.py's update: gradient accumulation against an independent oracle, and epochs made of whole
updates only (so N processes and one process accumulating N batches train on the same data)."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import torch
from helpers import tiny_config_dict

from seq2seq.cli.train import task_for
from seq2seq.config.load import config_from_dict
from seq2seq.data import batches as data
from seq2seq.data.tokenizer import PAD_ID
from seq2seq.models.loss import sequence_loss
from seq2seq.training.run_dir import RunDir
from seq2seq.training.train import Trainer


def trainer_for(tmp_path, corpus, data_settings: dict | None = None, **train_settings) -> Trainer:
    raw = tiny_config_dict(tmp_path, corpus)
    raw["data"] |= data_settings or {}
    raw["model"]["encoder"]["dropout"] = raw["model"]["decoder"]["dropout"] = 0.0
    raw["train"] |= {"lr": 0.01, "threads": 1} | train_settings
    cfg = config_from_dict(raw)
    torch.set_num_threads(1)  # as train() would (restore_globals undoes it); tiny ops only wait
    torch.manual_seed(0)
    return Trainer(task_for(cfg), RunDir(tmp_path / "run", None))


def test_accumulating_two_batches_is_one_update_over_both(tmp_path, corpus, restore_globals):
    """Oracle: the model's summed loss over one batch holding both halves, divided by its target
    tokens, then clipping and one Adam step: what one update over the two halves must compute."""
    trainer = trainer_for(tmp_path, corpus, accumulate=2)
    try:
        oracle = copy.deepcopy(trainer.model)
        initial = [p.detach().clone() for p in trainer.model.parameters()]
        tc = trainer.cfg.train
        optimizer = torch.optim.Adam(
            oracle.parameters(), lr=tc.lr, betas=tc.betas, weight_decay=tc.weight_decay
        )
        first, second = np.arange(0, 7), np.arange(7, 16)
        joined = trainer.corpora.train.batch(np.concatenate([first, second]))

        trainer.model.train()
        trainer.update([trainer.corpora.train.batch(first), trainer.corpora.train.batch(second)])

        real = joined.tgt_out != PAD_ID
        logits = oracle(joined.src, joined.src_lengths, joined.tgt_in, real)
        loss, tokens = sequence_loss(logits, joined.tgt_out[real], tc.label_smoothing)
        (loss / tokens).backward()
        torch.nn.utils.clip_grad_norm_(oracle.parameters(), tc.clip_grad_norm)
        optimizer.step()
    finally:
        trainer.close()
    moved = 0
    for (name, got), want, before in zip(trainer.model.named_parameters(), oracle.parameters(), initial):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6, msg=name)
        moved += not torch.equal(got, before)
    assert moved, "the update changed nothing: the comparison would mean nothing"


def test_an_epoch_is_made_of_whole_updates(tmp_path, corpus, restore_globals):
    """With accumulate: 2 and an odd number of batches, every update takes two batches and the
    last batch of the epoch's order is left out, as two processes with one batch each leave it."""
    trainer = trainer_for(tmp_path, corpus, accumulate=2)
    lengths = (trainer.corpora.train.src_lengths, trainer.corpora.train.tgt_lengths)
    trainer.close()
    seed = trainer.cfg.train.seed
    budgets = [b for b in range(120, 400, 7) if len(plan_of(trainer, lengths, b, seed)) % 2]
    assert budgets, "no batch size gave an odd number of batches"
    trainer = trainer_for(tmp_path, corpus, {"batch_tokens": budgets[0]}, accumulate=2)
    plan = plan_of(trainer, lengths, budgets[0], seed)
    seen: list[int] = []
    update = trainer.update
    trainer.update = lambda batches: seen.append(len(batches)) or update(batches)
    try:
        trainer.train_epoch()
    finally:
        trainer.close()
    assert seen == [2] * (len(plan) // 2)
    assert trainer.progress.position == len(plan) - 1


def plan_of(trainer: Trainer, lengths, batch_tokens: int, seed: int) -> list[np.ndarray]:
    return data.epoch_batches(
        *lengths, dataclasses.replace(trainer.cfg.data, batch_tokens=batch_tokens), seed, 0
    )
