"""The benchmark's report: the rows of protocol.py as the markdown tables of benchmark.md (the
pictures are figures.py's).

    text = markdown(results, argv)  # {dataset: (rows, families)} -> the text of benchmark.md
    text = merged(text, old)        # with the old report's sections this run did not measure
"""
import math
import platform

import numpy as np
import PIL
import torch

from .. import metrics, vqa
from ..vqa import namer
from . import fullres


def number(v, fmt):
    return "—" if math.isnan(v) else "∞" if math.isinf(v) else format(v, fmt)


def speed(v):                                 # images/s: whole numbers, or two digits under 10
    return number(v, ".0f" if math.isnan(v) or v >= 10 else ".2g")


def table(header, lines):
    """A markdown table: a header row, its rule, and the rows (each a list of cells)."""
    row = lambda cells: "| " + " | ".join(cells) + " |"
    return [row(header), "|---" * len(header) + "|"] + [row(cells) for cells in lines]


def quality(r):
    return [number(r.psnr, ".2f"), number(r.ssim, ".3f"), number(r.fd, ".2f"),
            speed(r.encode_per_s), speed(r.decode_per_s)]


def photo_tables(rows):
    header = ["method", "bits / image", "PSNR dB", "SSIM", "FD", "encode img/s", "decode img/s"]
    return ["### photos", "", "The held-out photos: 70 squares of 64×64 from scikit-image's 14 "
            "photos (each one's centre square and four corner squares of half its short side). No "
            "questions: FD uses the scenes attention judge's CNN, which never saw a photo.", "",
            *table(header, [[label, f"{r.bits:.0f}", *quality(r)] for label, r in rows]), ""]


def vqa_tables(name, rows, families):
    held_out, pct = vqa.PANEL[name], lambda v: f"{100 * v:.1f}%"
    header = ["method", "bits / image", "**held out**", *held_out, "all right", "*attention*",
              "PSNR dB", "SSIM", "FD", "encode img/s", "decode img/s"]
    overall = lambda r, j: pct(r.retention[j]["overall"]) if j in r.retention else "—"
    lines = [f"### {name}", "", *table(header, [
        [label, f"{r.bits:.0f}", f"**{pct(r.held_out['overall'])}**",
         *(overall(r, j) for j in held_out), pct(r.all_right), f"*{overall(r, 'attention')}*",
         *quality(r)]
        for label, r in rows])]
    lines += ["", f"Held-out retention per question family ({name}; the lowest among "
              f"{', '.join(held_out)}), and each judge's accuracy on the originals:", ""]
    by_family = [[label, *(pct(r.held_out[f]) for f in families)] for label, r in rows]
    by_family += [[f"accuracy of {j} on originals", *(pct(acc[f]) for f in families)]
                  for j, acc in rows[0][1].acc.items()]
    lines += table(["method", *families], by_family)
    lines += scenes_tables(name, rows) + shape_table(name, rows)
    return lines + ablation_table(name, rows) + [""]


def ablation_table(name, rows):
    """Each codec against its ablations ("X" and "X-no-adv"): X's share of questions answered right
    minus the ablation's, on the same questions, per held-out judge, with a 95% interval from
    resampling the images (metrics.paired_difference)."""
    ours = {label.removeprefix("ours, "): r for label, r in rows if label.startswith("ours, ")}
    pairs = [(a.split("-no-")[0], a) for a in ours if "-no-" in a and a.split("-no-")[0] in ours]
    if not pairs:
        return []
    signed = lambda v: f"{100 * v:+.2f}".replace("-", "−")
    cell = lambda d, lo, hi: f"{signed(d)} ({signed(lo)} to {signed(hi)})"
    lines = ["", f"What each ablated term buys ({name}): the codec's share of questions answered "
             "right minus its ablation's, on the same questions, in points, per held-out judge, "
             "with a 95% interval from resampling the images. An interval that holds 0 is no "
             "difference this split can show:", ""]
    paired = lambda x, a, j: metrics.paired_difference(ours[x].right[j], ours[a].right[j],
                                                       ours[x].asked)
    return lines + table(["codec − ablation", *vqa.PANEL[name]],
                         [[f"{x} − {a}", *(cell(*paired(x, a, j)) for j in vqa.PANEL[name])]
                          for x, a in pairs])


def scenes_tables(name, rows):
    """On scenes and CLEVR: bits by the number of objects, and what the detector reads wrong."""
    if rows[0][1].bits_by_objects is None:
        return []
    counts = sorted(rows[0][1].bits_by_objects)
    coded = [(label, r) for label, r in rows if not label.startswith(("original", "question"))]
    lines = ["", f"Mean bits per file by the number of objects in the scene ({name}):", ""]
    lines += table(["method", *(f"{k} object{'s' * (k > 1)}" for k in counts)],
                   [[label, *(f"{r.bits_by_objects[k]:.0f}" for k in counts)]
                    for label, r in coded])
    lines += ["", f"Objects the symbolic judge's detector reads wrong ({name}), per 100 objects of "
              "the scenes (metrics.misread). One object missed, added or misread can leave every "
              "question that names it, or that needs a unique reference, without an answer:", ""]
    kinds = [k for k in rows[0][1].misread if k not in ("objects", "offset")]   # missed, extra, …
    return lines + table(["method", *kinds, "mean offset, px"], [
        [label, *(f"{100 * m[k] / m['objects']:.1f}" for k in kinds),
         f"{m['offset'] / max(1, m['objects'] - m['missed']):.2f}"]
        for label, m in ((label, r.misread) for label, r in rows if r.misread is not None)])


def shape_table(name, rows):
    """On easy-VQA: the shapes the namer names in each method's decodes, against the true ones."""
    if rows[0][1].shapes is None:
        return []
    pairs = [(t, n) for t in range(3) for n in range(3) if t != n]
    lines = ["", f"Shapes the namer names in the decodes ({name}): the share named right, and how "
             "many images of each true shape it names as another (true → named), of the images "
             "whose questions tell their shape:", ""]
    shapes = namer.SHAPES
    header = ["method", "named right", *(f"{shapes[t]} → {shapes[n]}" for t, n in pairs)]
    return lines + table(header, [
        [label, f"{100 * sum(r.shapes[(t, t)] for t in range(3)) / sum(r.shapes.values()):.1f}%",
         *(str(r.shapes[pair]) for pair in pairs)]
        for label, r in rows if r.shapes is not None and sum(r.shapes.values())])


def markdown(results, argv):
    lines = [f"Machine: {platform.machine()}, {platform.system()}, {torch.get_num_threads()} "
             f"threads; Python {platform.python_version()}, torch {torch.__version__}, "
             f"Pillow {PIL.__version__}, numpy {np.__version__}.",
             f"Command: `{' '.join(['fewbits evaluate'] + argv)}`.",
             "Retention = a judge's accuracy on the decodes ÷ its accuracy on the originals. "
             "**Held out** is the lowest retention among the judges of families no codec trains "
             "against (vqa/judges.py); *all right* is the share of questions that every one of "
             "them answers right; *attention* is the loss model's family with another seed, shown "
             "for comparison only.", ""]
    for name, (rows, families) in results.items():
        if name == "photos-full":
            lines += fullres_tables(rows, families)           # families: here the large photos
            continue
        lines += photo_tables(rows) if name == "photos" else vqa_tables(name, rows, families)
    return "\n".join(lines)


def merged(new, old):
    """The text of benchmark.md after a run that measured some of the datasets: the new report's
    header and sections ("### " headings), with each of the old report's sections that it did not
    measure kept as it was, in the old order, and named in the header. Only whole test-split
    reports are merged (no --limit or --split val in either command); else the new one stands."""
    def parts(text):
        head, *sections = text.split("\n### ")
        return head, {s.split("\n", 1)[0]: "### " + s for s in sections}

    def whole(text):
        command = next((line for line in text.splitlines() if line.startswith("Command: ")), "")
        command = command.replace("=", " ")                                # --split=val too
        return command and "--limit" not in command and "--split val" not in command
    if not (old and whole(old) and whole(new)):
        return new
    (head, sections), (_, before) = parts(new), parts(old)
    kept = [name for name in before if name not in sections]
    if not kept:
        return new
    note = f"Kept from the report this one replaced, not measured again: {', '.join(kept)}."
    order = [*before, *(name for name in sections if name not in before)]
    body = [(sections.get(name) or before[name]).rstrip("\n") + "\n" for name in order]
    return "\n".join([head.rstrip("\n"), note, "", *body])


def fullres_tables(points, large):
    return ["### photos at their own size", "", "The held-out photos, each coded whole at its own "
            "resolution; bpp from the files, header included; means over the photos. FD: 64×64 "
            "patches of the decodes against the originals', in the features of the scenes "
            "attention judge's CNN. Plot: rate_distortion.png; crops near our middle rate: "
            "photo_crops.png, and near our lowest: photo_crops_low.png.", "",
            fullres.rd_table(points), "",
            "Each point of ours against the classical codecs at its bpp (MS-SSIM dB and PSNR "
            "interpolated on their curves in log bpp; — where a curve doesn't reach).", "",
            *fullres.comparison(points), "",
            f"One photo of {fullres.LARGE_MEGAPIXELS:g} megapixels (3:2, smooth), coded in a fresh "
            "process: its time each way, and the process's peak memory (Python, torch and the "
            "model included).", "",
            *table(["codec", "encode s", "decode s", "peak memory MB"],
                   [[name, f"{enc:.1f}", f"{dec:.1f}", f"{mb:.0f}"]
                    for name, (enc, dec, mb) in large.items()]), ""]
