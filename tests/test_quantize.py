"""The binarizer against its stated rules, and the bit model against an independent count."""
import math

import torch

from bitstream import PRECISION
from quantize import BitModel, binarize


def test_forward_values_in_both_modes():
    y = torch.tensor([[-0.9, -0.1, 0.0, 0.2, 0.99]])
    assert torch.equal(binarize(y), torch.tensor([[-1.0, -1.0, 1.0, 1.0, 1.0]]))      # sign, 0 -> +1
    b = binarize(torch.rand(100, 50) * 2 - 1, stochastic=True)
    assert set(b.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(binarize(torch.ones(3, 3), True), torch.ones(3, 3))          # P(+1) = 1 at y = 1
    assert torch.equal(binarize(-torch.ones(3, 3), True), -torch.ones(3, 3))


def test_stochastic_mean_equals_input():
    """E[b] = y. With N = 20,000 draws the standard error is at most 1/sqrt(N) = 0.0071; allow 5 of them."""
    torch.manual_seed(0)
    y = torch.linspace(-0.95, 0.95, 21)
    n = 20_000
    mean = binarize(y.expand(n, -1).contiguous(), stochastic=True).mean(0)
    assert (mean - y).abs().max() < 5 / math.sqrt(n)


def test_backward_is_straight_through_like_autograd_reference():
    """The rule claimed: d b / d y = 1. Reference: y + (b - y).detach() has exactly that gradient under autograd."""
    torch.manual_seed(1)
    for stochastic in (False, True):
        y = (torch.rand(8, 32) * 2 - 1).requires_grad_()
        w = torch.randn(8, 32)
        torch.manual_seed(5)
        b = binarize(y, stochastic)
        (b * w).sum().backward()
        ours = y.grad.clone()
        y.grad = None
        ref = y + (b.detach() - y).detach()
        (ref * w).sum().backward()
        assert torch.equal(ours, y.grad) and torch.equal(ours, w)


def test_rate_matches_an_explicit_count():
    torch.manual_seed(2)
    model = BitModel(bits=12, context=2)
    with torch.no_grad():
        model.logits.normal_()
    b = torch.where(torch.rand(5, 12) < 0.5, 1.0, -1.0)
    p1 = torch.sigmoid(model.logits).detach()
    for row, rate in zip(b, model.rate(b)):
        bits, ref = (row > 0).long().tolist(), 0.0
        for i, bit in enumerate(bits):
            ctx = (bits[i - 1] if i >= 1 else 0) | ((bits[i - 2] if i >= 2 else 0) << 1)
            ref -= math.log2(p1[i, ctx] if bit else 1 - p1[i, ctx])
        assert abs(rate.item() - ref) < 1e-4


def test_integer_table_is_clamped_and_rounded():
    model = BitModel(bits=4, context=0)
    with torch.no_grad():
        model.logits.copy_(torch.tensor([[-50.0], [0.0], [50.0], [1.0]]))
    model.update()
    top = (1 << PRECISION) - 1
    assert model.freqs.flatten().tolist() == [1, 1 << (PRECISION - 1), top, round(torch.sigmoid(torch.tensor(1.0)).item() * (1 << PRECISION))]
    assert model.freqs.dtype == torch.int32
