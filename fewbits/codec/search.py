"""Encoder-side search: the bits that a fixed decoder turns into the image best, for what they cost.

    bits = search_bits(codec, x, steps=400)    # (B, capacity) uint8, coded as the encoder's would be
    codec.compress(x, search=400)              # the same, as payloads

The encoder is a network trained to guess the bits in one pass, and a small one guesses far from the
best (the amortisation gap, Cremer et al. 2018); with the decoder fixed, gradient descent on the bits
themselves closes much of it, as in Campos et al. (2019) and Yang et al. (2020). The decoder and
the file format stay as they are: only the sender works harder.
"""
import torch

from ..nn.quantize import binarize

PRICE = 1e-6   # MSE per bit: the searched files come out a little longer than the encoder's (EXPERIMENTS.md)


def search_bits(codec, x, steps, price=PRICE):
    """Start from the encoder's y = tanh(z); each step decodes sign(tanh z) (the binarizer's
    straight-through backward) and moves z down the gradient of
        cost = MSE(g_s(bits), x) + price × bits of the file under the bit model (its expected rate),
    with Adam and a cosine-decayed step. Each image keeps its cheapest bits seen (their real cost:
    MSE and BitModel.rate), the encoder's included, so the search never ends worse than the encoder.
    x (B, 3, size, size) -> bits (B, capacity) uint8. ValueError for a codec whose bits are gated."""
    if not codec.can_search:
        raise ValueError(f"search needs a code that sends every bit, not the {codec.code} code")
    with torch.no_grad():
        z = torch.atanh(codec.g_a(x).clamp(-0.999, 0.999))            # (B, capacity) logits of the bits
    z.requires_grad_(True)
    opt = torch.optim.Adam([z], lr=0.1)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    best, best_cost = torch.zeros_like(z), torch.full((len(x),), float("inf"), device=x.device)
    for step in range(steps + 1):
        with torch.enable_grad():
            b = binarize(z.tanh())                                   # (B, capacity) in {-1, +1}
            mse = (codec.g_s(b, codec.size) - x).pow(2).mean((1, 2, 3))
            with torch.no_grad():                                    # the real cost of these bits
                cost = mse + price * codec.bit_model.rate(b)
                better = cost < best_cost
                best = torch.where(better[:, None], b, best)
                best_cost = torch.minimum(cost, best_cost)
            if step == steps:
                break
            loss = (mse + price * codec.bit_model.expected_rate(z.tanh())).sum()
            (z.grad,) = torch.autograd.grad(loss, [z])               # the weights get no gradient
        opt.step()
        schedule.step()
    return (best > 0).to(torch.uint8)
