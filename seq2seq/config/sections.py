"""The sections of the run configuration: typed, frozen dataclasses, one per YAML section, with
every key's default and allowed range, once. `load.py` reads YAML into them (`Config`) and holds
the rules that involve several keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .typed import one_or_list, ranged, section


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
    # a translation model file (the teacher), or a list of them decoding as one ensemble: its
    # translations of train_src are trained on beside train_tgt (sequence-level knowledge
    # distillation, training/synthetic_pairs.py); empty: none
    distill_from: tuple[str, ...] = one_or_list()
    distill_n_best: int = ranged(1, 1)  # the teacher's n best translations of each source, the distinct ones
    # a model of the other direction (target -> source language), or a list of them (an
    # ensemble): its translations of train_tgt, and of monolingual_tgt, are trained on as their
    # sources (back-translation, training/synthetic_pairs.py); empty: none
    back_translate_from: tuple[str, ...] = one_or_list()
    monolingual_tgt: str = ""  # target-language text without sources, back-translated
    # the source language (an ISO 639 code): `translate --document` splits sentences by its rules
    src_lang: str = "en"


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
    # unigram: sample among the n best segmentations, drawn from train.seed and the epoch, the
    # same in every run (data/sampling.py); -1: among all, by SentencePiece, another draw every run
    sampling_nbest: int = ranged(-1, -1)


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
    # rows of the learned position table: the longest training pair and output must fit (checked)
    max_positions: int = ranged(1024, 1)


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
    # a trained model file to fine-tune: the run starts from its weights and tokenizer (the config
    # must describe its model; only dropout may differ), with a new optimizer and schedule; "": none
    init_from: str = ""
    epochs: int = ranged(10, 1)
    lr: float = ranged(5e-4, 0.0)
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = ranged(0.0, 0.0)
    clip_grad_norm: float = ranged(1.0, 0.0)  # 0: no clipping
    label_smoothing: float = ranged(0.1, 0.0, 1.0, hi_open=True)
    # R-Drop (Liang et al. 2021): every batch twice through the model with two draws of dropout;
    # this weighs the symmetric KL divergence between the two predictions; 0: off (half the cost)
    rdrop_alpha: float = ranged(0.0, 0.0)
    # word-level knowledge distillation (Kim and Rush 2016, section 3.1): model files (several: an
    # ensemble) whose mean predicted distribution at each target token the loss also matches, with
    # weight teacher_weight against the references' 1 - teacher_weight; they share the run's
    # vocabulary (train.init_from one of them); (): off
    teachers: tuple[str, ...] = one_or_list()
    teacher_weight: float = ranged(0.5, 0.0, 1.0)
    accumulate: int = ranged(1, 1)  # batches per optimizer update
    schedule: Literal["constant", "plateau", "warmup_decay"] = "plateau"
    plateau_factor: float = ranged(0.5, 0.0, 1.0, hi_open=True)  # lr *= factor on a BLEU plateau
    plateau_patience: int = ranged(1, 0)  # validations without improvement before lowering lr
    warmup_steps: int = ranged(1000, 1)  # warmup_decay: linear warmup, then lr * sqrt(warmup/step)
    # the last N epochs of train.epochs lower the rate linearly to min_lr (warmup_decay, constant;
    # a cooldown: it anneals what inverse square root decay leaves high); 0: none
    cooldown_epochs: int = ranged(0, 0)
    min_lr: float = ranged(1e-6, 0.0)
    early_stopping_patience: int = ranged(0, 0)  # validations without BLEU gain; 0: never stop
    # validate after every N-th epoch and the last; the epochs between only log their training (on a
    # fast GPU validation is a large part of a small corpus's epoch); patience counts validations
    validate_every: int = ranged(1, 1)
    # stop after the first epoch that ends this many hours into the run (resumes included), then
    # end as after the last epoch (best.pt chosen, kept epochs averaged); 0: no limit
    max_hours: float = ranged(0.0, 0.0)
    checkpoint_every: int = ranged(0, 0)  # also save last.pt every this many updates; 0: per epoch
    keep_last: int = ranged(0, 0)  # keep the models of the last N epochs as epochN.pt; 0: none
    # at the end, average the kept models into averaged.pt; it becomes best.pt if it validates better
    # (with search.length_penalties, the choice is among both models and every length penalty)
    average_kept: bool = False
    # model files fine-tuned from the same model as this run (another start or seed of a recipe):
    # at the end each candidate is also tried averaged with them, weight by weight (a model soup)
    average_with: tuple[str, ...] = one_or_list()
    log_every: int = ranged(100, 1)  # updates between lines in train.log
    examples: int = ranged(3, 0)  # example translations shown after each validation
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: the GPU when PyTorch sees one, else the CPU
    # auto: bf16 where the device multiplies bf16 matrices natively (a CPU with AVX-512, a GPU of
    # compute capability 8+), else fp32; bf16 and fp16 keep fp32 master weights
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "fp32"
    threads: int = ranged(0, 0)  # torch intra-op threads; 0: torch's default
    tensorboard: bool = False  # also write TensorBoard events to run_dir/tensorboard
    # torch.compile the recurrent decoder's step, and in training on a GPU replay it as CUDA graphs;
    # on the CPU it does not pay (minutes of compiling, no faster: docs/benchmarks.md)
    compile: bool = False


@dataclass(frozen=True)
class SearchConfig:
    """Decoding settings for validation, `test` and `translate` (the CLI can override them)."""

    beam_size: int = ranged(5, 1)  # 1: greedy search
    length_penalty: float = ranged(1.0, 0.0)  # GNMT alpha: score / ((5 + length) / 6) ** alpha
    max_len_ratio: float = ranged(2.0, 0.0)  # output length <= ratio * source length + offset
    max_len_offset: int = ranged(10, 0)
    batch_tokens: int = ranged(4000, 1)  # source tokens per decoding batch
    # the validation after each epoch decodes with this beam (0: beam_size); 1, greedy, is several
    # times cheaper and ranks epochs alike; the choice at the end of training decodes with beam_size
    valid_beam_size: int = ranged(0, 0)
    # at the end of training each is tried on the validation set with beam_size, for best.pt and
    # the average of the kept epochs; the best pair becomes best.pt, this setting in its config.
    # Empty: length_penalty alone
    length_penalties: tuple[float, ...] = ()


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
    # configs whose runs `seq2seq train` brings to their end before this one (trained, resumed or
    # left finished), in order: the runs whose models this one starts from (training/prerequisites.py)
    requires: tuple[str, ...] = one_or_list()
