"""transformer.py: scaled dot-product multi-head attention is torch's nn.MultiheadAttention with the
same weights; attention weights sum to one and never look at padding (or ahead, in the decoder); a
sentence encodes and decodes the same alone and in a padded batch; incremental decoding with the
key/value caches equals the teacher-forced forward pass; beam 1 is greedy; it learns; it resumes."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import (
    random_batch,
    reversal_config,
    reversal_corpus,
    small_transformer,
    tiny_config_dict,
    translate_jsonl,
)
from torch import nn

from seq2seq.cli.train import train
from seq2seq.config.load import ModelConfig, TransformerConfig, config_from_dict
from seq2seq.decoding.search import beam_search, greedy_search, max_lengths
from seq2seq.errors import UserError
from seq2seq.layers.transformer_layers import MultiHeadAttention, sinusoid_positions
from seq2seq.models.build import build_model
from seq2seq.models.model_file import save_model

VOCAB = 17
SRC_LENGTHS = [6, 3, 4]
T = 5


def make_model(positions: str = "sinusoidal", tied: bool = True):
    cfg = ModelConfig(
        architecture="transformer",
        transformer=TransformerConfig(
            encoder_layers=2,
            decoder_layers=2,
            d_model=16,
            heads=4,
            d_ff=32,
            positions=positions,
            max_positions=8,
        ),
        tie_tgt_embeddings=tied,
        tie_src_tgt_embeddings=tied,
    )
    torch.manual_seed(0)
    return build_model(cfg, VOCAB, VOCAB).eval()


def inputs():
    return random_batch(SRC_LENGTHS, VOCAB, VOCAB, T)


def test_multi_head_attention_is_torchs_with_the_same_weights():
    torch.manual_seed(2)
    ours = MultiHeadAttention(16, 4, dropout=0.0).eval()
    theirs = nn.MultiheadAttention(16, 4, batch_first=True).eval()
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat([ours.query.weight, ours.key_value.weight]))
        theirs.in_proj_bias.copy_(torch.cat([ours.query.bias, ours.key_value.bias]))
        theirs.out_proj.weight.copy_(ours.out.weight)
        theirs.out_proj.bias.copy_(ours.out.bias)
    x, memory = torch.randn(3, 5, 16), torch.randn(3, 7, 16)
    mask = torch.arange(7)[None, :] < torch.tensor([7, 2, 4])[:, None]
    with torch.no_grad():
        out, weights = ours(x, *ours.project_kv(memory), mask[:, None, None, :])
        expected, expected_weights = theirs(
            x, memory, memory, key_padding_mask=~mask, average_attn_weights=False
        )
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(weights, expected_weights)


def test_sinusoidal_positions_are_the_papers():
    pe = sinusoid_positions(torch.arange(50), 10)
    assert pe[7, 4] == pytest.approx(math.sin(7 / 10000 ** (4 / 10)), abs=1e-6)
    assert pe[7, 5] == pytest.approx(math.cos(7 / 10000 ** (4 / 10)), abs=1e-6)
    assert pe[0, 1] == 1.0 and pe[0, 0] == 0.0


@pytest.mark.parametrize("positions", ["sinusoidal", "learned"])
def test_incremental_decoding_equals_the_teacher_forced_forward_pass(positions):
    model = make_model(positions)
    src, lengths, tgt = inputs()
    with torch.no_grad():
        memory, state = model.encode(src, lengths)
        full, _, full_attention = model.decoder(tgt, memory, state)
        steps, attentions = [], []
        for t in range(T):
            logits, state, attention = model.decode_step(tgt[:, t], memory, state)
            steps.append(logits)
            attentions.append(attention)
    assert state.length == T and state.keys[0].shape == (3, 4, T, 4)
    torch.testing.assert_close(torch.stack(steps, 1), full)
    torch.testing.assert_close(torch.stack(attentions, 1), full_attention)


def test_attention_sums_to_one_over_real_source_tokens_and_never_looks_ahead():
    model = make_model()
    src, lengths, tgt = inputs()
    with torch.no_grad():
        memory, state = model.encode(src, lengths)
        _, _, attention = model.decoder(tgt, memory, state)  # (B, T, S)
        torch.testing.assert_close(attention.sum(-1), torch.ones(3, T))
        for b, n in enumerate(SRC_LENGTHS):
            assert (attention[b, :, n:] == 0).all()
        # changing a later target token changes no earlier position's output
        changed = tgt.clone()
        changed[:, 3] = (changed[:, 3] + 1) % VOCAB
        before, after = model(src, lengths, tgt), model(src, lengths, changed)
    torch.testing.assert_close(before[:, :3], after[:, :3])
    assert not torch.allclose(before[:, 3:], after[:, 3:])


def test_a_sentence_alone_encodes_and_decodes_as_in_a_padded_batch():
    model = make_model()
    src, lengths, tgt = inputs()
    with torch.no_grad():
        batch = model.encoder(src, lengths)
        full = model(src, lengths, tgt)
        for b, n in enumerate(SRC_LENGTHS):
            alone = model.encoder(src[b : b + 1, :n], lengths[b : b + 1])
            torch.testing.assert_close(alone.states[0], batch.states[b, :n])
            torch.testing.assert_close(
                model(src[b : b + 1, :n], lengths[b : b + 1], tgt[b : b + 1]), full[b : b + 1]
            )


def test_beam_size_one_is_greedy_and_n_best_works():
    model = make_model()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(4.0)  # peaked distributions: distinct hypotheses
    src, lengths, _ = inputs()
    max_lens = max_lengths(lengths, 2.0, 3)
    greedy = greedy_search(model, src, lengths, max_lens)
    beam = beam_search(model, src, lengths, max_lens, beam_size=1, alpha=0.0)
    assert [h[0].tokens for h in greedy] == [h[0].tokens for h in beam]
    assert [h[0].score for h in greedy] == pytest.approx([h[0].score for h in beam], abs=1e-5)
    n_best = beam_search(model, src, lengths, max_lens, beam_size=4, alpha=1.0, n_best=3, with_attention=True)
    for hyps, n in zip(n_best, SRC_LENGTHS):
        assert [h.norm_score for h in hyps] == sorted((h.norm_score for h in hyps), reverse=True)
        assert all(h.attention.shape == (len(h.tokens) + 1, n) for h in hyps)


def test_all_embeddings_can_be_one_matrix():
    tied, untied = make_model(tied=True), make_model(tied=False)
    assert tied.encoder.embedding.weight is tied.decoder.embedding.weight is tied.decoder.output.weight
    assert untied.decoder.output.weight is not untied.decoder.embedding.weight
    assert sum(p.numel() for p in tied.parameters()) < sum(p.numel() for p in untied.parameters())


def base_config(tmp_path) -> dict:
    return reversal_config(
        tmp_path,
        data={"batch_tokens": 400},
        model=small_transformer(),
        train={
            "epochs": 16,
            "lr": 0.005,
            "schedule": "warmup_decay",
            "warmup_steps": 100,
            "label_smoothing": 0.0,
            "seed": 1,
        },
    )


@pytest.mark.system
def test_a_small_transformer_learns_to_reverse(tmp_path, restore_globals):
    reversal_corpus(tmp_path, 2000, 100)
    progress = train(config_from_dict(base_config(tmp_path)))
    bleus = [row["bleu"] for row in progress.history]
    assert bleus[0] < 30
    assert progress.best_score >= 90, f"validation BLEU per epoch: {bleus}"


def test_a_transformer_run_resumes_exactly(tmp_path, restore_globals):
    reversal_corpus(tmp_path, 200, 10, seed=1)
    raw = base_config(tmp_path)
    raw["model"]["transformer"] |= {"dropout": 0.2, "attention_dropout": 0.1, "activation_dropout": 0.1}
    raw["train"]["epochs"] = 2
    straight = train(config_from_dict(raw))
    raw["run_dir"], raw["train"]["epochs"] = str(tmp_path / "split"), 1
    train(config_from_dict(raw))
    raw["train"]["epochs"] = 2
    resumed = train(config_from_dict(raw), resume=True)
    assert [r["valid_loss"] for r in resumed.history] == [r["valid_loss"] for r in straight.history]
    weights = [torch.load(tmp_path / run / "last.pt", weights_only=True)["model"] for run in ("run", "split")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


@pytest.mark.parametrize(
    "change,message",
    [
        ({"transformer": {"d_model": 30, "heads": 4}}, "must be a multiple of model.transformer.heads"),
        ({"encoder": {"hidden_size": 8}}, "model.encoder is for model.architecture: rnn"),
    ],
)
def test_transformer_config_mistakes_are_one_clear_line(tmp_path, change, message):
    raw = base_config(tmp_path)
    for key, value in change.items():
        raw["model"][key] = raw["model"].get(key, {}) | value
    with pytest.raises(UserError, match=message):
        config_from_dict(raw)
    rnn = base_config(tmp_path)
    rnn["model"]["architecture"] = "rnn"
    with pytest.raises(UserError, match="model.transformer is set but model.architecture is rnn"):
        config_from_dict(rnn)


def test_translate_gives_a_transformers_attention_in_jsonl_and_plots(
    tmp_path, tokenizer, capsys, restore_globals
):
    raw = tiny_config_dict(tmp_path)
    raw["model"] = {
        "architecture": "transformer",
        "transformer": {"encoder_layers": 1, "decoder_layers": 1, "d_model": 8, "heads": 2, "d_ff": 16},
    }
    cfg = config_from_dict(raw)
    torch.manual_seed(0)
    save_model(
        tmp_path / "t.pt", build_model(cfg.model, len(tokenizer.src), len(tokenizer.tgt)), cfg, tokenizer
    )
    (line,) = translate_jsonl(capsys, tmp_path / "t.pt", ["ba ca da"], "--plot-attention", tmp_path / "plots")
    best = line["hypotheses"][0]
    assert len(best["attention"]) == len(best["pieces"])
    assert all(len(row) == len(line["source_pieces"]) for row in best["attention"])
    assert all(sum(row) == pytest.approx(1.0, abs=1e-3) for row in best["attention"])
    assert (tmp_path / "plots" / "line000001.png").stat().st_size > 0


def test_learned_positions_refuse_a_sequence_past_their_table():
    """Never the last row again for every later position: a clear refusal."""
    model = make_model("learned")  # 8 positions
    src, lengths, _ = inputs()
    long_tgt = torch.randint(4, VOCAB, (3, 9))
    with pytest.raises(UserError, match=r"a sequence of 9 positions is longer than this model's 8 learned"):
        model(src, lengths, long_tgt)
    with torch.no_grad():
        memory, state = model.encode(src, lengths)
        for t in range(8):
            _, state, _ = model.decode_step(long_tgt[:, t], memory, state)
        with pytest.raises(UserError, match="longer than this model's 8 learned positions"):
            model.decode_step(long_tgt[:, 8], memory, state)


def test_a_config_whose_learned_positions_cannot_hold_its_sequences_is_refused():
    raw = {
        "run_dir": "r",
        "data": {"train_src": "a", "train_tgt": "b", "valid_src": "c", "valid_tgt": "d", "max_len": 50},
        "model": {
            "architecture": "transformer",
            "transformer": {"positions": "learned", "max_positions": 100},
        },
    }
    with pytest.raises(UserError) as error:
        config_from_dict(raw)  # the search may emit 2 x 50 + 10 pieces and EOS
    assert str(error.value).startswith(
        "model.transformer.max_positions (100) cannot hold the longest sequence"
    )
    assert "(111 positions" in str(error.value)
    raw["model"]["transformer"]["max_positions"] = 111
    assert config_from_dict(raw).model.transformer.max_positions == 111


def test_compiling_a_transformers_step_is_refused_and_eager_is_a_no_op():
    model = make_model()
    model.compile_steps(compiled=False)
    with pytest.raises(UserError, match="a Transformer has none: leave --compile off"):
        model.compile_steps()
