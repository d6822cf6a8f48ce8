"""Export a Transformer model file to a CTranslate2 model directory (`seq2seq export --ctranslate2`).

CTranslate2 (the OpenNMT project's C++ inference engine) describes a Transformer by a specification
of named weights. Ours maps onto it one to one: pre-norm layers with a final layer norm on each
side, embeddings scaled by sqrt(d_model) plus our position table (sinusoidal, with sine and cosine
interleaved, or learned), self-attention's query and key/value projections fused into one matrix,
cross-attention's query apart and key/value fused (as ours are), ReLU feed-forward layers, and the
output layer without bias (a zero one is written). The directory gets, beside CTranslate2's
`model.bin` and vocabularies (our pieces in our id order), the SentencePiece model of each side and
the run's resolved config, so it translates with nothing else.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import torch

from ..config.load import Config, save_config
from ..data.tokenizer import SubwordVocab, Tokenizer
from ..errors import UserError
from ..layers.transformer_layers import sinusoid_positions
from ..models.model_file import ModelFile
from ..special_ids import BOS_ID, EOS_ID, SPECIALS, UNK_ID

INSTALL = "pip install 'seq2seq[ctranslate2]' (or pip install ctranslate2)"
QUANTIZATIONS = ("float32", "int8", "int8_float32", "bfloat16", "int8_bfloat16", "float16", "int8_float16")
CONFIG_FILE = "seq2seq.yaml"  # our config, beside CTranslate2's config.json
SPM_FILES = ("source.spm", "target.spm")  # SentencePiece models: source, target side
POSITIONS = 1024  # rows of the position table written for sinusoidal positions


def ctranslate2_module():
    """The ctranslate2 package, or a UserError that says how to install it."""
    try:
        import ctranslate2
    except ImportError:
        raise UserError(f"CTranslate2 is not installed: {INSTALL}") from None
    return ctranslate2


def check_exportable(cfg: Config, path: str | Path) -> None:
    """Refuse, in one line, what CTranslate2's Transformer cannot express."""
    if cfg.task != "translate":
        raise UserError(f"{path} is a classifier; only translation models export to CTranslate2")
    if cfg.model.architecture != "transformer":
        raise UserError(
            f"{path} is a recurrent model; CTranslate2 runs Transformers only: keep decoding it with "
            "seq2seq translate, or make it smaller and faster with seq2seq export --int8"
        )


def export_ctranslate2(model_path: str | Path, out: str | Path, quantization: str = "float32") -> Path:
    """Write the CTranslate2 directory `out` (which must not exist) from a model file; returns it.
    Written in a temporary folder beside `out` and renamed at the end: no half directory is left."""
    ct2 = ctranslate2_module()
    out = Path(out)
    if out.exists():
        raise UserError(f"{out} already exists; choose a new directory for the export")
    source = ModelFile.read(model_path)
    if source.int8 is not None:
        raise UserError(
            f"{model_path} is an int8 model file; export the model file it came from "
            "(--quantization int8 gives CTranslate2 int8 weights)"
        )
    model, cfg, tokenizer = source.build()
    check_exportable(cfg, model_path)
    spec = _spec(ct2, model, cfg, tokenizer)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        spec.validate()
        spec.optimize(quantization=quantization)
        spec.save(str(tmp))
        for vocab, name in zip((tokenizer.src, tokenizer.tgt), SPM_FILES):
            (tmp / name).write_bytes(vocab.proto)
        save_config(cfg, tmp / CONFIG_FILE)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def read_tokenizer(directory: Path) -> Tokenizer:
    """Our Tokenizer again from an exported directory: each side's SentencePiece model, and its
    vocabulary (CTranslate2's, in our id order) as the model's subset of the pieces."""
    import json

    vocabs = []
    for name, side in zip(SPM_FILES, ("source", "target")):
        proto = (directory / name).read_bytes()
        tokens = json.loads((directory / _vocabulary_file(directory, side)).read_text(encoding="utf-8"))
        sp = SubwordVocab(proto, list(range(len(SPECIALS)))).sp
        vocabs.append(SubwordVocab(proto, [sp.piece_to_id(t) for t in tokens]))
    return Tokenizer(*vocabs)


def _vocabulary_file(directory: Path, side: str) -> str:
    shared = directory / "shared_vocabulary.json"
    return shared.name if shared.exists() else f"{side}_vocabulary.json"


def _spec(ct2, model, cfg: Config, tokenizer: Tokenizer):
    from ctranslate2.specs import common_spec, transformer_spec

    t = cfg.model.transformer
    spec = transformer_spec.TransformerSpec.from_config(
        (t.encoder_layers, t.decoder_layers), t.heads, pre_norm=True, activation=common_spec.Activation.RELU
    )
    spec.config.layer_norm_epsilon = 1e-5  # torch's LayerNorm default, which ours use
    spec.config.unk_token, spec.config.bos_token, spec.config.eos_token = (
        SPECIALS[UNK_ID],
        SPECIALS[BOS_ID],
        SPECIALS[EOS_ID],
    )
    spec.config.decoder_start_token = SPECIALS[BOS_ID]
    weights = {k: v.detach().float() for k, v in model.state_dict().items()}
    _side(spec.encoder, weights, "encoder", t.positions, False)
    _side(spec.decoder, weights, "decoder", t.positions, True)
    _linear(spec.decoder.projection, weights, "decoder.output")
    spec.register_source_vocabulary(tokenizer.src.pieces(range(len(tokenizer.src))))
    spec.register_target_vocabulary(tokenizer.tgt.pieces(range(len(tokenizer.tgt))))
    return spec


def _side(spec, w: dict[str, torch.Tensor], side: str, positions: str, decoder: bool) -> None:
    """Embeddings, positions, layers and final norm of one side."""
    embedding = w[f"{side}.embedder.embedding.weight"]
    table = (
        spec.embeddings[0] if isinstance(spec.embeddings, list) else spec.embeddings
    )  # the encoder's: a list
    table.weight = embedding
    spec.scale_embeddings = True
    if positions == "learned":
        spec.position_encodings.encodings = w[f"{side}.embedder.positions.weight"]
    else:
        spec.position_encodings.encodings = sinusoid_positions(torch.arange(POSITIONS), embedding.size(1))
    _norm(spec.layer_norm, w, f"{side}.norm")
    for i, layer in enumerate(spec.layer):
        scope = f"{side}.layers.{i}"
        self_attention = f"{scope}.self_attention"
        fused = [w[f"{self_attention}.query.{p}"] for p in ("weight", "bias")]
        kv = [w[f"{self_attention}.key_value.{p}"] for p in ("weight", "bias")]
        layer.self_attention.linear[0].weight = torch.cat([fused[0], kv[0]])  # (3d, d): q; k; v
        layer.self_attention.linear[0].bias = torch.cat([fused[1], kv[1]])
        _linear(layer.self_attention.linear[1], w, f"{self_attention}.out")
        _norm(
            layer.self_attention.layer_norm, w, f"{scope}.norm_self" if decoder else f"{scope}.norm_attention"
        )
        if decoder:
            cross = f"{scope}.cross_attention"
            _linear(layer.attention.linear[0], w, f"{cross}.query")
            _linear(layer.attention.linear[1], w, f"{cross}.key_value")  # (2d, d): k; v
            _linear(layer.attention.linear[2], w, f"{cross}.out")
            _norm(layer.attention.layer_norm, w, f"{scope}.norm_cross")
        _norm(layer.ffn.layer_norm, w, f"{scope}.norm_feed_forward")
        _linear(layer.ffn.linear_0, w, f"{scope}.feed_forward.inner")
        _linear(layer.ffn.linear_1, w, f"{scope}.feed_forward.outer")


def _linear(spec, w: dict[str, torch.Tensor], scope: str) -> None:
    spec.weight = w[f"{scope}.weight"]
    spec.bias = w.get(f"{scope}.bias", torch.zeros(spec.weight.size(0)))


def _norm(spec, w: dict[str, torch.Tensor], scope: str) -> None:
    spec.gamma, spec.beta = w[f"{scope}.weight"], w[f"{scope}.bias"]
