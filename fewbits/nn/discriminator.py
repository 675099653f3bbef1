"""The conditional discriminator D(image, question): is this an original or a decoded image, given
what is asked about it?

    image (B, 3, 64, 64) -> spectrally normalised convs -> h (B, C)
    question tokens (Q, L) -> its own embedding + GRU -> q (Q, D) -> e = W q (Q, C)
    D(image b, question j) = psi(h_b) + <e_j, h_b>            (projection, Miyato & Koyama 2018)

The projection term lets D judge an image by the things its questions ask about: a decode whose
"red circle" has turned brown looks fake next to "what color is the circle?" even if it looks like
a plausible image on its own. With no questions (a folder of photos), D is unconditional: psi(h).
Spectral norm on every layer keeps D's gradients bounded, so the generator is not thrown around;
the loss is the hinge loss.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm

from .question import QuestionEncoder


class Discriminator(nn.Module):
    def __init__(self, vocab_size=2, width=16, qdim=128):
        super().__init__()
        c = [3, width, 2 * width, 4 * width, 8 * width]
        layers = []
        for cin, cout in zip(c, c[1:]):                   # 64 -> 32 -> 16 -> 8 -> 4
            layers += [spectral_norm(nn.Conv2d(cin, cout, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
        self.convs = nn.Sequential(*layers)
        self.psi = spectral_norm(nn.Linear(8 * width, 1))
        self.question = QuestionEncoder(vocab_size, qdim)
        self.project = spectral_norm(nn.Linear(qdim, 8 * width))

    def forward(self, x, qi=None, tokens=None):
        """Scores (B,) for images alone, or (Q,) for each question j about image qi[j]."""
        h = self.convs(x * 2 - 1).sum(dim=(2, 3))         # (B, C)
        if qi is None or len(qi) == 0:
            return self.psi(h).squeeze(1)
        h = h[qi]                                          # (Q, C)
        return self.psi(h).squeeze(1) + (self.project(self.question(tokens)) * h).sum(1)


class TwoScaleDiscriminator(Discriminator):
    """Both judgements from one trunk: the whole image's score, as Discriminator's, and each 22×22
    patch's (an 8×8 grid of them, after three strided convs). A patch holding a small shape is judged
    by itself, so a box with rounded corners can't hide in a large, plausible background; the whole
    image keeps the statistics a patch can't see (how much background, how many edges in all). Scores (B, 128)
    or (Q, 128): the whole image's score 64 times, then the 64 patches', so that in the hinge
    losses' means the two scales weigh the same."""

    def __init__(self, vocab_size=2, width=16, qdim=128):
        super().__init__(vocab_size, width, qdim)
        self.patch_psi = spectral_norm(nn.Linear(4 * width, 1))
        self.patch_project = spectral_norm(nn.Linear(qdim, 4 * width))

    def forward(self, x, qi=None, tokens=None):
        h8 = self.convs[:6](x * 2 - 1)                             # (B, 4w, 8, 8)
        whole = self.convs[6:](h8).sum(dim=(2, 3))                 # (B, 8w)
        patches = h8.flatten(2).transpose(1, 2)                    # (B, 64 patches, 4w)
        score_whole, score_patches = self.psi(whole), self.patch_psi(patches).squeeze(2)   # (B, 1), (B, 64)
        if qi is not None and len(qi):
            q = self.question(tokens)                              # (Q, qdim)
            whole, patches = whole[qi], patches[qi]
            score_whole = self.psi(whole) + (self.project(q) * whole).sum(1, keepdim=True)
            score_patches = self.patch_psi(patches).squeeze(2) + (self.patch_project(q)[:, None] * patches).sum(2)
        return torch.cat([score_whole.expand(-1, score_patches.shape[1]), score_patches], 1)


DISCRIMINATORS = {"whole": Discriminator, "both": TwoScaleDiscriminator}


def d_hinge_loss(real, fake):
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def g_hinge_loss(fake):
    return -fake.mean()
