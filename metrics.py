"""How a codec is scored, in one place: image quality, answers kept, and the protocol that measures them.

    row = measure(codec_files(codec), judges, test)  # every test image through a real .bin file
    row["bits"], row["psnr"], row["ssim"], row["acc"]["film"]["overall"], row["acc"]["film"]["count"], ...
    row = score_codec(codec, judges, test)           # the same, plus row["retention"]["film"]...

A method is a pair (encode, decode): encode(x (B, 3, 64, 64), idx) -> a list of B files (bytes);
decode(files) -> x_hat. Bits are counted from the files themselves, header included, never estimated.
Retention = a VQA model's accuracy on the decodes ÷ its accuracy on the originals, overall and per
question family: how many of the answers the model could give survive the compression.
"""
import math
import time

import torch
import torch.nn.functional as F

import files


# ---- image quality -------------------------------------------------------------------------------

def psnr(x_hat, x):
    """Mean over images of 10 log10(1 / MSE), for images in [0, 1]. (B, 3, H, W) each."""
    mse = ((x_hat - x) ** 2).mean(dim=(1, 2, 3)).clamp(min=1e-10)
    return (10 * torch.log10(1 / mse)).mean().item()


def ssim(x_hat, x, sigma=1.5, size=11):
    """Mean SSIM (Wang et al. 2004) with an 11×11 Gaussian window, per channel, valid positions only."""
    g = torch.exp(-(torch.arange(size, dtype=torch.float64) - size // 2) ** 2 / (2 * sigma ** 2))
    w = (g[:, None] * g[None, :] / g.sum() ** 2).expand(3, 1, size, size).to(x.dtype)
    blur = lambda t: F.conv2d(t, w, groups=3)
    mu_a, mu_b = blur(x_hat), blur(x)
    var_a, var_b = blur(x_hat * x_hat) - mu_a ** 2, blur(x * x) - mu_b ** 2
    cov = blur(x_hat * x) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return s.mean().item()


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
    """Accuracy on decodes ÷ accuracy on originals, for every key of `acc` (families and "overall")."""
    return {f: acc[f] / original[f] for f in acc}


def lowest(retention_by_judge, judges):
    """The protocol's figure: for every key ("overall" and each family), the lowest retention among
    `judges`, the families the codec never trained against. retention_by_judge: {judge: {key: r}}."""
    keys = retention_by_judge[judges[0]]
    return {k: min(retention_by_judge[j][k] for j in judges) for k in keys}


def misread(detected, truth, radius=6.0):
    """What a detector reads wrong in scene graphs, object by object: {"objects": true objects, "missed":
    true objects with no detection within `radius` px of their centre, "extra": detections matched to
    none, "shape" / "color" / "size": matched objects with that attribute wrong, "offset": the sum of
    the matched objects' distances in px}. Centres are more than 12.7 px apart (scenes.py), so a
    detection lies within 6 px of one true object at most; the nearest pairs are matched first, so
    of two detections near one object the farther is the extra one."""
    counts = dict.fromkeys(("objects", "missed", "extra", "shape", "color", "size", "offset"), 0)
    for found, true in zip((g["objects"] for g in detected), (g["objects"] for g in truth), strict=True):
        pairs = sorted((math.hypot(f["x"] - t["x"], f["y"] - t["y"]), i, j)
                       for i, t in enumerate(true) for j, f in enumerate(found))
        matched_true, matched_found = set(), set()
        for distance, i, j in pairs:
            if distance <= radius and i not in matched_true and j not in matched_found:
                matched_true.add(i), matched_found.add(j)
                counts["offset"] += distance
                for attr in ("shape", "color", "size"):
                    counts[attr] += found[j][attr] != true[i][attr]
        counts["objects"] += len(true)
        counts["missed"] += len(true) - len(matched_true)
        counts["extra"] += len(found) - len(matched_found)
    return counts


# ---- methods and the protocol --------------------------------------------------------------------

def codec_files(codec, search=0):
    """Our codec as a method: each image becomes a whole .bin file (header + payload) and back; with
    search > 0, of the bits that many steps of Codec.search find."""
    fingerprint = codec.fingerprint()

    def encode(x, idx=None):
        return [files.write_container(s, fingerprint) for s in codec.compress(x, search)["strings"]]

    def decode(blobs):
        return codec.decompress([files.read_container(b, fingerprint) for b in blobs])["x_hat"]
    return encode, decode


def originals():
    """The images themselves, sent as nothing: the ceiling of every table."""
    return (lambda x, idx=None: [b""] * len(x)), (lambda blobs: None)


@torch.no_grad()
def measure(method, judges, test, limit=None, batch_size=250, features=None, each=None):
    """One row for the decodes of test's first `limit` images: each judge's accuracy per family
    (judges: {name: VQA model}; row["acc"][name]), mean file bits (and each file's), PSNR, SSIM, images/s each way, and
    FD if `features` (a VQA model with a CNN) is given. each(idx, x_hat), if given, sees every batch of decodes."""
    encode, decode = method
    n = min(limit or len(test), len(test))
    accuracy = {name: Accuracy(test.families) for name in judges}
    row = {"bits": 0.0, "psnr": 0.0, "ssim": 0.0, "bits_each": []}
    seconds = {"encode": 0.0, "decode": 0.0}
    feats, feats_original = [], []
    for idx in torch.arange(n).split(batch_size):
        x = test.images(idx)
        t0 = time.perf_counter()
        blobs = encode(x, idx)
        t1 = time.perf_counter()
        x_hat = decode(blobs)
        x_hat = x if x_hat is None else x_hat
        seconds["encode"] += t1 - t0
        seconds["decode"] += time.perf_counter() - t1
        if each is not None:
            each(idx, x_hat)
        row["bits"] += sum(8 * len(b) for b in blobs) / n
        row["bits_each"] += [8 * len(b) for b in blobs]
        row["psnr"] += psnr(x_hat, x) * len(idx) / n
        row["ssim"] += ssim(x_hat, x) * len(idx) / n
        qi, tokens, answers = test.questions_of(idx)
        for name, judge in judges.items():
            accuracy[name].add(judge.eval()(x_hat, qi, tokens), answers, test.family_of(idx))
        if features is not None:
            feats.append(realism_features(features.eval(), x_hat))
            feats_original.append(realism_features(features, x))
    row["fd"] = frechet_distance(torch.cat(feats), torch.cat(feats_original)) if feats else float("nan")
    row["acc"] = {name: a.result() for name, a in accuracy.items()}
    row.update({f"{way}_per_s": n / max(s, 1e-9) for way, s in seconds.items()})
    return row


def score_codec(codec, judges, test, limit=None, features=None):
    """measure() for a codec, plus each judge's accuracy on the originals and its retention:
    row["original"][name], row["retention"][name] = {"overall": r, family: r, ...}."""
    row = measure(codec_files(codec), judges, test, limit, features=features)
    row["original"] = measure(originals(), judges, test, limit)["acc"]
    row["retention"] = {name: retention(row["acc"][name], row["original"][name]) for name in judges}
    return row
