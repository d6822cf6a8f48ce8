"""Seq2Seq = encoder + decoder: the one interface that search, training and the model file see.

Two families sit behind it: recurrent (rnn_encoder.py, rnn_decoder.py) and the Transformer
(transformer.py). An encoder maps (src, src_lengths) to an EncoderOutput; a decoder has `prepare`
(encoder output -> attention memory and initial state), `step` (one target position) and a
teacher-forced `forward`; memories and states have `select(index)`, so search can reorder them.
The model also offers what decoding needs of it: its step compiled, its inference copy.

Dims: B batch, S source length, T target length, V target vocabulary.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..runtime.precision import low_precision_copy
from .rnn_decoder import AttentionDecoder, DecoderState, Memory
from .rnn_encoder import RNNEncoder
from .stacked_encoder import StackedEncoder
from .transformer import TransformerDecoder, TransformerEncoder, TransformerMemory, TransformerState

AnyMemory = Memory | TransformerMemory
AnyState = DecoderState | TransformerState


class Seq2Seq(nn.Module):
    """The interface search and training use: `encode`, `decode_step`, and teacher-forced `forward`."""

    def __init__(
        self,
        encoder: RNNEncoder | StackedEncoder | TransformerEncoder,
        decoder: AttentionDecoder | TransformerDecoder,
    ):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def encode(self, src: Tensor, src_lengths: Tensor) -> tuple[AnyMemory, AnyState]:
        """src (B, S), src_lengths (B,) -> attention memory and the decoder's initial state."""
        return self.decoder.prepare(self.encoder(src, src_lengths))

    def decode_step(
        self, prev: Tensor, memory: AnyMemory, state: AnyState
    ) -> tuple[Tensor, AnyState, Tensor]:
        """prev (B,) -> logits (B, V), next state, attention weights (B, S)."""
        return self.decoder.step(prev, memory, state)

    def show_head(self, head: int | None) -> None:
        """Report one attention head's weights from decode_step (None: the heads' average); a
        ValueError names the heads there are."""
        self.decoder.show_head(head)

    def compile_steps(self, compiled: bool = True, cuda_graphs: bool = False) -> None:
        """torch.compile the decoder's step (or, with compiled=False, run it eagerly again); the
        decoder says whether it has a step to compile (rnn_decoder.py, transformer.py)."""
        self.decoder.compile_steps(compiled, cuda_graphs)

    def inference_copy(self, precision: str) -> Seq2Seq:
        """The model to decode with: in eval mode and, for bf16/fp16, a copy with weights of that
        type (runtime/precision.py says why), its steps not compiled (torch.compile would compile
        each copy anew)."""
        return decoding_copy(self, precision)

    def forward(
        self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor, positions: Tensor | None = None
    ) -> Tensor:
        """Teacher forcing: (B, S), (B,), (B, T) -> logits (B, T, V), or (N, V) at the N True
        `positions` (B, T) only."""
        memory, state = self.encode(src, src_lengths)
        logits, _, _ = self.decoder(tgt_in, memory, state, positions)
        return logits


def decoding_copy(model: Seq2Seq | nn.Module, precision: str) -> nn.Module:
    """What `inference_copy` returns, for a Seq2Seq or an ensemble of them: `model` in eval mode or,
    for bf16/fp16, a low-precision copy whose steps run eagerly."""
    copied = low_precision_copy(model, precision)
    if copied is not model:
        copied.compile_steps(compiled=False)
    return copied
