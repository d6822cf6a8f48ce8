"""encoder.py: padding is never read, so a sentence encodes the same alone and in a padded batch;
padding states are zero; `final` is the last real state of each direction; the mask is right."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seq2seq.data.tokenizer import PAD_ID
from seq2seq.models.rnn_encoder import RNNEncoder

VOCAB, EMB, HIDDEN = 20, 6, 5
LENGTHS = [4, 7, 1, 5]  # unsorted, one of length 1


def make_encoder(rnn: str, layers: int, bidirectional: bool) -> RNNEncoder:
    torch.manual_seed(0)
    embedding = nn.Embedding(VOCAB, EMB, padding_idx=PAD_ID)
    net = {"gru": nn.GRU, "lstm": nn.LSTM}[rnn](
        EMB,
        HIDDEN,
        num_layers=layers,
        bidirectional=bidirectional,
        batch_first=True,
        dropout=0.3 if layers > 1 else 0.0,
    )
    return RNNEncoder(embedding, net, dropout=0.3).eval()  # eval: dropout off


def padded_batch() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    src = torch.full((len(LENGTHS), max(LENGTHS)), PAD_ID)
    for i, n in enumerate(LENGTHS):
        src[i, :n] = torch.randint(4, VOCAB, (n,))
    return src, torch.tensor(LENGTHS)


@pytest.mark.parametrize("rnn", ["gru", "lstm"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [True, False], ids=["bi", "uni"])
def test_alone_equals_in_a_padded_batch(rnn, layers, bidirectional):
    encoder = make_encoder(rnn, layers, bidirectional)
    src, lengths = padded_batch()
    directions = 2 if bidirectional else 1
    with torch.no_grad():
        out = encoder(src, lengths)
        assert out.states.shape == (len(LENGTHS), max(LENGTHS), HIDDEN * directions)
        assert out.final.shape == (len(LENGTHS), HIDDEN * directions)
        assert encoder.output_size == HIDDEN * directions
        for i, n in enumerate(LENGTHS):
            alone = encoder(src[i : i + 1, :n], lengths[i : i + 1])
            torch.testing.assert_close(out.states[i, :n], alone.states[0], atol=1e-6, rtol=1e-5)
            torch.testing.assert_close(out.final[i], alone.final[0], atol=1e-6, rtol=1e-5)
            assert torch.all(out.states[i, n:] == 0), "padding states are zero"


@pytest.mark.parametrize("rnn", ["gru", "lstm"])
@pytest.mark.parametrize("layers", [1, 2])
def test_final_is_the_last_real_state_of_each_direction(rnn, layers):
    encoder = make_encoder(rnn, layers, bidirectional=True)
    src, lengths = padded_batch()
    with torch.no_grad():
        out = encoder(src, lengths)
    for i, n in enumerate(LENGTHS):
        forward_last = out.states[i, n - 1, :HIDDEN]  # ->h read the whole sentence at n - 1
        backward_last = out.states[i, 0, HIDDEN:]  # <-h read it at position 0
        torch.testing.assert_close(out.final[i], torch.cat([forward_last, backward_last]))


def test_the_mask_marks_real_tokens():
    encoder = make_encoder("gru", 1, True)
    src, lengths = padded_batch()
    with torch.no_grad():
        mask = encoder(src, lengths).mask
    expected = torch.tensor([[j < n for j in range(max(LENGTHS))] for n in LENGTHS])
    assert mask.dtype == torch.bool
    assert torch.equal(mask, expected)


def test_trailing_padding_beyond_the_longest_sentence_changes_nothing():
    encoder = make_encoder("lstm", 2, True)
    src, lengths = padded_batch()
    wider = torch.cat([src, torch.full((len(LENGTHS), 3), PAD_ID)], dim=1)
    with torch.no_grad():
        a, b = encoder(src, lengths), encoder(wider, lengths)
    assert b.states.shape[1] == max(LENGTHS) + 3
    torch.testing.assert_close(b.states[:, : max(LENGTHS)], a.states)
    torch.testing.assert_close(b.final, a.final)
