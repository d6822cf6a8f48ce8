"""search.py: greedy and beam search over the Seq2Seq interface.

Oracles: a scripted model whose next-token probabilities depend on the prefix, so the best
hypotheses can be computed by hand. Equivalences on a real (random) model: beam 1 == greedy, and a
sentence decodes the same alone as inside a padded batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from seq2seq.config.load import DecoderConfig, EncoderConfig, ModelConfig
from seq2seq.data.batches import collate
from seq2seq.data.tokenizer import BOS_ID, EOS_ID, PAD_ID
from seq2seq.decoding import search as search_module
from seq2seq.decoding.hypotheses import Hypothesis, length_penalty
from seq2seq.decoding.search import beam_search, greedy_search, max_lengths
from seq2seq.models.build import build_model
from seq2seq.models.loss import sequence_loss

A, B = 4, 5  # the scripted vocabulary: PAD UNK BOS EOS A B
VOCAB = 6

# ---------------------------------------------------------------- a scripted model

Script = Callable[[tuple[int, ...]], dict[int, float]]  # prefix (tokens after BOS) -> p(next)


def table(probs: dict[tuple[int, ...], dict[int, float]]) -> Script:
    """A script from a table; a prefix the table does not list must end (p(EOS) = 1)."""
    return lambda prefix: probs.get(prefix, {EOS_ID: 1.0})


@dataclass(frozen=True)
class Rows:
    """The scripted model's decoder state: one row per hypothesis."""

    script: torch.Tensor  # (B,) which script a row follows
    tokens: torch.Tensor  # (B, t) the inputs seen so far, BOS first

    def select(self, index: torch.Tensor) -> Rows:
        return Rows(self.script[index], self.tokens[index])


@dataclass(frozen=True)
class Source:
    """The scripted model's memory: the source ids (search may keep one row per sentence)."""

    src: torch.Tensor  # (B, S)

    def select(self, index: torch.Tensor) -> Source:
        return Source(self.src[index])


class ScriptedModel:
    """The Seq2Seq interface; the first source token picks the script a sentence follows."""

    def __init__(self, *scripts: Script):
        self.scripts = scripts
        self.calls = 0

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> tuple[Source, Rows]:
        return Source(src), Rows(src[:, 0].clone(), src.new_zeros(src.size(0), 0))

    def decode_step(self, prev: torch.Tensor, memory: Source, state: Rows):
        self.calls += 1
        tokens = torch.cat([state.tokens, prev.unsqueeze(1)], dim=1)
        assert bool((tokens[:, 0] == BOS_ID).all())
        logits = torch.full((prev.size(0), VOCAB), float("-inf"))
        for row in range(prev.size(0)):
            prefix = tuple(tokens[row, 1:].tolist())
            for token, p in self.scripts[int(state.script[row])](prefix).items():
                logits[row, token] = math.log(p)
        src_len = memory.src.size(1)
        attention = torch.full((prev.size(0), src_len), 1.0 / src_len)
        return logits, Rows(state.script, tokens), attention


def run(
    model, search: str, scripts: list[int], max_len: int | list[int] = 10, **kwargs
) -> list[list[Hypothesis]]:
    src = torch.tensor([[s, EOS_ID] for s in scripts])
    src_lengths = torch.full((len(scripts),), 2)
    max_lens = torch.tensor(max_len if isinstance(max_len, list) else [max_len] * len(scripts))
    if search == "greedy":
        return greedy_search(model, src, src_lengths, max_lens, **kwargs)
    return beam_search(model, src, src_lengths, max_lens, **kwargs)


# Greedy takes A (0.6) and then must end: p = 0.6 * 0.4 = 0.24.
# Beam search also keeps B (0.4), and B EOS has p = 0.4 * 0.9 = 0.36.
GREEDY_TRAP = table(
    {
        (): {A: 0.6, B: 0.4},
        (A,): {EOS_ID: 0.4, A: 0.35, B: 0.25},
        (B,): {EOS_ID: 0.9, A: 0.1},
    }
)
# Without a length penalty A EOS wins (0.42 > 0.361); with alpha = 1, B B B EOS wins:
# ln(0.6 * 0.7) / (7/6) = -0.744  <  ln(0.4 * 0.95 * 0.95) / (9/6) = -0.679
# (A A goes on to A A A EOS, so no weak hypothesis ends while B B B is being built.)
LENGTH_TRAP = table(
    {
        (): {A: 0.6, B: 0.4},
        (A,): {EOS_ID: 0.7, A: 0.3},
        (A, A): {A: 1.0},
        (B,): {B: 0.95, EOS_ID: 0.05},
        (B, B): {B: 0.95, EOS_ID: 0.05},
    }
)
# The same, except that A A must end: with K = 2, A EOS ends at the second step and the weak A A EOS
# (0.18) at the third, while B B is still live; B B B EOS then wins under alpha = 1.
EARLY_END_TRAP = table(
    {
        (): {A: 0.6, B: 0.4},
        (A,): {EOS_ID: 0.7, A: 0.3},
        (B,): {B: 0.95, EOS_ID: 0.05},
        (B, B): {B: 0.95, EOS_ID: 0.05},
    }
)


def never_ends(prefix: tuple[int, ...]) -> dict[int, float]:
    return {A: 0.7, B: 0.3 - 1e-6, EOS_ID: 1e-6}


def check_consistent(h: Hypothesis, alpha: float) -> None:
    assert len(h.token_logprobs) == len(h.tokens) + h.finished  # EOS included when finished
    assert h.score == pytest.approx(sum(h.token_logprobs), abs=1e-5)
    penalty = float(length_penalty(torch.tensor(len(h.token_logprobs)), alpha))
    assert h.norm_score == pytest.approx(h.score / penalty, abs=1e-5)
    assert EOS_ID not in h.tokens


def test_greedy_follows_the_most_probable_token():
    ((hyp,),) = run(ScriptedModel(GREEDY_TRAP), "greedy", [0])
    assert hyp.tokens == [A]
    assert hyp.token_logprobs == pytest.approx([math.log(0.6), math.log(0.4)])
    assert hyp.score == pytest.approx(math.log(0.24))
    check_consistent(hyp, 0.0)


def test_beam_search_finds_what_greedy_misses():
    ((hyp,),) = run(ScriptedModel(GREEDY_TRAP), "beam", [0], beam_size=2, alpha=0.0)
    assert hyp.tokens == [B]
    assert hyp.score == pytest.approx(math.log(0.36))
    assert hyp.token_logprobs == pytest.approx([math.log(0.4), math.log(0.9)])
    check_consistent(hyp, 0.0)


def test_n_best_lists_the_hypotheses_best_first():
    (hyps,) = run(ScriptedModel(GREEDY_TRAP), "beam", [0], beam_size=3, alpha=0.0, n_best=3)
    assert [h.tokens for h in hyps] == [[B], [A], [A, A]]
    assert [h.score for h in hyps] == pytest.approx([math.log(p) for p in (0.36, 0.24, 0.21)])
    for h in hyps:
        check_consistent(h, 0.0)


def test_the_length_penalty_changes_the_winner():
    ((short,),) = run(ScriptedModel(LENGTH_TRAP), "beam", [0], beam_size=2, alpha=0.0)
    assert short.tokens == [A]
    assert short.score == pytest.approx(math.log(0.42))
    ((long,),) = run(ScriptedModel(LENGTH_TRAP), "beam", [0], beam_size=2, alpha=1.0)
    assert long.tokens == [B, B, B]
    assert long.score == pytest.approx(math.log(0.4 * 0.95 * 0.95))
    assert long.norm_score == pytest.approx(math.log(0.4 * 0.95 * 0.95) / (9 / 6))
    check_consistent(long, 1.0)
    # n-best under the penalty is ordered by the normalized score, not the raw one
    (hyps,) = run(ScriptedModel(LENGTH_TRAP), "beam", [0], beam_size=2, alpha=1.0, n_best=2)
    assert [h.tokens for h in hyps] == [[B, B, B], [A]]
    assert hyps[0].score < hyps[1].score and hyps[0].norm_score > hyps[1].norm_score


def test_search_goes_on_while_a_live_hypothesis_can_still_win():
    """Two ended hypotheses (K = 2) do not end the search: B B B is live and reaches a better
    normalized score than both, so it must be found (the bound on what a live hypothesis can still
    reach, not a count of ended ones, decides when a sentence is done)."""
    ((hyp,),) = run(ScriptedModel(EARLY_END_TRAP), "beam", [0], beam_size=2, alpha=1.0)
    assert hyp.tokens == [B, B, B]
    assert hyp.norm_score == pytest.approx(math.log(0.4 * 0.95 * 0.95) / (9 / 6))


def test_beam_size_one_is_greedy_on_the_script():
    for script in (GREEDY_TRAP, LENGTH_TRAP, EARLY_END_TRAP):
        ((greedy,),) = run(ScriptedModel(script), "greedy", [0])
        ((beam,),) = run(ScriptedModel(script), "beam", [0], beam_size=1, alpha=0.0)
        assert beam.tokens == greedy.tokens
        assert beam.score == pytest.approx(greedy.score)


@pytest.mark.parametrize("search, kwargs", [("greedy", {}), ("beam", {"beam_size": 3, "alpha": 1.0})])
def test_a_batch_of_scripts_decodes_like_each_alone(search, kwargs):
    scripts = (GREEDY_TRAP, LENGTH_TRAP, never_ends, EARLY_END_TRAP)
    batch = run(ScriptedModel(*scripts), search, [1, 0, 2, 3, 1], max_len=[10, 10, 3, 10, 10], **kwargs)
    for result, (script, max_len) in zip(batch, [(1, 10), (0, 10), (2, 3), (3, 10), (1, 10)], strict=True):
        alone = run(ScriptedModel(*scripts), search, [script], max_len, **kwargs)[0]
        assert [h.tokens for h in result] == [h.tokens for h in alone]
        assert [h.score for h in result] == pytest.approx([h.score for h in alone])


@pytest.mark.parametrize(
    "search, kwargs",
    [
        ("greedy", {}),
        ("beam", {"beam_size": 3, "alpha": 0.6}),
        ("beam", {"beam_size": 2, "alpha": 0.0, "n_best": 2}),
    ],
)
def test_max_length_is_respected(search, kwargs):
    max_lens = [0, 2, 5]
    results = run(ScriptedModel(never_ends), search, [0, 0, 0], max_len=max_lens, **kwargs)
    for hyps, max_len in zip(results, max_lens, strict=True):
        assert hyps
        for h in hyps:
            # EOS is forced exactly at the limit; an n-best list that fewer than N finished
            # hypotheses fit in (a limit of 0) ends with unfinished ones, one token longer
            assert len(h.tokens) == max_len + (not h.finished)
            check_consistent(h, kwargs.get("alpha", 0.0))
        assert hyps[0].tokens == [A] * max_len and hyps[0].finished
        assert len(hyps) == kwargs.get("n_best", 1)


def test_n_best_always_gives_n_the_unfinished_ones_marked():
    """A limit of 0 tokens leaves room for one finished output only, the empty one: the n-best
    list goes on with the best one-token continuations, unfinished, scored without EOS. A sentence
    in the same batch with room enough gets N finished ones."""
    short, roomy = run(
        ScriptedModel(never_ends, GREEDY_TRAP),
        "beam",
        [0, 1],
        max_len=[0, 10],
        beam_size=3,
        alpha=0.0,
        n_best=3,
    )
    assert [(h.tokens, h.finished) for h in short] == [([], True), ([A], False), ([B], False)]
    assert [h.score for h in short] == pytest.approx([math.log(1e-6), math.log(0.7), math.log(0.3 - 1e-6)])
    assert [lp for h in short[1:] for lp in h.token_logprobs] == pytest.approx(
        [math.log(0.7), math.log(0.3 - 1e-6)]
    )
    assert [(h.tokens, h.finished) for h in roomy] == [([B], True), ([A], True), ([A, A], True)]
    for h in short + roomy:
        check_consistent(h, 0.0)


def test_beam_search_stops_once_no_live_hypothesis_can_win():
    model = ScriptedModel(GREEDY_TRAP)
    run(model, "beam", [0], max_len=50, beam_size=2, alpha=0.0)
    assert model.calls == 2  # B EOS (0.36) beats every live prefix after step 2; not 51 steps


def test_max_lengths_and_length_penalty_by_hand():
    assert max_lengths(torch.tensor([1, 4, 7]), 1.5, 2).tolist() == [3, 8, 12]  # floor(1.5 x) + 2
    assert length_penalty(torch.tensor([1, 7]), 1.0).tolist() == pytest.approx([1.0, 2.0])
    assert length_penalty(torch.tensor([13]), 0.5).item() == pytest.approx(math.sqrt(3.0))
    assert length_penalty(torch.tensor([9]), 0.0).item() == 1.0


# ---------------------------------------------------------------- a real model

SRC_VOCAB, TGT_VOCAB = 15, 12
LENGTHS = [6, 2, 4, 5]


@pytest.fixture(scope="module", params=["bahdanau", "luong"])
def model(request):
    """A tiny model trained for a moment to reverse its input: it ends sentences at different steps
    (so finished sentences leave the batch), and its distributions have no near-ties."""
    cfg = ModelConfig(
        encoder=EncoderConfig(rnn="gru", emb_size=8, hidden_size=8, dropout=0.0),
        decoder=DecoderConfig(
            rnn="lstm",
            emb_size=8,
            hidden_size=16,
            attention=request.param,
            attention_size=8,
            dropout=0.0,
        ),
    )
    torch.manual_seed(0)
    model = build_model(cfg, SRC_VOCAB, TGT_VOCAB)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    rng = np.random.default_rng(0)
    for _ in range(80):
        src = [rng.integers(4, TGT_VOCAB, rng.integers(1, 7)) for _ in range(32)]
        batch = collate(src, [s[::-1] for s in src])
        loss, n = sequence_loss(model(batch.src, batch.src_lengths, batch.tgt_in), batch.tgt_out, 0.0)
        optimizer.zero_grad()
        (loss / n).backward()
        optimizer.step()
    return model.eval()


def source_batch():
    torch.manual_seed(1)
    src = torch.full((len(LENGTHS), max(LENGTHS)), PAD_ID)
    for i, n in enumerate(LENGTHS):
        src[i, : n - 1] = torch.randint(4, TGT_VOCAB, (n - 1,))
        src[i, n - 1] = EOS_ID
    lengths = torch.tensor(LENGTHS)
    return src, lengths, max_lengths(lengths, 1.0, 3)


def decode(model, search: str, src, lengths, max_lens, **kwargs):
    if search == "greedy":
        return greedy_search(model, src, lengths, max_lens, **kwargs)
    return beam_search(model, src, lengths, max_lens, **kwargs)


def test_real_model_beam_size_one_equals_greedy(model):
    src, lengths, max_lens = source_batch()
    greedy = greedy_search(model, src, lengths, max_lens)
    beam = beam_search(model, src, lengths, max_lens, beam_size=1, alpha=0.0)
    for (g,), (b,) in zip(greedy, beam, strict=True):
        assert b.tokens == g.tokens
        assert b.score == pytest.approx(g.score, abs=1e-5)
        assert b.token_logprobs == pytest.approx(g.token_logprobs, abs=1e-5)


@pytest.mark.parametrize(
    "search, kwargs", [("greedy", {}), ("beam", {"beam_size": 3, "alpha": 1.0, "n_best": 2})]
)
def test_real_model_alone_equals_in_a_batch(model, search, kwargs):
    src, lengths, max_lens = source_batch()
    batch = decode(model, search, src, lengths, max_lens, with_attention=True, **kwargs)
    ends = 0
    for i, n in enumerate(LENGTHS):
        alone = decode(
            model,
            search,
            src[i : i + 1, :n],
            lengths[i : i + 1],
            max_lens[i : i + 1],
            with_attention=True,
            **kwargs,
        )[0]
        assert [h.tokens for h in batch[i]] == [h.tokens for h in alone]
        for hb, ha in zip(batch[i], alone, strict=True):
            assert hb.score == pytest.approx(ha.score, abs=1e-5)
            torch.testing.assert_close(hb.attention, ha.attention, atol=1e-5, rtol=1e-4)
            check_consistent(hb, kwargs.get("alpha", 0.0))
            assert len(hb.tokens) <= int(max_lens[i])
            assert hb.attention.shape == (len(hb.tokens) + 1, n)
            torch.testing.assert_close(hb.attention.sum(-1), torch.ones(len(hb.tokens) + 1))
            ends += len(hb.tokens) < int(max_lens[i])
    assert ends > 0, "no hypothesis ended before its limit: the test would not exercise EOS"


def test_real_model_n_best_gives_n_even_when_only_one_fits(model):
    src, lengths, _ = source_batch()
    no_room = torch.zeros(len(LENGTHS), dtype=torch.long)
    for i, hyps in enumerate(
        beam_search(model, src, lengths, no_room, beam_size=4, alpha=1.0, n_best=3, with_attention=True)
    ):
        assert [(len(h.tokens), h.finished) for h in hyps] == [(0, True), (1, False), (1, False)]
        assert hyps[1].score >= hyps[2].score and hyps[1].tokens != hyps[2].tokens
        for h in hyps:
            check_consistent(h, 1.0)
            assert h.attention.shape == (1, LENGTHS[i])


def test_real_model_n_best_is_sorted_and_distinct(model):
    src, lengths, max_lens = source_batch()
    for hyps in beam_search(model, src, lengths, max_lens, beam_size=4, alpha=0.6, n_best=3):
        assert len(hyps) == 3
        norms = [h.norm_score for h in hyps]
        assert norms == sorted(norms, reverse=True)
        assert len({tuple(h.tokens) for h in hyps}) == 3
        for h in hyps:
            check_consistent(h, 0.6)


def test_real_model_beam_taken_in_row_blocks_equals_all_rows_at_once(model, monkeypatch):
    """best_extensions takes the hypotheses ROWS_AT_ONCE at a time: blocks of 4 rows (many blocks,
    the last one short) give exactly what one block of all of them gives."""
    src, lengths, max_lens = source_batch()
    kwargs = {"beam_size": 3, "alpha": 1.0, "n_best": 2}
    monkeypatch.setattr(search_module, "ROWS_AT_ONCE", 10_000)
    whole = beam_search(model, src, lengths, max_lens, **kwargs)
    monkeypatch.setattr(search_module, "ROWS_AT_ONCE", 4)
    blocks = beam_search(model, src, lengths, max_lens, **kwargs)
    assert len(LENGTHS) * 3 > 4 * 2  # several blocks at the first step
    assert whole == blocks


def test_best_extensions_are_the_best_log_probabilities_of_each_row(monkeypatch):
    torch.manual_seed(0)
    logits = torch.randn(11, 9)
    must_end = torch.tensor([False, True] + [False] * 9)
    monkeypatch.setattr(search_module, "ROWS_AT_ONCE", 4)
    values, tokens = search_module.best_extensions(logits, must_end, 3)
    logp = torch.log_softmax(logits, dim=-1)
    logp[:, [PAD_ID, BOS_ID]] = float("-inf")
    logp[1, torch.arange(9) != EOS_ID] = float("-inf")
    expected_values, expected_tokens = logp.topk(3, dim=1)
    torch.testing.assert_close(values, expected_values)
    assert torch.equal(tokens[[0] + list(range(2, 11))], expected_tokens[[0] + list(range(2, 11))])
    assert tokens[1, 0] == EOS_ID  # the row that must end: EOS, then nothing (-inf)
    assert torch.isneginf(values[1, 1:]).all()
    assert search_module.best_extensions(logits, must_end, 20)[0].shape == (11, 9)  # k at most V
