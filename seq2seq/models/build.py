"""Models from their config: `build_model` is the only place config meets nn (with
`build_classifier` for task: classify, and `build`, which picks by the task). Each family's parts
(rnn_encoder.py, rnn_decoder.py, stacked_encoder.py, transformer.py) are joined into a Seq2Seq
(seq2seq.py), the interface everything above sees.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..config.load import ClassifyConfig, Config, DecoderConfig, EncoderConfig, ModelConfig, TransformerConfig
from ..layers.attention import AdditiveAttention, Attention, DotAttention, GeneralAttention
from ..layers.cells import CELLS, GateNorm
from ..layers.multihead import MultiHeadAdditiveAttention, ScaledDotAttention
from ..layers.readout import MaxoutReadout, TanhReadout
from ..special_ids import PAD_ID
from .classifier import AttentionPooling, TextClassifier
from .rnn_decoder import BahdanauDecoder, LuongDecoder
from .rnn_encoder import RNNEncoder
from .seq2seq import Seq2Seq
from .stacked_encoder import CellRNN, StackedEncoder
from .transformer import (
    DecoderLayer,
    Embedder,
    EncoderLayer,
    TransformerDecoder,
    TransformerEncoder,
)

_INIT_RANGE = 0.1  # uniform(-0.1, 0.1) for every parameter, as in Luong et al. 2015 (section 4.1)


def build(cfg: Config, src_vocab_size: int, tgt_vocab_size: int) -> Seq2Seq | TextClassifier:
    """The model a whole config describes: its task picks a Seq2Seq or a TextClassifier."""
    if cfg.task == "classify":
        return build_classifier(cfg.model.encoder, cfg.classify, src_vocab_size)
    return build_model(cfg.model, src_vocab_size, tgt_vocab_size)


def count_parameters(cfg: Config, src_vocab_size: int, tgt_vocab_size: int) -> int:
    """The parameters of the model `cfg` describes (tied ones once), counted on PyTorch's meta
    device: nothing is allocated or initialized. For what holds no float weights to count: an int8
    model, a CTranslate2 export."""
    with torch.device("meta"), _NoNormalInit():
        model = build(cfg, src_vocab_size, tgt_vocab_size)
    return sum(p.numel() for p in model.parameters())


class _NoNormalInit(TorchFunctionMode):
    """Leaves `normal_` on meta tensors undone: its meta kernel is written in Python and imports
    torch._dynamo on first use, about 1 s of every translate command's start for a count that
    needs no values (the other initializers have C++ meta kernels)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (torch.Tensor.normal_, nn.init.normal_):
            tensor = args[0] if args else kwargs["tensor"]
            if tensor.is_meta:
                return tensor
        return func(*args, **kwargs)


def build_model(cfg: ModelConfig, src_vocab_size: int, tgt_vocab_size: int) -> Seq2Seq:
    if cfg.tie_src_tgt_embeddings and src_vocab_size != tgt_vocab_size:
        raise ValueError("tied source and target embeddings need one vocabulary for both sides")
    if cfg.architecture == "transformer":
        return _build_transformer(cfg, src_vocab_size, tgt_vocab_size)
    return _build_rnn(cfg, src_vocab_size, tgt_vocab_size)


def _build_rnn(cfg: ModelConfig, src_vocab_size: int, tgt_vocab_size: int) -> Seq2Seq:
    enc, dec = cfg.encoder, cfg.decoder
    src_embedding = nn.Embedding(src_vocab_size, enc.emb_size, padding_idx=PAD_ID)
    tgt_embedding = (
        src_embedding
        if cfg.tie_src_tgt_embeddings
        else nn.Embedding(tgt_vocab_size, dec.emb_size, padding_idx=PAD_ID)
    )
    encoder = _rnn_encoder(enc, src_embedding)
    cells = [CELLS[dec.rnn, dec.layer_norm](dec.hidden_size) for _ in range(dec.layers)]
    attention = _attention(dec, encoder.output_size)
    parts = (tgt_embedding, attention, cells, encoder.output_size)
    parts += (dec.dropout, dec.embedding_dropout, dec.residual)
    if dec.attention == "bahdanau":
        readout = {"tanh": TanhReadout, "maxout": MaxoutReadout}[dec.readout]
        decoder = BahdanauDecoder(*parts, readout(dec.hidden_size, dec.emb_size, encoder.output_size))
    else:
        decoder = LuongDecoder(*parts)
    model = Seq2Seq(encoder, decoder)
    for p in model.parameters():
        nn.init.uniform_(p, -_INIT_RANGE, _INIT_RANGE)
    for module in model.modules():  # layer normalization starts as the identity
        if isinstance(module, (GateNorm, nn.LayerNorm)):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    for embedding in {src_embedding, tgt_embedding}:
        nn.init.zeros_(embedding.weight[PAD_ID].data)
    if cfg.tie_tgt_embeddings:
        decoder.output.weight = tgt_embedding.weight
    return model


def _rnn_encoder(enc: EncoderConfig, embedding: nn.Embedding) -> RNNEncoder | StackedEncoder:
    """torch's fused GRU/LSTM, or with layer_norm or residual the layers built from our cells."""
    if enc.layer_norm or enc.residual:
        layers = []
        for i in range(enc.layers):
            size = enc.emb_size if i == 0 else enc.hidden_size * (2 if enc.bidirectional else 1)
            directions = 2 if enc.bidirectional else 1
            rnns = [CellRNN(size, CELLS[enc.rnn, enc.layer_norm](enc.hidden_size)) for _ in range(directions)]
            layers.append((rnns[0], rnns[1] if enc.bidirectional else None))
        return StackedEncoder(embedding, layers, enc.dropout, enc.embedding_dropout, enc.residual)
    rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[enc.rnn](
        enc.emb_size,
        enc.hidden_size,
        num_layers=enc.layers,
        bidirectional=enc.bidirectional,
        dropout=enc.dropout if enc.layers > 1 else 0.0,
        batch_first=True,
    )
    return RNNEncoder(embedding, rnn, enc.dropout, enc.embedding_dropout)


def build_classifier(enc: EncoderConfig, head: ClassifyConfig, vocab_size: int) -> TextClassifier:
    """The recurrent encoder of a translation model under an attention-pooling head, with as many
    outputs as head.labels names."""
    embedding = nn.Embedding(vocab_size, enc.emb_size, padding_idx=PAD_ID)
    encoder = _rnn_encoder(enc, embedding)
    pooling = AttentionPooling(encoder.output_size, head.attention_size, head.heads)
    model = TextClassifier(encoder, pooling, head.dropout, len(head.labels))
    for p in model.parameters():
        nn.init.uniform_(p, -_INIT_RANGE, _INIT_RANGE)
    for module in model.modules():  # layer normalization starts as the identity
        if isinstance(module, (GateNorm, nn.LayerNorm)):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    nn.init.zeros_(embedding.weight[PAD_ID].data)
    return model


def _attention(dec: DecoderConfig, encoder_size: int) -> Attention:
    additive = dec.attention == "bahdanau" or dec.luong_score == "concat"
    if dec.attention_heads > 1 and additive:
        return MultiHeadAdditiveAttention(
            dec.hidden_size, encoder_size, dec.attention_size, dec.attention_heads
        )
    if dec.attention == "luong" and dec.luong_score == "scaled_dot":
        return ScaledDotAttention(dec.hidden_size, encoder_size, dec.attention_size, dec.attention_heads)
    if additive:
        return AdditiveAttention(dec.hidden_size, encoder_size, dec.attention_size)
    if dec.luong_score == "general":
        return GeneralAttention(dec.hidden_size, encoder_size)
    return DotAttention()


def _build_transformer(cfg: ModelConfig, src_vocab_size: int, tgt_vocab_size: int) -> Seq2Seq:
    t: TransformerConfig = cfg.transformer
    src_embedding = nn.Embedding(src_vocab_size, t.d_model, padding_idx=PAD_ID)
    tgt_embedding = (
        src_embedding
        if cfg.tie_src_tgt_embeddings
        else nn.Embedding(tgt_vocab_size, t.d_model, padding_idx=PAD_ID)
    )
    learned = t.max_positions if t.positions == "learned" else 0
    sizes = (t.d_model, t.heads, t.d_ff, t.dropout, t.attention_dropout, t.activation_dropout)
    encoder = TransformerEncoder(
        Embedder(src_embedding, t.dropout, learned), [EncoderLayer(*sizes) for _ in range(t.encoder_layers)]
    )
    decoder = TransformerDecoder(
        Embedder(tgt_embedding, t.dropout, learned), [DecoderLayer(*sizes) for _ in range(t.decoder_layers)]
    )
    model = Seq2Seq(encoder, decoder)
    # as fairseq's Transformer: Glorot-uniform projections, zero biases, N(0, d^-1/2) embeddings
    for name, p in model.named_parameters():
        if "norm" in name:
            continue
        if p.dim() == 1:
            nn.init.zeros_(p)
        elif "embed" in name:
            nn.init.normal_(p, 0.0, t.d_model**-0.5)
        else:
            nn.init.xavier_uniform_(p)
    for embedding in {src_embedding, tgt_embedding}:
        nn.init.zeros_(embedding.weight[PAD_ID].data)
    if cfg.tie_tgt_embeddings:
        decoder.output.weight = tgt_embedding.weight
    return model
