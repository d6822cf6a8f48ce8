"""Typed, frozen run configuration; every default lives here, once.

`load_config(path, overrides)` reads YAML into `Config`. Unknown keys are errors naming their dotted
path and the closest valid key; wrong types, out-of-range values and invalid choices are errors
naming what is allowed; `check` holds the rules that involve several keys.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import UserError


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads 1e-3 as a string (it wants 1.0e-3); configs mean the number."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(\d[\d_]*)?(\.[\d_]*)?[eE][-+]?\d+$"),
    list("-+0123456789."),
)

# ---------------------------------------------------------------- field helpers


def _ranged(default: Any, lo: float | None = None, hi: float | None = None, hi_open: bool = False):
    """A field whose value must lie in [lo, hi] (or [lo, hi) when hi_open)."""
    return field(default=default, metadata={"range": (lo, hi, hi_open)})


def _section(cls):
    return field(default_factory=cls)


# ---------------------------------------------------------------- sections


@dataclass(frozen=True)
class DataConfig:
    """Parallel plain-text files, one sentence per line; paths are relative to the working directory."""

    train_src: str
    train_tgt: str
    valid_src: str
    valid_tgt: str
    max_len: int = _ranged(100, 1)  # training pairs longer than this (pieces, either side) are skipped
    batch_tokens: int = _ranged(4096, 1)  # padded tokens per batch: sentences x longest side
    batch_sentences: int = _ranged(0, 0)  # at most this many sentences per batch; 0: no limit
    pool_batches: int = _ranged(100, 1)  # length bucketing sorts pools of this many batches


@dataclass(frozen=True)
class TokenizerConfig:
    model_type: Literal["unigram", "bpe"] = "unigram"
    vocab_size: int = _ranged(8000, 16)
    joint: bool = True  # one SentencePiece model for both sides, else one per side
    character_coverage: float = _ranged(1.0, 0.5, 1.0)
    max_sentences: int = _ranged(2_000_000, 1)  # SentencePiece trains on a sample this large


@dataclass(frozen=True)
class EncoderConfig:
    rnn: Literal["gru", "lstm"] = "gru"
    emb_size: int = _ranged(256, 1)
    hidden_size: int = _ranged(256, 1)  # per direction
    layers: int = _ranged(1, 1)
    bidirectional: bool = True
    dropout: float = _ranged(0.3, 0.0, 1.0, hi_open=True)


@dataclass(frozen=True)
class DecoderConfig:
    rnn: Literal["gru", "lstm"] = "gru"
    emb_size: int = _ranged(256, 1)
    hidden_size: int = _ranged(512, 1)
    layers: int = _ranged(1, 1)
    attention: Literal["bahdanau", "luong"] = "bahdanau"
    luong_score: Literal["dot", "general", "concat"] = "general"  # used when attention is luong
    attention_size: int = _ranged(512, 1)  # inner size of the additive (bahdanau, concat) scores
    dropout: float = _ranged(0.3, 0.0, 1.0, hi_open=True)


@dataclass(frozen=True)
class TransformerConfig:
    """Sizes of the Transformer (Vaswani et al. 2017; defaults: its base model), pre-norm layers."""

    encoder_layers: int = _ranged(6, 1)
    decoder_layers: int = _ranged(6, 1)
    d_model: int = _ranged(512, 2)
    heads: int = _ranged(8, 1)
    d_ff: int = _ranged(2048, 1)
    dropout: float = _ranged(0.1, 0.0, 1.0, hi_open=True)  # embeddings, and each sub-layer's output
    attention_dropout: float = _ranged(0.0, 0.0, 1.0, hi_open=True)  # on the attention weights
    activation_dropout: float = _ranged(0.0, 0.0, 1.0, hi_open=True)  # inside the feed-forward layers
    positions: Literal["sinusoidal", "learned"] = "sinusoidal"
    max_positions: int = _ranged(1024, 1)  # rows of the learned position table


@dataclass(frozen=True)
class ModelConfig:
    architecture: Literal["rnn", "transformer"] = (
        "rnn"  # rnn: model.encoder/decoder; transformer: model.transformer
    )
    encoder: EncoderConfig = _section(EncoderConfig)
    decoder: DecoderConfig = _section(DecoderConfig)
    transformer: TransformerConfig = _section(TransformerConfig)
    tie_tgt_embeddings: bool = False  # output layer shares the target embedding matrix
    tie_src_tgt_embeddings: bool = False  # source and target share one embedding matrix


@dataclass(frozen=True)
class TrainConfig:
    seed: int = _ranged(42, 0)  # numpy seeds the epoch order and refuses negative seeds
    epochs: int = _ranged(10, 1)
    lr: float = _ranged(5e-4, 0.0)
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = _ranged(0.0, 0.0)
    clip_grad_norm: float = _ranged(1.0, 0.0)  # 0: no clipping
    label_smoothing: float = _ranged(0.1, 0.0, 1.0, hi_open=True)
    accumulate: int = _ranged(1, 1)  # batches per optimizer update
    schedule: Literal["constant", "plateau", "warmup_decay"] = "plateau"
    plateau_factor: float = _ranged(0.5, 0.0, 1.0, hi_open=True)  # lr *= factor on a BLEU plateau
    plateau_patience: int = _ranged(1, 0)  # validations without improvement before lowering lr
    warmup_steps: int = _ranged(1000, 1)  # warmup_decay: linear warmup, then lr * sqrt(warmup/step)
    min_lr: float = _ranged(1e-6, 0.0)
    early_stopping_patience: int = _ranged(0, 0)  # validations without BLEU gain; 0: never stop
    checkpoint_every: int = _ranged(0, 0)  # also save last.pt every this many updates; 0: per epoch
    log_every: int = _ranged(100, 1)  # updates between lines in train.log
    examples: int = _ranged(3, 0)  # example translations shown after each validation
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    threads: int = _ranged(0, 0)  # torch intra-op threads; 0: torch's default
    tensorboard: bool = False  # also write TensorBoard events to run_dir/tensorboard


@dataclass(frozen=True)
class SearchConfig:
    """Decoding settings for validation, `test` and `translate` (the CLI can override them)."""

    beam_size: int = _ranged(5, 1)  # 1: greedy search
    length_penalty: float = _ranged(1.0, 0.0)  # GNMT alpha: score / ((5 + length) / 6) ** alpha
    max_len_ratio: float = _ranged(2.0, 0.0)  # output length <= ratio * source length + offset
    max_len_offset: int = _ranged(10, 0)
    batch_tokens: int = _ranged(4000, 1)  # source tokens per decoding batch


@dataclass(frozen=True)
class Config:
    run_dir: str  # where checkpoints, logs and the resolved config go
    data: DataConfig
    tokenizer: TokenizerConfig = _section(TokenizerConfig)
    model: ModelConfig = _section(ModelConfig)
    train: TrainConfig = _section(TrainConfig)
    search: SearchConfig = _section(SearchConfig)
    cache_dir: str = ".seq2seq-cache"  # trained tokenizers and encoded corpora, keyed by content


# ---------------------------------------------------------------- loading


def load_config(path: str | Path, overrides: typing.Sequence[str] = ()) -> Config:
    """Read a YAML config, apply `section.key=value` overrides, validate, return a frozen Config."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"config file {path} not found; check the path") from None
    except IsADirectoryError:
        raise UserError(f"config path {path} is a directory; give a YAML file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read config file {path}: {e}") from None
    try:
        raw = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "invalid syntax"
        raise UserError(f"config file {path} is not valid YAML{where}: {problem}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise UserError(f"config file {path} must hold a mapping of sections, not a {_kind(raw)}")
    for item in overrides:
        apply_override(raw, item)
    return config_from_dict(raw)


def config_from_dict(raw: dict) -> Config:
    cfg = _build(Config, raw, "")
    check(cfg)
    return cfg


def apply_override(raw: dict, item: str) -> None:
    """Set `a.b.c=value` in the raw mapping; the value is parsed as YAML (so 0.1, true, [1, 2])."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise UserError(f"override '{item}' must look like section.key=value, e.g. train.lr=0.001")
    try:
        value = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError:
        value = text
    parts = key.strip().split(".")
    node = raw
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            where = ".".join(parts[: depth + 1])
            raise UserError(f"override '{item}': '{where}' is a value, not a section")
        node = child
    node[parts[-1]] = value


def to_dict(cfg) -> dict:
    """Plain YAML-ready mapping (tuples become lists)."""
    out = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            value = to_dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def save_config(cfg: Config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False), encoding="utf-8")


def flatten(cfg_dict: dict, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}."""
    out: dict[str, Any] = {}
    for key, value in cfg_dict.items():
        path = _join(prefix, key)
        if isinstance(value, dict):
            out.update(flatten(value, path))
        else:
            out[path] = value
    return out


# ---------------------------------------------------------------- validation


def check(cfg: Config) -> None:
    """Rules that involve more than one key."""
    if cfg.model.tie_src_tgt_embeddings and not cfg.tokenizer.joint:
        raise UserError("model.tie_src_tgt_embeddings needs a shared vocabulary: set tokenizer.joint: true")
    if cfg.model.architecture == "transformer":
        _check_transformer(cfg.model)
    else:
        _check_rnn(cfg.model)
    for i, beta in enumerate(cfg.train.betas):
        if not 0.0 <= beta < 1.0:
            raise UserError(f"train.betas[{i}] is {beta}; Adam betas must lie in [0, 1)")
    if cfg.train.lr <= 0:
        raise UserError(f"train.lr is {cfg.train.lr}; it must be > 0")
    if cfg.train.min_lr > cfg.train.lr:
        raise UserError(f"train.min_lr ({cfg.train.min_lr}) is above train.lr ({cfg.train.lr})")


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
    if dec.attention == "luong" and dec.luong_score == "dot" and enc_out != dec.hidden_size:
        raise UserError(
            f"luong_score 'dot' needs the encoder output size ({enc_out}) equal to "
            f"model.decoder.hidden_size ({dec.hidden_size}); use luong_score: general"
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


def _build(cls, raw: Any, prefix: str):
    if not isinstance(raw, dict):
        raise UserError(f"config section '{prefix}' must be a mapping of keys, not a {_kind(raw)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in raw:
        if key not in fields:
            path = _join(prefix, str(key))
            close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.5)
            hint = (
                f"; did you mean '{_join(prefix, close[0])}'?"
                if close
                else f"; valid keys here: {', '.join(fields)}"
            )
            raise UserError(f"unknown config key '{path}'{hint}")
    values = {}
    for name, f in fields.items():
        path = _join(prefix, name)
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise UserError(f"missing config key '{path}'; add it to the config")
            continue
        value = _convert(hints[name], raw[name], path)
        _check_range(f, value, path)
        values[name] = value
    return cls(**values)


def _convert(tp, value: Any, path: str):
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, path)
    origin = typing.get_origin(tp)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            allowed = ", ".join(str(c) for c in choices)
            raise UserError(f"config key '{path}' is {value!r}; allowed values: {allowed}")
        return value
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise UserError(f"config key '{path}' must be a list of {len(args)} numbers, e.g. [0.9, 0.999]")
        return tuple(_convert(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin in (typing.Union, types.UnionType):
        raise TypeError(f"unsupported config type at {path}")  # keep configs free of Optionals
    if tp is bool:
        if not isinstance(value, bool):
            raise UserError(f"config key '{path}' must be true or false, not {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"config key '{path}' must be a whole number, not {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise UserError(f"config key '{path}' must be a finite number, not {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str) or not value:
            raise UserError(f"config key '{path}' must be a non-empty string, not {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp} at {path}")


def _check_range(f: dataclasses.Field, value: Any, path: str) -> None:
    if "range" not in f.metadata:
        return
    lo, hi, hi_open = f.metadata["range"]
    too_low = lo is not None and value < lo
    too_high = hi is not None and (value >= hi if hi_open else value > hi)
    if too_low or too_high:
        if hi is None:
            allowed = f">= {lo}"
        else:
            allowed = f"in [{lo}, {hi}{')' if hi_open else ']'}"
        raise UserError(f"config key '{path}' is {value}; it must be {allowed}")


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _kind(value: Any) -> str:
    return type(value).__name__
