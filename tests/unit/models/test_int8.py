"""int8.py: every linear and fused recurrent layer of every model family becomes int8 (but the two
kept ones) and the model computes nearly what it did; an int8 model file holds plain tensors only,
loads with weights_only, is smaller, and gives back exactly the quantized model; a file whose int8
weights do not fit is one clear error."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import torch.ao.nn.quantized.dynamic as nnqd
from helpers import random_batch, tiny_config_dict
from torch import nn

from seq2seq.config.load import config_from_dict
from seq2seq.errors import UserError
from seq2seq.models.build import build
from seq2seq.models.int8 import KEPT, int8_weights, quantize
from seq2seq.models.model_file import ModelFile

V = 40  # vocabulary of the random batches

RNN = {"encoder": {"emb_size": 16, "hidden_size": 16}, "decoder": {"emb_size": 16, "hidden_size": 32}}
VARIANTS = {
    "gru-bahdanau-tanh": {},
    "lstm-bahdanau-maxout": {"encoder": {"rnn": "lstm"}, "decoder": {"rnn": "lstm", "readout": "maxout"}},
    "luong-general": {"decoder": {"attention": "luong"}},
    "luong-dot": {"decoder": {"attention": "luong", "luong_score": "dot"}},
    "luong-scaled-dot-2-heads": {
        "decoder": {"attention": "luong", "luong_score": "scaled_dot", "attention_heads": 2}
    },
    "additive-2-heads": {"decoder": {"attention_heads": 2}},
    "stacked-layer-norm-residual": {
        "encoder": {"layers": 2, "layer_norm": True, "residual": True},
        "decoder": {"layers": 2, "layer_norm": True, "residual": True},
    },
    "transformer-tied": "transformer",
}


def _config(variant: str):
    raw = tiny_config_dict(Path("unused"))
    changes = VARIANTS[variant]
    if changes == "transformer":
        sizes = {"encoder_layers": 2, "decoder_layers": 2, "d_model": 32, "heads": 4, "d_ff": 64}
        raw["model"] = {"architecture": "transformer", "transformer": sizes, "tie_tgt_embeddings": True}
    else:
        raw["model"] = {side: RNN[side] | changes.get(side, {}) for side in RNN}
        if raw["model"]["decoder"].get("luong_score") == "dot":  # dot needs query size == key size
            raw["model"]["decoder"]["hidden_size"] = 32
    return config_from_dict(raw)


def _model(variant: str) -> nn.Module:
    torch.manual_seed(0)
    return build(_config(variant), V, V).eval()


def _centered_logprobs(model: nn.Module, vocab: int = V) -> torch.Tensor:
    src, lengths, tgt_in = random_batch([5, 3, 7], vocab, vocab, 6)
    with torch.inference_mode():
        logp = torch.log_softmax(model(src, lengths, tgt_in), dim=-1)
    return logp - logp.mean(dim=-1, keepdim=True)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_linear_and_fused_recurrent_layer_but_the_kept_ones_becomes_int8(variant):
    model = quantize(_model(variant))
    kept = {
        f"{owner_name}.{attribute}".lstrip(".")
        for owner_name, owner in model.named_modules()
        for kind, attribute in KEPT
        if isinstance(owner, kind)
    }
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.RNNBase)):
            assert name in kept, f"{name} ({type(module).__name__}) stayed float"
        if name in kept:
            assert isinstance(module, nn.Linear), name
    assert any(isinstance(m, nnqd.Linear) for m in model.modules())
    if VARIANTS[variant] in ({}, "transformer") or "encoder" not in VARIANTS[variant]:
        return
    if not VARIANTS[variant]["encoder"].get("layer_norm"):  # torch's fused LSTM: its int8 twin
        assert isinstance(model.encoder.rnn, nnqd.LSTM)


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_int8_model_computes_nearly_what_the_float_one_does(variant):
    """The log-probabilities of a teacher-forced batch, each row centered (softmax ignores a
    shift): int8 differs from fp32 by a few percent of their spread at most."""
    model = _model(variant)
    expected = _centered_logprobs(model)
    got = _centered_logprobs(quantize(copy.deepcopy(model)))
    assert ((got - expected).norm() / expected.norm()).item() < 0.05


def _int8_file(variant: str, tmp_path: Path, tokenizer) -> tuple[Path, Path, nn.Module]:
    """The float model file and int8 model file of one variant, and the quantized model."""
    cfg = _config(variant)
    torch.manual_seed(0)
    model = build(cfg, len(tokenizer.src), len(tokenizer.tgt)).eval()
    float_file = ModelFile.of(model, cfg, tokenizer)
    float_file.write(tmp_path / "fp32.pt")
    quantized = quantize(model)
    int8 = int8_weights(quantized)
    weights = {k: v for k, v in float_file.weights.items() if k not in int8}
    ModelFile(float_file.config, float_file.tokenizer, weights, int8=int8).write(tmp_path / "int8.pt")
    return tmp_path / "fp32.pt", tmp_path / "int8.pt", quantized


@pytest.mark.parametrize("variant", ["lstm-bahdanau-maxout", "transformer-tied"])
def test_an_int8_file_holds_plain_tensors_and_loads_back_the_exact_quantized_model(
    variant, tmp_path, tokenizer
):
    _, path, quantized = _int8_file(variant, tmp_path, tokenizer)
    data = torch.load(path, weights_only=True)
    assert data["format_version"] == 2
    for name, plain in data["int8"].items():
        assert set(plain) == {"values", "scales", "zero_points"}, name
        assert plain["values"].dtype == torch.int8 and not plain["values"].is_quantized
        assert plain["scales"].shape == plain["zero_points"].shape == plain["values"].shape[:1]
    for tensor in data["model"].values():
        assert not tensor.is_quantized

    loaded, _, _ = ModelFile.read(path).build()
    expected, got = int8_weights(quantized), int8_weights(loaded)
    assert expected.keys() == got.keys()
    for name in expected:
        for part in ("values", "scales", "zero_points"):
            assert torch.equal(got[name][part], expected[name][part]), (name, part)
    vocab = min(len(tokenizer.src), len(tokenizer.tgt))
    assert torch.equal(_centered_logprobs(loaded.eval(), vocab), _centered_logprobs(quantized, vocab))


def test_an_int8_file_is_smaller(tmp_path, tokenizer):
    """Its matrices in a quarter of the bytes; the tokenizer and config are the same in both."""
    fp32, int8, _ = _int8_file("lstm-bahdanau-maxout", tmp_path, tokenizer)
    matrix_bytes = {
        path: sum(t.numel() * t.element_size() for t in _tensors(torch.load(path, weights_only=True)))
        for path in (fp32, int8)
    }
    assert matrix_bytes[int8] < 0.5 * matrix_bytes[fp32]
    assert int8.stat().st_size < fp32.stat().st_size


def _tensors(data: dict) -> list[torch.Tensor]:
    int8 = [t for plain in data.get("int8", {}).values() for t in plain.values()]
    return list(data["model"].values()) + int8


def _rewritten(path: Path, change) -> Path:
    data = torch.load(path, weights_only=True)
    change(data)
    torch.save(data, path)
    return path


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda d: d["int8"].pop("decoder.output.weight"), "missing weights decoder.output.weight"),
        (
            lambda d: d["int8"]["decoder.output.weight"].update(values=torch.zeros(3, 3, dtype=torch.int8)),
            "decoder.output.weight: int8 weights of shape (3, 3)",
        ),
        (lambda d: d["int8"]["decoder.bridge.weight"].pop("scales"), "need values, scales and zero_points"),
        (lambda d: d.update(int8={"x": 1}), "not a table of values, scales and zero_points"),
    ],
    ids=["missing", "shape", "no-scales", "not-a-table"],
)
def test_int8_weights_that_do_not_fit_are_one_clear_error(tmp_path, tokenizer, change, words):
    _, path, _ = _int8_file("gru-bahdanau-tanh", tmp_path, tokenizer)
    with pytest.raises(UserError) as e:
        ModelFile.read(_rewritten(path, change)).build()
    assert "the weights do not fit the model its config describes" in str(e.value)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_a_linear_layer_type_int8_does_not_know_is_a_loud_error():
    """A new nn.Linear subclass must be mapped (or kept) by decision, not quantized as a plain
    linear layer, whose forward may not be its forward."""

    class Scaled(nn.Linear):
        def forward(self, x):
            return 2 * super().forward(x)

    with pytest.raises(TypeError, match="Scaled is a linear layer that models/int8.py does not map"):
        quantize(nn.Sequential(Scaled(4, 4)))
