"""translate.py around the search: an n-best list gives distinct texts first."""

from __future__ import annotations

from seq2seq.decoding.hypotheses import Hypothesis
from seq2seq.decoding.translate import distinct_first, searched_n_best


def hyp(score: float) -> Hypothesis:
    return Hypothesis(tokens=[4], score=score, norm_score=score, token_logprobs=[score], attention=None)


def test_the_same_text_in_other_pieces_gives_way_to_the_next_distinct_one():
    """A model trained with subword sampling wrote "Ein Hund." in three segmentations among its 5
    best: the 3-best list holds the two distinct texts, then the best of the repeats."""
    hyps = [hyp(-1.0), hyp(-1.5), hyp(-2.0), hyp(-2.5), hyp(-3.0)]
    texts = ["Ein Hund.", "Ein Hund.", "Ein Hund mit Hund.", "Ein Hund.", "Hund."]
    got, got_texts = distinct_first(hyps, texts, 3)
    assert got_texts == ["Ein Hund.", "Ein Hund mit Hund.", "Hund."]
    assert [h.score for h in got] == [-1.0, -2.0, -3.0]  # each text with its best hypothesis
    got, got_texts = distinct_first(hyps[:2], texts[:2], 2)  # too few distinct: repeats fill it
    assert got_texts == ["Ein Hund.", "Ein Hund."] and [h.score for h in got] == [-1.0, -1.5]
    assert distinct_first(hyps, texts, 1) == ([hyps[0]], ["Ein Hund."])


def test_an_n_best_list_searches_the_whole_beam_and_one_best_only_itself():
    assert searched_n_best(1, 5) == 1
    assert searched_n_best(3, 5) == 5
    assert searched_n_best(5, 5) == 5
