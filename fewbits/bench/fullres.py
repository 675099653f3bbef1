"""Photos at their own resolution: rate against distortion, with bits counted from whole files.

    methods = classical() + ours(codecs)  # [(method, setting, encode, decode)]: JPEG …, then ours
    points = rd_points(photos, methods)   # an RDPoint per method and setting, means over the photos
    print(rd_table(points)); rd_plot(points).save("results/rate_distortion.png")
    points, photos, methods, large = benchmark(codecs)    # all of it on the held-out photos
    encode_s, decode_s, megabytes = large_photo(codec)   # a 24-megapixel photo, in a fresh process

A method is encode(x (1, 3, H, W) in [0, 1]) -> the file's bytes, and decode(bytes) -> x_hat of
the same shape. Each photo is coded whole, at its own size, and its bpp is the file's length × 8
over its pixels, header included. A point's figures are means over the photos (bpp, PSNR,
MS-SSIM), as CompressAI and the papers report Kodak; its speeds are seconds per megapixel over
all the photos. FD is over 64×64 patches of every photo and its decode, at the photo's own scale,
in the features of the scenes attention judge's CNN, which never saw a photo (as protocol.py's).
"""
import io
import math
import multiprocessing
import resource
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from .. import data as datasets
from .. import files, metrics, vqa
from ..api import FileCodec
from .baselines import has_avif

# each classical codec's settings, from its smallest files to about 1 bpp on the held-out photos
QUALITIES = {"JPEG": (1, 3, 5, 10, 20, 40), "WebP": (0, 5, 15, 30, 50), "AVIF": (0, 5, 15, 30, 50)}
JPEG2000_BPP = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5)       # JPEG 2000 is asked for a rate, not a quality
QUALITIES_OURS = (1.0, 0.5, 0.25)                     # each photo codec's curve
CLASSICAL = ("JPEG 2000", "JPEG", "WebP", "AVIF")     # the codecs ours are compared with
PATCH, PATCHES = 64, 48                               # FD: up to 48 patches of 64×64 per photo
LARGE_MEGAPIXELS = 24                                 # the large photo: 6000×4000


@dataclass
class RDPoint:
    method: str              # "JPEG", "ours, photos-full-0.1", ...
    setting: str             # "q5", "0.1 bpp", ...
    bpp: float               # mean over the photos of the file's bits per pixel
    psnr: float              # dB, mean over the photos
    ms_ssim: float           # mean over the photos
    encode_s_per_mp: float
    decode_s_per_mp: float
    fd: float = float("nan")   # Fréchet distance of the decodes' patches to the originals'


def pillow_method(fmt, **options):
    """encode, decode for a format Pillow writes, with its save() options."""
    def encode(x):
        buffer = io.BytesIO()
        files.to_image(x[0]).save(buffer, format=fmt, **options)
        return buffer.getvalue()

    def decode(blob):
        return files.to_tensor(Image.open(io.BytesIO(blob)).convert("RGB"))[None]
    return encode, decode


def classical():
    """[(method, setting, encode, decode)]: JPEG, WebP, AVIF (if this Pillow has it), JPEG 2000."""
    out = []
    for name, fmt in (("JPEG", "JPEG"), ("WebP", "WEBP"), ("AVIF", "AVIF")):
        if name == "AVIF" and not has_avif():
            continue
        out += [(name, f"q{q}", *pillow_method(fmt, quality=q)) for q in QUALITIES[name]]
    for bpp in JPEG2000_BPP:                                # a compression ratio of 24 bits / bpp
        j2k = pillow_method("JPEG2000", quality_mode="rates", quality_layers=[24 / bpp])
        out.append(("JPEG 2000", f"{bpp} bpp", *j2k))
    return out


def ours(codecs):
    """[(method, setting, encode, decode)] for photo codecs {name: FileCodec}: each a curve of
    QUALITIES_OURS, whatever quality its zoo entry encodes at by default."""
    return [(f"ours, {name}", f"quality {quality:g}", *photo_method(codec, quality))
            for name, codec in codecs.items() for quality in QUALITIES_OURS]


def benchmark(codecs, limit=None, split="test", progress=None):
    """Our photo codecs {name: FileCodec} and the classical codecs on the held-out photos (split
    "val": the validation photos, to choose on) -> (points, photos, methods, large): large is
    {name: large_photo(codec)}."""
    photos = datasets.FullPhotos(datasets.full_photo_paths(split)[:limit])
    features = vqa.load_panel("scenes")[0]["attention"]
    methods = ours(codecs) + classical()
    points = rd_points(photos, methods, progress, features)
    large = {name: large_photo(codec) for name, codec in codecs.items()}
    return points, photos, methods, large


def large_photo(codec, megapixels=None):
    """One photo of `megapixels` at 3:2 through a real file each way, in a fresh process, so that
    its peak memory is this photo's alone -> (encode s, decode s, peak resident MB of that process,
    which includes Python, torch and the model)."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(code_large_photo, (codec.model, megapixels or LARGE_MEGAPIXELS))


def code_large_photo(model, megapixels):
    torch.manual_seed(0)
    H = round((megapixels * 1e6 / 1.5) ** 0.5)
    x = F.interpolate(torch.rand(1, 3, 40, 60), size=(H, round(1.5 * H)), mode="bicubic")
    x = x.clamp(0, 1)
    codec = FileCodec(model)
    start = time.perf_counter()
    blob = codec.compress(x)[0]
    del x                                            # what a command line would no longer hold
    middle = time.perf_counter()
    codec.decompress([blob])
    seconds = (middle - start, time.perf_counter() - middle)
    return (*seconds, peak_megabytes())


def peak_megabytes():
    """This process's peak resident memory in MB. On Linux, VmHWM, the peak of this program alone:
    getrusage's ru_maxrss survives the fork and exec that start a spawned worker, so it reports
    the parent's size at that moment whenever that is larger."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):                 # not Linux: ru_maxrss, in bytes on macOS
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def photo_method(codec, quality):
    def encode(x):
        codec.model.quality = quality
        return codec.compress(x)[0]

    def decode(blob):
        return codec.decode([codec.parse(blob)[0]])[0][None]
    return encode, decode


def patches(x):
    """Up to PATCHES 64×64 patches of x (1, 3, H, W), spread evenly over its grid of them
    -> (N, 3, 64, 64)."""
    grid = x[0].unfold(1, PATCH, PATCH).unfold(2, PATCH, PATCH)           # (3, h, w, 64, 64)
    grid = grid.permute(1, 2, 0, 3, 4).reshape(-1, 3, PATCH, PATCH)
    if not len(grid):
        return grid
    return grid[torch.linspace(0, len(grid) - 1, min(PATCHES, len(grid))).long()]


def rd_points(photos, methods, progress=None, features=None):
    """Every method on every photo (a FullPhotos): one RDPoint per (method, setting). With a judge
    as `features`, each point's FD too."""
    points, real = [], None
    megapixels = sum(p.shape[1] * p.shape[2] for p in photos.photos) / 1e6
    if features is not None:
        real = torch.cat([metrics.realism_features(features, patches(photos.image(i)))
                          for i in range(len(photos))])
    for method, setting, encode, decode in methods:
        sums, fake = dict.fromkeys(("bpp", "psnr", "ms_ssim", "enc", "dec"), 0.0), []
        for i in range(len(photos)):
            x = photos.image(i)
            x_hat, blob, seconds = timed(encode, decode, x)
            if x_hat.shape != x.shape:
                raise ValueError(f"{method} {setting} decoded {photos.names[i]} at "
                                 f"{tuple(x_hat.shape[2:])}, not {tuple(x.shape[2:])}")
            x_hat = (x_hat * 255).round() / 255          # what a PNG of the decode would hold
            bpp = 8 * len(blob) / (x.shape[2] * x.shape[3])
            measured = (bpp, metrics.psnr(x_hat, x), metrics.ms_ssim(x_hat, x), *seconds)
            for key, v in zip(sums, measured):
                sums[key] += v
            if features is not None:
                fake.append(metrics.realism_features(features, patches(x_hat)))
        n = len(photos)
        fd = metrics.frechet_distance(real, torch.cat(fake)) if fake else float("nan")
        mean = {key: v / n for key, v in sums.items()}
        points.append(RDPoint(method, setting, mean["bpp"], mean["psnr"], mean["ms_ssim"],
                              sums["enc"] / megapixels, sums["dec"] / megapixels, fd))
        if progress:
            progress(points[-1])
    return points


def timed(encode, decode, x):
    """-> (x_hat, the file, (encode seconds, decode seconds))."""
    start = time.perf_counter()
    blob = encode(x)
    middle = time.perf_counter()
    x_hat = decode(blob)
    return x_hat, blob, (middle - start, time.perf_counter() - middle)


def ms_ssim_db(v):
    """MS-SSIM as -10 log10(1 - MS-SSIM), the papers' scale, which spreads the values near 1."""
    return -10 * math.log10(max(1 - v, 1e-10))


def rd_table(points):
    columns = ["method", "setting", "bpp", "PSNR dB", "MS-SSIM", "MS-SSIM dB", "FD",
               "encode s/MP", "decode s/MP"]
    lines = ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    for p in points:
        lines.append(f"| {p.method} | {p.setting} | {p.bpp:.4f} | {p.psnr:.2f} | {p.ms_ssim:.4f} | "
                     f"{ms_ssim_db(p.ms_ssim):.2f} | {p.fd:.2f} | {p.encode_s_per_mp:.3f} | "
                     f"{p.decode_s_per_mp:.3f} |")
    return "\n".join(lines)


def at_bpp(points, method, bpp, measure):
    """`measure` of `method`'s curve at `bpp`, interpolated linearly in log bpp between its two
    nearest settings; None outside the curve (no extrapolation)."""
    curve = sorted((p.bpp, measure(p)) for p in points if p.method == method)
    for (b0, m0), (b1, m1) in zip(curve, curve[1:]):
        if b0 <= bpp <= b1:
            t = (math.log(bpp) - math.log(b0)) / (math.log(b1) - math.log(b0)) if b1 > b0 else 0.0
            return m0 + t * (m1 - m0)
    return None


def bpp_at(points, method, value, measure):
    """The bpp at which `method`'s curve reaches `value` of `measure`, interpolated in log bpp
    between the two settings around it (the curve taken to rise with bpp); None off the curve."""
    curve = sorted((measure(p), p.bpp) for p in points if p.method == method)
    for (m0, b0), (m1, b1) in zip(curve, curve[1:]):
        if m0 <= value <= m1:
            t = (value - m0) / (m1 - m0) if m1 > m0 else 0.0
            return math.exp(math.log(b0) + t * (math.log(b1) - math.log(b0)))
    return None


def comparison(points):
    """Each of our points against the classical codecs at its own bpp -> the lines of a markdown
    table: MS-SSIM (dB) of each, interpolated on its curve ("—" off it), PSNR of ours and AVIF,
    and FD of ours and of the best classical setting with at most twice our bpp; then, per codec
    of ours, the bits it needs for the MS-SSIM of WebP's smallest files."""
    cell = lambda v, fmt=".2f": "—" if v is None else format(v, fmt)
    ssim = lambda p: ms_ssim_db(p.ms_ssim)
    rows = []
    for p in (p for p in points if p.method.startswith("ours")):
        fds = [q.fd for q in points if q.method in CLASSICAL and q.bpp <= 2 * p.bpp]
        rows.append([p.method[len("ours, "):], p.setting, f"{p.bpp:.4f}", f"{ssim(p):.2f}",
                     *(cell(at_bpp(points, m, p.bpp, ssim)) for m in CLASSICAL), f"{p.psnr:.2f}",
                     cell(at_bpp(points, "AVIF", p.bpp, lambda q: q.psnr)), f"{p.fd:.2f}",
                     cell(min(fds, default=None))])
    header = ["ours", "setting", "bpp", "MS-SSIM dB", *CLASSICAL, "PSNR dB", "AVIF PSNR dB", "FD",
              "best classical FD at ≤ 2× bpp"]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|",
             *("| " + " | ".join(row) + " |" for row in rows), ""]
    webp = min((p for p in points if p.method == "WebP"), key=lambda p: p.bpp, default=None)
    if webp is None:
        return lines
    for method in dict.fromkeys(p.method for p in points if p.method.startswith("ours")):
        need = bpp_at(points, method, ssim(webp), ssim)
        lines.append(f"WebP's smallest files ({webp.setting}, {webp.bpp:.4f} bpp, MS-SSIM "
                     f"{ssim(webp):.2f} dB): {method[len('ours, '):]} reaches that MS-SSIM at "
                     + ("no setting it has." if need is None else
                        f"{need:.4f} bpp, {100 * need / webp.bpp:.0f}% of WebP's bits."))
    return lines


COLOURS = {"JPEG": (30, 90, 200), "WebP": (30, 150, 60), "AVIF": (150, 60, 170),
           "JPEG 2000": (230, 140, 20)}


def rd_plot(points, width=480, height=360):
    """PSNR, MS-SSIM (dB) and FD (if measured) against bpp (log), a panel each, a curve per
    method, drawn with Pillow -> the image."""
    panels = [("PSNR dB", lambda p: p.psnr), ("MS-SSIM dB", lambda p: ms_ssim_db(p.ms_ssim))]
    if not any(math.isnan(p.fd) for p in points):
        panels.append(("FD (lower is better)", lambda p: p.fd))
    img = Image.new("RGB", (width * len(panels), height), "white")
    draw = ImageDraw.Draw(img)
    methods = list(dict.fromkeys(p.method for p in points))
    ours = [m for m in methods if m not in COLOURS]                  # ours: reds
    reds = ((200, 30, 30), (240, 110, 150))
    colours = {**COLOURS, **{m: reds[i % 2] for i, m in enumerate(ours)}}
    for k, (name, measure) in enumerate(panels):
        values = [measure(p) for p in points]
        lo, hi = math.floor(min(values)), math.ceil(max(values))
        left, right, top, bottom = k * width + 50, (k + 1) * width - 15, 30, height - 40
        sx = lambda b: left + (math.log10(b) + 2) / 2 * (right - left)          # 0.01 … 1 bpp
        sy = lambda v: bottom - (v - lo) / max(hi - lo, 1) * (bottom - top)
        draw.rectangle([left, top, right, bottom], outline="black")
        draw.text((left, 8), f"{name} against bpp (log), photos at their own size", fill="black")
        for b in (0.01, 0.03, 0.1, 0.3, 1.0):
            draw.line([sx(b), bottom, sx(b), bottom + 4], fill="black")
            draw.text((sx(b) - 10, bottom + 8), f"{b:g}", fill="black")
        for v in range(lo, hi + 1, max(1, (hi - lo) // 6)):
            draw.line([left - 4, sy(v), left, sy(v)], fill="black")
            draw.text((k * width + 15, sy(v) - 6), str(v), fill="black")
        for i, m in enumerate(methods):
            curve = sorted((p.bpp, measure(p)) for p in points
                           if p.method == m and 0.01 <= p.bpp <= 1)
            if len(curve) > 1:
                draw.line([(sx(b), sy(v)) for b, v in curve], fill=colours[m], width=2)
            for b, v in curve:
                draw.ellipse([sx(b) - 3, sy(v) - 3, sx(b) + 3, sy(v) + 3], fill=colours[m])
            draw.text((right - 150, bottom - 14 * (i + 1)), m, fill=colours[m])
    return img
