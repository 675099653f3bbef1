"""The binarizer, and the probability model of the bits it makes.

binarize(y, stochastic): y (B, n) in (-1, 1) -> b (B, n) in {-1, +1}
BitModel: P(bit i = 1 | the k bits before it), learned; its -log2 p is the rate term in training,
and its integer table `freqs` is what the arithmetic coder uses.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from bitstream import PRECISION


class Binarize(torch.autograd.Function):
    """Training: stochastic, as in Toderici et al. (2016): +1 with probability (1 + y) / 2, else -1.
    Evaluation: sign(y), with sign(0) = +1.

    Backward: straight-through, the gradient passed as it is (d b / d y := 1). Why this rule: in the
    stochastic mode E[b | y] = (+1)(1 + y)/2 + (-1)(1 - y)/2 = y, so the identity is exactly the
    gradient of the expected output. Clipping the gradient to |y| <= 1 would change nothing here,
    because y comes out of a tanh and never leaves (-1, 1).
    """

    @staticmethod
    def forward(ctx, y, stochastic):
        if stochastic:
            return torch.where(torch.rand_like(y) < (1 + y) / 2, 1.0, -1.0).to(y.dtype)
        return torch.where(y >= 0, 1.0, -1.0).to(y.dtype)

    @staticmethod
    def backward(ctx, grad_b):
        return grad_b, None                          # d b / d y = 1; no gradient for the flag


def binarize(y, stochastic=False):
    return Binarize.apply(y, stochastic)


class BitModel(nn.Module):
    """P(bit i = 1) given the `context` bits before it: a table of logits (n, 2^context).

    With context = 0 this is a factorized Bernoulli per position. With context = k each position has
    2^k probabilities, one per pattern of the previous k bits: an autoregressive model small enough
    to turn into integers. The integers in `freqs` (a buffer, saved in the checkpoint) are the only
    probabilities the coder ever sees, so encoder and decoder agree bit for bit on any machine.
    """

    def __init__(self, bits, context=2):
        super().__init__()
        self.context = context
        self.logits = nn.Parameter(torch.zeros(bits, 2 ** context))
        self.register_buffer("freqs", torch.full((bits, 2 ** context), 1 << (PRECISION - 1), dtype=torch.int32))

    def contexts(self, b):
        """(B, n) bits in {-1, +1} -> (B, n) context index of each bit: the previous k bits, latest lowest."""
        bit = (b > 0).long()
        ctx = torch.zeros_like(bit)
        for j in range(1, self.context + 1):          # bit i - j goes to place j - 1
            ctx[:, j:] |= bit[:, :-j] << (j - 1)
        return ctx

    def rate(self, b):
        """Bits to code b (B, n) under the float model: sum over positions of -log2 P(b_i). (B,)"""
        logit = self.logits.gather(1, self.contexts(b).T).T         # (B, n) logit of a 1 at each position
        return F.binary_cross_entropy_with_logits(logit, (b > 0).float(), reduction="none").sum(1) / math.log(2)

    @torch.no_grad()
    def update(self):
        """Refresh the integer table from the logits. Call before saving a checkpoint for coding."""
        p1 = torch.sigmoid(self.logits.double())
        self.freqs.copy_((p1 * (1 << PRECISION)).round().clamp(1, (1 << PRECISION) - 1).int())
