"""Datasets: determinism, answers re-derived by an independent parser, balance, ranges, bad folders."""
import collections
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fewbits.cli import train as train_cli
from fewbits.data import datasets as data
from fewbits.data import photos, scenes
from fewbits.files import to_tensor
SIZES, SHAPES = ("small", "large"), ("circle", "square", "triangle")
COLORS = ("gray", "red", "blue", "green", "brown", "purple", "cyan", "yellow")


@pytest.fixture(scope="module")
def test_split():
    return data.load("scenes", "test")


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = scenes.generate(40, "train", seed=3), scenes.generate(40, "train", seed=3), scenes.generate(40, "train", seed=4)
    assert np.array_equal(a[0], b[0]) and a[1] == b[1] and a[2] == b[2]
    assert not np.array_equal(a[0], c[0]) and a[2] != c[2]


def test_a_shorter_split_is_the_start_of_a_longer_one():
    """What lets the suite train on 2,000 of the 20,000 training scenes (tests/conftest.py): one
    stream, scene after scene, and each scene's questions balanced only on those before it."""
    images, graphs, questions = scenes.generate(40, "train", seed=3)
    first, first_graphs, asked = scenes.generate(25, "train", seed=3)
    assert np.array_equal(first, images[:25]) and first_graphs == graphs[:25]
    assert asked == [q for q in questions if q[0] < 25]


# ---- an independent reading of every question -------------------------------------------------

def parse_desc(text):
    """'large red circle' / 'red objects' -> a predicate on objects, written without scenes.py."""
    words = text.split()
    size = words.pop(0) if words[0] in SIZES else None
    color = words.pop(0) if words[0] in COLORS else None
    assert len(words) == 1, text
    shape = words[0].rstrip("s") if words[0].rstrip("s") in SHAPES else None
    assert shape or words[0] in ("object", "objects"), text
    return lambda o: (size in (None, o["size"])) and (color in (None, o["color"])) and (shape in (None, o["shape"]))


def the(objects, text):
    hits = [o for o in objects if parse_desc(text)(o)]
    assert len(hits) == 1, f"'{text}' does not name exactly one object"
    return hits[0]


def relate(objects, ref, relation):
    others = [o for o in objects if o is not ref]
    if relation == "closest to":
        d = sorted(math.dist((o["x"], o["y"]), (ref["x"], ref["y"])) for o in others)
        assert len(d) == 1 or d[1] - d[0] > 8, "closest object is not clear"
        return min(others, key=lambda o: math.dist((o["x"], o["y"]), (ref["x"], ref["y"])))
    key = "x" if relation in ("left of", "right of") else "y"
    side = -1 if relation in ("left of", "above") else 1
    assert all(abs(o[key] - ref[key]) > 8 for o in others), "an object is too close to call"
    hits = [o for o in others if side * (o[key] - ref[key]) > 0]
    assert len(hits) == 1, f"{len(hits)} objects {relation} the reference"
    return hits[0]


def answer(scene, q):
    objs = scene["objects"]
    count = lambda text: sum(parse_desc(text)(o) for o in objs)
    if m := re.fullmatch(r"is there a (.+)\?", q):
        return "yes" if count(m[1]) else "no"
    if m := re.fullmatch(r"how many (.+) are there\?", q):
        return str(count(m[1]))
    if m := re.fullmatch(r"are there more (.+) than (.+)\?", q):
        return "yes" if count(m[1]) > count(m[2]) else "no"
    if m := re.fullmatch(r"what (color|shape|size) is the object (left of|right of|above|below|closest to) the (.+)\?", q):
        return relate(objs, the(objs, m[3]), m[2])[m[1]]
    if m := re.fullmatch(r"what (color|shape|size) is the (.+)\?", q):
        assert m[1] not in m[2], q
        return the(objs, m[2])[m[1]]
    raise AssertionError(f"unknown question: {q}")


def test_every_answer_matches_an_independent_reading(test_split):
    d = test_split
    for img, text, ans in zip(d.q_image.tolist(), d.texts, d.q_answer.tolist()):
        assert answer(d.scenes[img], text) == d.answer_names[ans], text


def test_split_sizes_and_questions_per_image(test_split):
    assert len(test_split) == 2000 and len(test_split.scenes) == 2000
    per_image = torch.bincount(test_split.q_image, minlength=len(test_split))
    assert (per_image == sum(scenes.QUOTA.values())).all() and sum(scenes.QUOTA.values()) == 12
    for scene in test_split.scenes:
        assert 1 <= len(scene["objects"]) <= 6


def test_answers_are_balanced_within_each_family(test_split):
    d = test_split
    groups = collections.defaultdict(collections.Counter)     # (family, what is asked) -> answer counts
    for text, ans, fam in zip(d.texts, d.q_answer.tolist(), d.q_family.tolist()):
        asked = re.match(r"what (\w+)", text)
        groups[(d.families[fam], asked[1] if asked else "")][d.answer_names[ans]] += 1
    assert {f for f, _ in groups} == set(scenes.FAMILIES)
    for key, counts in groups.items():
        possible = {"color": 8, "shape": 3, "size": 2}.get(key[1], 7 if key[0] == "count" else 2)
        assert len(counts) == possible, key
        top = max(counts.values()) / sum(counts.values())
        assert top <= 1.5 / possible, (key, counts)


@pytest.mark.parametrize("name", ["scenes", "easyvqa"])
def test_images_and_questions_interface(name, test_split):
    d = test_split if name == "scenes" else data.load("easyvqa", "test")
    x = d.images(torch.arange(8))
    assert x.shape == (8, 3, 64, 64) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1 and x.max() > 0.5
    qi, tokens, answers = d.questions_of(torch.tensor([3, 5]))
    assert set(qi.tolist()) == {0, 1} and len(tokens) == len(answers) > 0
    assert (d.q_image[d.first[3]:d.first[4]] == 3).all()
    if name == "easyvqa":
        train, val = data.load("easyvqa", "train"), data.load("easyvqa", "val")
        assert (len(train), len(val), len(d)) == (3500, 500, 1000)
        assert (len(train.q_answer), len(val.q_answer), len(d.q_answer)) == (33742, 4833, 9673)   # 38,575 in all


def test_validation_splits_are_carved_from_the_training_data():
    """easy-VQA's validation split is the last 500 training images with their own questions; the
    scenes' is its own generated split, none of whose images is a training or a test image (of
    those the suite reads: tests/conftest.py)."""
    import easy_vqa
    texts, answers, ids = easy_vqa.get_train_questions()
    val = data.load("easyvqa", "val")
    first = easy_vqa.get_train_image_paths()[3500]
    assert torch.equal(val.images([0])[0], to_tensor(Image.open(first).convert("RGB")))
    mine = sorted((t, a) for t, a, i in zip(texts, answers, ids) if i == 3500)
    rows = torch.arange(val.first[0], val.first[1])
    assert sorted((val.texts[r], val.answer_names[val.q_answer[r]]) for r in rows.tolist()) == mine
    splits = {split: data.load("scenes", split).pixels for split in ("train", "val", "test")}
    seen = {x.numpy().tobytes() for split in ("train", "test") for x in splits[split]}
    assert len(splits["val"]) == 1000 and not any(x.numpy().tobytes() in seen for x in splits["val"])


def test_folder_images_with_augmentation(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)).save(tmp_path / "a.jpg")
    Image.fromarray(rng.integers(0, 255, (70, 50), dtype=np.uint8)).save(tmp_path / "gray.png")
    Image.fromarray(rng.integers(0, 255, (80, 80, 4), dtype=np.uint8)).save(tmp_path / "rgba.png")
    Image.fromarray(rng.integers(0, 65535, (66, 66), dtype=np.uint16)).save(tmp_path / "deep.png")
    d = data.load(str(tmp_path), "train")
    x1, x2 = d.images([0, 1, 2, 3]), d.images([0, 1, 2, 3])
    assert x1.shape == (4, 3, 64, 64) and 0 <= x1.min() and x1.max() <= 1
    assert not torch.equal(x1, x2)                          # random crops differ
    assert len(d.questions_of([0])[0]) == 0


@pytest.mark.parametrize("case", ["missing", "empty", "unreadable"])
def test_bad_folder_is_one_line_and_exit_2(case, tmp_path, capsys):
    folder = tmp_path / "photos"
    if case != "missing":
        folder.mkdir()
    if case == "unreadable":
        (folder / "broken.jpg").write_bytes(b"this is not a jpeg")
    assert train_cli.main(["--data", str(folder), "--dry_run", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(folder) in lines[0] and "Traceback" not in err


def test_photos_held_out_are_scikit_images_and_fixed():
    """The held-out photos: scikit-image's 14, five fixed squares each; never among the training photos."""
    d = data.load("photos", "test")
    assert len(d) == 5 * len(data.TEST_PHOTOS) == 70 and not d.has_questions
    x = d.images(torch.arange(70))
    assert x.shape == (70, 3, 64, 64) and torch.equal(x, d.images(torch.arange(70)))   # no randomness
    assert all(p.is_file() and "skimage" in str(p) for p in data.photo_paths("test"))
    train_names = {Path(p).stem.lower() for files in data.TRAIN_PHOTOS.values() for p in files}
    assert not train_names & {Path(p).stem.lower() for p in data.TEST_PHOTOS}


def test_photo_training_set_from_its_packages(tmp_path):
    """--data photos reads the listed files of Debian's packages under CODEC_PHOTOS (default /usr/share).
    Missing, it names the command that installs them; present (here, stand-ins at the same paths),
    fewbits train runs on them, the last five validating."""
    env = {**os.environ, "CODEC_PHOTOS": str(tmp_path)}
    train = [sys.executable, "-m", "fewbits", "train", "--data", "photos", "--dry_run", "--out", str(tmp_path / "run")]
    r = subprocess.run(train, capture_output=True, text=True, env=env)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "apt-get install plasma-workspace-wallpapers mate-backgrounds lomiri-wallpapers-16.04" in r.stderr
    rng = np.random.default_rng(0)
    for files in data.TRAIN_PHOTOS.values():
        for p in files:
            (tmp_path / p).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (120, 200, 3), dtype=np.uint8)).save(tmp_path / p)
    r = subprocess.run([*train, "--code", "grid"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and (tmp_path / "run" / "codec.pt").exists(), r.stderr[-2000:]
    crops = data.PhotoData([tmp_path / data.TRAIN_PHOTOS["mate-backgrounds"][0]], "train").images(torch.zeros(50, dtype=torch.long))
    assert crops.shape == (50, 3, 64, 64) and len({c.sum().item() for c in crops}) == 50   # random crops


def test_full_resolution_photos_held_out_and_their_training_crops(tmp_path, monkeypatch):
    """The 28 held-out photos at their own sizes: scikit-image's colour ones and OpenCV's samples
    (stand-ins here, at the same paths), none a training photo's name; missing, one line names the
    package. Training crops: the size asked, reproducible from a seed, and mirrored, scaled and
    jittered (two views of one photo at one place are never equal)."""
    monkeypatch.setattr(photos, "PHOTO_ROOT", tmp_path)
    with pytest.raises(data.DataError, match="sudo apt-get install opencv-doc"):
        photos.full_photo_paths("test")
    rng = np.random.default_rng(0)
    for p in photos.FULL_TEST_PHOTOS["opencv-doc"]:
        (tmp_path / p).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (90, 130, 3), dtype=np.uint8)).save(tmp_path / p)
    paths = photos.full_photo_paths("test")
    assert len(paths) == 28 and len({p.name for p in paths}) == 28
    train_names = {Path(p).stem.lower() for files in data.TRAIN_PHOTOS.values() for p in files}
    assert not train_names & {p.stem.lower() for p in paths}
    held_out = photos.FullPhotos(paths)
    assert held_out.image(0).shape == (1, 3, 512, 512) and held_out.image(27).shape == (1, 3, 90, 130)
    crops = lambda seed: held_out.crops(40, 64, torch.Generator().manual_seed(seed))
    assert crops(0).shape == (40, 3, 64, 64) and torch.equal(crops(0), crops(0)) and not torch.equal(crops(0), crops(1))
    one = photos.FullPhotos([paths[0]])                                  # the astronaut, 512×512
    views = one.crops(200, 512, torch.Generator().manual_seed(0))        # the whole photo each time
    whole = one.image(0)[0]
    mirrored = [v for v in views if (v - whole.flip(2)).abs().mean() < (v - whole).abs().mean()]
    assert 60 < len(mirrored) < 140                                      # mirrored about half the time
    assert len({round(v.mean().item(), 4) for v in views}) > 150         # a brightness of its own each
