"""wide_linear.py: on a CPU in fp32, a layer of at least WIDE outputs computes x W^T + b through
oneDNN, equal to nn.Linear's to rounding, with nn.Linear's gradients; narrower, in another type or
under autocast it is nn.Linear bit for bit; a model decodes the same translations either way."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import ProfilerActivity, profile

from seq2seq.config.load import DecoderConfig, EncoderConfig, ModelConfig
from seq2seq.data.tokenizer import EOS_ID, PAD_ID
from seq2seq.decoding.search import beam_search, greedy_search, max_lengths
from seq2seq.layers import wide_linear
from seq2seq.layers.wide_linear import WIDE, WideLinear
from seq2seq.models.build import build_model

needs_onednn = pytest.mark.skipif(not wide_linear._onednn, reason="torch built without oneDNN")


def ops_run(fn, *args) -> tuple[set[str], object]:
    """The operators fn(*args) ran, and what it returned."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        result = fn(*args)
    return {event.key for event in prof.key_averages()}, result


def inputs(size: int) -> list[torch.Tensor]:
    """(N, I), (B, T, I), a transposed (N, I) view and a column slice: every layout a caller has."""
    return [
        torch.randn(37, size),
        torch.randn(3, 5, size),
        torch.randn(size, 9).t(),
        torch.randn(6, 2 * size)[:, :size],
    ]


@needs_onednn
@pytest.mark.parametrize("bias", [True, False])
def test_without_autograd_a_wide_layer_runs_onednn_and_equals_nn_linear(bias):
    torch.manual_seed(0)
    layer = WideLinear(48, WIDE, bias=bias)
    for x in inputs(48):
        with torch.no_grad():
            expected = F.linear(x, layer.weight, layer.bias)
            ops, y = ops_run(layer, x)
            assert "mkldnn::_linear_pointwise" in ops
            torch.testing.assert_close(y, expected, rtol=1e-5, atol=1e-5)


@needs_onednn
@pytest.mark.parametrize("bias", [True, False])
def test_with_autograd_a_wide_layer_runs_onednn_forward_and_nn_linears_gradients(bias):
    torch.manual_seed(0)
    wide, plain = WideLinear(48, WIDE, bias=bias), nn.Linear(48, WIDE, bias=bias)
    plain.load_state_dict(wide.state_dict())
    for x in inputs(48):
        grad = torch.randn(*x.shape[:-1], WIDE)
        results = []
        for layer in (wide, plain):
            layer.zero_grad()
            x_ = x.detach().requires_grad_()
            ops, y = ops_run(layer, x_)
            (y * grad).sum().backward()
            results += [y, x_.grad, layer.weight.grad] + ([layer.bias.grad] if bias else [])
            assert ("mkldnn::_linear_pointwise" in ops) == (layer is wide)
        half = len(results) // 2
        for got, expected in zip(results[:half], results[half:], strict=True):
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "out_features, dtype, autocast",
    [(WIDE - 1, torch.float32, False), (WIDE, torch.float64, False), (WIDE, torch.float32, True)],
)
@pytest.mark.parametrize("grad", [False, True])
def test_narrow_in_another_type_or_under_autocast_it_is_nn_linear_bit_for_bit(
    out_features, dtype, autocast, grad
):
    torch.manual_seed(0)
    layer = WideLinear(16, out_features).to(dtype)
    x = torch.randn(7, 16, dtype=dtype)
    with torch.set_grad_enabled(grad), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        ops, y = ops_run(layer, x)
        assert "mkldnn::_linear_pointwise" not in ops
        assert y.dtype == (torch.bfloat16 if autocast else dtype)
        assert torch.equal(y, F.linear(x, layer.weight, layer.bias))


def test_its_parameters_and_state_dict_are_nn_linears():
    torch.manual_seed(0)
    plain, wide = nn.Linear(16, WIDE), WideLinear(16, WIDE)
    wide.load_state_dict(plain.state_dict())
    assert list(wide.state_dict()) == list(plain.state_dict()) == ["weight", "bias"]
    x = torch.randn(4, 16, requires_grad=True)
    torch.testing.assert_close(wide(x), plain(x), rtol=1e-5, atol=1e-5)


SRC_VOCAB, TGT_VOCAB = 30, WIDE + 8  # the output layer is wide


@pytest.fixture(scope="module")
def model():
    """A random GRU model whose output layer and decoder gates (3 x 344 = 1,032) are wide."""
    cfg = ModelConfig(
        encoder=EncoderConfig(rnn="gru", emb_size=8, hidden_size=16, dropout=0.0),
        decoder=DecoderConfig(rnn="gru", emb_size=8, hidden_size=344, attention_size=16, dropout=0.0),
    )
    torch.manual_seed(0)
    return build_model(cfg, SRC_VOCAB, TGT_VOCAB).eval()


@needs_onednn
@pytest.mark.parametrize("kwargs", [{}, {"beam_size": 4, "alpha": 1.0, "n_best": 2}])
def test_a_model_decodes_the_same_through_onednn_as_through_nn_linear(model, kwargs, monkeypatch):
    torch.manual_seed(1)
    lengths = torch.tensor([7, 3, 5])
    src = torch.randint(4, SRC_VOCAB, (3, 7))
    src[torch.arange(7) >= lengths[:, None]] = PAD_ID
    src[torch.arange(3), lengths - 1] = EOS_ID
    max_lens = max_lengths(lengths, 1.5, 3)

    def search():
        return (beam_search if kwargs else greedy_search)(model, src, lengths, max_lens, **kwargs)

    with torch.no_grad():
        ops, fast = ops_run(search)
        assert "mkldnn::_linear_pointwise" in ops
        monkeypatch.setattr(wide_linear, "_onednn", False)
        plain = search()
    for fast_hyps, plain_hyps in zip(fast, plain, strict=True):
        assert [h.tokens for h in fast_hyps] == [h.tokens for h in plain_hyps]
        for f, p in zip(fast_hyps, plain_hyps, strict=True):
            assert f.score == pytest.approx(p.score, abs=1e-4)
