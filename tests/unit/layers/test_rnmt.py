"""RNMT+-style switches for the recurrent models (Chen et al. 2018): multi-head attention, layer
normalization in the cells, residual connections between layers, whole-word embedding dropout.
Each is checked against its equation or an independent implementation; together they keep the
search interface's equivalences (forward == step loop, alone == in a padded batch)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seq2seq.config.load import DecoderConfig, EncoderConfig, ModelConfig
from seq2seq.data.tokenizer import BOS_ID, PAD_ID
from seq2seq.layers.cells import GRUCell, LayerNormGRUCell, LayerNormLSTMCell, LSTMCell
from seq2seq.layers.dropout import EmbeddingDropout
from seq2seq.layers.multihead import MultiHeadAdditiveAttention, ScaledDotAttention
from seq2seq.models.build import build_model
from seq2seq.models.stacked_encoder import CellRNN, StackedEncoder

B, S, Q, K, A, H = 3, 5, 4, 6, 8, 2
LENGTHS = torch.tensor([5, 2, 3])


def attention_inputs():
    torch.manual_seed(0)
    query = torch.randn(B, Q, dtype=torch.double)
    keys = torch.randn(B, S, K, dtype=torch.double)
    mask = torch.arange(S)[None, :] < LENGTHS[:, None]
    return query, keys, mask


def head_scores(att, query, keys):
    """e_ij per head i and position j, from each paper's equation, one position at a time."""
    d = A // H
    out = torch.zeros(B, H, S, dtype=torch.double)
    for b in range(B):
        for i in range(H):
            for j in range(S):
                if isinstance(att, MultiHeadAdditiveAttention):
                    w = att.W.weight[i * d : (i + 1) * d] @ query[b]
                    u = att.U.weight[i * d : (i + 1) * d] @ keys[b, j]
                    out[b, i, j] = att.v[i] @ torch.tanh(w + u)
                else:
                    q = att.W_Q.weight[i * d : (i + 1) * d] @ query[b]
                    k = att.W_K.weight[i * d : (i + 1) * d] @ keys[b, j]
                    out[b, i, j] = q @ k / d**0.5
    return out.detach()


@pytest.mark.parametrize("kind", [MultiHeadAdditiveAttention, ScaledDotAttention])
def test_multi_head_attention_concatenates_each_heads_average_of_its_value_projection(kind):
    torch.manual_seed(1)
    att = kind(Q, K, A, H).double()
    for p in att.parameters():
        nn.init.uniform_(p, -1, 1)
    query, keys, mask = attention_inputs()
    values = att.project_values(keys)
    context, weights = att(query, att.project_keys(keys), values, mask)

    scores = head_scores(att, query, keys).masked_fill(~mask[:, None, :], float("-inf"))
    alpha = torch.softmax(scores, dim=-1)  # (B, H, S)
    assert torch.allclose(alpha.sum(-1), torch.ones(B, H, dtype=torch.double))
    assert (alpha.masked_select(~mask[:, None, :].expand_as(alpha)) == 0).all()
    d = K // H
    expected = torch.cat(
        [torch.einsum("bs,bsd->bd", alpha[:, i], values[..., i * d : (i + 1) * d]) for i in range(H)],
        dim=-1,
    )
    torch.testing.assert_close(context, expected.detach())
    torch.testing.assert_close(weights, alpha.mean(1).detach())  # reported: the heads' average
    att.show_head(1)
    torch.testing.assert_close(att(query, att.project_keys(keys), values, mask)[1], alpha[:, 1].detach())
    with pytest.raises(ValueError, match="head 2 does not exist"):
        att.show_head(2)


def layer_norm(x):
    return F.layer_norm(x, (x.size(-1),))


def test_layer_norm_cells_follow_ba_et_al():
    torch.manual_seed(2)
    h, c, x = torch.randn(3, 5), torch.randn(3, 5), torch.randn(3, 20)
    lstm = LayerNormLSTMCell(5)
    for p in lstm.parameters():
        nn.init.uniform_(p, -1, 1)
    g_x = [
        layer_norm(part) * w + b for part, w, b in zip(x.chunk(4, -1), lstm.norm_x.weight, lstm.norm_x.bias)
    ]
    g_h = [
        layer_norm(part) * w + b
        for part, w, b in zip(lstm.hh(h).chunk(4, -1), lstm.norm_h.weight, lstm.norm_h.bias)
    ]
    i, f, g, o = (a + b for a, b in zip(g_x, g_h))
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_new = torch.sigmoid(o) * torch.tanh(lstm.norm_c(c_new))
    out = lstm(x, (h, c))
    torch.testing.assert_close(out[0], h_new)
    torch.testing.assert_close(out[1], c_new)

    gru = LayerNormGRUCell(5)
    x = torch.randn(3, 15)
    for p in gru.parameters():
        nn.init.uniform_(p, -1, 1)
    x_r, x_z, x_n = (
        layer_norm(p) * w + b for p, w, b in zip(x.chunk(3, -1), gru.norm_x.weight, gru.norm_x.bias)
    )
    h_r, h_z, h_n = (
        layer_norm(p) * w + b for p, w, b in zip(gru.hh(h).chunk(3, -1), gru.norm_h.weight, gru.norm_h.bias)
    )
    r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    torch.testing.assert_close(gru(x, (h,))[0], (1 - z) * n + z * h)


def copy_weights(reference: nn.RNNBase, layer: int, directions: tuple[CellRNN, CellRNN]) -> None:
    """Give a layer's forward and backward CellRNN the weights of torch's RNN `reference`."""
    for rnn_dir, suffix in zip(directions, ("", "_reverse")):
        rnn_dir.input.weight.data = getattr(reference, f"weight_ih_l{layer}{suffix}").data
        rnn_dir.input.bias.data = getattr(reference, f"bias_ih_l{layer}{suffix}").data
        rnn_dir.cell.hh.weight.data = getattr(reference, f"weight_hh_l{layer}{suffix}").data
        rnn_dir.cell.hh.bias.data = getattr(reference, f"bias_hh_l{layer}{suffix}").data


@pytest.mark.parametrize("rnn", ["gru", "lstm"])
def test_the_stacked_encoder_without_switches_is_torchs_bidirectional_rnn(rnn):
    """Built from our cells with residuals and layer norm off, it computes what nn.GRU/nn.LSTM do."""
    torch.manual_seed(3)
    reference = {"gru": nn.GRU, "lstm": nn.LSTM}[rnn](
        6, 5, num_layers=2, bidirectional=True, batch_first=True
    )
    cell = {"gru": GRUCell, "lstm": LSTMCell}[rnn]
    layers = [(CellRNN(size, cell(5)), CellRNN(size, cell(5))) for size in (6, 10)]
    for layer, directions in enumerate(layers):
        copy_weights(reference, layer, directions)
    embedding = nn.Embedding(20, 6, padding_idx=PAD_ID)
    encoder = StackedEncoder(embedding, layers, dropout=0.0, embedding_dropout=0.0, residual=False).eval()
    src = torch.randint(4, 20, (3, 5))
    lengths = torch.tensor([5, 2, 3])
    src[1, 2:], src[2, 3:] = PAD_ID, PAD_ID
    out = encoder(src, lengths)
    packed = nn.utils.rnn.pack_padded_sequence(
        embedding(src), lengths, batch_first=True, enforce_sorted=False
    )
    states, hidden = reference(packed)
    states, _ = nn.utils.rnn.pad_packed_sequence(states, batch_first=True, total_length=5)
    h_n = hidden[0] if rnn == "lstm" else hidden
    torch.testing.assert_close(out.states, states)
    torch.testing.assert_close(out.final, torch.cat([h_n[-2], h_n[-1]], dim=-1))


def rnmt_model(attention: str, score: str, rnn: str):
    cfg = ModelConfig(
        encoder=EncoderConfig(
            rnn=rnn,
            emb_size=6,
            hidden_size=8,
            layers=2,
            layer_norm=True,
            residual=True,
            embedding_dropout=0.1,
        ),
        decoder=DecoderConfig(
            rnn=rnn,
            emb_size=7,
            hidden_size=16,
            layers=3,
            attention=attention,
            luong_score=score,
            attention_size=8,
            attention_heads=4,
            layer_norm=True,
            residual=True,
            embedding_dropout=0.1,
        ),
    )
    torch.manual_seed(0)
    model = build_model(cfg, 13, 11).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.empty_like(p).uniform_(-0.5, 0.5))
    return model


@pytest.mark.parametrize(
    "attention,score,rnn",
    [("bahdanau", "general", "gru"), ("luong", "concat", "lstm"), ("luong", "scaled_dot", "gru")],
)
def test_an_rnmt_model_steps_as_it_forwards_and_decodes_a_sentence_alone_as_in_a_batch(attention, score, rnn):
    model = rnmt_model(attention, score, rnn)
    torch.manual_seed(4)
    src = torch.randint(4, 13, (3, 5))
    lengths = torch.tensor([5, 2, 3])
    src[1, 2:], src[2, 3:] = PAD_ID, PAD_ID
    tgt = torch.randint(4, 11, (3, 4))
    tgt[:, 0] = BOS_ID
    with torch.no_grad():
        full = model(src, lengths, tgt)
        memory, state = model.encode(src, lengths)
        steps = []
        for t in range(4):
            logits, state, weights = model.decode_step(tgt[:, t], memory, state)
            steps.append(logits)
            torch.testing.assert_close(weights.sum(-1), torch.ones(3))
            assert (weights[1, 2:] == 0).all() and (weights[2, 3:] == 0).all()
        torch.testing.assert_close(torch.stack(steps, 1), full)
        alone = model(src[1:2, :2], lengths[1:2], tgt[1:2])
        torch.testing.assert_close(alone, full[1:2])


def test_residual_connections_add_up_the_layers_outputs():
    model = rnmt_model("luong", "concat", "gru")
    layers = tuple((torch.randn(2, 16),) for _ in range(3))
    # x^2 = h^1 + h^0 ... the stack's output is the sum of every layer's h
    torch.testing.assert_close(model.decoder._top(layers), layers[0][0] + layers[1][0] + layers[2][0])


def test_the_decoder_stack_feeds_each_layer_the_sum_below_it():
    """An oracle from the cells alone: layer 2 reads h^1, layer 3 reads h^2 + h^1 (GNMT's residual
    from layer 2 on); dropping a residual changes h^3."""
    decoder = rnmt_model("luong", "concat", "gru").decoder
    cells, project = decoder.cells, decoder.input_layers
    torch.manual_seed(1)
    x_proj = torch.randn(2, cells[0].gates * 16)
    before = tuple((torch.randn(2, 16),) for _ in range(3))
    h1 = cells[0](x_proj, before[0])[0]
    h2 = cells[1](project[0](h1), before[1])[0]
    h3 = cells[2](project[1](h2 + h1), before[2])[0]
    stepped = decoder._stack(x_proj, before)
    for got, want in zip(stepped, (h1, h2, h3)):
        torch.testing.assert_close(got[0], want)
    torch.testing.assert_close(decoder._top(stepped), h3 + h2 + h1)


def test_the_stacked_encoder_adds_each_layers_input_from_layer_2_on():
    """An oracle from torch's own single-layer bidirectional GRUs, summed by hand:
    x^2 = h^1, x^3 = h^2 + x^2, output = h^3 + x^3."""
    torch.manual_seed(4)
    references = [nn.GRU(size, 5, bidirectional=True, batch_first=True) for size in (6, 10, 10)]
    layers = [(CellRNN(size, GRUCell(5)), CellRNN(size, GRUCell(5))) for size in (6, 10, 10)]
    for reference, directions in zip(references, layers):
        copy_weights(reference, 0, directions)
    embedding = nn.Embedding(20, 6, padding_idx=PAD_ID)
    encoder = StackedEncoder(embedding, layers, dropout=0.0, embedding_dropout=0.0, residual=True).eval()
    src = torch.randint(4, 20, (2, 5))  # no padding: torch's GRU reads every position
    lengths = torch.tensor([5, 5])
    with torch.no_grad():
        x2 = references[0](embedding(src))[0]
        x3 = references[1](x2)[0] + x2
        want = references[2](x3)[0] + x3
        torch.testing.assert_close(encoder(src, lengths).states, want)


def test_embedding_dropout_drops_whole_word_vectors_and_draws_nothing_when_off():
    drop = EmbeddingDropout(0.5).train()
    x = torch.ones(200, 7, 4)
    y = drop(x)
    zero_rows = (y == 0).all(-1)
    assert ((y == 0) == zero_rows.unsqueeze(-1)).all()  # a vector is dropped whole or kept whole
    assert 0.4 < zero_rows.float().mean() < 0.6
    assert torch.equal(y[~zero_rows], torch.full_like(y[~zero_rows], 2.0))
    state = torch.get_rng_state()
    assert torch.equal(EmbeddingDropout(0.0).train()(x), x)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(drop.eval()(x), x)


def test_the_switches_off_build_todays_model():
    """Defaults add no parameter and no module: model files written before them load unchanged."""
    torch.manual_seed(0)
    plain = build_model(ModelConfig(), 13, 11)
    assert not any(k for k in plain.state_dict() if "norm" in k or "W_V" in k)
    assert type(plain.encoder).__name__ == "RNNEncoder"
