"""What a decode is scored by: image quality, and the answers VQA models still give.

    psnr(x_hat, x), ssim(x_hat, x), ms_ssim(x_hat, x)        # quality
    ms_ssim_loss(x_hat, x)                                   # 1 - MS-SSIM of four scales, to train on
    frechet_distance(a, b)                                   # realism, on features
    acc = Accuracy(families); acc.add(logits, answers, family); acc.result()
    retention(acc_on_decodes, acc_on_originals); lowest(retention_by_judge, judges)

Retention = a VQA model's accuracy on the decodes ÷ its accuracy on the originals, overall and per
question family: how many of the answers the model could give survive the compression.
"""
import math

import torch
import torch.nn.functional as F


# ---- image quality -------------------------------------------------------------------------------

def psnr(x_hat, x):
    """Mean over images of 10 log10(1 / MSE), for images in [0, 1]. (B, 3, H, W) each."""
    mse = ((x_hat - x) ** 2).mean(dim=(1, 2, 3)).clamp(min=1e-10)
    return (10 * torch.log10(1 / mse)).mean().item()


def ssim(x_hat, x, sigma=1.5, size=11):
    """Mean SSIM (Wang et al. 2004) with an 11×11 Gaussian window, per channel, valid positions only."""
    return ssim_terms(x_hat, x, sigma, size)[0].mean().item()


def ssim_terms(x_hat, x, sigma=1.5, size=11):
    """-> (SSIM, contrast-structure), each (B, C): the means over the valid positions of the whole
    SSIM map and of its second factor, which is what MS-SSIM takes from every scale but the last."""
    g = torch.exp(-(torch.arange(size, dtype=torch.float64) - size // 2) ** 2 / (2 * sigma ** 2))
    g = (g / g.sum()).to(x.dtype)
    C = x.shape[1]
    blur = lambda t: F.conv2d(F.conv2d(t, g.view(1, 1, 1, -1).expand(C, 1, 1, size), groups=C),
                              g.view(1, 1, -1, 1).expand(C, 1, size, 1), groups=C)   # separable
    mu_a, mu_b = blur(x_hat), blur(x)
    var_a, var_b = blur(x_hat * x_hat) - mu_a ** 2, blur(x * x) - mu_b ** 2
    cov = blur(x_hat * x) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    cs = (2 * cov + c2) / (var_a + var_b + c2)
    s = (2 * mu_a * mu_b + c1) / (mu_a ** 2 + mu_b ** 2 + c1) * cs
    return s.mean((2, 3)), cs.mean((2, 3))


MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)     # Wang, Simoncelli & Bovik (2003), 5 scales


def ms_ssim(x_hat, x):
    """Mean MS-SSIM (Wang et al. 2003) of images in [0, 1], (B, 3, H, W) each, with H, W > 160:
    contrast-structure at scales 1…4 and the whole SSIM at scale 5, each halved by 2×2 averages, each
    clipped at 0, and their product weighted by MS_SSIM_WEIGHTS, per image and channel. An odd side is
    padded by one zero at each end before halving, as the reference implementation (pytorch-msssim,
    which CompressAI's figures use) does, so that figures compare with the literature's."""
    if min(x.shape[-2:]) <= 160:
        raise ValueError(f"MS-SSIM needs both sides over 160 pixels, not {tuple(x.shape[-2:])}")
    return ms_ssim_per_image(x_hat, x, MS_SSIM_WEIGHTS).mean().item()


def ms_ssim_loss(x_hat, x, scales=4):
    """1 - MS-SSIM over the first `scales` of the five, their weights renormalised: a training term
    for crops too small for five scales (128 pixels: four). The factors' floor of 1e-4 keeps the
    gradient of factor ** weight finite where a factor nears 0."""
    weights = [w / sum(MS_SSIM_WEIGHTS[:scales]) for w in MS_SSIM_WEIGHTS[:scales]]
    return 1 - ms_ssim_per_image(x_hat, x, weights, floor=1e-4).mean()


def ms_ssim_per_image(x_hat, x, weights, floor=0.0):
    """MS-SSIM over len(weights) scales, (B, C), differentiable; floor > 0 clips each factor there
    rather than at 0."""
    factors = []
    for scale, weight in enumerate(weights):
        s, cs = ssim_terms(x_hat, x)
        factors.append((s if scale == len(weights) - 1 else cs).clamp(min=floor) ** weight)
        pad = [side % 2 for side in x.shape[2:]]
        x_hat, x = F.avg_pool2d(x_hat, 2, padding=pad), F.avg_pool2d(x, 2, padding=pad)
    return torch.stack(factors).prod(0)


def edge_loss(x_hat, x):
    """L1 between the horizontal and vertical neighbour differences of x_hat and x (B, 3, H, W). A flat
    background has none, so only edges count; L1, unlike MSE, prefers one sharp edge to a blur when
    the decoder is unsure where the edge is."""
    dx = (x_hat[..., :, 1:] - x_hat[..., :, :-1]) - (x[..., :, 1:] - x[..., :, :-1])
    dy = (x_hat[..., 1:, :] - x_hat[..., :-1, :]) - (x[..., 1:, :] - x[..., :-1, :])
    return dx.abs().mean() + dy.abs().mean()


def frechet_distance(a, b):
    """Fréchet distance between Gaussians fitted to two sets of feature vectors a (N, D), b (M, D):
    |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^1/2), the formula of FID (Heusel et al. 2017).
    tr((S_a S_b)^1/2) is computed as tr((R S_b R)^1/2) with R = S_a^1/2: the same eigenvalues
    (S_a S_b = R (R S_b R) R^-1), but a symmetric matrix, so eigvalsh is exact and stable."""
    a, b = a.double(), b.double()
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    w, v = torch.linalg.eigh(cov_a)
    root_a = v @ torch.diag(w.clamp(min=0).sqrt()) @ v.T
    cross = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp(min=0).sqrt().sum()
    fd = ((a.mean(0) - b.mean(0)) ** 2).sum() + cov_a.trace() + cov_b.trace() - 2 * cross
    return max(fd.item(), 0.0)                                   # >= 0 in exact arithmetic


def realism_features(judge, x):
    """(B, 3, 64, 64) -> (B, 2C): the judge CNN's cell features, averaged and max-pooled over the cells.
    The Fréchet distance between these on originals and on decodes is the realism score (an FID whose
    feature network knows these images, where Inception would not)."""
    f = judge.image_features(x)                                  # (B, 64 cells, C)
    return torch.cat([f.mean(1), f.amax(1)], 1)


# ---- answers -------------------------------------------------------------------------------------

class Accuracy:
    """Right answers counted per question family over any number of batches."""

    def __init__(self, families):
        self.families = list(families)
        self.right, self.total = torch.zeros(len(self.families)), torch.zeros(len(self.families))

    def add(self, logits, answers, family):
        """logits (Q, A), answers (Q,), family (Q,) ids into `families`."""
        hit = (logits.argmax(1) == answers).float().cpu()
        self.right.index_add_(0, family.cpu(), hit)
        self.total += torch.bincount(family.cpu(), minlength=len(self.families)).float()

    def result(self):
        """{"overall": accuracy, family: accuracy, ...} over the families that had questions."""
        acc = {f: (self.right[k] / self.total[k]).item() for k, f in enumerate(self.families) if self.total[k] > 0}
        acc["overall"] = (self.right.sum() / self.total.sum().clamp(min=1)).item()
        return acc


def retention(acc, original):
    """Accuracy on decodes ÷ accuracy on originals, for every key of `acc` (families and "overall");
    NaN where the originals got nothing right (an untrained model): there is nothing to retain."""
    return {f: acc[f] / original[f] if original[f] else float("nan") for f in acc}


def paired_difference(right_a, right_b, images, draws=2000, seed=0):
    """How many more of the same questions A answers right than B, as a share, with a 95% interval.
    right_a, right_b: (Q,) bool; images: (Q,) the image each question is about. The interval comes
    from resampling whole images with replacement (a bootstrap): an image's questions are read off
    one decode, so they stand or fall together, and resampling questions would understate the
    spread. -> (difference, low, high); an interval that holds 0 is no difference this split shows."""
    diff = right_a.double() - right_b.double()                   # (Q,) in {-1, 0, 1}
    _, image = torch.unique(images, return_inverse=True)         # 0 .. N-1
    n = int(image.max()) + 1
    per_image = torch.zeros(n, dtype=torch.float64).index_add_(0, image, diff)
    asked = torch.bincount(image, minlength=n).double()          # (N,) questions per image
    pick = torch.randint(n, (draws, n), generator=torch.Generator().manual_seed(seed))
    shares = per_image[pick].sum(1) / asked[pick].sum(1)         # (draws,)
    low, high = torch.quantile(shares, torch.tensor([0.025, 0.975], dtype=torch.float64)).tolist()
    return diff.mean().item(), low, high


def lowest(retention_by_judge, judges):
    """The protocol's figure: for every key ("overall" and each family), the lowest retention among
    `judges`, the families the codec never trained against. retention_by_judge: {judge: {key: r}}."""
    keys = retention_by_judge[judges[0]]
    return {k: min(retention_by_judge[j][k] for j in judges) for k in keys}


def misread(detected, truth, radius=6.0, attrs=("shape", "color", "size"), place=("x", "y")):
    """What a detector reads wrong in scene graphs, object by object: {"objects": true objects, "missed":
    true objects with no detection within `radius` px of their centre, "extra": detections matched to
    none, each of `attrs`: matched objects with that attribute wrong, "offset": the sum of the matched
    objects' distances in px}. Centres are at o[place[0]], o[place[1]] in pixels (CLEVR's: u, v). On
    scenes they are more than 12.7 px apart (scenes.py), so a detection lies within 6 px of one true
    object at most; the nearest pairs are matched first, so of two detections near one object the
    farther is the extra one."""
    counts = dict.fromkeys(("objects", "missed", "extra", *attrs, "offset"), 0)
    u, v = place
    for found, true in zip((g["objects"] for g in detected), (g["objects"] for g in truth), strict=True):
        pairs = sorted((math.hypot(f[u] - t[u], f[v] - t[v]), i, j)
                       for i, t in enumerate(true) for j, f in enumerate(found))
        matched_true, matched_found = set(), set()
        for distance, i, j in pairs:
            if distance <= radius and i not in matched_true and j not in matched_found:
                matched_true.add(i), matched_found.add(j)
                counts["offset"] += distance
                for attr in attrs:
                    counts[attr] += found[j][attr] != true[i][attr]
        counts["objects"] += len(true)
        counts["missed"] += len(true) - len(matched_true)
        counts["extra"] += len(found) - len(matched_found)
    return counts
