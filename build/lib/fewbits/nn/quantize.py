"""The binarizer, the importance mask, and the probability model of the bits they make.

binarize(y, stochastic): y (B, n) in (-1, 1) -> b (B, n) in {-1, +1}
keep_levels(p, levels, stochastic): importance p (B, cells) in (0, 1) -> keep (B, cells, levels) in
    {0, 1}: which groups of each cell's bits are sent (Li et al. 2018, the "map" code)
BitModel: P(bit i = 1 | the k bits before it), learned in training, where its expected code length
    under the stochastic binarizer is the rate term, differentiable in y (derived at
    BitModel.expected_rate); at the end counted on the codec's own bits (BitModel.fit), with as
    much context as pays. Its integer table `freqs` is what the arithmetic coder uses.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..coding.arithmetic import PRECISION


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


class KeepLevels(torch.autograd.Function):
    """How many groups of its bits each cell sends, from its importance p in (0, 1), as in Li et al.
    (2018): `levels` groups, sent in a fixed order, so a cell sends a prefix of them.

    Group g's share of p is the ramp r_g = clamp(levels * p - g, 0, 1): 1 once p is past (g + 1) /
    levels, 0 below g / levels.
    Training: keep_g = [u < r_g], with one uniform u per cell. Then E[keep_g | p] = r_g, and since
    r_0 >= r_1 >= ..., the kept groups are always a prefix.
    Evaluation: u = 1/2, so a cell sends round(levels * p) groups.

    Backward: d keep_g / d p := d r_g / d p, which is `levels` where 0 < levels * p - g < 1 and 0
    elsewhere. The same reasoning as the binarizer's: it is the gradient of the expected mask.
    """

    @staticmethod
    def forward(ctx, p, levels, stochastic):
        ramp = (levels * p[..., None] - torch.arange(levels, device=p.device)).clamp(0, 1)   # (B, cells, levels)
        ctx.levels = levels
        ctx.save_for_backward(ramp)
        u = torch.rand_like(p)[..., None] if stochastic else 0.5
        return (u < ramp).to(p.dtype)

    @staticmethod
    def backward(ctx, grad_keep):
        (ramp,) = ctx.saved_tensors
        inside = (ramp > 0) & (ramp < 1)                                  # on the slope of r_g
        return (grad_keep * inside * ctx.levels).sum(-1), None, None


def keep_levels(p, levels, stochastic=False):
    return KeepLevels.apply(p, levels, stochastic)


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

    def rate(self, b, active=None):
        """Bits to code b (B, n) under the float model: sum over the coded positions of -log2 P(b_i).
        (B,). A bit with active = 0 is not coded (it costs nothing) and reads as a 0 (b = 0 here)."""
        logit = self.logits.gather(1, self.contexts(b).T).T         # (B, n) logit of a 1 at each position
        cost = F.binary_cross_entropy_with_logits(logit, (b > 0).float(), reduction="none")
        return (cost if active is None else cost * active).sum(1) / math.log(2)

    def expected_rate(self, y, active=None):
        """E[rate(b)] when each bit is drawn by the stochastic binarizer from y (B, n): (B,) bits.

        Bit i is 1 with probability q_i = (1 + y_i) / 2, independently of the others. Its cost is
        -log2 P(b_i | c_i), where its context c_i is made of bits i-1 … i-k, which are independent
        of b_i. So the expectation splits into a sum over positions and contexts:

            E[rate] = Σ_i Σ_c π_i(c) h(q_i, p_ic),   h(q, p) = -q log2 p - (1 - q) log2 (1 - p)
            π_i(c) = Π_j=1..k  (q_i-j if bit j-1 of c is 1, else 1 - q_i-j),   q before bit 0 = 0

        where p_ic = sigmoid(logits[i, c]). It is a polynomial in the q's, so its gradient is exact:
        d/dy_i moves bit i towards the cheaper value under each context, and the neighbours' contexts
        towards the cheaper ones. This is what reaches the encoder; rate(b) of sampled bits does not,
        because a sampled bit is a constant to it. With `active` (B, n) in {0, 1}, an inactive bit
        costs nothing and reads as a 0 in its neighbours' contexts: q_i becomes active_i * q_i.
        """
        q = (1 + y) / 2 if active is None else active * (1 + y) / 2
        B, n = q.shape
        patterns = torch.arange(2 ** self.context, device=q.device)            # c = 0 … 2^k - 1
        pi = q.new_ones(B, n, len(patterns))
        for j in range(1, self.context + 1):
            prev = F.pad(q, (j, 0))[:, :n, None]                                # q_i-j, (B, n, 1)
            pi = pi * torch.where((patterns >> (j - 1)) & 1 == 1, prev, 1 - prev)
        q = q[..., None]
        h = -(q * F.logsigmoid(self.logits) + (1 - q) * F.logsigmoid(-self.logits)) / math.log(2)   # (B, n, 2^k)
        cost = (pi * h).sum(-1)
        return (cost if active is None else cost * active).sum(1)

    @torch.no_grad()
    def fit(self, bits, active=None):
        """Set the table to the frequencies of bits (N, n) in {0, 1} (not coded: 0, with active 0):
        for each position i and context c, P(1) = (ones + 1/2) / (seen + 1), the Krichevsky-Trofimov
        estimate. Counting is the maximum-likelihood table, which the training loss only approaches,
        and it affords more context than the rate term needs (Codec.fit_table chooses how much)."""
        n, patterns = self.logits.shape
        where = torch.arange(n) * patterns + self.contexts(2 * bits.long() - 1)   # (N, n) cell of the table
        counted = torch.ones_like(bits, dtype=torch.bool) if active is None else active.bool()
        seen = torch.bincount(where[counted], minlength=n * patterns).view(n, patterns)
        ones = torch.bincount(where[counted & (bits > 0)], minlength=n * patterns).view(n, patterns)
        p1 = (ones + 0.5) / (seen + 1.0)
        self.logits.copy_(torch.log(p1) - torch.log1p(-p1))
        self.update()

    @torch.no_grad()
    def update(self):
        """Refresh the integer table from the logits. Call before saving a checkpoint for coding."""
        p1 = torch.sigmoid(self.logits.double())
        self.freqs.copy_((p1 * (1 << PRECISION)).round().clamp(1, (1 << PRECISION) - 1).int())
