"""Typed, frozen run configuration; every default lives here, once.

`load_config(path, overrides)` reads YAML into `Config`. Unknown keys are errors naming their dotted
path and the closest valid key; wrong types, out-of-range values and invalid choices are errors
naming what is allowed; `check` holds the rules that involve several keys.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from .errors import UserError
from .typed_config import apply_override, build, flatten, ranged, read_yaml, section, to_dict

__all__ = ["Config", "apply_override", "config_from_dict", "flatten", "load_config", "save_config", "to_dict"]

# ---------------------------------------------------------------- sections


@dataclass(frozen=True)
class DataConfig:
    """Plain-text files, one sentence per line; paths are relative to the working directory. A
    translation reads line-aligned src and tgt files; a classifier reads src texts (its labels are
    in the classify section)."""

    train_src: str
    valid_src: str
    train_tgt: str = ""  # required by task: translate
    valid_tgt: str = ""
    max_len: int = ranged(100, 1)  # training pairs longer than this (pieces, either side) are skipped
    batch_tokens: int = ranged(4096, 1)  # padded tokens per batch: sentences x longest side
    batch_sentences: int = ranged(0, 0)  # at most this many sentences per batch; 0: no limit
    pool_batches: int = ranged(100, 1)  # length bucketing sorts pools of this many batches


@dataclass(frozen=True)
class TokenizerConfig:
    model_type: Literal["unigram", "bpe"] = "unigram"
    vocab_size: int = ranged(8000, 16)
    joint: bool = True  # one SentencePiece model for both sides, else one per side
    character_coverage: float = ranged(1.0, 0.5, 1.0)
    max_sentences: int = ranged(2_000_000, 1)  # SentencePiece trains on a sample this large
    # subword regularization: a new segmentation of the training data every epoch (validation,
    # test and translation stay deterministic); unigram: the sampling's smoothing alpha, bpe: the
    # BPE-dropout probability; 0: off. With it, each side's vocabulary holds every piece.
    sampling_alpha: float = ranged(0.0, 0.0, 1.0)
    sampling_nbest: int = ranged(-1, -1)  # unigram: sample among the n best segmentations; -1: all


@dataclass(frozen=True)
class EncoderConfig:
    rnn: Literal["gru", "lstm"] = "gru"
    emb_size: int = ranged(256, 1)
    hidden_size: int = ranged(256, 1)  # per direction
    layers: int = ranged(1, 1)
    bidirectional: bool = True
    dropout: float = ranged(0.3, 0.0, 1.0, hi_open=True)
    # RNMT+ (Chen et al. 2018) switches; either one builds the encoder from the decoder's cells
    layer_norm: bool = False  # layer normalization inside the recurrent cells
    residual: bool = False  # residual connections between stacked layers, from layer 2 on
    embedding_dropout: float = ranged(0.0, 0.0, 1.0, hi_open=True)  # drop whole word vectors


@dataclass(frozen=True)
class DecoderConfig:
    rnn: Literal["gru", "lstm"] = "gru"
    emb_size: int = ranged(256, 1)
    hidden_size: int = ranged(512, 1)
    layers: int = ranged(1, 1)
    attention: Literal["bahdanau", "luong"] = "bahdanau"
    luong_score: Literal["dot", "general", "concat", "scaled_dot"] = "general"  # used when attention is luong
    attention_size: int = ranged(512, 1)  # inner size of the additive and scaled_dot scores
    attention_heads: int = ranged(1, 1)  # > 1: multi-head additive or scaled_dot attention (RNMT+)
    dropout: float = ranged(0.3, 0.0, 1.0, hi_open=True)
    layer_norm: bool = False  # layer normalization inside the recurrent cells
    residual: bool = False  # residual connections between stacked layers, from layer 2 on
    embedding_dropout: float = ranged(0.0, 0.0, 1.0, hi_open=True)  # drop whole word vectors
    # bahdanau only: tanh(W [s_i; c_i]), or the paper's maxout over s_{i-1}, E y_{i-1}, c_i (readout.py)
    readout: Literal["tanh", "maxout"] = "tanh"


@dataclass(frozen=True)
class TransformerConfig:
    """Sizes of the Transformer (Vaswani et al. 2017; defaults: its base model), pre-norm layers."""

    encoder_layers: int = ranged(6, 1)
    decoder_layers: int = ranged(6, 1)
    d_model: int = ranged(512, 2)
    heads: int = ranged(8, 1)
    d_ff: int = ranged(2048, 1)
    dropout: float = ranged(0.1, 0.0, 1.0, hi_open=True)  # embeddings, and each sub-layer's output
    attention_dropout: float = ranged(0.0, 0.0, 1.0, hi_open=True)  # on the attention weights
    activation_dropout: float = ranged(0.0, 0.0, 1.0, hi_open=True)  # inside the feed-forward layers
    positions: Literal["sinusoidal", "learned"] = "sinusoidal"
    max_positions: int = ranged(1024, 1)  # rows of the learned position table


@dataclass(frozen=True)
class ModelConfig:
    architecture: Literal["rnn", "transformer"] = (
        "rnn"  # rnn: model.encoder/decoder; transformer: model.transformer
    )
    encoder: EncoderConfig = section(EncoderConfig)
    decoder: DecoderConfig = section(DecoderConfig)
    transformer: TransformerConfig = section(TransformerConfig)
    tie_tgt_embeddings: bool = False  # output layer shares the target embedding matrix
    tie_src_tgt_embeddings: bool = False  # source and target share one embedding matrix


@dataclass(frozen=True)
class ClassifyConfig:
    """What only task: classify has: label files line-aligned with data.train_src / data.valid_src,
    one label per line, and the attention-pooling head over the encoder's states."""

    train_labels: str = ""
    valid_labels: str = ""
    # the label set in output order; empty: the sorted labels of train_labels (a run's config.yaml
    # and its model files list them)
    labels: tuple[str, ...] = ()
    heads: int = ranged(1, 1)  # attention pooling heads, concatenated before the output layer
    attention_size: int = ranged(128, 1)  # inner size of the additive score
    dropout: float = ranged(0.3, 0.0, 1.0, hi_open=True)  # on the pooled vector


@dataclass(frozen=True)
class TrainConfig:
    seed: int = ranged(42, 0)  # numpy seeds the epoch order and refuses negative seeds
    epochs: int = ranged(10, 1)
    lr: float = ranged(5e-4, 0.0)
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = ranged(0.0, 0.0)
    clip_grad_norm: float = ranged(1.0, 0.0)  # 0: no clipping
    label_smoothing: float = ranged(0.1, 0.0, 1.0, hi_open=True)
    # R-Drop (Liang et al. 2021): every batch twice through the model with two draws of dropout;
    # this weighs the symmetric KL divergence between the two predictions; 0: off (half the cost)
    rdrop_alpha: float = ranged(0.0, 0.0)
    accumulate: int = ranged(1, 1)  # batches per optimizer update
    schedule: Literal["constant", "plateau", "warmup_decay"] = "plateau"
    plateau_factor: float = ranged(0.5, 0.0, 1.0, hi_open=True)  # lr *= factor on a BLEU plateau
    plateau_patience: int = ranged(1, 0)  # validations without improvement before lowering lr
    warmup_steps: int = ranged(1000, 1)  # warmup_decay: linear warmup, then lr * sqrt(warmup/step)
    min_lr: float = ranged(1e-6, 0.0)
    early_stopping_patience: int = ranged(0, 0)  # validations without BLEU gain; 0: never stop
    checkpoint_every: int = ranged(0, 0)  # also save last.pt every this many updates; 0: per epoch
    keep_last: int = ranged(0, 0)  # keep the models of the last N epochs as epochN.pt; 0: none
    average_kept: bool = False  # at the end, average the kept models into averaged.pt (best.pt if better)
    log_every: int = ranged(100, 1)  # updates between lines in train.log
    examples: int = ranged(3, 0)  # example translations shown after each validation
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: the GPU when PyTorch sees one, else the CPU
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    threads: int = ranged(0, 0)  # torch intra-op threads; 0: torch's default
    tensorboard: bool = False  # also write TensorBoard events to run_dir/tensorboard
    # torch.compile the recurrent decoder's step, and on a GPU replay it as CUDA graphs; on the CPU
    # it does not pay (minutes of compiling, no faster: docs/benchmarks.md)
    compile: bool = False


@dataclass(frozen=True)
class SearchConfig:
    """Decoding settings for validation, `test` and `translate` (the CLI can override them)."""

    beam_size: int = ranged(5, 1)  # 1: greedy search
    length_penalty: float = ranged(1.0, 0.0)  # GNMT alpha: score / ((5 + length) / 6) ** alpha
    max_len_ratio: float = ranged(2.0, 0.0)  # output length <= ratio * source length + offset
    max_len_offset: int = ranged(10, 0)
    batch_tokens: int = ranged(4000, 1)  # source tokens per decoding batch


@dataclass(frozen=True, kw_only=True)
class Config:
    # translate: a sequence-to-sequence model (chat is translation from utterances to replies);
    # classify: a text classifier with attention pooling (the classify section)
    task: Literal["translate", "classify"] = "translate"
    run_dir: str  # where checkpoints, logs and the resolved config go
    data: DataConfig
    tokenizer: TokenizerConfig = section(TokenizerConfig)
    model: ModelConfig = section(ModelConfig)
    train: TrainConfig = section(TrainConfig)
    search: SearchConfig = section(SearchConfig)
    classify: ClassifyConfig = section(ClassifyConfig)
    cache_dir: str = ".seq2seq-cache"  # trained tokenizers and encoded corpora, keyed by content


# ---------------------------------------------------------------- loading


def load_config(path: str | Path, overrides: typing.Sequence[str] = ()) -> Config:
    """Read a YAML config, apply `section.key=value` overrides, validate, return a frozen Config."""
    raw = read_yaml(path)
    for item in overrides:
        apply_override(raw, item)
    return config_from_dict(raw)


def config_from_dict(raw: dict) -> Config:
    cfg = build(Config, raw, "")
    check(cfg)
    return cfg


def save_config(cfg: Config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False), encoding="utf-8")


# ---------------------------------------------------------------- validation


def check(cfg: Config) -> None:
    """Rules that involve more than one key."""
    if cfg.task == "classify":
        _check_classify(cfg)
    else:
        _check_translate(cfg)
    if cfg.model.tie_src_tgt_embeddings and not cfg.tokenizer.joint:
        raise UserError("model.tie_src_tgt_embeddings needs a shared vocabulary: set tokenizer.joint: true")
    if cfg.model.architecture == "transformer":
        _check_transformer(cfg.model)
    else:
        _check_rnn(cfg.model)
    if cfg.train.compile and cfg.model.architecture != "rnn":
        raise UserError(
            "train.compile compiles the recurrent decoder's step; set it to false for a transformer"
        )
    if cfg.tokenizer.sampling_nbest in (0, 1):
        raise UserError(
            f"tokenizer.sampling_nbest is {cfg.tokenizer.sampling_nbest}; use -1 (all segmentations) "
            "or at least 2"
        )
    for i, beta in enumerate(cfg.train.betas):
        if not 0.0 <= beta < 1.0:
            raise UserError(f"train.betas[{i}] is {beta}; Adam betas must lie in [0, 1)")
    if cfg.train.lr <= 0:
        raise UserError(f"train.lr is {cfg.train.lr}; it must be > 0")
    if cfg.train.min_lr > cfg.train.lr:
        raise UserError(f"train.min_lr ({cfg.train.min_lr}) is above train.lr ({cfg.train.lr})")


def _check_translate(cfg: Config) -> None:
    for key in ("train_tgt", "valid_tgt"):
        if not getattr(cfg.data, key):
            raise UserError(f"missing config key 'data.{key}'; add it to the config")
    if cfg.classify != ClassifyConfig():
        raise UserError("the classify section is for task: classify; set task: classify or remove it")


def _check_classify(cfg: Config) -> None:
    for key in ("train_labels", "valid_labels"):
        if not getattr(cfg.classify, key):
            side = key.split("_")[0]
            raise UserError(
                f"task: classify needs classify.{key}, a file of one label per line, "
                f"line-aligned with data.{side}_src"
            )
    for key in ("train_tgt", "valid_tgt"):
        if getattr(cfg.data, key):
            raise UserError(
                f"data.{key} is for task: translate; a classifier reads its labels from "
                f"classify.{key.split('_')[0]}_labels (remove data.{key})"
            )
    unused = {
        "model.architecture": cfg.model.architecture != "rnn",
        "model.decoder": cfg.model.decoder != DecoderConfig(),
        "model.tie_tgt_embeddings": cfg.model.tie_tgt_embeddings,
        "model.tie_src_tgt_embeddings": cfg.model.tie_src_tgt_embeddings,
        "search": cfg.search != SearchConfig(),
        "tokenizer.sampling_alpha": cfg.tokenizer.sampling_alpha != 0,
        "train.rdrop_alpha": cfg.train.rdrop_alpha != 0,
    }
    for key, is_set in unused.items():
        if is_set:
            raise UserError(
                f"{key} is not used by task: classify, which pools the states of the recurrent "
                f"model.encoder; remove {key}"
            )
    labels = cfg.classify.labels
    if any(not label.strip() or label != label.strip() for label in labels):
        raise UserError("classify.labels holds an empty label or one with spaces around it; remove it")
    if len(set(labels)) < len(labels):
        twice = sorted({label for label in labels if labels.count(label) > 1})
        raise UserError(f"classify.labels names {', '.join(twice)} more than once; list each label once")
    if len(labels) == 1:
        raise UserError("classify.labels has one label; a classifier needs at least two")


def _check_rnn(model: ModelConfig) -> None:
    enc, dec = model.encoder, model.decoder
    if model.transformer != TransformerConfig():
        raise UserError(
            "model.transformer is set but model.architecture is rnn; set model.architecture: transformer "
            "or remove model.transformer"
        )
    enc_out = enc.hidden_size * (2 if enc.bidirectional else 1)
    if model.tie_src_tgt_embeddings and enc.emb_size != dec.emb_size:
        raise UserError(
            f"model.tie_src_tgt_embeddings needs model.encoder.emb_size ({enc.emb_size}) "
            f"equal to model.decoder.emb_size ({dec.emb_size})"
        )
    if model.tie_tgt_embeddings and dec.emb_size != dec.hidden_size:
        raise UserError(
            f"model.tie_tgt_embeddings needs model.decoder.emb_size ({dec.emb_size}) equal to "
            f"model.decoder.hidden_size ({dec.hidden_size}), the size the output layer reads"
        )
    if dec.attention == "luong" and dec.readout != "tanh":
        raise UserError(
            f"model.decoder.readout: {dec.readout} is for attention: bahdanau; Luong's output layer reads "
            "tanh(W_c [c_t; h_t]) (its eq. 5): remove model.decoder.readout or use attention: bahdanau"
        )
    if dec.attention == "luong" and dec.luong_score == "dot" and enc_out != dec.hidden_size:
        raise UserError(
            f"luong_score 'dot' needs the encoder output size ({enc_out}) equal to "
            f"model.decoder.hidden_size ({dec.hidden_size}); use luong_score: general"
        )
    scaled_dot = dec.attention == "luong" and dec.luong_score == "scaled_dot"
    if dec.attention_heads > 1 or scaled_dot:
        if dec.attention == "luong" and dec.luong_score in ("dot", "general"):
            raise UserError(
                f"model.decoder.attention_heads > 1 needs an additive or scaled_dot score, not luong_score "
                f"'{dec.luong_score}'; use luong_score: concat or scaled_dot"
            )
        for size, name in (
            (dec.attention_size, "model.decoder.attention_size"),
            (enc_out, "the encoder output size"),
        ):
            if size % dec.attention_heads:
                raise UserError(
                    f"{name} ({size}) must be a multiple of model.decoder.attention_heads "
                    f"({dec.attention_heads})"
                )


def _check_transformer(model: ModelConfig) -> None:
    for name in ("encoder", "decoder"):
        if getattr(model, name) != type(getattr(model, name))():
            raise UserError(
                f"model.{name} is for model.architecture: rnn; a Transformer's sizes are set in "
                f"model.transformer (remove model.{name})"
            )
    t = model.transformer
    if t.d_model % t.heads:
        raise UserError(
            f"model.transformer.d_model ({t.d_model}) must be a multiple of "
            f"model.transformer.heads ({t.heads})"
        )
