"""Label-smoothed cross entropy over the real target tokens (Szegedy et al. 2016, section 7)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd import Function

from ..special_ids import PAD_ID


def sequence_loss(logits: Tensor, targets: Tensor, smoothing: float) -> tuple[Tensor, Tensor]:
    """logits (..., V), targets (...) -> (summed loss, number of non-padding tokens).

    With smoothing eps the target distribution is (1 - eps) on the reference token plus eps spread
    uniformly over the vocabulary; padding positions contribute nothing. The loss is computed in
    fp32 whatever precision produced the logits. When autograd records, `_SmoothedCrossEntropy`
    computes it: the same value and gradient as F.cross_entropy, in fewer passes over (N, V).
    """
    flat_logits, flat_targets = logits.reshape(-1, logits.size(-1)), targets.reshape(-1)
    if flat_logits.requires_grad and torch.is_grad_enabled():
        loss = _SmoothedCrossEntropy.apply(flat_logits, flat_targets, smoothing)
    else:
        loss = F.cross_entropy(
            flat_logits.float(), flat_targets, ignore_index=PAD_ID, label_smoothing=smoothing, reduction="sum"
        )
    return loss, torch.count_nonzero(flat_targets != PAD_ID)


class _GradientFromForward(Function):
    """A loss whose forward forms its gradient with respect to the logits (`_gradient_buffer`) and
    saves it; the backward only scales it, in place: a new (N, V) tensor is fresh pages from the
    kernel, a large share of the loss's time; a second backward through this graph raises (the
    saved tensor has changed). `ctx.other_inputs`: how many inputs follow the logits."""

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        (grad,) = ctx.saved_tensors
        return (grad.mul_(grad_output.to(grad.dtype)),) + (None,) * ctx.other_inputs


def _gradient_buffer(logits: Tensor) -> Tensor:
    """The logits' gradient, in their dtype; fp32 for fp16 logits, whose smallest probabilities
    would flush to zero before the loss scale lifts them."""
    return torch.empty_like(logits, dtype=torch.float32 if logits.dtype == torch.float16 else None)


class _SmoothedCrossEntropy(_GradientFromForward):
    """logits (N, V), targets (N,) -> sum_i of (1 - eps) (-log p_i(y_i)) + eps mean_v (-log p_i(v))
    over the rows whose target is not padding. Its gradient, softmax(logits_i) - q_i with q_i the
    smoothed target distribution, is formed in the forward pass, ROWS rows at a time so that each
    block stays in the cache between its few passes (softmax, max, mean, subtract), and kept in
    the logits' dtype (fp32 for fp16 logits); the backward only scales it, in place. Autograd's cross
    entropy instead makes about ten passes over the whole (N, V) in fp32 (cast, log-softmax,
    gather, mean, and their backwards). No log-softmax is formed: the softmax and log Z give
    what the loss needs, which saves the pass of exp that turned log-probabilities into p."""

    ROWS = 128

    @staticmethod
    def forward(ctx, logits: Tensor, targets: Tensor, smoothing: float) -> Tensor:
        vocab = logits.size(-1)
        grad = _gradient_buffer(logits)
        total = logits.new_zeros((), dtype=torch.float32)
        step = _SmoothedCrossEntropy.ROWS if logits.device.type == "cpu" else max(1, logits.size(0))
        for start in range(0, logits.size(0), step):  # a GPU takes all rows in one block
            rows = slice(start, start + step)
            # the block in fp32 once: a softmax or mean asked for fp32 of bf16 logits casts anew
            x, target = logits[rows].float(), targets[rows].unsqueeze(1)  # (n, V), (n, 1)
            real = target != PAD_ID
            p = torch.softmax(x, dim=-1)  # (n, V)
            # log Z = x_j - log p_j for the likeliest token j, whose p_j >= 1 / V cannot underflow:
            # the log-probabilities -log p_y = log Z - x_y and mean_v log p_v without a pass of log
            log_z = x.amax(dim=1, keepdim=True) - p.amax(dim=1, keepdim=True).log()
            nll = log_z - x.gather(1, target)
            uniform = log_z - x.mean(dim=1, keepdim=True)
            total += torch.where(real, (1 - smoothing) * nll + smoothing * uniform, 0.0).sum()
            # softmax - q in fp32 (p_y - (1 - eps) cancels), then in the logits' dtype; 0 at padding
            p.scatter_add_(1, target, torch.full_like(nll, smoothing - 1))
            block = torch.sub(p, smoothing / vocab, out=grad[rows])
            if logits.device.type != "cpu" or not bool(real.all()):  # a GPU always: asking would wait for it
                block.mul_(real)
        ctx.save_for_backward(grad)
        ctx.other_inputs = 2
        return total


def rdrop_loss(logits: Tensor, targets: Tensor, smoothing: float, alpha: float) -> Tensor:
    """R-Drop (Liang et al. 2021, arXiv:2106.14448, eq. 3), halved: the same N target tokens predicted
    twice, with two draws of dropout, as logits (2N, V) (first copy, then second) and targets (N,),
    all real tokens:
        L = (CE(p1) + CE(p2)) / 2 + alpha / 4 * (KL(p1 || p2) + KL(p2 || p1)),
    summed over the tokens like `sequence_loss`, in fp32. When autograd records, `_RDropLoss`
    computes it block by block, its gradient formed on the way."""
    if logits.requires_grad and torch.is_grad_enabled():
        return _RDropLoss.apply(logits, targets, smoothing, alpha)
    logp1, logp2 = torch.log_softmax(logits.float(), dim=-1).chunk(2)
    ce = sum(
        F.nll_loss(logp, targets, reduction="sum") * (1 - smoothing) - logp.mean(-1).sum() * smoothing
        for logp in (logp1, logp2)
    )
    kl = (logp1.exp() - logp2.exp()).mul(logp1 - logp2).sum()  # KL(p1||p2) + KL(p2||p1)
    return ce / 2 + alpha / 4 * kl


class _RDropLoss(_GradientFromForward):
    """`rdrop_loss` and its gradient in one pass over ROWS pairs of rows at a time, as
    `_SmoothedCrossEntropy` does for the plain loss (autograd's version of the formula made some
    twenty passes over (2N, V) in fp32 and cost three times the plain loss's two halves). With
    d = log p1 - log p2, K12 = sum p1 d, K21 = -sum p2 d and q the smoothed target distribution:
        dL/dz1 = (p1 - q) / 2 + alpha / 4 * (p1 (d - K12) + p1 - p2)
        dL/dz2 = (p2 - q) / 2 + alpha / 4 * (p2 (-d - K21) + p2 - p1)."""

    ROWS = 128

    @staticmethod
    def forward(ctx, logits: Tensor, targets: Tensor, smoothing: float, alpha: float) -> Tensor:
        n, vocab = targets.size(0), logits.size(-1)
        a = alpha / 4
        grad = _gradient_buffer(logits)
        total = logits.new_zeros((), dtype=torch.float32)
        step = _RDropLoss.ROWS if logits.device.type == "cpu" else max(1, n)
        for start in range(0, n, step):
            rows = slice(start, min(start + step, n))
            second = slice(rows.start + n, rows.stop + n)
            target = targets[rows].unsqueeze(1)
            logp1 = torch.log_softmax(logits[rows].float(), dim=-1)
            logp2 = torch.log_softmax(logits[second].float(), dim=-1)
            p1, p2 = logp1.exp(), logp2.exp()
            d = logp1 - logp2
            k12, k21 = (p1 * d).sum(1, keepdim=True), -(p2 * d).sum(1, keepdim=True)
            for logp in (logp1, logp2):
                nll, uniform = -logp.gather(1, target), -logp.mean(1, keepdim=True)
                total += ((1 - smoothing) * nll + smoothing * uniform).sum() / 2
            total += a * (k12 + k21).sum()
            q_y = torch.full_like(k12, -(1 - smoothing) / 2)
            for p, signed_d, k, other, out in ((p1, d, k12, p2, grad[rows]), (p2, -d, k21, p1, grad[second])):
                g = p * (signed_d - k).mul_(a).add_(0.5 + a)  # p (1/2 + a (d - K + 1))
                g.sub_(other, alpha=a).sub_(smoothing / vocab / 2).scatter_add_(1, target, q_y)
                out.copy_(g)
        ctx.save_for_backward(grad)
        ctx.other_inputs = 3
        return total


def token_log_probs(logits: Tensor, targets: Tensor) -> Tensor:
    """logits (B, T, V), targets (B, T) -> log p of each target token (B, T) in fp32; 0 at padding.

    Their sum over a batch is minus `sequence_loss` without smoothing: the same cross entropy,
    kept per token instead of summed.
    """
    nll = F.cross_entropy(logits.float().transpose(1, 2), targets, ignore_index=PAD_ID, reduction="none")
    return -nll
