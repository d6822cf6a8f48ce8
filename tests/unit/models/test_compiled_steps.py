"""decoder.compile_steps: the recurrent decoder's step, compiled by torch.compile as one graph, gives
the logits and gradients of the eager step within bf16 rounding, in training and in decoding.

Both backends are checked: aot_eager (the capture that inductor and CUDA graphs build on, in seconds)
and inductor, the one `--compile` and `train.compile` use, which generates C++ on the CPU with the
system compiler (half a minute or so a model here). In fp32 the compiled step must give the eager
one's numbers within fp32 rounding (fused kernels sum in another order), under bf16 autocast within
bf16 rounding. tests/system/test_cuda.py checks inductor with CUDA graphs on a GPU."""

from __future__ import annotations

import shutil

import pytest
import torch

from seq2seq.config.load import DecoderConfig, EncoderConfig, ModelConfig
from seq2seq.models.build import build_model

BACKENDS = [
    "aot_eager",
    pytest.param(
        "inductor",
        marks=pytest.mark.skipif(
            not any(shutil.which(c) for c in ("g++", "c++", "clang++")),
            reason="inductor compiles C++ on the CPU: install a C++ compiler (g++)",
        ),
    ),
]
# tolerance of the compiled step against the eager one: rounding of the number type, as relative
# and absolute error (bf16 keeps 8 bits of mantissa; fp32 24, but a fused kernel sums in its own order)
TOLERANCES = {"fp32": 1e-4, "bf16": 2e-2}
MODELS = {
    "gru-bahdanau": ModelConfig(
        encoder=EncoderConfig(emb_size=16, hidden_size=16),
        decoder=DecoderConfig(emb_size=16, hidden_size=32, attention_size=24),
    ),
    "lstm-luong": ModelConfig(
        encoder=EncoderConfig(rnn="lstm", emb_size=16, hidden_size=16),
        decoder=DecoderConfig(rnn="lstm", emb_size=16, hidden_size=32, layers=2, attention="luong"),
    ),
}


@pytest.fixture(autouse=True)
def fresh_compiler():
    """Each test compiles anew: the step's code object is shared by every model, and torch.compile
    allows a code object only so many recompilations in one process."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    lengths = torch.tensor([9, 4, 7, 2])
    src = torch.randint(4, 40, (4, 9), generator=g).masked_fill(torch.arange(9) >= lengths[:, None], 0)
    return src, lengths, torch.randint(4, 50, (4, 6), generator=g)


def logits_and_gradients(model, precision: str) -> list[torch.Tensor]:
    src, lengths, tgt = batch()
    model.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        logits = model(src, lengths, tgt)
    (logits.float() * torch.linspace(-1, 1, logits.numel()).view_as(logits)).sum().backward()
    return [logits.float()] + [p.grad.float() for p in model.parameters()]


@pytest.mark.system
@pytest.mark.parametrize("precision", list(TOLERANCES))
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(MODELS))
def test_compiled_steps_train_and_decode_like_the_eager_ones(name, backend, precision):
    torch.manual_seed(0)
    model = build_model(MODELS[name], 40, 50).eval()  # no dropout: the same function both ways
    eager = logits_and_gradients(model, precision)
    model.decoder.compile_steps(backend=backend)
    compiled = logits_and_gradients(model, precision)
    tolerance = TOLERANCES[precision]
    for a, b in zip(compiled, eager):
        torch.testing.assert_close(a, b, rtol=tolerance, atol=tolerance)

    src, lengths, _ = batch()
    prev = torch.full((4,), 2)
    with torch.inference_mode():
        memory, state = model.encode(src, lengths)
        steps = [model.decode_step(prev, memory, state)[0]]
        model.decoder.compile_steps(compiled=False)
        steps.append(model.decode_step(prev, memory, state)[0])
    torch.testing.assert_close(steps[0], steps[1], rtol=1e-5, atol=1e-5)
