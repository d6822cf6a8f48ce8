"""attention.py: each score is its paper's equation; softmax only over real positions; the context
is the weighted average of the values."""

from __future__ import annotations

import pytest
import torch

from seq2seq.layers.attention import AdditiveAttention, Attention, DotAttention, GeneralAttention

B, S, Q, K, A, V = 3, 5, 4, 6, 7, 2
LENGTHS = torch.tensor([5, 2, 3])


def inputs(key_size: int):
    torch.manual_seed(0)
    query = torch.randn(B, Q, dtype=torch.double)
    keys = torch.randn(B, S, key_size, dtype=torch.double)
    values = torch.randn(B, S, V, dtype=torch.double)
    mask = torch.arange(S)[None, :] < LENGTHS[:, None]
    return query, keys, values, mask


def additive_scores(att: AdditiveAttention, query, keys):
    """e_j = v^T tanh(W q + U k_j), one position at a time."""
    W, U, v = att.W.weight, att.U.weight, att.v.weight[0]
    return torch.stack(
        [
            torch.stack([torch.dot(v, torch.tanh(W @ query[b] + U @ keys[b, j])) for j in range(S)])
            for b in range(B)
        ]
    ).detach()


def dot_scores(att: DotAttention, query, keys):
    """e_j = q . k_j"""
    return torch.stack([torch.stack([torch.dot(query[b], keys[b, j]) for j in range(S)]) for b in range(B)])


def general_scores(att: GeneralAttention, query, keys):
    """e_j = q^T W_a k_j"""
    return torch.einsum("bq,qk,bsk->bs", query, att.W_a.weight, keys).detach()


CASES = {
    "additive": (lambda: AdditiveAttention(Q, K, A), K, additive_scores),
    "dot": (lambda: DotAttention(), Q, dot_scores),
    "general": (lambda: GeneralAttention(Q, K), K, general_scores),
}


@pytest.fixture(params=list(CASES))
def case(request):
    make, key_size, oracle = CASES[request.param]
    torch.manual_seed(1)
    att: Attention = make().double()
    return att, key_size, oracle


def test_weights_are_the_masked_softmax_of_the_equation_and_the_context_their_average(case):
    att, key_size, oracle = case
    query, keys, values, mask = inputs(key_size)
    context, weights = att(query, att.project_keys(keys), values, mask)
    assert context.shape == (B, V) and weights.shape == (B, S)
    scores = oracle(att, query, keys)
    for b in range(B):
        n = int(LENGTHS[b])
        assert torch.all(weights[b, n:] == 0), "masked positions get exactly zero weight"
        expected = torch.exp(scores[b, :n]) / torch.exp(scores[b, :n]).sum()
        torch.testing.assert_close(weights[b, :n], expected)
        torch.testing.assert_close(weights[b].sum(), torch.tensor(1.0, dtype=torch.double))
        manual = sum(weights[b, j] * values[b, j] for j in range(n))
        torch.testing.assert_close(context[b], manual)


def test_queries_sharing_a_memory_row_attend_like_queries_with_their_own_copy(case):
    """Beam search keeps the keys once per sentence: M consecutive queries read one memory row."""
    att, key_size, _ = case
    _, keys, values, mask = inputs(key_size)
    M = 4
    queries = torch.randn(B * M, Q, dtype=torch.double)
    proj = att.project_keys(keys)
    context, weights = att(queries, proj, values, mask)
    assert context.shape == (B * M, V) and weights.shape == (B * M, S)
    rows = torch.arange(B).repeat_interleave(M)
    context_copy, weights_copy = att(queries, proj[rows], values[rows], mask[rows])
    torch.testing.assert_close(weights, weights_copy)
    torch.testing.assert_close(context, context_copy)


def test_padding_positions_are_never_read(case):
    att, key_size, _ = case
    query, keys, values, mask = inputs(key_size)
    context, weights = att(query, att.project_keys(keys), values, mask)
    noisy_keys, noisy_values = keys.clone(), values.clone()
    noisy_keys[~mask] = 1e3 * torch.randn(int((~mask).sum()), key_size, dtype=torch.double)
    noisy_values[~mask] = 1e3
    context2, weights2 = att(query, att.project_keys(noisy_keys), noisy_values, mask)
    torch.testing.assert_close(weights2, weights)
    torch.testing.assert_close(context2, context)


def test_the_general_key_projection_is_computed_once_and_explicitly():
    torch.manual_seed(0)
    att = GeneralAttention(Q, K).double()
    query, keys, _, _ = inputs(K)
    proj = att.project_keys(keys)
    assert proj.shape == (B, S, Q)
    torch.testing.assert_close(proj, keys @ att.W_a.weight.T)
