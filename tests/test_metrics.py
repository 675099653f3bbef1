"""metrics.py and bench/protocol.py: SSIM, the Fréchet distance and PSNR against direct implementations; accuracy and retention
against counts done by hand; measure() on a method whose every number is known."""
import numpy as np
import pytest
import torch

from fewbits import data, metrics
from fewbits.bench import protocol


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
    got = metrics.ssim(torch.tensor(b[None], dtype=torch.float64), torch.tensor(a[None], dtype=torch.float64))
    assert abs(got - ssim_by_hand(b, a)) < 1e-9
    x = torch.rand(2, 3, 32, 32)
    assert abs(metrics.ssim(x, x) - 1) < 1e-6


def reference_window():
    """pytorch-msssim's 11-tap Gaussian window (sigma 1.5) for 3 channels, in float64: it builds
    its own in float32."""
    g = torch.exp(-(torch.arange(11, dtype=torch.float64) - 5) ** 2 / (2 * 1.5 ** 2))
    return (g / g.sum()).view(1, 1, 1, 11).repeat(3, 1, 1, 1)


def test_ms_ssim_matches_the_reference_implementation():
    """pytorch-msssim, the implementation CompressAI's figures use, on odd and even sides and on a
    real photo against its JPEG; and the one-line refusal of an image too small for five scales."""
    pytorch_msssim = pytest.importorskip("pytorch_msssim", reason="pip install pytorch-msssim (the test extra)")
    from skimage import data as skimage_data                      # a real photo: astronaut, 512×512
    from PIL import Image
    import io
    torch.manual_seed(0)
    photo = Image.fromarray(skimage_data.astronaut())
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=5)
    as_tensor = lambda img: torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].double() / 255
    x = torch.rand(2, 3, 161, 203, dtype=torch.float64)
    pairs = [((x + 0.1 * torch.randn_like(x)).clamp(0, 1), x),
             (as_tensor(Image.open(buffer).convert("RGB")), as_tensor(photo))]
    window = reference_window()
    for x_hat, x in pairs:
        reference = pytorch_msssim.ms_ssim(x_hat, x, data_range=1.0, win=window).item()
        assert abs(metrics.ms_ssim(x_hat, x) - reference) < 1e-9
    assert abs(metrics.ms_ssim(x, x) - 1) < 1e-9
    with pytest.raises(ValueError, match="over 160 pixels"):
        metrics.ms_ssim(x[..., :160], x[..., :160])


def test_the_training_term_is_one_minus_ms_ssim_of_four_scales_and_descends():
    """Four renormalised weights (128-pixel crops) agree with the reference given the same weights,
    and one step down the gradient of 1 - MS-SSIM brings a noisy crop closer to its original."""
    pytorch_msssim = pytest.importorskip("pytorch_msssim", reason="pip install pytorch-msssim (the test extra)")
    weights = [w / sum(metrics.MS_SSIM_WEIGHTS[:4]) for w in metrics.MS_SSIM_WEIGHTS[:4]]
    torch.manual_seed(0)
    x = torch.rand(2, 3, 168, 176, dtype=torch.float64)
    x_hat = (x + 0.2 * torch.randn_like(x)).clamp(0, 1)
    window = reference_window()
    reference = pytorch_msssim.ms_ssim(x_hat, x, data_range=1.0, win=window, weights=weights)
    assert abs(1 - metrics.ms_ssim_loss(x_hat, x).item() - reference.item()) < 1e-9
    crop, noisy = x[..., :128, :128], x_hat[..., :128, :128].clone().requires_grad_(True)
    loss = metrics.ms_ssim_loss(noisy, crop)
    loss.backward()
    step = 0.05 * noisy.grad / noisy.grad.abs().max()                 # at most 0.05 a pixel
    assert torch.isfinite(noisy.grad).all() and metrics.ms_ssim_loss(noisy.detach() - step, crop) < loss - 0.01


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
    got = metrics.frechet_distance(torch.tensor(a), torch.tensor(b))
    assert abs(got - frechet_by_hand(a, b)) < 1e-6 * max(1, got)
    assert abs(metrics.frechet_distance(torch.tensor(a), torch.tensor(a))) < 1e-6
    # diagonal covariances: the distance is |mu_a - mu_b|^2 + sum of (sigma_a - sigma_b)^2
    z = rng.standard_normal((20000, 3))
    z = (z - z.mean(0)) / z.std(0, ddof=1)
    x, y = z * [1.0, 2.0, 3.0], z[:, [1, 2, 0]] * [2.0, 2.0, 1.0] + [1.0, 0.0, 0.0]
    expected = 1.0 + (1 - 2) ** 2 + (2 - 2) ** 2 + (3 - 1) ** 2
    assert abs(metrics.frechet_distance(torch.tensor(x), torch.tensor(y)) - expected) < 0.05


def test_psnr_of_a_known_error():
    x = torch.full((2, 3, 8, 8), 0.5)
    assert abs(metrics.psnr(x + 0.1, x) - 20.0) < 1e-4


def test_accuracy_per_family_matches_a_count_by_hand():
    acc = metrics.Accuracy(["a", "b", "c"])
    logits = torch.eye(4)[[0, 1, 2, 3, 0]]                           # predicts answers 0, 1, 2, 3, 0
    acc.add(logits[:3], torch.tensor([0, 1, 0]), torch.tensor([0, 0, 1]))
    acc.add(logits[3:], torch.tensor([3, 1]), torch.tensor([0, 1]))
    # family a: questions 0, 1, 3 right (3 of 3); family b: 2 and 4 wrong (0 of 2); family c: none
    assert acc.result() == {"a": 1.0, "b": 0.0, "overall": pytest.approx(0.6)}
    assert metrics.retention({"a": 0.5, "overall": 0.45}, {"a": 1.0, "overall": 0.9}) == {"a": 0.5, "overall": 0.5}


def test_the_paired_difference_resamples_whole_images_as_a_loop_does():
    """The interval, against a loop that draws the same images and counts their questions one by
    one; and the ends: the same answers differ by nothing, all right against all wrong by 1."""
    g = torch.Generator().manual_seed(4)
    images = torch.sort(torch.randint(0, 30, (200,), generator=g) * 7).values   # ids need not be 0..N-1
    a, b = torch.rand(200, generator=g) < 0.9, torch.rand(200, generator=g) < 0.8
    diff, low, high = metrics.paired_difference(a, b, images, draws=300, seed=5)
    ids = images.unique().tolist()
    pick = torch.randint(len(ids), (300, len(ids)), generator=torch.Generator().manual_seed(5))
    shares = []
    for draw in pick.tolist():
        questions = [q for i in draw for q in range(200) if images[q] == ids[i]]
        shares.append(sum(int(a[q]) - int(b[q]) for q in questions) / len(questions))
    assert diff == pytest.approx((a.float() - b.float()).mean().item())
    assert (low, high) == pytest.approx(tuple(np.quantile(shares, [0.025, 0.975])))
    assert low < diff < high
    assert metrics.paired_difference(a, a, images) == (0.0, 0.0, 0.0)
    assert metrics.paired_difference(a | True, a & False, images) == (1.0, 1.0, 1.0)


def test_the_headline_is_the_lowest_held_out_retention_per_key():
    by_judge = {"film": {"a": 0.9, "overall": 0.95}, "relnet": {"a": 0.97, "overall": 0.93},
                "attention": {"a": 0.5, "overall": 0.5}}                # not held out: never counted
    assert metrics.lowest(by_judge, ["film", "relnet"]) == {"a": 0.9, "overall": 0.93}


def test_misread_counts_each_kind_of_mistake_once():
    def obj(shape, color, size, x, y):
        return {"shape": shape, "color": color, "size": size, "x": x, "y": y}
    true = [{"objects": [obj("circle", "red", "large", 10, 10), obj("square", "blue", "small", 40, 40),
                         obj("triangle", "green", "large", 20, 50)]}, {"objects": []}]
    found = [{"objects": [obj("circle", "red", "large", 13, 14),       # 5 px off: right
                          obj("square", "blue", "small", 44, 43),      # 5 px off the square: the farther of two, extra
                          obj("circle", "blue", "small", 41, 40),      # the square's match, with the wrong shape
                          obj("triangle", "green", "small", 26.5, 50)]},  # 6.5 px off the triangle: missed, and extra
             {"objects": [obj("square", "gray", "small", 30, 30)]}]    # nothing there: extra
    assert metrics.misread(found, true) == {"objects": 3, "missed": 1, "extra": 3, "shape": 1, "color": 0, "size": 0,
                                            "offset": pytest.approx(5 + 1)}
    assert metrics.misread(true, true) == {"objects": 3, "missed": 0, "extra": 0, "shape": 0, "color": 0, "size": 0,
                                           "offset": 0}


class Oracle(torch.nn.Module):
    """Knows every answer, in the order measure() asks (images in order, each image's questions in
    order). Answers right about an image with any detail in it, and answer 0 about a flat one."""

    def __init__(self, answers, num_answers):
        super().__init__()
        self.answers, self.num_answers, self.asked = answers, num_answers, 0

    def forward(self, x, qi, tokens):
        right = self.answers[self.asked:self.asked + len(qi)]
        self.asked += len(qi)
        flat = x[qi].flatten(1).std(1) == 0
        return torch.nn.functional.one_hot(torch.where(flat, 0, right), self.num_answers).float()


def test_measure_counts_file_bits_and_accuracy_exactly():
    test = data.load("easyvqa", "test")
    gray = (lambda x, idx=None: [b"12345"] * len(x)), (lambda blobs: torch.full((len(blobs), 3, 64, 64), 0.5))
    row = protocol.measure(gray, {"oracle": Oracle(test.q_answer, len(test.answer_names))}, test, limit=20, batch_size=7)
    assert row.bits == 40.0                                       # 5-byte files
    x = test.images(torch.arange(20))
    assert abs(row.psnr - metrics.psnr(torch.full_like(x, 0.5), x)) < 1e-4
    _, _, answers = test.questions_of(torch.arange(20))
    acc = row.acc["oracle"]["overall"]
    assert abs(acc - (answers == 0).float().mean().item()) < 1e-6 and 0 < acc < 1
    oracle = Oracle(test.q_answer, len(test.answer_names))
    assert protocol.measure(protocol.originals(), {"oracle": oracle}, test, limit=20, batch_size=7).acc["oracle"]["overall"] == 1.0
    assert oracle.asked == len(answers)


def test_misread_reads_the_attributes_and_the_place_it_is_told():
    """CLEVR's detector: material too, and centres at (u, v) in pixels, not the ground's (x, y)."""
    true = [{"objects": [{"shape": "cube", "color": "red", "material": "metal", "size": "large",
                          "u": 30, "v": 40, "x": 1.5, "y": -2.0}]}]
    found = [{"objects": [{**true[0]["objects"][0], "material": "rubber", "u": 33, "v": 44, "x": 9.0}]}]
    counts = metrics.misread(found, true, attrs=("shape", "color", "material", "size"), place=("u", "v"))
    assert counts == {"objects": 1, "missed": 0, "extra": 0, "shape": 0, "color": 0, "material": 1,
                      "size": 0, "offset": pytest.approx(5)}


def test_the_edge_term_sees_edges_not_brightness():
    x = torch.zeros(1, 3, 16, 16)
    x[..., 4:12, 4:12] = 1.0
    assert metrics.edge_loss(x + 0.1, x) == 0                      # a flat offset has no edges
    assert metrics.edge_loss(torch.roll(x, 1, 3), x) > 0           # a moved edge has
