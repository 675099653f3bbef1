"""The shipped codecs: through real files, judges of families the codec never trained against still answer.

Each codec compresses the first 500 test images of its dataset (300 of CLEVR) into .bin files (header included),
the files are decoded again, and every held-out judge of judges.PANEL answers every question about
them. Retention = a judge's accuracy on the decodes ÷ on the originals; the figure checked is the
lowest among the held-out judges (metrics.lowest).

FLOORS sit a little under each shipped codec's measured held-out retention on these 500 images, so
that a retrained codec may land a point lower. They are not issue 32's targets, which are for the
whole test split: easy-VQA 99% at 256 bits (shape 98%), 98% at 140 (shape 95%) and 96% at 90
(shape 90%); scenes 95% at 256 bits with every question family at 90% or more. What each codec
meets today is in the README.
The -no-adv and -no-vqa codecs are the ablations: easyvqa-256's recipe without the adversarial term
or without the VQA terms (EXPERIMENTS.md).
"""
import functools

import pytest

import fewbits
from fewbits import data, metrics, zoo
from fewbits.bench import baselines
from fewbits.bench.protocol import measure, originals, score_codec
from fewbits.vqa import judges

FLOORS = {"easyvqa-256": 0.985, "easyvqa-128": 0.98, "easyvqa-64": 0.975, "scenes-256": 0.93,
          "scenes-map-120": 0.95, "scenes-128": 0.48, "easyvqa-256-no-adv": 0.985, "easyvqa-256-no-vqa": 0.965,
          "clevr-cast": 0.95, "clevr-fine-cast": 0.95}     # 98.7%, 97.9% today (symbolic3d)
FAMILY_FLOORS = {"easyvqa-256": 0.96, "easyvqa-128": 0.95, "easyvqa-64": 0.92,   # shape 98.0, 97.6, 94.3% today
                 "scenes-256": 0.88, "scenes-map-120": 0.91,                      # relate 92.6%, 94.1% today
                 "clevr-cast": 0.90, "clevr-fine-cast": 0.90}                    # count 97.7%, relate 95.2% today
LIMIT = {"clevr": 300}            # CLEVR's judges read 128×128 images: fewer, for the suite's time
THUMBNAIL = {64: (2, 5), 120: (3, 4), 128: (3, 4), 256: (4, 5)}   # the k×k, b-bit thumbnail at or under each budget


@functools.cache
def judged(dataset):
    """The held-out judges, the test split, and the judges' accuracy on its first LIMIT originals:
    measured once for all of a dataset's codecs."""
    panel, vocab = judges.load_panel(dataset)
    held_out = {family: panel[family] for family in judges.PANEL[dataset]}
    test = data.load(dataset, "test", vocab=vocab)
    return held_out, test, measure(originals(), held_out, test, limit=LIMIT.get(dataset, 500)).acc


@functools.cache
def thumbnail_row(dataset, bits, size):
    held_out, test, _ = judged(dataset)
    return measure(baselines.thumbnail(*THUMBNAIL[bits], size=size), held_out, test, limit=LIMIT.get(dataset, 500))


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_shipped_codec_keeps_the_judges_answers(name):
    assert (zoo.FOLDER / zoo.MODELS[name]["file"]).stat().st_size <= 10 * 2 ** 20
    codec = fewbits.load(name)
    dataset, bits = name.split("-")[0], zoo.MODELS[name]["bits"]     # easyvqa-128 trains at 120 bits
    assert codec.model.bits == bits                                  # the map code: the mean
    held_out, test, original = judged(dataset)
    row = score_codec(codec, held_out, test, limit=LIMIT.get(dataset, 500), original=original)
    assert row.bits <= bits + 8 * 3 + 8                            # header + at most a byte over the budget
    lowest = metrics.lowest(row.retention, judges.PANEL[dataset])
    assert lowest["overall"] >= FLOORS[name], row.retention
    assert all(lowest[f] >= FAMILY_FLOORS.get(name, 0) for f in test.families), row.retention
    # and far better than the naive baseline with as many bits, for every judge
    thumb = thumbnail_row(dataset, bits, codec.model.size)
    assert thumb.bits <= bits
    for family in held_out:
        assert row.acc[family]["overall"] > thumb.acc[family]["overall"] + 0.1, (family, row.acc, thumb.acc)


def test_the_adversarial_term_buys_realism():
    """What the ablation shows: with the GAN loss the decodes' features (the attention judge's CNN) are
    distributed more like the originals' (a smaller Fréchet distance) than without it."""
    panel, vocab = judges.load_panel("easyvqa")
    test = data.load("easyvqa", "test", vocab=vocab)
    fd = {name: measure(fewbits.load(name).method(), {}, test, limit=500, features=panel["attention"]).fd
          for name in ("easyvqa-256", "easyvqa-256-no-adv")}
    assert 2 * fd["easyvqa-256"] < fd["easyvqa-256-no-adv"], fd


def test_the_photo_codec_beats_every_thumbnail_of_as_many_bits():
    """On the held-out photos (scikit-image's, never trained on), through real files: a higher PSNR
    and a smaller FD than every thumbnail whose files are no longer than ours."""
    test = data.load("photos", "test")
    features = judges.load_panel("scenes")[0]["attention"]
    ours = measure(fewbits.load("photos-256").method(), {}, test, features=features)
    assert ours.bits <= 256 + 8 * 4 + 8
    thumbs = [measure(baselines.thumbnail(k, b), {}, test, features=features)
              for k, b in ((2, 5), (3, 4), (4, 4), (4, 5), (5, 3), (6, 4))]
    smaller = [t for t in thumbs if t.bits <= ours.bits]
    assert len(smaller) >= 3
    for t in smaller:
        assert ours.psnr > t.psnr and ours.fd < t.fd, (ours, t)


def test_the_photo_codec_at_webps_bits_beats_webp_with_search():
    """The issue's target at the smallest WebP file's bits: photos-1472, with the bits 400 steps of
    Codec.search find (fewbits compress --search 400), in files no longer than WebP q0's, beats WebP's
    PSNR or its FD. On the first 25 held-out squares, to keep the search's minute short (all 70 are
    in the README: 24.95 dB and FD 2.62 against 24.82 dB and 2.76)."""
    test = data.load("photos", "test")
    features = judges.load_panel("scenes")[0]["attention"]
    codec = fewbits.load("photos-1472")
    own = measure(codec.method(), {}, test, limit=25, features=features)
    ours = measure(codec.method(search=400), {}, test, limit=25, features=features)
    webp = measure(baselines.pillow("WEBP", 0), {}, test, limit=25, features=features)
    assert ours.bits <= webp.bits, (ours.bits, webp.bits)
    assert ours.psnr > webp.psnr or ours.fd < webp.fd, (ours.psnr, ours.fd, webp.psnr, webp.fd)
    assert ours.psnr > own.psnr + 2, (own.psnr, ours.psnr)     # what the search buys on its own
