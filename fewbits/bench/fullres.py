"""Photos at their own resolution: rate against distortion, with bits counted from whole files.

    methods = classical()                # [(method, setting, encode, decode)]: JPEG … JPEG 2000
    points = rd_points(photos, methods)  # an RDPoint per method and setting, means over the photos
    print(rd_table(points)); rd_plot(points, "results/rate_distortion.png")

A method is encode(x (1, 3, H, W) in [0, 1]) -> the file's bytes, and decode(bytes) -> x_hat of
the same shape. Each photo is coded whole, at its own size, and its bpp is the file's length × 8
over its pixels, header included. A point's figures are means over the photos (bpp, PSNR,
MS-SSIM), as CompressAI and the papers report Kodak; its speeds are seconds per megapixel over
all the photos.
"""
import io
import math
import time
from dataclasses import dataclass

import torch
from PIL import Image, ImageDraw

from .. import files, metrics
from .baselines import has_avif

# each classical codec's settings, from its smallest files to about 1 bpp on the held-out photos
QUALITIES = {"JPEG": (1, 3, 5, 10, 20, 40), "WebP": (0, 5, 15, 30, 50), "AVIF": (0, 5, 15, 30, 50)}
JPEG2000_BPP = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5)       # JPEG 2000 is asked for a rate, not a quality


@dataclass
class RDPoint:
    method: str              # "JPEG", "ours, photos-full-0.1", ...
    setting: str             # "q5", "0.1 bpp", ...
    bpp: float               # mean over the photos of the file's bits per pixel
    psnr: float              # dB, mean over the photos
    ms_ssim: float           # mean over the photos
    encode_s_per_mp: float
    decode_s_per_mp: float


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


def rd_points(photos, methods, progress=None):
    """Every method on every photo (a FullPhotos): one RDPoint per (method, setting)."""
    points = []
    megapixels = sum(p.shape[1] * p.shape[2] for p in photos.photos) / 1e6
    for method, setting, encode, decode in methods:
        bpp, psnr, ms_ssim, t_enc, t_dec = [], [], [], 0.0, 0.0
        for i in range(len(photos)):
            x = photos.image(i)
            start = time.perf_counter()
            blob = encode(x)
            t_enc += time.perf_counter() - start
            start = time.perf_counter()
            x_hat = decode(blob)
            t_dec += time.perf_counter() - start
            if x_hat.shape != x.shape:
                raise ValueError(f"{method} {setting} decoded {photos.names[i]} at "
                                 f"{tuple(x_hat.shape[2:])}, not {tuple(x.shape[2:])}")
            x_hat = (x_hat * 255).round() / 255          # what a PNG of the decode would hold
            bpp.append(8 * len(blob) / (x.shape[2] * x.shape[3]))
            psnr.append(metrics.psnr(x_hat, x))
            ms_ssim.append(metrics.ms_ssim(x_hat, x))
        mean = lambda v: sum(v) / len(v)
        points.append(RDPoint(method, setting, mean(bpp), mean(psnr), mean(ms_ssim),
                              t_enc / megapixels, t_dec / megapixels))
        if progress:
            progress(points[-1])
    return points


def ms_ssim_db(v):
    """MS-SSIM as -10 log10(1 - MS-SSIM), the papers' scale, which spreads the values near 1."""
    return -10 * math.log10(max(1 - v, 1e-10))


def rd_table(points):
    columns = ["method", "setting", "bpp", "PSNR dB", "MS-SSIM", "MS-SSIM dB",
               "encode s/MP", "decode s/MP"]
    lines = ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    for p in points:
        lines.append(f"| {p.method} | {p.setting} | {p.bpp:.4f} | {p.psnr:.2f} | {p.ms_ssim:.4f} | "
                     f"{ms_ssim_db(p.ms_ssim):.2f} | {p.encode_s_per_mp:.3f} | "
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


COLOURS = {"JPEG": (30, 90, 200), "WebP": (30, 150, 60), "AVIF": (150, 60, 170),
           "JPEG 2000": (230, 140, 20)}


def rd_plot(points, path, width=480, height=360):
    """PSNR and MS-SSIM (dB) against bpp (log), a panel each, a curve per method, with Pillow."""
    panels = [("PSNR dB", lambda p: p.psnr), ("MS-SSIM dB", lambda p: ms_ssim_db(p.ms_ssim))]
    img = Image.new("RGB", (width * len(panels), height), "white")
    draw = ImageDraw.Draw(img)
    methods = list(dict.fromkeys(p.method for p in points))
    colours = {m: COLOURS.get(m, (200, 30, 30)) for m in methods}    # ours: red
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
            draw.text((right - 90, bottom - 14 * (i + 1)), m, fill=colours[m])
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    files.write_atomic(path, buffer.getvalue())
