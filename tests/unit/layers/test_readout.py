"""readout.py, and an oracle for the Bahdanau decoder: its logits computed by hand from the
equations of arXiv:1409.0473 (appendix A.1.2 attention, A.2 decoder, A.2.2 readout) on tiny tensors,
one sentence and one step at a time, in float64, with the model's own weights."""

from __future__ import annotations

import math

import pytest
import torch

from seq2seq.config.load import DecoderConfig, EncoderConfig, ModelConfig
from seq2seq.data.tokenizer import BOS_ID, PAD_ID
from seq2seq.errors import UserError
from seq2seq.layers.readout import MaxoutReadout, TanhReadout
from seq2seq.models.build import build_model

SRC_VOCAB, TGT_VOCAB = 9, 8
E_SRC, H_ENC, E, H, A = 3, 2, 3, 4, 5  # D = 2 * H_ENC (bidirectional)


def test_maxout_takes_the_larger_of_each_consecutive_pair():
    readout = MaxoutReadout(hidden_size=2, emb_size=1, context_size=1)
    with torch.no_grad():
        readout.weight.copy_(torch.eye(4))  # t~ = x
    x = torch.tensor([[1.0, -2.0, 5.0, 3.0], [-1.0, -0.5, 0.0, 7.0]])
    assert readout(x).tolist() == [[1.0, 5.0], [-0.5, 7.0]]
    assert readout.inputs(*(torch.full((1, n), float(n)) for n in (2, 9, 1, 1))).tolist() == [[2, 2, 1, 1]]


def test_tanh_reads_the_new_state_and_the_context():
    readout = TanhReadout(hidden_size=2, emb_size=3, context_size=1)
    prev, state, emb, context = (torch.full((1, n), v) for n, v in ((2, 1.0), (2, 2.0), (3, 3.0), (1, 4.0)))
    assert readout.inputs(prev, state, emb, context).tolist() == [[2.0, 2.0, 4.0]]
    assert readout.weight.shape == (2, 3) and readout.bias.shape == (2,)


def test_maxout_is_refused_with_luong_attention():
    with pytest.raises(UserError, match="model.decoder.readout: maxout is for attention: bahdanau"):
        from seq2seq.config.load import config_from_dict

        config_from_dict(
            {
                "run_dir": "r",
                "data": {"train_src": "a", "train_tgt": "b", "valid_src": "c", "valid_tgt": "d"},
                "model": {"decoder": {"attention": "luong", "readout": "maxout"}},
            }
        )


def make_model(readout: str):
    cfg = ModelConfig(
        encoder=EncoderConfig(emb_size=E_SRC, hidden_size=H_ENC, dropout=0.0),
        decoder=DecoderConfig(
            emb_size=E, hidden_size=H, attention_size=A, dropout=0.0, attention="bahdanau", readout=readout
        ),
    )
    torch.manual_seed(0)
    model = build_model(cfg, SRC_VOCAB, TGT_VOCAB).double().eval()
    with torch.no_grad():  # weights large enough that every tanh and max is far from linear
        for p in model.parameters():
            p.uniform_(-1.5, 1.5)
    return model


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    return 1.0 / (1.0 + torch.exp(-x))


def oracle_logits(model, h: torch.Tensor, h_final: torch.Tensor, y_prev: list[int], readout: str):
    """One sentence: encoder states h (S, D), final encoder state (D,), decoder inputs
    y_0..y_{T-1} (BOS first) -> logits (T, V), by the paper's equations."""
    d = model.decoder
    W = dict(d.named_parameters())
    s = torch.tanh(W["bridge.weight"] @ h_final + W["bridge.bias"])  # s_0 (A.2.2's init, via a bridge)
    W_i = torch.cat([W["input_emb.weight"], W["input_context.weight"]], dim=1)  # [E y; c] -> 3H
    b_i = W["input_emb.bias"]
    W_h, b_h = W["cells.0.hh.weight"], W["cells.0.hh.bias"]
    logits = []
    for y in y_prev:
        # A.1.2: e_j = v_a^T tanh(W_a s_{i-1} + U_a h_j); alpha = softmax(e); c_i = sum_j alpha_j h_j
        e = torch.stack(
            [
                W["attention.v.weight"][0]
                @ torch.tanh(W["attention.W.weight"] @ s + W["attention.U.weight"] @ h_j)
                for h_j in h
            ]
        )
        alpha = torch.exp(e - e.max()) / torch.exp(e - e.max()).sum()
        c = (alpha.unsqueeze(1) * h).sum(0)
        # the GRU step on x = [E y_{i-1}; c_i] (torch.nn.GRUCell's gates r, z, n)
        emb = W["embedding.weight"][y]
        gx, gh = W_i @ torch.cat([emb, c]) + b_i, W_h @ s + b_h
        r = sigmoid(gx[:H] + gh[:H])
        z = sigmoid(gx[H : 2 * H] + gh[H : 2 * H])
        n = torch.tanh(gx[2 * H :] + r * gh[2 * H :])
        s_new = (1 - z) * n + z * s
        if readout == "tanh":  # o_i = tanh(W_o [s_i; c_i] + b_o)
            o = torch.tanh(W["readout.weight"] @ torch.cat([s_new, c]) + W["readout.bias"])
        else:  # A.2.2: t~ = U_o s_{i-1} + V_o E y_{i-1} + C_o c_i; t_j = max(t~_{2j-1}, t~_{2j})
            U_o, V_o, C_o = W["readout.weight"].split([H, E, 2 * H_ENC], dim=1)
            t_tilde = U_o @ s + V_o @ emb + C_o @ c
            o = torch.stack([max(t_tilde[2 * j], t_tilde[2 * j + 1]) for j in range(H)])
        logits.append(W["output.weight"] @ o + W["output.bias"])
        s = s_new
    return torch.stack(logits)


@pytest.mark.parametrize("readout", ["tanh", "maxout"])
def test_bahdanau_logits_equal_the_papers_equations_by_hand(readout):
    model = make_model(readout)
    src = torch.tensor([[4, 5, 6, 7], [8, 4, PAD_ID, PAD_ID]])
    src_lengths = torch.tensor([4, 2])
    tgt_in = torch.tensor([[BOS_ID, 4, 5], [BOS_ID, 6, 7]])
    with torch.no_grad():
        enc = model.encoder(src, src_lengths)
        memory, state = model.encode(src, src_lengths)
        logits, _, _ = model.decoder(tgt_in, memory, state)
    for b, n in enumerate(src_lengths.tolist()):
        want = oracle_logits(model, enc.states[b, :n], enc.final[b], tgt_in[b].tolist(), readout)
        torch.testing.assert_close(logits[b], want, rtol=1e-9, atol=1e-9)
    assert not math.isclose(float(logits[0, 1].std()), 0.0)  # not a degenerate oracle


def test_maxout_decoder_steps_equal_its_teacher_forced_forward():
    """Search decodes step by step: the maxout readout's s_{i-1} and E y_{i-1} must be the same there."""
    model = make_model("maxout")
    src, src_lengths = torch.tensor([[4, 5, 6], [7, 8, PAD_ID]]), torch.tensor([3, 2])
    tgt_in = torch.tensor([[BOS_ID, 4, 5, 6], [BOS_ID, 7, 7, 4]])
    with torch.no_grad():
        memory, state = model.encode(src, src_lengths)
        logits, _, _ = model.decoder(tgt_in, memory, state)
        for t in range(tgt_in.size(1)):
            step_logits, state, _ = model.decode_step(tgt_in[:, t], memory, state)
            torch.testing.assert_close(step_logits, logits[:, t])
