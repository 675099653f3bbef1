"""The benchmark's protocol: every method through real files on a test split, one typed Row each.

    row = measure(codec.method(), judges, test)    # every test image through a real .bin file
    row.bits, row.psnr, row.ssim, row.fd, row.acc["film"]["overall"], row.acc["film"]["count"], ...
    rows, families = benchmark("scenes", codecs)   # our codecs, the baselines, ceiling and floor
    rows = photo_benchmark(codecs)                 # the held-out photos: no questions

A method is a pair (encode, decode): encode(x (B, 3, 64, 64), idx) -> a list of B files (bytes);
decode(files) -> x_hat. Bits are counted from the files themselves, header included, never
estimated.
The judges (vqa/judges.py) are VQA models of families the codecs never trained against; a judge of
the loss model's family with another seed shares its blind spots, and is shown for comparison only.
The tables and figures made of these rows are report.py's.
"""
import time
from collections import Counter
from dataclasses import dataclass, field

import torch

from .. import data as datasets
from .. import metrics, vqa
from ..vqa import namer
from . import baselines

NAN = float("nan")
# the judge that reads the scene graph, the attributes it reads, and where its centres are (px)
DETECTORS = {"scenes": ("symbolic", ("shape", "color", "size"), ("x", "y")),
             "clevr": ("symbolic3d", ("shape", "color", "material", "size"), ("u", "v"))}
SEARCH = 400          # photos: also each codec with the bits 400 steps of search find


@dataclass
class Row:
    """One method on one test split. acc: {judge: {family or "overall": accuracy}}; retention the
    same divided by the originals'; held_out: per key, the lowest among the held-out judges'."""
    bits: float = 0.0                   # mean bits per file, header included
    bits_each: list = field(default_factory=list)
    psnr: float = 0.0
    ssim: float = 0.0
    fd: float = NAN                     # Fréchet distance of a judge CNN's features, to originals
    acc: dict = field(default_factory=dict)
    encode_per_s: float = NAN
    decode_per_s: float = NAN
    retention: dict = field(default_factory=dict)
    held_out: dict = field(default_factory=dict)
    right: dict = field(default_factory=dict)   # {judge: (Q,) bool}: each question right or not
    asked: torch.Tensor = None          # (Q,): the image each of those questions is about
    all_right: float = NAN              # the share of questions every held-out judge answers right
    misread: Counter = None             # scenes: what the symbolic judge's detector reads wrong
    shapes: Counter = None              # easy-VQA: (true shape, shape the namer names) -> images
    misnamed: list = None               # easy-VQA: the images whose shape the namer names wrong
    bits_by_objects: dict = None        # scenes: mean bits per file by the number of objects


def originals():
    """The images themselves, sent as nothing: the ceiling of every table."""
    return (lambda x, idx=None: [b""] * len(x)), (lambda blobs: None)


@torch.no_grad()
def measure(method, judges, test, limit=None, batch_size=250, features=None, each=None, row=None):
    """One Row for the decodes of test's first `limit` images: each judge's accuracy per family
    (judges: {name: VQA model}), file bits, PSNR, SSIM, images/s each way, and FD if `features` (a
    VQA model with a CNN) is given. each(idx, x_hat), if given, sees every batch of decodes; `row`,
    if given, is the Row filled in."""
    encode, decode = method
    n = min(limit or len(test), len(test))
    accuracy = {name: metrics.Accuracy(test.families) for name in judges}
    row = Row() if row is None else row
    seconds, feats, feats_original, asked = {"encode": 0.0, "decode": 0.0}, [], [], []
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
        row.bits += sum(8 * len(b) for b in blobs) / n
        row.bits_each += [8 * len(b) for b in blobs]
        row.psnr += metrics.psnr(x_hat, x) * len(idx) / n
        row.ssim += metrics.ssim(x_hat, x) * len(idx) / n
        qi, tokens, answers = test.questions_of(idx)
        asked.append(idx[qi])
        for name, judge in judges.items():
            logits = judge.eval()(x_hat, qi, tokens)
            accuracy[name].add(logits, answers, test.family_of(idx))
            row.right.setdefault(name, []).append(logits.argmax(1).cpu() == answers)
        if features is not None:
            feats.append(metrics.realism_features(features.eval(), x_hat))
            feats_original.append(metrics.realism_features(features, x))
    row.fd = metrics.frechet_distance(torch.cat(feats), torch.cat(feats_original)) if feats else NAN
    row.acc = {name: a.result() for name, a in accuracy.items()}
    row.right = {name: torch.cat(hits) for name, hits in row.right.items()}
    row.asked = torch.cat(asked)
    row.encode_per_s, row.decode_per_s = (n / max(s, 1e-9) for s in seconds.values())
    return row


def score_codec(codec, judges, test, limit=None, features=None, original=None):
    """measure() for a FileCodec, with each judge's retention: row.retention[name][family].
    original: the judges' accuracy on the same originals (a Row's acc), if measured already."""
    row = measure(codec.method(), judges, test, limit, features=features)
    original = original or measure(originals(), judges, test, limit).acc
    row.retention = {name: metrics.retention(row.acc[name], original[name]) for name in judges}
    return row


def ceiling(row):
    """The originals' row: perfect quality by definition, no speed to speak of."""
    row.psnr, row.ssim, row.encode_per_s, row.decode_per_s = float("inf"), 1.0, NAN, NAN
    return row


def run_all(name, methods, measure_one):
    """[("original (ceiling)", row), (label, row) for each method], printing each as it ends."""
    rows = [("original (ceiling)", ceiling(measure_one(originals())))]
    for label, make in methods:
        rows.append((label, measure_one(make())))
        print(f"  {name}: {label}: {rows[-1][1].bits:.0f} bits", flush=True)
    return rows


def codec_methods(codecs, search=0):
    """[(label, make)] for our codecs: {name: FileCodec}."""
    suffix = f", search {search}" if search else ""
    return [(f"ours, {name}{suffix}", lambda c=c: c.method(search)) for name, c in codecs.items()
            if not search or c.model.can_search]


def benchmark(name, codecs, limit=None, split="test"):
    """Every row for one VQA dataset -> (rows: [(method name, Row)], families).
    codecs: {name: FileCodec}; split "val" to choose between codecs, "test" to report."""
    panel, vocab = vqa.load_panel(name)
    test = datasets.load(name, split, vocab=vocab)
    methods = codec_methods(codecs) + baselines.methods(name, test)
    # FD from a judge's CNN, which knows these images: the same-family one's if shipped
    features = panel.get("attention", panel[vqa.PANEL[name][-1]])
    truth = namer.labels_of(test)[0] if name == "easyvqa" else test.scenes   # once, for all

    def measure_one(method):          # and what the strictest reader reads wrong (readers())
        row = Row()
        return measure(method, panel, test, limit, features=features, row=row,
                       each=readers(name, panel, truth, row))
    rows = run_all(name, methods, measure_one)
    rows.append(("question only (floor)", floor(name, vocab, panel, test, limit)))
    original = rows[0][1].acc
    for _, row in rows:
        row.retention = {j: metrics.retention(row.acc[j], original[j]) for j in panel}
        row.held_out = metrics.lowest(row.retention, vqa.PANEL[name])
        every = torch.stack([row.right[j] for j in vqa.PANEL[name]]).all(0)   # (Q,)
        row.all_right = every.float().mean().item()
    if name in DETECTORS:                            # what a scene costs, by how much is in it
        objects = torch.tensor([len(s["objects"]) for s in test.scenes])[:len(rows[0][1].bits_each)]
        for _, row in rows:
            bits = torch.tensor(row.bits_each, dtype=torch.float64)
            row.bits_by_objects = {int(k): bits[objects == k].mean().item()
                                   for k in objects.unique()}
    return rows, test.families


def readers(name, panel, truth, row):
    """each(idx, x_hat) for measure(): on scenes and CLEVR, what the detector judge misreads in
    the true scene graphs `truth` (row.misread, a Counter of metrics.misread); on easy-VQA, the
    shapes the namer names against the true ones, `truth` (N,) with -1 where no question tells
    (row.shapes, a Counter of (true, named) pairs; row.misnamed, the images named wrong)."""
    if name in DETECTORS:
        family, attrs, place = DETECTORS[name]
        row.misread = Counter(dict.fromkeys(("objects", "missed", "extra", *attrs, "offset"), 0))

        def detect(idx, x_hat):
            graphs = [truth[i] for i in idx.tolist()]
            found = panel[family].detect(x_hat)
            row.misread.update(metrics.misread(found, graphs, attrs=attrs, place=place))
        return detect
    row.shapes, row.misnamed = Counter(), []

    def name_shapes(idx, x_hat):
        with torch.no_grad():
            named = panel["namer"].heads(x_hat)[0].argmax(1)
        for i, n in zip(idx.tolist(), named.tolist()):
            if truth[i] >= 0:
                row.shapes[(int(truth[i]), n)] += 1
                row.misnamed += [i] if truth[i] != n else []
    return name_shapes


def floor(name, vocab, panel, test, limit):
    """A question-only model, trained here on the training split: what the questions alone give."""
    blind = vqa.Blind(len(test.vocab), len(test.answer_names))
    vqa.train(blind, datasets.load(name, "train", vocab=vocab), 1, desc="question only")
    row = measure(originals(), {"question only": blind}, test, limit)
    row.acc = {judge: row.acc["question only"] for judge in panel}   # the same for every column
    row.right = {judge: row.right["question only"] for judge in panel}
    row.psnr = row.ssim = NAN
    row.encode_per_s = row.decode_per_s = NAN
    return row


def photo_benchmark(codecs, limit=None, split="test"):
    """Every row for the held-out photos (scikit-image's): 70 fixed 64×64 squares of 14 photos.
    FD uses the CNN of the scenes attention judge: it was never trained on photos, so it is a
    feature network that no codec saw, not one that knows photos as Inception would."""
    test = datasets.load("photos", split)
    features = vqa.load_panel("scenes")[0]["attention"]
    methods = codec_methods(codecs) + codec_methods(codecs, SEARCH)
    methods += baselines.methods("photos", test)
    return run_all("photos", methods, lambda m: measure(m, {}, test, limit, features=features))
