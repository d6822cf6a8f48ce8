"""decoder.py: teacher-forced `forward` is the loop of `step`s; states reorder with `select`; the
Bahdanau wiring attends with the previous state s_{i-1}, the Luong wiring with the new state h_t."""

from __future__ import annotations

import itertools

import pytest
import torch
from helpers import random_batch

from seq2seq.config.load import DecoderConfig, EncoderConfig, ModelConfig
from seq2seq.models.build import build_model
from seq2seq.models.rnn_decoder import BahdanauDecoder, LuongDecoder
from seq2seq.models.seq2seq import Seq2Seq

SRC_VOCAB, TGT_VOCAB = 13, 11
SRC_LENGTHS = [5, 3, 4]
T = 4

WIRINGS = [("bahdanau", "general"), ("luong", "dot"), ("luong", "general"), ("luong", "concat")]
VARIANTS = [
    (a, s, rnn, layers) for (a, s), rnn, layers in itertools.product(WIRINGS, ["gru", "lstm"], [1, 2])
]


def variant_id(v) -> str:
    attention, score, rnn, layers = v
    return f"{attention if attention == 'bahdanau' else 'luong-' + score}-{rnn}-{layers}"


def make_model(attention: str, score: str, rnn: str, layers: int) -> Seq2Seq:
    cfg = ModelConfig(
        encoder=EncoderConfig(rnn=rnn, emb_size=6, hidden_size=8, layers=layers, bidirectional=True),
        decoder=DecoderConfig(
            rnn=rnn,
            emb_size=7,
            hidden_size=16,
            layers=layers,
            attention=attention,
            luong_score=score,
            attention_size=9,
        ),
    )
    torch.manual_seed(0)
    model = build_model(cfg, SRC_VOCAB, TGT_VOCAB).eval()
    # build_model's uniform(-0.1, 0.1) keeps every tanh nearly linear, where an additive score
    # hardly depends on its query at all; larger weights make the wiring tests discriminate
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-1.0, 1.0)
    return model


def inputs():
    return random_batch(SRC_LENGTHS, SRC_VOCAB, TGT_VOCAB, T)


def assert_states_close(a, b):
    assert len(a.layers) == len(b.layers)
    for la, lb in zip(a.layers, b.layers, strict=True):
        for x, y in zip(la, lb, strict=True):
            torch.testing.assert_close(x, y)
    torch.testing.assert_close(a.feed, b.feed)


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_teacher_forced_forward_equals_the_step_loop(variant):
    model = make_model(*variant)
    src, src_lengths, tgt_in = inputs()
    with torch.no_grad():
        memory, state = model.encode(src, src_lengths)
        logits, final, attention = model.decoder(tgt_in, memory, state)
        assert logits.shape == (len(SRC_LENGTHS), T, TGT_VOCAB)
        assert attention.shape == (len(SRC_LENGTHS), T, max(SRC_LENGTHS))
        step_state = state
        for t in range(T):
            step_logits, step_state, step_attention = model.decode_step(tgt_in[:, t], memory, step_state)
            torch.testing.assert_close(step_logits, logits[:, t], atol=1e-6, rtol=1e-5)
            torch.testing.assert_close(step_attention, attention[:, t], atol=1e-6, rtol=1e-5)
        assert_states_close(step_state, final)
        torch.testing.assert_close(model(src, src_lengths, tgt_in), logits)


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_initial_state_shapes_and_attention_over_real_positions(variant):
    model = make_model(*variant)
    src, src_lengths, tgt_in = inputs()
    with torch.no_grad():
        memory, state = model.encode(src, src_lengths)
        _, _, attention = model.decoder(tgt_in, memory, state)
    n_states = 2 if variant[2] == "lstm" else 1
    assert len(state.layers) == variant[3]
    assert all(len(layer) == n_states for layer in state.layers)
    assert all(t.shape == (len(SRC_LENGTHS), 16) for layer in state.layers for t in layer)
    assert state.feed.shape == (len(SRC_LENGTHS), 16 if variant[0] == "luong" else 0)
    for i, n in enumerate(SRC_LENGTHS):
        assert torch.all(attention[i, :, n:] == 0)
        torch.testing.assert_close(attention[i].sum(-1), torch.ones(T))


@pytest.mark.parametrize(
    "variant", [("bahdanau", "general", "lstm", 2), ("luong", "general", "lstm", 2)], ids=variant_id
)
def test_select_reorders_rows_and_commutes_with_a_step(variant):
    model = make_model(*variant)
    src, src_lengths, tgt_in = inputs()
    index = torch.tensor([2, 0, 0, 1])
    with torch.no_grad():
        memory, state = model.encode(src, src_lengths)
        _, state, _ = model.decode_step(tgt_in[:, 0], memory, state)  # a non-trivial feed too
        picked_memory, picked_state = memory.select(index), state.select(index)
        for got, full in (
            (picked_memory.values, memory.values),
            (picked_memory.proj_keys, memory.proj_keys),
            (picked_memory.mask, memory.mask),
            (picked_state.feed, state.feed),
        ):
            for row, source_row in enumerate(index.tolist()):
                assert torch.equal(got[row], full[source_row])
        for layer, full_layer in zip(picked_state.layers, state.layers, strict=True):
            for got, full in zip(layer, full_layer, strict=True):
                assert torch.equal(got, full[index])
        # stepping the selected rows == selecting the stepped rows (what beam search relies on)
        prev = tgt_in[:, 1]
        logits, next_state, attention = model.decode_step(prev, memory, state)
        logits2, next_state2, attention2 = model.decode_step(prev[index], picked_memory, picked_state)
        torch.testing.assert_close(logits2, logits[index], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(attention2, attention[index], atol=1e-6, rtol=1e-5)
        assert_states_close(next_state2, next_state.select(index))


def first_step_attention(model: Seq2Seq, first_token: int):
    src, src_lengths, _ = inputs()
    with torch.no_grad():
        memory, state = model.encode(src, src_lengths)
        logits, new_state, attention = model.decode_step(
            torch.full((len(SRC_LENGTHS),), first_token), memory, state
        )
    return memory, state, logits, new_state, attention


@pytest.mark.parametrize("rnn", ["gru", "lstm"])
@pytest.mark.parametrize("layers", [1, 2])
def test_bahdanau_attends_with_the_previous_state(rnn, layers):
    model = make_model("bahdanau", "general", rnn, layers)
    assert isinstance(model.decoder, BahdanauDecoder)
    memory, state, logits_a, _, attention_a = first_step_attention(model, 5)
    _, _, logits_b, _, attention_b = first_step_attention(model, 9)
    # step 0 attends with the bridge state s_0: the first input token cannot change it ...
    torch.testing.assert_close(attention_a, attention_b)
    assert (logits_a - logits_b).abs().max() > 1e-3  # ... though it changes the prediction
    with torch.no_grad():
        _, expected = model.decoder.attention(
            state.layers[-1][0], memory.proj_keys, memory.values, memory.mask
        )
    torch.testing.assert_close(attention_a, expected)


@pytest.mark.parametrize("score", ["dot", "general", "concat"])
@pytest.mark.parametrize("rnn", ["gru", "lstm"])
@pytest.mark.parametrize("layers", [1, 2])
def test_luong_attends_with_the_new_state_and_feeds_its_output(score, rnn, layers):
    model = make_model("luong", score, rnn, layers)
    assert isinstance(model.decoder, LuongDecoder)
    memory, state, logits_a, new_state, attention_a = first_step_attention(model, 5)
    _, _, _, _, attention_b = first_step_attention(model, 9)
    assert (attention_a - attention_b).abs().max() > 1e-3  # h_t has read the first token
    with torch.no_grad():
        context, expected = model.decoder.attention(
            new_state.layers[-1][0], memory.proj_keys, memory.values, memory.mask
        )
        torch.testing.assert_close(attention_a, expected)
        # o~_t = tanh(W_c [c_t; h_t]) is both the fed-back vector and what the output layer reads
        readout = torch.tanh(model.decoder.readout(torch.cat([context, new_state.layers[-1][0]], -1)))
        torch.testing.assert_close(new_state.feed, readout)
        torch.testing.assert_close(logits_a, model.decoder.output(readout))
    assert torch.all(state.feed == 0)  # o~_0 = 0


@pytest.mark.parametrize(
    "variant",
    [("bahdanau", "general", "gru", 1), ("luong", "dot", "lstm", 2), ("luong", "concat", "gru", 2)],
    ids=variant_id,
)
def test_hypotheses_can_share_their_sentence_memory_row(variant):
    """Beam search keeps one memory row per sentence for its K hypotheses (consecutive rows)."""
    model = make_model(*variant)
    src, src_lengths, tgt_in = inputs()
    K = 3
    rows = torch.arange(len(SRC_LENGTHS)).repeat_interleave(K)
    with torch.no_grad():
        memory, state = model.encode(src, src_lengths)
        state = state.select(rows)
        prev = torch.randint(4, TGT_VOCAB, (len(rows),))
        shared = model.decode_step(prev, memory, state)
        copied = model.decode_step(prev, memory.select(rows), state)
    torch.testing.assert_close(shared[0], copied[0], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(shared[2], copied[2], atol=1e-6, rtol=1e-5)
    assert_states_close(shared[1], copied[1])


@pytest.mark.parametrize("variant", [VARIANTS[0], VARIANTS[-1]], ids=variant_id)
def test_decoding_reads_input_projections_from_the_projected_vocabulary(variant):
    """Without autograd (decoding, validation) the steps' input projections are rows of
    input_emb(E), made once and made again when a weight changes or the model changes type; with
    autograd, the product of every step. Both give the same logits."""
    model = make_model(*variant)
    src, src_lengths, tgt_in = inputs()

    def both() -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            memory, state = model.encode(src, src_lengths)
            from_rows = model.decoder(tgt_in, memory, state)[0]
        with torch.enable_grad():
            memory, state = model.encode(src, src_lengths)
            by_product = model.decoder(tgt_in, memory, state)[0]
        assert by_product.requires_grad and not from_rows.requires_grad
        return from_rows, by_product.detach()

    torch.testing.assert_close(*both())
    table = model.decoder._vocabulary
    assert table.shape == (TGT_VOCAB, model.decoder.input_emb.out_features)
    both()
    assert model.decoder._vocabulary is table  # kept while no weight changes
    with torch.no_grad():
        model.decoder.embedding.weight[5] += 1.0  # as an optimizer step changes it, in place
    from_rows, by_product = both()
    torch.testing.assert_close(from_rows, by_product)
    assert model.decoder._vocabulary is not table
    model.to(torch.float64)
    from_rows, by_product = both()
    assert from_rows.dtype == torch.float64
    torch.testing.assert_close(from_rows, by_product)

    # training in between: the fused Adam step changes the weights without a version bump
    model.to(torch.float32)
    both()
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1, fused=True)
    memory, state = model.encode(src, src_lengths)
    model.decoder(tgt_in, memory, state)[0].sum().backward()
    optimizer.step()
    model.eval()
    torch.testing.assert_close(*both())
