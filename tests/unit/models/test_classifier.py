"""classifier.py: attention pooling over the encoder states, and the text classifier built on it."""

from __future__ import annotations

import torch

from seq2seq.config.load import ClassifyConfig, EncoderConfig, config_from_dict
from seq2seq.data.batches import pad_src
from seq2seq.data.tokenizer import PAD_ID
from seq2seq.models.build import build, build_classifier
from seq2seq.models.classifier import AttentionPooling, TextClassifier
from seq2seq.models.seq2seq import Seq2Seq

LABELS = ("a", "b", "c")


def classifier(heads: int = 2) -> TextClassifier:
    torch.manual_seed(0)
    enc = EncoderConfig(emb_size=8, hidden_size=6, dropout=0.0)
    return build_classifier(
        enc, ClassifyConfig(labels=LABELS, heads=heads, attention_size=5, dropout=0.0), 30
    )


def test_pooling_weights_sum_to_one_over_real_tokens_and_are_zero_at_padding():
    torch.manual_seed(0)
    pooling = AttentionPooling(state_size=4, attention_size=5, heads=3)
    torch.nn.init.normal_(pooling.queries)  # heads that differ
    states = torch.randn(2, 6, 4)
    mask = torch.tensor([[True] * 6, [True] * 3 + [False] * 3])
    pooled, weights = pooling(states, mask)
    assert pooled.shape == (2, 3 * 4) and weights.shape == (2, 3, 6)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3))
    assert torch.all(weights[1, :, 3:] == 0)
    # each head's vector is its weighted sum of the states
    for m in range(3):
        torch.testing.assert_close(pooled[1, 4 * m : 4 * (m + 1)], weights[1, m] @ states[1])
    assert not torch.allclose(weights[0, 0], weights[0, 1])


def test_a_sentence_alone_classifies_the_same_as_in_a_padded_batch():
    model = classifier().eval()
    sentences = [torch.randint(4, 30, (n,)).numpy() for n in (7, 2, 5)]
    src, lengths = pad_src(sentences)
    assert (src == PAD_ID).any()
    logits, weights = model.classify(src, lengths)
    for i, s in enumerate(sentences):
        alone_src, alone_lengths = pad_src([s])
        alone_logits, alone_weights = model.classify(alone_src, alone_lengths)
        torch.testing.assert_close(alone_logits[0], logits[i])
        torch.testing.assert_close(alone_weights[0], weights[i, :, : len(s) + 1])


def test_the_classifier_has_an_output_per_label_and_initialized_weights():
    model = classifier(heads=2)
    assert model.output.out_features == len(LABELS)
    assert model.output.in_features == 2 * 2 * 6  # heads x bidirectional hidden size
    assert torch.all(model.encoder.embedding.weight[PAD_ID] == 0)
    assert all(p.abs().max() <= 0.1 for p in model.parameters())


def test_build_picks_the_model_by_the_task(config_dict):
    translation = config_from_dict(config_dict)
    assert isinstance(build(translation, 20, 30), Seq2Seq)
    raw = {k: v for k, v in config_dict.items() if k != "search"}
    raw["model"] = {"encoder": config_dict["model"]["encoder"]}
    raw["data"] = {k: v for k, v in config_dict["data"].items() if "tgt" not in k}
    raw |= {"task": "classify", "classify": {"train_labels": "t.labels", "valid_labels": "v.labels"}}
    raw["classify"]["labels"] = list(LABELS)
    model = build(config_from_dict(raw), 20, 20)
    assert isinstance(model, TextClassifier) and model.output.out_features == 3
