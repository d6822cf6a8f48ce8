"""Several models decoding as one: at every step their log-probabilities are averaged,
    log p(y_t | y_<t, x) = 1/N sum_n log p_n(y_t | y_<t, x)   (then normalized again by search),
behind the interface search uses (`encode`, `decode_step`, `select`), so beam search, greedy search,
n-best and attention output work for an ensemble as for one model. The models may be of different
families (recurrent, Transformer); they must share the tokenizer, so ids mean the same pieces.
Dims: B batch (sentences x beams), S source length, V target vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..data.tokenizer import Tokenizer
from ..errors import UserError
from .seq2seq import Seq2Seq, decoding_copy


def check_shared_vocabulary(names: Sequence[str], tokenizers: Sequence[Tokenizer]) -> None:
    """The models named (files) must share the first one's source and target vocabularies, so
    that ids mean the same pieces to all of them; else one line names the first that does not."""
    for name, other in zip(names[1:], tokenizers[1:]):
        for side, what in (("tgt", "target"), ("src", "source")):
            if not getattr(tokenizers[0], side).same_as(getattr(other, side)):
                raise UserError(
                    f"{name} has another {what} vocabulary than {names[0]}; the models of an ensemble "
                    "must share it (train them with the same data and tokenizer settings)"
                )


@dataclass(frozen=True)
class EnsembleMemory:
    members: tuple

    def select(self, index: Tensor) -> EnsembleMemory:
        return EnsembleMemory(tuple(m.select(index) for m in self.members))


@dataclass(frozen=True)
class EnsembleState:
    members: tuple

    def select(self, index: Tensor) -> EnsembleState:
        return EnsembleState(tuple(s.select(index) for s in self.members))


class Ensemble(nn.Module):
    def __init__(self, models: list[Seq2Seq]):
        super().__init__()
        self.models = nn.ModuleList(models)

    def encode(self, src: Tensor, src_lengths: Tensor) -> tuple[EnsembleMemory, EnsembleState]:
        """src (B, S), src_lengths (B,) -> every model's memory and initial state."""
        encoded = [model.encode(src, src_lengths) for model in self.models]
        return EnsembleMemory(tuple(m for m, _ in encoded)), EnsembleState(tuple(s for _, s in encoded))

    def decode_step(
        self, prev: Tensor, memory: EnsembleMemory, state: EnsembleState
    ) -> tuple[Tensor, EnsembleState, Tensor]:
        """prev (B,) -> the mean of the models' log-probabilities (B, V), fp32; the next states;
        the mean of their attention weights (B, S)."""
        steps = [
            model.decode_step(prev, m, s) for model, m, s in zip(self.models, memory.members, state.members)
        ]
        logprobs = torch.stack(
            [torch.log_softmax(logits, dim=-1, dtype=torch.float32) for logits, _, _ in steps]
        )
        attention = torch.stack([a.float() for _, _, a in steps]).mean(dim=0)
        return logprobs.mean(dim=0), EnsembleState(tuple(s for _, s, _ in steps)), attention

    def show_head(self, head: int | None) -> None:
        for model in self.models:
            model.show_head(head)

    def compile_steps(self, compiled: bool = True, cuda_graphs: bool = False) -> None:
        for model in self.models:
            model.compile_steps(compiled, cuda_graphs)

    def inference_copy(self, precision: str) -> Ensemble:
        """As Seq2Seq.inference_copy, for every model."""
        return decoding_copy(self, precision)
