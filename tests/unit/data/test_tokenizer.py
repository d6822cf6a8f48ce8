"""tokenizer.py: SentencePiece trained once per (data, settings), compact per-side vocabularies with
fixed special ids, lossless round trips, and a content-keyed cache."""

from __future__ import annotations

import io

import pytest
import torch
from helpers import SRC_WORDS, TGT_WORDS, make_pairs, write_lines

from seq2seq.config.load import TokenizerConfig
from seq2seq.data.batches import check_parallel
from seq2seq.data.tokenizer import BOS_ID, EOS_ID, PAD_ID, SPECIALS, UNK_ID, Tokenizer, train_or_load
from seq2seq.errors import UserError


def quiet(_: str) -> None:
    pass


def train(tmp_path, cfg: TokenizerConfig, src: list[str], tgt: list[str], log=quiet) -> Tokenizer:
    src_path = write_lines(tmp_path / "train.src", src)
    tgt_path = write_lines(tmp_path / "train.tgt", tgt)
    return train_or_load(cfg, src_path, tgt_path, check_parallel(src_path, tgt_path), tmp_path / "cache", log)


def entries(tmp_path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith("tokenizer-"))


def test_special_ids_are_fixed():
    assert (PAD_ID, UNK_ID, BOS_ID, EOS_ID) == (0, 1, 2, 3)
    assert SPECIALS == ("<pad>", "<unk>", "<s>", "</s>")


@pytest.mark.parametrize(
    "cfg",
    [
        TokenizerConfig(vocab_size=60, model_type="unigram", joint=True),
        TokenizerConfig(vocab_size=40, model_type="unigram", joint=False),
        TokenizerConfig(vocab_size=60, model_type="bpe", joint=True),
        TokenizerConfig(vocab_size=40, model_type="bpe", joint=False),
    ],
    ids=["unigram-joint", "unigram-separate", "bpe-joint", "bpe-separate"],
)
def test_round_trip_and_special_ids(tmp_path, cfg):
    src, tgt = make_pairs(300, seed=0)
    tok = train(tmp_path, cfg, src, tgt)
    new_src, new_tgt = make_pairs(50, seed=99)  # unseen sentences made of training words
    for vocab, lines in ((tok.src, src[:50] + new_src), (tok.tgt, tgt[:50] + new_tgt)):
        assert vocab.pieces(range(4)) == list(SPECIALS)
        encoded = vocab.encode(lines)
        for line, ids in zip(lines, encoded, strict=True):
            assert len(ids) > 0
            assert ids.min() > EOS_ID, "ordinary text never encodes to PAD, UNK, BOS or EOS"
            assert ids.max() < len(vocab)
            assert vocab.decode(ids.tolist()) == line
            # specials are dropped when decoding
            assert vocab.decode([BOS_ID, *ids.tolist(), EOS_ID, PAD_ID, PAD_ID]) == line
    assert tok.src.decode([]) == ""


def test_each_side_keeps_only_the_pieces_its_training_text_uses(tmp_path):
    src, tgt = make_pairs(300, seed=0)
    tok = train(tmp_path, TokenizerConfig(vocab_size=60, joint=True), src, tgt)
    for vocab, lines in ((tok.src, src), (tok.tgt, tgt)):
        used = {int(i) for ids in vocab.encode(lines) for i in ids}
        assert used | {PAD_ID, UNK_ID, BOS_ID, EOS_ID} == set(range(len(vocab)))
    # the source and target alphabets are disjoint: a target-only word is UNK on the source side
    # (the word-boundary piece may be shared), and a source-only word is UNK on the target side
    for word, vocab, other in ((TGT_WORDS[0], tok.src, tok.tgt), (SRC_WORDS[0], tok.tgt, tok.src)):
        pieces = vocab.pieces(vocab.encode([word])[0])
        assert UNK_ID in vocab.encode([word])[0], pieces
        assert all(p in ("<unk>", "▁") for p in pieces), pieces
        assert UNK_ID not in other.encode([word])[0]


def test_state_round_trip_encodes_identically(tmp_path):
    src, tgt = make_pairs(300, seed=0)
    tok = train(tmp_path, TokenizerConfig(vocab_size=40, joint=False), src, tgt)
    buffer = io.BytesIO()
    torch.save(tok.state(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)  # tensors only
    again = Tokenizer.from_state(state)
    lines_src, lines_tgt = make_pairs(30, seed=5)
    for a, b, lines in ((tok.src, again.src, lines_src), (tok.tgt, again.tgt, lines_tgt)):
        assert len(a) == len(b)
        assert [x.tolist() for x in a.encode(lines)] == [x.tolist() for x in b.encode(lines)]
        ids = a.encode(lines)[0].tolist()
        assert a.decode(ids) == b.decode(ids) == lines[0]


def test_the_cache_is_reused_and_keyed_by_settings_and_data(tmp_path):
    src, tgt = make_pairs(300, seed=0)
    messages: list[str] = []
    first = train(tmp_path, TokenizerConfig(vocab_size=60), src, tgt, messages.append)
    assert any("training" in m for m in messages)
    (entry,) = entries(tmp_path)
    mtime = (tmp_path / "cache" / entry / "vocab.json").stat().st_mtime_ns

    messages.clear()
    second = train(tmp_path, TokenizerConfig(vocab_size=60), src, tgt, messages.append)
    assert not any("training" in m for m in messages)
    assert any("reusing" in m for m in messages)
    assert entries(tmp_path) == [entry]
    assert (tmp_path / "cache" / entry / "vocab.json").stat().st_mtime_ns == mtime
    assert first.src.proto == second.src.proto
    assert first.src.encode(src[:5])[0].tolist() == second.src.encode(src[:5])[0].tolist()

    train(tmp_path, TokenizerConfig(vocab_size=50), src, tgt)  # a changed setting
    assert len(entries(tmp_path)) == 2
    train(tmp_path, TokenizerConfig(vocab_size=60), src[:-1] + ["ma ke"], tgt)  # changed data
    assert len(entries(tmp_path)) == 3
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".tmp")]


def test_a_vocabulary_too_large_for_the_corpus_is_a_user_error(tmp_path):
    src, tgt = make_pairs(50, seed=0)
    with pytest.raises(UserError, match="vocab_size"):
        train(tmp_path, TokenizerConfig(vocab_size=5000), src, tgt)
    assert entries(tmp_path) == []  # nothing half-written is left to be "reused"
