"""train.teachers: word-level knowledge distillation. The loss's gradient is the student's
distribution minus the mixture of the references' and the teachers' (an oracle by hand); a student
whose training targets are of another task learns the teacher's task from the teacher alone; a
teacher with another vocabulary, or with R-Drop beside it, is one clear line."""

from __future__ import annotations

import random

import pytest
import sacrebleu
import torch
import torch.nn.functional as F
from helpers import reversal_config, reversal_corpus, small_transformer, validation_rows, write_lines

from seq2seq.cli.train import train
from seq2seq.config.load import config_from_dict
from seq2seq.errors import UserError
from seq2seq.models.build import build_model
from seq2seq.models.loss import sequence_loss
from seq2seq.models.model_file import load_model, save_model
from seq2seq.training.teachers import distillation_loss


@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0])
def test_the_gradient_is_the_student_minus_the_mixed_target_distribution(weight):
    torch.manual_seed(0)
    n, vocab, smoothing = 6, 11, 0.1
    logits = torch.randn(n, vocab, requires_grad=True)
    targets = torch.randint(4, vocab, (n,))
    q = torch.softmax(torch.randn(n, vocab) * 2, -1)

    reference_loss, _ = sequence_loss(logits, targets, smoothing)
    loss = distillation_loss(logits, reference_loss, q, weight)
    loss.backward()

    smoothed = torch.full((n, vocab), smoothing / vocab)
    smoothed[torch.arange(n), targets] += 1 - smoothing
    mixed = (1 - weight) * smoothed + weight * q
    p = torch.softmax(logits.detach(), -1)
    torch.testing.assert_close(logits.grad, p - mixed, atol=1e-5, rtol=1e-4)
    by_hand = -(mixed * torch.log_softmax(logits.detach(), -1)).sum()  # cross entropy against the mixture
    torch.testing.assert_close(loss.detach(), by_hand, atol=1e-4, rtol=1e-5)
    kl_plus_entropy = (
        F.kl_div(torch.log_softmax(logits.detach(), -1), q, reduction="sum") - (q * q.log()).sum()
    )
    if weight == 1.0:
        torch.testing.assert_close(loss.detach(), kl_plus_entropy, atol=1e-4, rtol=1e-5)


def test_a_student_learns_the_teachers_task_from_the_teacher_alone(
    trained_transformer, tmp_path, restore_globals
):
    # the student's training targets are the references in another order: on its own data it could
    # learn no more than which symbols occur. It starts untrained, with the teacher's vocabulary.
    teacher = trained_transformer / "run" / "best.pt"
    model, cfg, tokenizer = load_model(teacher)
    torch.manual_seed(2)
    save_model(
        tmp_path / "untrained.pt",
        build_model(cfg.model, len(tokenizer.src), len(tokenizer.tgt)),
        cfg,
        tokenizer,
    )
    for name in ("train.src", "valid.src", "valid.tgt"):
        (tmp_path / name).write_bytes((trained_transformer / name).read_bytes())
    targets = (trained_transformer / "train.tgt").read_text(encoding="utf-8").splitlines()
    random.Random(0).shuffle(targets)
    write_lines(tmp_path / "train.tgt", targets)
    references = (tmp_path / "valid.tgt").read_text(encoding="utf-8").splitlines()
    unrelated = sacrebleu.corpus_bleu(references[1:] + references[:1], [references]).score

    raw = reversal_config(
        tmp_path,
        data={"batch_tokens": 100},
        model=small_transformer(),
        train={"epochs": 12, "lr": 0.005, "schedule": "warmup_decay", "warmup_steps": 50, "seed": 1},
        search={"beam_size": 1},
    )
    raw["train"] |= {
        "teachers": str(teacher),
        "teacher_weight": 1.0,
        "init_from": str(tmp_path / "untrained.pt"),
    }
    raw["train"] |= {"label_smoothing": 0.0, "examples": 0}
    train(config_from_dict(raw))

    learned = max(float(row["bleu"]) for row in validation_rows(tmp_path / "run"))
    assert unrelated < 20 and learned > 60  # 82 seen (the teacher: 99)


def test_a_teacher_of_another_vocabulary_or_beside_rdrop_is_refused(
    trained_transformer, tmp_path, restore_globals
):
    teacher = str(trained_transformer / "run" / "best.pt")
    reversal_corpus(tmp_path, 100, 10, seed=5)
    raw = reversal_config(tmp_path, tokenizer={"vocab_size": 18}, train={"teachers": teacher})
    with pytest.raises(UserError, match="has another (target|source) vocabulary than the run"):
        train(config_from_dict(raw))
    raw = reversal_config(
        tmp_path, model=small_transformer(), train={"teachers": teacher, "rdrop_alpha": 1.0}
    )
    with pytest.raises(UserError, match="set one of them"):
        train(config_from_dict(raw))
    raw = reversal_config(tmp_path, train={"teachers": str(tmp_path / "none.pt")})
    with pytest.raises(UserError, match="no such model file"):
        train(config_from_dict(raw))
