"""Lexically constrained beam search (glossaries): every constraint of a sentence appears in its
translation, for recurrent and Transformer models and ensembles; without constraints the search is
exactly the plain one."""

from __future__ import annotations

import random

import pytest
import torch
from helpers import TINY_TRANSFORMER, save_tiny

from seq2seq.decoding.constraints import Constraints, bank_priority
from seq2seq.decoding.translate import translate
from seq2seq.inference.glossary import Glossary
from seq2seq.inference.translator import Translator

LINES = ["ba ca da", "fe ge", "hi ja ki la ma", "na pa", "ba fe hi ja"]


@pytest.fixture(scope="module")
def translators(tmp_path_factory, tokenizer):
    root = tmp_path_factory.mktemp("constraints")
    rnn = save_tiny(root, "rnn.pt", tokenizer, seed=0)
    transformer = save_tiny(root, "t.pt", tokenizer, seed=2, **TINY_TRANSFORMER)
    return {
        "rnn": Translator.load(rnn, beam_size=4),
        "transformer": Translator.load(transformer, beam_size=4),
        "ensemble": Translator.load([rnn, transformer], beam_size=4),
    }


def contains(tokens: list[int], piece_ids: list[int]) -> bool:
    n = len(piece_ids)
    return any(tokens[i : i + n] == piece_ids for i in range(len(tokens) - n + 1))


@pytest.mark.parametrize("kind", ["rnn", "transformer", "ensemble"])
def test_every_constraint_appears_in_every_hypothesis(translators, kind):
    """Random sentences, each with 0-3 random constraints of 1-3 pieces (any pieces, however
    improbable): the best hypothesis holds all of them, and in the n-best every hypothesis that
    holds them ranks before any that does not (one the length limit ended)."""
    tr = translators[kind]
    rng = random.Random(kind)
    vocab = range(4, len(tr.tokenizer.tgt))
    for _ in range(3):
        lines = rng.sample(LINES, 4)
        wanted = [
            [[rng.choice(vocab) for _ in range(rng.randint(1, 3))] for _ in range(rng.randint(0, 3))]
            for _ in lines
        ]
        out = translate(tr.model, tr.tokenizer, lines, tr.search, 3, max_src_len=100, constraints=wanted)
        for t, constraints in zip(out, wanted):
            holds = [all(contains(h.tokens, c) for c in constraints) for h in t.hypotheses]
            assert holds[0], (t.source, constraints, t.hypotheses[0].tokens)
            assert holds == sorted(holds, reverse=True)


@pytest.mark.parametrize("kind", ["rnn", "transformer", "ensemble"])
def test_without_constraints_the_search_is_bit_identical(translators, kind):
    """No glossary, an empty glossary, and sentences without terms beside constrained ones in the
    same batch: the same tokens and the same scores as the plain search."""
    tr = translators[kind]
    plain = tr.translate(LINES, n_best=2)
    empty = tr.translate(LINES, n_best=2, glossary=Glossary.of([]))
    mixed = translate(
        tr.model, tr.tokenizer, LINES, tr.search, 2, max_src_len=100, constraints=[[], [[7]], [], [], []]
    )
    for i, (a, b, c) in enumerate(zip(plain, empty, mixed)):
        assert [h.tokens for h in a.hypotheses] == [h.tokens for h in b.hypotheses]
        assert [h.score for h in a.hypotheses] == [h.score for h in b.hypotheses]
        if i != 1:
            assert [h.tokens for h in a.hypotheses] == [h.tokens for h in c.hypotheses]
            assert [h.score for h in a.hypotheses] == pytest.approx([h.score for h in c.hypotheses], abs=1e-5)


def test_greedy_settings_still_obey_the_glossary(translators):
    tr = translators["transformer"]
    wanted = [[[9, 10]], [[11]]]
    greedy = Translator(tr.model, tr.tokenizer, tr.config, tr.search.__class__(beam_size=1), tr.precision)
    out = translate(greedy.model, tr.tokenizer, LINES[:2], greedy.search, max_src_len=100, constraints=wanted)
    assert contains(out[0].hypotheses[0].tokens, [9, 10]) and contains(out[1].hypotheses[0].tokens, [11])


def test_dynamic_beam_allocation_takes_the_best_of_each_bank_in_turn():
    scores = torch.tensor([[-1.0, -2.0, -3.0, -4.0, float("-inf")]])
    banks = torch.tensor([[0, 0, 1, 1, 1]])
    order = bank_priority(scores, banks).argsort(descending=True)[0].tolist()
    # best of bank 1 (-3), best of bank 0 (-1), second of bank 1 (-4), second of bank 0 (-2), -inf
    assert order == [2, 0, 3, 1, 4]
    assert torch.isneginf(bank_priority(scores, banks)[0, 4])


def test_a_constraint_state_follows_a_phrase_and_forgets_a_broken_one():
    c = Constraints.of([[[5, 6], [7]]], "cpu")
    s = c.start(1)
    assert s.wanted()[0, 0].tolist() == [5, 7]
    s = s.advance(torch.tensor([[0]]), torch.tensor([[5]]))  # the phrase 5 6 begins
    assert s.met_pieces().tolist() == [[1]] and s.wanted()[0, 0].tolist() == [6, -1]
    broken = s.advance(torch.tensor([[0]]), torch.tensor([[9]]))
    assert broken.met_pieces().tolist() == [[0]]
    s = s.advance(torch.tensor([[0]]), torch.tensor([[6]])).advance(torch.tensor([[0]]), torch.tensor([[7]]))
    assert s.met_pieces().tolist() == [[3]] and bool(s.all_met()[0, 0])


# ---------------------------------------------------------------- glossaries


def test_terms_match_whole_words_in_any_case_and_the_longest_wins():
    g = Glossary.of([("dog", "Hund"), ("hot dog", "Würstchen"), ("New  York", "New York")])
    assert g.targets("A Dog and a hotdog.") == ["Hund"]
    assert g.targets("He ate a HOT DOG in new york.") == ["Würstchen", "New York"]
    assert g.targets("dogs") == [] and g.targets("") == []


@pytest.mark.parametrize(
    "pairs, message",
    [
        ([("dog", "")], "entry 1 has an empty term"),
        ([("dog", "Hund"), ("DOG", "Köter")], "entry 2: 'DOG' is already translated as 'Hund'"),
        ([("dog",)], "entry 1 is not a pair"),
    ],
)
def test_a_bad_glossary_names_its_entry(pairs, message):
    with pytest.raises(ValueError, match=message):
        Glossary.of(pairs)


def test_a_term_the_vocabulary_cannot_spell_is_still_produced(translators):
    """A target term with a character the SentencePiece model never saw: its pieces hold UNK,
    and the translation still holds the term, characters and all."""
    tr = translators["transformer"]
    term = "Ωfo"
    assert 1 in tr.tokenizer.tgt.encode([term])[0].tolist()  # UNK among its pieces
    (t,) = tr.translate(["ba ca da"], glossary=Glossary.of([("ca", term)]))
    assert term in t.text
