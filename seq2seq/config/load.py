"""The run configuration: `load_config(path, overrides)` reads YAML into `Config`, whose sections
and defaults live in sections.py (re-exported here). Unknown keys are errors naming their
dotted path and the closest valid key; wrong types, out-of-range values and invalid choices are
errors naming what is allowed; `check` holds the rules that involve several keys. A config may
start from another (`extends: other.yaml`, a path relative to its own folder) and name only what
differs: it is resolved here, so a run's saved config.yaml holds every key and resume compares
whole configs.
"""

from __future__ import annotations

import math
import typing
from pathlib import Path

import yaml

from ..errors import UserError
from .sections import (
    ClassifyConfig,
    Config,
    DataConfig,
    DecoderConfig,
    EncoderConfig,
    ModelConfig,
    SearchConfig,
    TokenizerConfig,
    TrainConfig,
    TransformerConfig,
)
from .typed import apply_override, build, flatten, read_extended, to_dict

__all__ = [
    "ClassifyConfig",
    "Config",
    "DataConfig",
    "DecoderConfig",
    "EncoderConfig",
    "ModelConfig",
    "SearchConfig",
    "TokenizerConfig",
    "TrainConfig",
    "TransformerConfig",
    "apply_override",
    "check",
    "config_from_dict",
    "flatten",
    "load_config",
    "save_config",
    "to_dict",
]

# ---------------------------------------------------------------- loading


def load_config(path: str | Path, overrides: typing.Sequence[str] = ()) -> Config:
    """Read a YAML config, apply `section.key=value` overrides, validate, return a frozen Config."""
    raw = read_extended(Path(path))
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
        _check_learned_positions(cfg)
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
    for i, alpha in enumerate(cfg.search.length_penalties):
        if alpha < 0:
            raise UserError(f"search.length_penalties[{i}] is {alpha}; a length penalty must be >= 0")
    if cfg.train.lr <= 0:
        raise UserError(f"train.lr is {cfg.train.lr}; it must be > 0")
    if cfg.train.cooldown_epochs and cfg.train.schedule == "plateau":
        raise UserError(
            "train.cooldown_epochs lowers the rate of schedule warmup_decay or constant; set one of "
            "them, or train.cooldown_epochs: 0 with schedule plateau"
        )
    if cfg.train.min_lr > cfg.train.lr:
        raise UserError(f"train.min_lr ({cfg.train.min_lr}) is above train.lr ({cfg.train.lr})")


def _check_translate(cfg: Config) -> None:
    for key in ("train_tgt", "valid_tgt"):
        if not getattr(cfg.data, key):
            raise UserError(f"missing config key 'data.{key}'; add it to the config")
    if cfg.classify != ClassifyConfig():
        raise UserError("the classify section is for task: classify; set task: classify or remove it")
    if cfg.data.monolingual_tgt and not cfg.data.back_translate_from:
        raise UserError(
            "data.monolingual_tgt is back-translated by data.back_translate_from, which is not set; "
            "set it to a model of the other direction, or remove data.monolingual_tgt"
        )


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
        "data.distill_from": bool(cfg.data.distill_from),
        "data.back_translate_from": bool(cfg.data.back_translate_from),
        "data.monolingual_tgt": bool(cfg.data.monolingual_tgt),
        "train.rdrop_alpha": cfg.train.rdrop_alpha != 0,
        "train.teachers": bool(cfg.train.teachers),
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


def _check_learned_positions(cfg: Config) -> None:
    """Learned positions exist only up to max_positions: the longest training pair (data.max_len
    pieces and BOS or EOS) and the longest output the search allows for such a source must fit."""
    t = cfg.model.transformer
    if t.positions != "learned":
        return
    longest_output = math.ceil(cfg.search.max_len_ratio * cfg.data.max_len) + cfg.search.max_len_offset + 1
    needed = max(cfg.data.max_len + 1, longest_output)
    if t.max_positions < needed:
        raise UserError(
            f"model.transformer.max_positions ({t.max_positions}) cannot hold the longest sequence this "
            f"config allows ({needed} positions: data.max_len {cfg.data.max_len}, search.max_len_ratio "
            f"{cfg.search.max_len_ratio:g}, search.max_len_offset {cfg.search.max_len_offset}); raise it "
            "to at least that, or lower those"
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
