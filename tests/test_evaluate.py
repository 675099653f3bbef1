"""evaluate.py: SSIM against a direct implementation, the baselines' files, and a run on a tiny subset."""
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

import evaluate
import scenes

ROOT = Path(__file__).resolve().parent.parent


def ssim_by_hand(a, b, sigma=1.5, size=11):
    """SSIM computed window by window in numpy, straight from Wang et al. (2004), eqs. 13-14."""
    g = np.exp(-(np.arange(size) - size // 2) ** 2 / (2 * sigma ** 2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2, values = 0.01 ** 2, 0.03 ** 2, []
    for ch in range(a.shape[0]):
        for i in range(a.shape[1] - size + 1):
            for j in range(a.shape[2] - size + 1):
                pa, pb = a[ch, i:i + size, j:j + size], b[ch, i:i + size, j:j + size]
                ma, mb = (w * pa).sum(), (w * pb).sum()
                va, vb = (w * (pa - ma) ** 2).sum(), (w * (pb - mb) ** 2).sum()
                cov = (w * (pa - ma) * (pb - mb)).sum()
                values.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2)))
    return float(np.mean(values))


def test_ssim_matches_a_direct_implementation():
    rng = np.random.default_rng(0)
    a = rng.random((3, 18, 20))
    b = np.clip(a + 0.2 * rng.standard_normal(a.shape), 0, 1)
    got = evaluate.ssim(torch.tensor(b[None], dtype=torch.float64), torch.tensor(a[None], dtype=torch.float64))
    assert abs(got - ssim_by_hand(b, a)) < 1e-9
    x = torch.rand(2, 3, 32, 32)
    assert abs(evaluate.ssim(x, x) - 1) < 1e-6


def frechet_by_hand(a, b):
    """The same distance the way FID code usually writes it: tr((S_a S_b)^1/2) from the eigenvalues of the
    (non-symmetric) product S_a S_b, which are real and >= 0 for covariance matrices."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    cross = np.sqrt(np.clip(np.linalg.eigvals(cov_a @ cov_b).real, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * cross)


def test_frechet_distance_matches_a_direct_implementation_and_a_closed_form():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((500, 6)) @ rng.standard_normal((6, 6))
    b = 0.5 * rng.standard_normal((400, 6)) @ rng.standard_normal((6, 6)) + 1
    got = evaluate.frechet_distance(torch.tensor(a), torch.tensor(b))
    assert abs(got - frechet_by_hand(a, b)) < 1e-6 * max(1, got)
    assert abs(evaluate.frechet_distance(torch.tensor(a), torch.tensor(a))) < 1e-6
    # diagonal covariances: the distance is |mu_a - mu_b|^2 + sum of (sigma_a - sigma_b)^2
    z = rng.standard_normal((20000, 3))
    z = (z - z.mean(0)) / z.std(0, ddof=1)
    x, y = z * [1.0, 2.0, 3.0], z[:, [1, 2, 0]] * [2.0, 2.0, 1.0] + [1.0, 0.0, 0.0]
    expected = 1.0 + (1 - 2) ** 2 + (2 - 2) ** 2 + (3 - 1) ** 2
    assert abs(evaluate.frechet_distance(torch.tensor(x), torch.tensor(y)) - expected) < 0.05


def test_psnr_of_a_known_error():
    x = torch.full((2, 3, 8, 8), 0.5)
    assert abs(evaluate.psnr(x + 0.1, x) - 20.0) < 1e-4


def test_thumbnail_files_hold_exactly_k_k_3_b_bits():
    encode, decode = evaluate.thumbnail(4, 5)
    x = torch.rand(3, 3, 64, 64)
    files = encode(x)
    assert [8 * len(f) for f in files] == [240] * 3
    small = torch.nn.functional.interpolate(x, size=(4, 4), mode="area")
    again = torch.nn.functional.interpolate(decode(files), size=(4, 4), mode="area")
    assert (again - small).abs().max() < 1 / 31                     # within a quantisation step


def test_scene_graph_code_is_compact_and_redraws_the_scene():
    images, graphs, _ = scenes.generate(20, "test")
    encode, decode = evaluate.scene_graph(graphs)
    files = encode(torch.zeros(20, 3, 64, 64), torch.arange(20))
    for f, g in zip(files, graphs):
        assert len(f) == math.ceil((3 + 14 * len(g["objects"])) / 8)
    redrawn = decode(files)
    original = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    assert evaluate.psnr(redrawn, original) > 15                      # the same objects, 2 px off at most


def test_the_command_writes_its_report_on_a_tiny_subset(tmp_path):
    """A random-weight codec, 20 easy-VQA test images: every row is measured and the files appear."""
    from compress import Codec
    torch.manual_seed(0)
    codec = Codec(bits=64, width=8)
    torch.save({"model_args": {"bits": 64, "width": 8, "context": 2}, "codec": codec.state_dict(), "data": "easyvqa"},
               tmp_path / "codec.pt")
    r = subprocess.run([sys.executable, "evaluate.py", "--data", "easyvqa", "--limit", "20", "--codec",
                        str(tmp_path / "codec.pt"), "--out", str(tmp_path / "results")],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    report = (tmp_path / "results" / "benchmark.md").read_text()
    for row in ("ours, codec", "thumbnail 4×4", "JPEG q1", "WebP q0", "original (ceiling)", "question only (floor)"):
        assert row in report
    assert "| ours, codec | 88 |" in report                              # 64 coded bits + 3-byte header, exactly
    original = next(line for line in report.splitlines() if line.startswith("| original"))
    assert "| FD |" in report and "| 0.00 |" in original                # originals against themselves
    assert (tmp_path / "results" / "rate_accuracy.png").exists() and (tmp_path / "results" / "samples.png").exists()
