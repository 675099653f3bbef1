"""The binarizer, the importance mask and the bit model, each against an independent reference:
its stated rule under autograd, a count, an enumeration of every outcome, finite differences."""
import itertools
import math

import torch

from fewbits.coding.arithmetic import PRECISION
from fewbits.nn.quantize import BitModel, binarize, keep_levels


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


def test_expected_rate_equals_the_average_over_every_outcome():
    """Reference: enumerate all 2^n bit vectors, weight rate(b) by the probability of b under the
    stochastic binarizer, and sum. With and without gated-off bits (active = 0)."""
    torch.manual_seed(3)
    n = 7
    model = BitModel(bits=n, context=2).double()
    with torch.no_grad():
        model.logits.normal_()
    y = torch.rand(3, n, dtype=torch.float64) * 2 - 1
    active = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 0, 1, 1, 0, 0, 1], [0, 1, 1, 0, 1, 1, 1]], dtype=torch.float64)
    outcomes = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=n)), dtype=torch.float64)   # (128, n)
    for a in (None, active):
        for row in range(len(y)):
            q = (1 + y[row]) / 2
            prob = torch.where(outcomes > 0, q, 1 - q).prod(1)                # P(b) for each outcome
            b = outcomes if a is None else outcomes * a[row]                  # gated-off bits read as 0
            rates = model.rate(b, None if a is None else a[row].expand(len(b), -1))
            ref = (prob * rates).sum()      # outcomes differing only in gated-off bits are one outcome, summed
            ours = model.expected_rate(y[row:row + 1], None if a is None else a[row:row + 1])
            assert abs(ours.item() - ref.item()) < 1e-6      # rate() takes float32 targets


def test_expected_rate_gradient_against_finite_differences():
    torch.manual_seed(4)
    model = BitModel(bits=10, context=2).double()
    with torch.no_grad():
        model.logits.normal_()
    y = (torch.rand(2, 10, dtype=torch.float64) * 1.8 - 0.9).requires_grad_()
    active = (torch.rand(2, 10) < 0.7).double().requires_grad_()
    assert torch.autograd.gradcheck(lambda y, a, w: BitModel.expected_rate(model, y, a), (y, active, model.logits))


def test_keep_levels_is_a_prefix_with_the_ramp_as_its_mean():
    """E[keep_g] = clamp(L p - g, 0, 1), checked over 20,000 draws (5 standard errors); every draw
    keeps a prefix of the groups; evaluation keeps round(L p) groups."""
    torch.manual_seed(5)
    levels, n = 4, 20_000
    p = torch.linspace(0.01, 0.99, 13)
    keep = keep_levels(p.expand(n, -1).contiguous(), levels, stochastic=True)     # (n, 13, 4)
    ramp = (levels * p[:, None] - torch.arange(levels)).clamp(0, 1)
    assert (keep.mean(0) - ramp).abs().max() < 5 * 0.5 / math.sqrt(n)
    assert torch.all(keep[..., 1:] <= keep[..., :-1])                          # a prefix
    assert torch.equal(keep_levels(p, levels).sum(-1), (levels * p).round())


def test_keep_levels_backward_is_the_ramps_gradient():
    """The rule claimed: d keep / d p := d ramp / d p. Reference: ramp + (keep - ramp).detach() under autograd."""
    torch.manual_seed(6)
    for stochastic in (False, True):
        p = torch.rand(8, 16).requires_grad_()
        w = torch.randn(8, 16, 4)
        keep = keep_levels(p, 4, stochastic)
        (keep * w).sum().backward()
        ours = p.grad.clone()
        p.grad = None
        ramp = (4 * p[..., None] - torch.arange(4)).clamp(0, 1)
        ((ramp + (keep - ramp).detach()) * w).sum().backward()
        assert torch.allclose(ours, p.grad)


def test_fit_is_a_count_per_position_and_context_over_the_coded_bits():
    """fit() against a plain loop: (ones + 1/2) / (seen + 1) for each position and pattern of the
    3 bits before it, counting only coded bits; a bit not coded is 0 in its neighbours' contexts."""
    torch.manual_seed(3)
    active = torch.rand(60, 10) < 0.8
    bits = ((torch.rand(60, 10) < 0.3) & active).to(torch.uint8)
    model = BitModel(bits=10, context=3)
    model.fit(bits, active)
    p1 = torch.sigmoid(model.logits.double())
    rows, coded = bits.tolist(), active.tolist()
    for i in range(10):
        for c in range(8):
            seen = ones = 0
            for row, act in zip(rows, coded):
                ctx = sum((row[i - j] if i >= j else 0) << (j - 1) for j in (1, 2, 3))
                if ctx == c and act[i]:
                    seen, ones = seen + 1, ones + row[i]
            assert abs(p1[i, c].item() - (ones + 0.5) / (seen + 1)) < 1e-6
