"""The target side: a stacked GRU/LSTM decoder with attention, in Bahdanau's or Luong's wiring.

BahdanauDecoder (arXiv:1409.0473, appendix A.2): attend with the previous state s_{i-1}, then step
    c_i = attend(s_{i-1}, h);  s_i = RNN([E y_{i-1}; c_i], s_{i-1});  o_i = readout (readout.py):
    tanh(W_o [s_i; c_i]) by default, or the paper's maxout over s_{i-1}, E y_{i-1}, c_i (A.2.2)
LuongDecoder (arXiv:1508.04025, section 3): step, then attend with the new state, input feeding
    h_t = RNN([E y_{t-1}; o~_{t-1}], h_{t-1});  c_t = attend(h_t, h);  o~_t = tanh(W_c [c_t; h_t])
Both: p(y_t) = softmax(W_s o_t). Dims: B batch, T target length, S source length, E embedding,
H hidden, D encoder output size, V target vocabulary, G gates x H.

`forward` runs teacher forcing over a whole target sequence: everything that does not depend on the
recurrence (input embeddings and their projection, the readout, the output layer) is computed for
all steps at once, and only the recurrence loops: `recur`, one step, which `compile_steps` can hand
to torch.compile (and, in training on a GPU, capture as CUDA graphs). `step` is `forward` on a
sequence of one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..layers.attention import Attention
from ..layers.cells import RecurrentCell, State
from ..layers.dropout import Dropout, EmbeddingDropout
from ..layers.readout import Readout, TanhReadout
from ..layers.step_linear import StepLinear, summed_step_gradients
from ..layers.wide_linear import WideLinear
from .rnn_encoder import EncoderOutput


@dataclass(frozen=True)
class Memory:
    """What attention reads at every step, computed once per batch.
    values (B, S, D), proj_keys (B, S, *), mask (B, S)."""

    values: Tensor
    proj_keys: Tensor
    mask: Tensor

    def select(self, index: Tensor) -> Memory:
        """Reorder or repeat sentences: row b of the result is row index[b]."""
        return Memory(self.values[index], self.proj_keys[index], self.mask[index])


@dataclass(frozen=True)
class DecoderState:
    """layers: per layer (h,) or (h, c), each (B, H).
    feed: (B, H) Luong's previous attentional vector o~_{t-1}; (B, 0) for Bahdanau."""

    layers: tuple[State, ...]
    feed: Tensor

    def select(self, index: Tensor) -> DecoderState:
        layers = tuple(tuple(t[index] for t in layer) for layer in self.layers)
        return DecoderState(layers, self.feed[index])


class AttentionDecoder(nn.Module):
    """Shared parts: embedding, stacked cells, bridge, readout and output layer."""

    def __init__(
        self,
        embedding: nn.Embedding,
        attention: Attention,
        cells: list[RecurrentCell],
        encoder_size: int,
        readout_input_size: int,
        feed_size: int,
        dropout: float,
        embedding_dropout: float = 0.0,
        residual: bool = False,
        readout: nn.Module | None = None,
    ):
        """`readout`: maps the readout input (of `readout_input_size`) to the output layer's input
        (H); default tanh(W x + b) as a plain Linear (the caller applies the tanh)."""
        super().__init__()
        hidden, gates = cells[0].hidden_size, cells[0].gates
        self.embedding = embedding
        self.attention = attention
        self.cells = nn.ModuleList(cells)
        self.hidden_size = hidden
        self.feed_size = feed_size
        self.dropout = Dropout(dropout)
        self.embedding_dropout = EmbeddingDropout(embedding_dropout)
        self.residual = residual
        # s_0 = tanh(W_b h_final): one block per layer and state (h, and c for an LSTM)
        self.bridge = nn.Linear(encoder_size, hidden * len(cells) * cells[0].n_states)
        self.input_emb = WideLinear(embedding.embedding_dim, gates * hidden)  # holds b_i
        self.input_layers = nn.ModuleList(StepLinear(hidden, gates * hidden) for _ in cells[1:])
        # Luong's wiring applies the readout at every step (a StepLinear); Bahdanau's after the loop
        self.readout = readout if readout is not None else StepLinear(readout_input_size, hidden)
        self.output = WideLinear(hidden, embedding.num_embeddings)
        self._compiled: Callable | None = None  # compile_steps()
        self._vocabulary, self._vocabulary_key = None, None  # _projected_vocabulary()

    def prepare(self, enc: EncoderOutput) -> tuple[Memory, DecoderState]:
        """Attention memory (keys projected once) and the initial state from the bridge."""
        values = _compute_dtype(self.attention.project_values(enc.states))
        memory = Memory(values, self.attention.project_keys(enc.states), enc.mask)
        blocks = torch.tanh(self.bridge(enc.final)).chunk(len(self.cells) * self.cells[0].n_states, -1)
        n = self.cells[0].n_states
        layers = tuple(tuple(blocks[i * n : (i + 1) * n]) for i in range(len(self.cells)))
        feed = enc.final.new_zeros(enc.final.size(0), self.feed_size)
        return memory, DecoderState(layers, feed)

    def step(self, prev: Tensor, memory: Memory, state: DecoderState) -> tuple[Tensor, DecoderState, Tensor]:
        """prev (B,) last target ids -> logits (B, V), new state, attention (B, S)."""
        logits, state, attention = self(prev.unsqueeze(1), memory, state)
        return logits.squeeze(1), state, attention.squeeze(1)

    def forward(
        self, tgt_in: Tensor, memory: Memory, state: DecoderState, positions: Tensor | None = None
    ) -> tuple[Tensor, DecoderState, Tensor]:
        """tgt_in (B, T) -> logits (B, T, V), final state, attention weights (B, T, S).

        With `positions` (B, T) bool, logits only at those positions, (N, V): training scores
        the real target tokens only, so padding costs nothing in the output layer."""
        emb = self.dropout(self.embedding_dropout(self.embedding(tgt_in)))  # (B, T, E): E y_{i-1}
        if self.training or torch.is_grad_enabled():
            x_emb = self.input_emb(emb)  # (B, T, G)
        else:  # decoding: rows of the projection of the whole vocabulary, made once
            x_emb = F.embedding(tgt_in, self._projected_vocabulary())
        layers, feed, outputs, weights = state.layers, state.feed, [], []
        recur = self._compiled or type(self).recur
        with contextlib.nullcontext() if self._compiled else summed_step_gradients(self):
            for x_t in x_emb.unbind(1):
                layers, feed, out, alpha = recur(
                    self, x_t, layers, feed, memory.values, memory.proj_keys, memory.mask
                )
                outputs.append(out)
                weights.append(alpha)
        logits = self._output(_at(torch.stack(outputs, dim=1), positions), _at(emb, positions))
        return logits, DecoderState(layers, feed), torch.stack(weights, dim=1)

    def _projected_vocabulary(self) -> Tensor:
        """input_emb of every target embedding, (V, G). A decoder step's input projection is then a
        row of it instead of a matrix product per step (one of the step's six, a measurable share
        of beam search: docs/benchmarks.md). Kept while the module stays in eval mode and its
        weights stay the same tensors, of the same type, unchanged by autograd-visible in-place ops
        (their version counters), with autocast as it was: a fused optimizer's step changes weights
        without a version bump, but only in train mode, and `train()` drops the table."""
        params = (self.embedding.weight, self.input_emb.weight, self.input_emb.bias)
        device = params[0].device.type
        autocast = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else None
        key = (tuple((p.data_ptr(), p._version, p.dtype) for p in params), autocast)
        if self._vocabulary_key != key:
            self._vocabulary = self.input_emb(self.embedding.weight)
            self._vocabulary_key = key
        return self._vocabulary

    def train(self, mode: bool = True) -> AttentionDecoder:
        self._vocabulary, self._vocabulary_key = None, None
        return super().train(mode)

    def recur(
        self,
        x_t: Tensor,
        layers: tuple[State, ...],
        feed: Tensor,
        values: Tensor,
        proj_keys: Tensor,
        mask: Tensor,
    ) -> tuple[tuple[State, ...], Tensor, Tensor, Tensor]:
        """One step of the recurrence, all that `forward` loops over: x_t (B, G) the step's projected
        input, the state (layers, feed), the memory's tensors -> new layers, new feed, what the output
        layer reads at this step (B, F), attention weights (B, S)."""
        raise NotImplementedError

    def _output(self, out: Tensor, emb: Tensor) -> Tensor:
        """What `recur` gave for the positions to score, (..., F), and their target embeddings
        E y_{i-1}, (..., E) -> logits (..., V)."""
        raise NotImplementedError

    def compile_steps(
        self, compiled: bool = True, cuda_graphs: bool = False, backend: str = "inductor"
    ) -> None:
        """Run `recur` through torch.compile (or, with compiled=False, eagerly again). Its ~30
        operations become a few fused kernels, in one graph (fullgraph: any break is an error);
        shapes are dynamic, so batches of other sizes do not recompile. With `cuda_graphs` (a GPU
        only), mode reduce-overhead also records each shape's step once as a CUDA graph and replays
        it, one launch instead of dozens. The function is the same, within rounding; the weight
        gradients are then autograd's own (no summed_step_gradients)."""
        mode = "reduce-overhead" if cuda_graphs else None
        self._compiled = (
            torch.compile(type(self).recur, dynamic=True, fullgraph=True, mode=mode, backend=backend)
            if compiled
            else None
        )

    def _stack(self, x_proj: Tensor, layers: tuple[State, ...]) -> tuple[State, ...]:
        """One step through the stacked cells; x_proj (B, G) is the first layer's projected input.
        With residual connections, layer l + 1 reads h^l + its own input from layer 2 on (GNMT)."""
        new = [self.cells[0](x_proj, layers[0])]
        below = new[0][0]
        for cell, project, state in zip(self.cells[1:], self.input_layers, layers[1:]):
            new.append(cell(project(self.dropout(below)), state))
            below = new[-1][0] + below if self.residual else new[-1][0]
        return tuple(new)

    def _top(self, layers: tuple[State, ...]) -> Tensor:
        """The stack's output (B, H): the last layer's h, or with residual connections the sum
        h^1 + ... + h^L that those connections add up to."""
        if not self.residual:
            return layers[-1][0]
        return torch.stack([layer[0] for layer in layers]).sum(dim=0)

    def show_head(self, head: int | None) -> None:
        self.attention.show_head(head)


class BahdanauDecoder(AttentionDecoder):
    """Attend with s_{i-1}, then step on [E y_{i-1}; c_i]; the readout (default: TanhReadout,
    o_i = tanh(W_o [s_i; c_i])) feeds the output layer."""

    def __init__(
        self,
        embedding: nn.Embedding,
        attention: Attention,
        cells: list[RecurrentCell],
        encoder_size: int,
        dropout: float,
        embedding_dropout: float = 0.0,
        residual: bool = False,
        readout: Readout | None = None,
    ):
        hidden = cells[0].hidden_size
        readout = readout or TanhReadout(hidden, embedding.embedding_dim, encoder_size)
        super().__init__(
            embedding,
            attention,
            cells,
            encoder_size,
            readout.in_features,
            0,
            dropout,
            embedding_dropout,
            residual,
            readout,
        )
        self.input_context = StepLinear(encoder_size, cells[0].gates * hidden, bias=False)

    def recur(self, x_t, layers, feed, values, proj_keys, mask):
        prev = self._top(layers)  # s_{i-1}
        context, alpha = self.attention(prev, proj_keys, values, mask)
        layers = self._stack(x_t + self.input_context(context), layers)
        return layers, feed, self.readout.step(prev, self._top(layers), context), alpha

    def _output(self, steps: Tensor, emb: Tensor) -> Tensor:
        """What the readout keeps of each step (..., R') and E y_{i-1} (..., E) -> logits (..., V)."""
        return self.output(self.readout(self.dropout(self.readout.join(steps, emb))))


class LuongDecoder(AttentionDecoder):
    """Step on [E y_{t-1}; o~_{t-1}] (input feeding), attend with h_t, o~_t = tanh(W_c [c_t; h_t])."""

    def __init__(
        self,
        embedding: nn.Embedding,
        attention: Attention,
        cells: list[RecurrentCell],
        encoder_size: int,
        dropout: float,
        embedding_dropout: float = 0.0,
        residual: bool = False,
    ):
        hidden = cells[0].hidden_size
        super().__init__(
            embedding,
            attention,
            cells,
            encoder_size,
            encoder_size + hidden,
            hidden,
            dropout,
            embedding_dropout,
            residual,
        )
        self.input_feed = StepLinear(hidden, cells[0].gates * hidden, bias=False)

    def recur(self, x_t, layers, feed, values, proj_keys, mask):
        layers = self._stack(x_t + self.input_feed(self.dropout(feed)), layers)
        h_t = self._top(layers)
        context, alpha = self.attention(h_t, proj_keys, values, mask)
        feed = torch.tanh(self.readout(self.dropout(torch.cat([context, h_t], dim=-1))))  # eq. 5
        return layers, feed, feed, alpha

    def _output(self, feeds: Tensor, emb: Tensor) -> Tensor:
        """o~_t (..., H) -> logits (..., V)."""
        return self.output(feeds)


def _compute_dtype(x: Tensor) -> Tensor:
    """x in the dtype autocast computes in, cast once: otherwise every decoder step would cast the
    attention values again (and autograd would keep each copy)."""
    device = x.device.type
    if torch.is_autocast_enabled(device):
        return x.to(torch.get_autocast_dtype(device))
    return x


def _at(x: Tensor, positions: Tensor | None) -> Tensor:
    """(B, T, F) -> (N, F) rows at the True positions (B, T), or x unchanged."""
    return x if positions is None else x[positions]
