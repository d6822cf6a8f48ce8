"""The Transformer (Vaswani et al. 2017, arXiv:1706.03762) with pre-norm layers (Xiong et al. 2020,
arXiv:2002.04745): an encoder and an incremental decoder behind the interface search uses.

Each sub-layer is x + Dropout(F(LayerNorm(x))); both stacks end with a LayerNorm. Decoding one step
costs one position: every decoder layer caches the keys and values of its self-attention over the
prefix (`TransformerState`), and the encoder-side keys and values of its cross-attention are
projected once per sentence (`TransformerMemory`), shared by all of the sentence's beams.

Dims: B batch, M queries per memory row (beam size; 1 in training), T target length, t prefix
length, S source length, d d_model, h heads, k = d / h, F d_ff, V vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import UserError
from ..layers.dropout import Dropout
from ..layers.transformer_layers import Embedder, FeedForward, MultiHeadAttention
from ..layers.wide_linear import WideLinear
from .rnn_encoder import EncoderOutput


class EncoderLayer(nn.Module):
    def __init__(
        self,
        d_model: int,
        heads: int,
        d_ff: int,
        dropout: float,
        attention_dropout: float,
        activation_dropout: float,
    ):
        super().__init__()
        self.self_attention = MultiHeadAttention(d_model, heads, attention_dropout)
        self.feed_forward = FeedForward(d_model, d_ff, activation_dropout)
        self.norm_attention = nn.LayerNorm(d_model)
        self.norm_feed_forward = nn.LayerNorm(d_model)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """x (B, S, d), mask (B, 1, 1, S) -> (B, S, d)."""
        y = self.norm_attention(x)
        x = x + self.dropout(self.self_attention(y, *self.self_attention.project_kv(y), mask)[0])
        return x + self.dropout(self.feed_forward(self.norm_feed_forward(x)))


class TransformerEncoder(nn.Module):
    def __init__(self, embedder: Embedder, layers: list[EncoderLayer]):
        super().__init__()
        self.embedder = embedder
        self.layers = nn.ModuleList(layers)
        self.norm = nn.LayerNorm(embedder.embedding.embedding_dim)

    @property
    def embedding(self) -> nn.Embedding:
        return self.embedder.embedding

    def forward(self, src: Tensor, src_lengths: Tensor) -> EncoderOutput:
        """src (B, S), src_lengths (B,) -> states (B, S, d); padding is masked out of every key."""
        mask = torch.arange(src.size(1), device=src.device)[None, :] < src_lengths[:, None]  # (B, S)
        x = self.embedder(src)
        key_mask = mask[:, None, None, :]  # (B, 1, 1, S)
        for layer in self.layers:
            x = layer(x, key_mask)
        return EncoderOutput(states=self.norm(x), final=None, mask=mask)


@dataclass(frozen=True)
class TransformerMemory:
    """Per decoder layer, the cross-attention keys and values of the encoder states, each
    (B, h, S, k), projected once; mask (B, S) True at real source tokens."""

    keys: tuple[Tensor, ...]
    values: tuple[Tensor, ...]
    mask: Tensor

    def select(self, index: Tensor) -> TransformerMemory:
        """Reorder or repeat sentences: row b of the result is row index[b]."""
        return TransformerMemory(
            tuple(k[index] for k in self.keys), tuple(v[index] for v in self.values), self.mask[index]
        )


@dataclass(frozen=True)
class TransformerState:
    """Per decoder layer, the self-attention keys and values of the prefix, each (B*M, h, t, k);
    `length` = t, the position of the next token."""

    keys: tuple[Tensor, ...]
    values: tuple[Tensor, ...]
    length: int

    def select(self, index: Tensor) -> TransformerState:
        return TransformerState(
            tuple(k[index] for k in self.keys), tuple(v[index] for v in self.values), self.length
        )


class DecoderLayer(nn.Module):
    def __init__(
        self,
        d_model: int,
        heads: int,
        d_ff: int,
        dropout: float,
        attention_dropout: float,
        activation_dropout: float,
    ):
        super().__init__()
        self.self_attention = MultiHeadAttention(d_model, heads, attention_dropout)
        self.cross_attention = MultiHeadAttention(d_model, heads, attention_dropout)
        self.feed_forward = FeedForward(d_model, d_ff, activation_dropout)
        self.norm_self = nn.LayerNorm(d_model)
        self.norm_cross = nn.LayerNorm(d_model)
        self.norm_feed_forward = nn.LayerNorm(d_model)
        self.dropout = Dropout(dropout)

    def forward(
        self,
        x: Tensor,
        past: tuple[Tensor, Tensor] | None,
        causal: Tensor | None,
        cross_kv: tuple[Tensor, Tensor],
        cross_mask: Tensor,
    ) -> tuple[Tensor, tuple[Tensor, Tensor], Tensor]:
        """x (B*M, T, d) at positions t-T .. t-1; past: self-attention keys and values of the
        positions before, each (B*M, h, t-T, k), or None; causal (1, 1, T, t) or None; cross_kv
        each (B, h, S, k); cross_mask (B, 1, 1, S) -> (B*M, T, d), this layer's self-attention
        keys and values of all t positions, cross-attention weights (B, h, M*T, S)."""
        y = self.norm_self(x)
        k, v = self.self_attention.project_kv(y)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        x = x + self.dropout(self.self_attention(y, k, v, causal)[0])
        context, weights = self.cross_attention(self.norm_cross(x), *cross_kv, cross_mask)
        x = x + self.dropout(context)
        return x + self.dropout(self.feed_forward(self.norm_feed_forward(x))), (k, v), weights


class TransformerDecoder(nn.Module):
    """p(y_t | y_<t, x) = softmax(W_s LayerNorm(z_t)), z_t the last layer's output at position t.

    The attention a hypothesis reports is the last layer's cross-attention, its heads averaged, or
    one head after `show_head(i)`."""

    def __init__(self, embedder: Embedder, layers: list[DecoderLayer]):
        super().__init__()
        d_model = embedder.embedding.embedding_dim
        self.embedder = embedder
        self.layers = nn.ModuleList(layers)
        self.norm = nn.LayerNorm(d_model)
        self.output = WideLinear(d_model, embedder.embedding.num_embeddings, bias=False)
        self.heads = layers[0].cross_attention.heads
        self.shown_head: int | None = None  # None: the average over heads

    @property
    def embedding(self) -> nn.Embedding:
        return self.embedder.embedding

    def compile_steps(self, compiled: bool = True, cuda_graphs: bool = False) -> None:
        """A Transformer decodes a position with a few large products, not a recurrent step worth
        compiling: asked to compile, it says so; asked to run eagerly, it already does."""
        if compiled:
            raise UserError(
                "--compile compiles a recurrent decoder's step; a Transformer has none: leave --compile off"
            )

    def show_head(self, head: int | None) -> None:
        if head is not None and not 0 <= head < self.heads:
            raise ValueError(f"head {head} does not exist; the model has heads 0 to {self.heads - 1}")
        self.shown_head = head

    def prepare(self, enc: EncoderOutput) -> tuple[TransformerMemory, TransformerState]:
        """Cross-attention keys and values of every layer (once per sentence) and an empty prefix."""
        kv = [layer.cross_attention.project_kv(enc.states) for layer in self.layers]
        memory = TransformerMemory(tuple(k for k, _ in kv), tuple(v for _, v in kv), enc.mask)
        k = self.embedding.embedding_dim // self.heads
        empty = enc.states.new_zeros(enc.states.size(0), self.heads, 0, k)
        return memory, TransformerState((empty,) * len(self.layers), (empty,) * len(self.layers), 0)

    def step(
        self, prev: Tensor, memory: TransformerMemory, state: TransformerState
    ) -> tuple[Tensor, TransformerState, Tensor]:
        """prev (B*M,) last target ids -> logits (B*M, V), the state one position longer,
        attention (B*M, S)."""
        x = self.embedder(prev.unsqueeze(1), first_position=state.length)  # (B*M, 1, d)
        cross_mask = memory.mask[:, None, None, :]
        keys, values = [], []
        for i, layer in enumerate(self.layers):
            past = (state.keys[i], state.values[i]) if state.length else None
            x, (k, v), weights = layer(x, past, None, (memory.keys[i], memory.values[i]), cross_mask)
            keys.append(k)
            values.append(v)
        logits = self.output(self.norm(x)).squeeze(1)
        new_state = TransformerState(tuple(keys), tuple(values), state.length + 1)
        return logits, new_state, self._shown(weights).reshape(logits.size(0), -1)

    def forward(
        self,
        tgt_in: Tensor,
        memory: TransformerMemory,
        state: TransformerState,
        positions: Tensor | None = None,
    ) -> tuple[Tensor, TransformerState, Tensor]:
        """Teacher forcing over the whole target, from the empty prefix `state`: tgt_in (B, T) ->
        logits (B, T, V), or (N, V) at the N True `positions` (B, T); the state; attention (B, T, S)."""
        x = self.embedder(tgt_in)
        t = tgt_in.size(1)
        causal = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()[None, None]  # (1, 1, T, T)
        cross_mask = memory.mask[:, None, None, :]
        for i, layer in enumerate(self.layers):
            x, _, weights = layer(x, None, causal, (memory.keys[i], memory.values[i]), cross_mask)
        x = self.norm(x)
        logits = self.output(x if positions is None else x[positions])
        return logits, state, self._shown(weights)

    def _shown(self, weights: Tensor) -> Tensor:
        """(B, h, L, S) -> (B, L, S): the average over heads, or the chosen head."""
        return weights.mean(dim=1) if self.shown_head is None else weights[:, self.shown_head]
