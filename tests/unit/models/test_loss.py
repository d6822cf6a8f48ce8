"""loss.py: summed (label-smoothed) cross entropy over the real target tokens only."""

from __future__ import annotations

import math

import pytest
import torch

from seq2seq.data.tokenizer import PAD_ID
from seq2seq.models.loss import sequence_loss

Bn, T, V = 3, 4, 7
TARGETS = torch.tensor([[4, 5, 3, PAD_ID], [6, 3, PAD_ID, PAD_ID], [1, 2, 6, 3]])


def logits_for(targets: torch.Tensor, seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    return 3 * torch.randn(*targets.shape, V)


def hand_loss(logits: torch.Tensor, targets: torch.Tensor, eps: float) -> float:
    """sum over real positions of (1 - eps) * -log p(y) + eps * mean_v -log p(v), one at a time."""
    total = 0.0
    for b in range(targets.size(0)):
        for t in range(targets.size(1)):
            y = int(targets[b, t])
            if y == PAD_ID:
                continue
            z = [float(x) for x in logits[b, t]]
            log_norm = math.log(sum(math.exp(x) for x in z))
            nll = log_norm - z[y]
            uniform = sum(log_norm - x for x in z) / len(z)
            total += (1 - eps) * nll + eps * uniform
    return total


def test_without_smoothing_it_is_the_summed_negative_log_likelihood():
    logits = logits_for(TARGETS)
    loss, count = sequence_loss(logits, TARGETS, smoothing=0.0)
    assert loss.dim() == 0
    assert loss.item() == pytest.approx(hand_loss(logits, TARGETS, 0.0), rel=1e-5)


@pytest.mark.parametrize("eps", [0.1, 0.3])
def test_label_smoothing_mixes_in_the_uniform_distribution(eps):
    logits = logits_for(TARGETS, seed=1)
    loss, _ = sequence_loss(logits, TARGETS, smoothing=eps)
    assert loss.item() == pytest.approx(hand_loss(logits, TARGETS, eps), rel=1e-5)
    assert loss.item() != pytest.approx(hand_loss(logits, TARGETS, 0.0), rel=1e-3)


def test_the_count_is_the_number_of_real_target_tokens():
    _, count = sequence_loss(logits_for(TARGETS), TARGETS, smoothing=0.1)
    assert int(count) == 3 + 2 + 4  # every id but PAD (UNK and BOS count if they are targets)
    assert int(count) == int((TARGETS != PAD_ID).sum())


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_padding_contributes_nothing(eps):
    logits = logits_for(TARGETS, seed=2)
    loss, count = sequence_loss(logits, TARGETS, smoothing=eps)
    # change the logits at PAD positions arbitrarily, and add whole PAD columns
    noisy = logits.clone()
    noisy[TARGETS == PAD_ID] = 1e4 * torch.randn(int((TARGETS == PAD_ID).sum()), V)
    extra = 1e4 * torch.randn(Bn, 3, V)
    longer_logits = torch.cat([noisy, extra], dim=1)
    longer_targets = torch.cat([TARGETS, torch.full((Bn, 3), PAD_ID)], dim=1)
    loss2, count2 = sequence_loss(longer_logits, longer_targets, smoothing=eps)
    assert loss2.item() == pytest.approx(loss.item(), rel=1e-6)
    assert int(count2) == int(count)


def test_the_loss_is_computed_in_fp32_from_low_precision_logits():
    logits = logits_for(TARGETS).bfloat16()
    loss, _ = sequence_loss(logits, TARGETS, smoothing=0.1)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(hand_loss(logits.float(), TARGETS, 0.1), rel=1e-5)


def test_gradient_flows_only_to_real_positions():
    logits = logits_for(TARGETS).requires_grad_()
    loss, _ = sequence_loss(logits, TARGETS, smoothing=0.1)
    loss.backward()
    assert torch.all(logits.grad[TARGETS == PAD_ID] == 0)
    assert torch.all(logits.grad[TARGETS != PAD_ID].abs().sum(-1) > 0)


def test_rdrop_loss_is_the_mean_cross_entropy_plus_the_symmetric_kl():
    """R-Drop (Liang et al. 2021): two predictions of the same tokens; with equal predictions it is
    the label-smoothed cross entropy, and the KL term is torch's kl_div both ways."""
    import torch.nn.functional as F

    from seq2seq.models.loss import rdrop_loss

    torch.manual_seed(0)
    first, second = torch.randn(6, 9), torch.randn(6, 9)
    targets = torch.randint(1, 9, (6,))
    same = rdrop_loss(torch.cat([first, first]), targets, 0.1, alpha=5.0)
    torch.testing.assert_close(same, sequence_loss(first, targets, 0.1)[0])

    logp1, logp2 = F.log_softmax(first, -1), F.log_softmax(second, -1)
    kl = F.kl_div(logp2, logp1, log_target=True, reduction="sum") + F.kl_div(
        logp1, logp2, log_target=True, reduction="sum"
    )
    ce = (sequence_loss(first, targets, 0.1)[0] + sequence_loss(second, targets, 0.1)[0]) / 2
    torch.testing.assert_close(
        rdrop_loss(torch.cat([first, second]), targets, 0.1, alpha=3.0), ce + 3.0 / 4 * kl
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_the_training_path_equals_torch_cross_entropy_in_value_and_gradient(dtype, eps):
    """With autograd recording, the loss and its gradient are formed block by block in one pass
    (loss._SmoothedCrossEntropy); torch's F.cross_entropy is the oracle: rows over several blocks,
    padding rows among them, a scaled upstream gradient."""
    import torch.nn.functional as F

    torch.manual_seed(3)
    rows, vocab = 300, 50
    logits = (4 * torch.randn(rows, vocab)).to(dtype)
    targets = torch.randint(1, vocab, (rows,))
    targets[::7] = PAD_ID

    ours = logits.clone().requires_grad_()
    loss, count = sequence_loss(ours, targets, smoothing=eps)
    (0.37 * loss).backward()
    oracle = logits.clone().requires_grad_()
    expected = F.cross_entropy(
        oracle.float(), targets, ignore_index=PAD_ID, label_smoothing=eps, reduction="sum"
    )
    (0.37 * expected).backward()

    assert int(count) == rows - len(range(0, rows, 7))
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-3)
    assert ours.grad.dtype == dtype
    assert torch.all(ours.grad[targets == PAD_ID] == 0)
    torch.testing.assert_close(ours.grad, oracle.grad)  # within the dtype's rounding


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_training_path_is_exact_where_probabilities_underflow(dtype):
    """Without padding rows, the targets' logits 100 to 200 below the likeliest token's, where p(y)
    underflows in fp32 (exp(-100) ~ 4e-44): the loss and gradient are F.cross_entropy's, finite
    (log Z comes from the likeliest token, never from log p(y))."""
    import torch.nn.functional as F

    torch.manual_seed(4)
    rows, vocab = 260, 40
    logits = torch.randn(rows, vocab)
    logits[:, 0] += 100.0
    logits[:, 1:] -= 100.0 * torch.rand(rows, 1)
    logits = logits.to(dtype)
    targets = torch.randint(1, vocab, (rows,))

    ours = logits.clone().requires_grad_()
    loss, _ = sequence_loss(ours, targets, smoothing=0.1)
    loss.backward()
    oracle = logits.clone().requires_grad_()
    expected = F.cross_entropy(oracle.float(), targets, label_smoothing=0.1, reduction="sum")
    expected.backward()

    assert torch.isfinite(loss) and bool(torch.isfinite(ours.grad).all())
    assert expected > rows * 50  # the targets' probabilities are far below fp32's smallest
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-2)
    torch.testing.assert_close(ours.grad, oracle.grad)


def test_a_second_backward_through_the_training_loss_is_refused_not_scaled_twice():
    """The backward scales the saved gradient in place (a new (N, V) tensor costs fresh pages):
    a second backward through the same graph must fail loudly rather than scale it again."""
    logits = logits_for(TARGETS).requires_grad_()
    loss, _ = sequence_loss(logits, TARGETS, smoothing=0.1)
    (0.5 * loss).backward(retain_graph=True)
    first = logits.grad.clone()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        (0.5 * loss).backward()
    torch.testing.assert_close(logits.grad, first)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_the_rdrop_training_path_equals_torch_in_value_and_gradient(dtype, eps):
    """With autograd recording, R-Drop's loss and gradient come block by block from
    loss._RDropLoss; the oracle is autograd through torch's cross_entropy and kl_div: pairs of rows
    over several blocks, a scaled upstream gradient; without recording, the same value."""
    import torch.nn.functional as F

    from seq2seq.models.loss import rdrop_loss

    torch.manual_seed(5)
    pairs, vocab = 300, 50
    logits = (3 * torch.randn(2 * pairs, vocab)).to(dtype)
    logits[pairs:] = logits[:pairs] + torch.randn(pairs, vocab).to(dtype)  # two draws, alike
    targets = torch.randint(1, vocab, (pairs,))

    ours = logits.clone().requires_grad_()
    loss = rdrop_loss(ours, targets, eps, alpha=5.0)
    (0.37 * loss).backward()
    oracle = logits.clone().float().requires_grad_()
    logp1, logp2 = F.log_softmax(oracle, -1).chunk(2)
    ce = sum(F.cross_entropy(z, targets, label_smoothing=eps, reduction="sum") for z in oracle.chunk(2))
    kl = F.kl_div(logp2, logp1, log_target=True, reduction="sum") + F.kl_div(
        logp1, logp2, log_target=True, reduction="sum"
    )
    expected = ce / 2 + 5.0 / 4 * kl
    (0.37 * expected).backward()
    with torch.no_grad():
        unrecorded = rdrop_loss(logits, targets, eps, alpha=5.0)

    assert loss.dtype == torch.float32 and ours.grad.dtype == dtype
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-2)
    torch.testing.assert_close(unrecorded, expected, rtol=1e-5, atol=1e-2)
    torch.testing.assert_close(ours.grad, oracle.grad.to(dtype))  # within the dtype's rounding
