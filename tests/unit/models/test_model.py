"""model.py: `build_model` turns a ModelConfig into a Seq2Seq whose sizes, ties and initialization
follow the config; teacher forcing can score selected positions only."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import make_pairs, write_lines

from seq2seq.config.load import (
    Config,
    DataConfig,
    DecoderConfig,
    EncoderConfig,
    ModelConfig,
    TokenizerConfig,
    TransformerConfig,
)
from seq2seq.data.batches import check_parallel, collate
from seq2seq.data.tokenizer import PAD_ID, train_or_load
from seq2seq.models.build import build_model, count_parameters


def model_config(**kwargs) -> ModelConfig:
    return ModelConfig(
        encoder=EncoderConfig(emb_size=8, hidden_size=8),
        decoder=DecoderConfig(emb_size=8, hidden_size=8, attention_size=8),
        **kwargs,
    )


@pytest.mark.parametrize("ties", [{}, {"tie_tgt_embeddings": True}], ids=["untied", "tgt"])
@pytest.mark.parametrize("sizes", [(20, 30), (30, 20)], ids=["tgt-larger", "src-larger"])
def test_the_vocabulary_sizes_are_the_ones_asked_for(ties, sizes):
    """A tied model has one embedding row per source id and one output row per target id too."""
    src_vocab, tgt_vocab = sizes
    torch.manual_seed(0)
    model = build_model(model_config(**ties), src_vocab, tgt_vocab).eval()
    assert model.decoder.output.out_features == tgt_vocab
    src = torch.tensor([[src_vocab - 1, 3]])
    tgt_in = torch.tensor([[2, tgt_vocab - 1]])
    assert model(src, torch.tensor([2]), tgt_in).shape == (1, 2, tgt_vocab)


@pytest.mark.parametrize(
    "ties", [{"tie_src_tgt_embeddings": True}, {"tie_src_tgt_embeddings": True, "tie_tgt_embeddings": True}]
)
def test_tied_src_tgt_embeddings_need_one_vocabulary(ties):
    with pytest.raises(ValueError, match="one vocabulary"):
        build_model(model_config(**ties), 20, 30)
    model = build_model(model_config(**ties), 30, 30)
    assert model.encoder.embedding is model.decoder.embedding


def test_tied_output_layer_shares_the_target_embedding():
    model = build_model(model_config(tie_tgt_embeddings=True), 20, 30)
    assert model.decoder.output.weight is model.decoder.embedding.weight
    untied = build_model(model_config(), 20, 30)
    assert untied.decoder.output.weight is not untied.decoder.embedding.weight


def test_tied_src_tgt_embeddings_give_a_piece_one_vector(tmp_path):
    """With a joint tokenizer and tied embeddings, a piece that occurs on both sides must have the
    same vector in the encoder and the decoder, whatever its id on each side."""
    src, tgt = make_pairs(200, seed=0)
    tgt = [
        t + " " + s.split()[0] for s, t in zip(src, tgt, strict=True)
    ]  # source words appear in the target too
    src_path, tgt_path = write_lines(tmp_path / "s", src), write_lines(tmp_path / "t", tgt)
    tok = train_or_load(
        TokenizerConfig(vocab_size=60),
        src_path,
        tgt_path,
        check_parallel(src_path, tgt_path),
        tmp_path / "cache",
        lambda s: None,
        shared_vocab=True,
    )
    model = build_model(model_config(tie_src_tgt_embeddings=True), len(tok.src), len(tok.tgt))
    src_ids = {piece: i for i, piece in enumerate(tok.src.pieces(range(len(tok.src))))}
    tgt_ids = {piece: i for i, piece in enumerate(tok.tgt.pieces(range(len(tok.tgt))))}
    shared = sorted(set(src_ids) & set(tgt_ids) - {"<pad>", "<unk>", "<s>", "</s>"})
    assert len(shared) > 5
    assert model.decoder.output.out_features == len(tok.tgt)
    for piece in shared:
        assert torch.equal(
            model.encoder.embedding.weight[src_ids[piece]],
            model.decoder.embedding.weight[tgt_ids[piece]],
        ), piece


def test_initialization():
    torch.manual_seed(0)
    model = build_model(model_config(), 20, 30)
    for embedding in (model.encoder.embedding, model.decoder.embedding):
        assert torch.all(embedding.weight[PAD_ID] == 0)
    for name, p in model.named_parameters():
        assert p.abs().max() <= 0.1, name  # uniform(-0.1, 0.1), Luong et al. 2015


@pytest.mark.parametrize("attention", ["bahdanau", "luong"])
def test_scoring_selected_positions_equals_selecting_from_all_logits(attention):
    cfg = ModelConfig(
        encoder=EncoderConfig(emb_size=8, hidden_size=8),
        decoder=DecoderConfig(emb_size=8, hidden_size=16, attention=attention, attention_size=8),
    )
    torch.manual_seed(0)
    model = build_model(cfg, 20, 30).eval()
    batch = collate([np.array([5, 6, 7]), np.array([8])], [np.array([9, 10]), np.array([11, 12, 13, 14])])
    real = batch.tgt_out != PAD_ID
    with torch.no_grad():
        everything = model(batch.src, batch.src_lengths, batch.tgt_in)
        selected = model(batch.src, batch.src_lengths, batch.tgt_in, real)
    assert selected.shape == (int(real.sum()), 30)
    torch.testing.assert_close(selected, everything[real])


COUNT_IN_A_FRESH_PROCESS = """
import sys
from seq2seq.config.load import Config, DataConfig, ModelConfig, TransformerConfig
from seq2seq.models.build import count_parameters
model = ModelConfig(architecture="transformer", transformer=TransformerConfig(d_model=16, heads=2, d_ff=32))
cfg = Config(run_dir="run", data=DataConfig(train_src="x", valid_src="y"), model=model)
print(count_parameters(cfg, 50, 50), "torch._dynamo" in sys.modules)
"""


@pytest.mark.parametrize(
    "model",
    [
        {},
        {"tie_tgt_embeddings": True},
        {"architecture": "transformer", "transformer": TransformerConfig(d_model=16, heads=2, d_ff=32)},
        {
            "architecture": "transformer",
            "transformer": TransformerConfig(d_model=16, heads=2, d_ff=32),
            "tie_tgt_embeddings": True,
            "tie_src_tgt_embeddings": True,
        },
    ],
    ids=["rnn", "rnn-tied", "transformer", "transformer-tied"],
)
def test_count_parameters_counts_what_build_makes(model):
    """Counted on the meta device without building weights: the built model's parameters, ties once."""
    cfg = Config(run_dir="run", data=DataConfig(train_src="x", valid_src="y"), model=model_config(**model))
    built = build_model(cfg.model, 50, 50)
    assert count_parameters(cfg, 50, 50) == sum(p.numel() for p in built.parameters())


def test_count_parameters_does_not_import_the_compiler():
    """torch's meta kernel of normal_ imports torch._dynamo (about 1 s of each translate command's start)."""
    command = [sys.executable, "-c", COUNT_IN_A_FRESH_PROCESS]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    count, imported = result.stdout.split()
    assert int(count) > 0 and imported == "False", result.stderr
