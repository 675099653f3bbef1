"""The discriminator: its shapes, the projection term that makes it depend on the question, and the hinge losses."""
import torch

from fewbits.nn.discriminator import Discriminator, TwoScaleDiscriminator, d_hinge_loss, g_hinge_loss


def test_scores_one_per_image_or_one_per_question():
    torch.manual_seed(0)
    d = Discriminator(vocab_size=20).eval()          # eval: spectral norm's power iteration stands still
    x = torch.rand(3, 3, 64, 64)
    assert d(x).shape == (3,)                                        # unconditional: psi(h)
    qi, tokens = torch.tensor([0, 0, 2, 1, 2]), torch.randint(2, 20, (5, 6))
    assert d(x, qi, tokens).shape == (5,)                            # one score per question
    assert torch.equal(d(x, qi[:0], tokens[:0]), d(x))               # no questions: unconditional


def test_the_question_changes_the_score_only_through_the_projection():
    """D(image, question) = psi(h) + <W q, h>. Same image, two questions: the scores differ by exactly
    the difference of the projection terms, which this test computes by hand from D's parts."""
    torch.manual_seed(1)
    d = Discriminator(vocab_size=20).eval()
    x = torch.rand(1, 3, 64, 64)
    tokens = torch.tensor([[3, 4, 5, 0], [6, 7, 0, 0]])
    with torch.no_grad():
        scores = d(x, torch.tensor([0, 0]), tokens)
        h = d.convs(x * 2 - 1).sum(dim=(2, 3))[0]                   # (C,)
        projection = (d.project(d.question(tokens)) * h).sum(1)     # (2,)
        assert torch.allclose(scores - d.psi(h[None]).squeeze(), projection, atol=1e-5)
    assert (scores[0] - scores[1]).abs() > 1e-4


def test_hinge_losses_against_their_formulas():
    real, fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-2.0, 0.0, 1.5])
    # D: mean(max(0, 1 - real)) + mean(max(0, 1 + fake)) = (0 + 0.5 + 2) / 3 + (0 + 1 + 2.5) / 3
    assert torch.isclose(d_hinge_loss(real, fake), torch.tensor(6.0 / 3))
    assert torch.isclose(g_hinge_loss(fake), torch.tensor(0.5 / 3))      # -mean(fake)


def test_the_two_scale_discriminator_weighs_the_whole_image_and_its_patches_alike():
    """(Q, 128): the whole image's score 64 times, then each patch's. Pixels far from patch (0, 0)
    move the whole image's score but not that patch's."""
    torch.manual_seed(2)
    d = TwoScaleDiscriminator(vocab_size=20).eval()
    x = torch.rand(1, 3, 64, 64)
    qi, tokens = torch.tensor([0, 0]), torch.randint(2, 20, (2, 5))
    y = x.clone()
    y[:, :, 32:, 32:] = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        a, b = d(x, qi, tokens), d(y, qi, tokens)
        h = d.convs(x * 2 - 1).sum(dim=(2, 3))                      # (1, C): the whole image, as Discriminator's
        whole = d.psi(h).squeeze() + (d.project(d.question(tokens)) * h).sum(1)   # (2,)
    assert a.shape == (2, 128) and d(x).shape == (1, 128)
    assert torch.allclose(a[:, :64], whole[:, None].expand(2, 64), atol=1e-5)
    assert torch.allclose(a[:, 64], b[:, 64]) and not torch.allclose(a[:, 0], b[:, 0])
