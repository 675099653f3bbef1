"""Datasets: easy-VQA, procedural scenes, photos, or any folder of images, behind one interface.

    data = load("scenes", "test")                  # "train", "val" (carved from the training data) or "test"
    x = data.images(idx)                           # (B, 3, 64, 64) float in [0, 1]
    qi, tokens, answers = data.questions_of(idx)   # the batch's questions; qi indexes into x
    data.answer_names[answers[0]]                  # "yes", "3", "red", ...
    data.families[data.family_of(idx)[0]]          # "exist", "count", ...

Images are kept as uint8 and turned into floats per batch (20,000 float images would be 1 GB).
Questions are sorted by image, so a batch of images brings all of its questions along: a VQA model
runs its CNN once per image and scores every question about it from the same features.
Photos, and any folder of images, have no questions (has_questions is False); their `questions_of`
returns empty tensors. Training photos are Debian's (installed by apt), the held-out ones scikit-image's.

The scenes splits are generated once (about a minute for the 20,000 training images) and cached
under ~/.cache/fewbits/, or under the folder the environment variable CODEC_CACHE names.
"""
import io
import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..files import IMAGE_EXTS, read_image, write_atomic
from . import scenes

CACHE = Path(os.environ.get("CODEC_CACHE", Path.home() / ".cache" / "fewbits"))
SPLIT_SIZES = {"scenes": {"train": 20_000, "val": 1_000, "test": 2_000}}   # val: its own scenes, never trained on
VAL_IMAGES = {"easyvqa": 500, "photos": 5}        # carved from the end of the training data


class DataError(Exception):
    """A data source that can't be used; the message names it. Scripts print it and exit with code 2."""


def tokenize(text):
    return text.lower().replace("?", "").split()


def encode_questions(texts, vocab):
    """Texts -> (Q, L) token ids, 0 = padding, 1 = a word the vocabulary doesn't know."""
    index = {w: i for i, w in enumerate(vocab)}
    words = [tokenize(t) for t in texts]
    tokens = torch.zeros(len(texts), max([len(w) for w in words], default=1), dtype=torch.long)
    for q, ws in enumerate(words):
        tokens[q, :len(ws)] = torch.tensor([index.get(w, 1) for w in ws], dtype=torch.long)
    return tokens


def build_vocab(texts):
    return ["<pad>", "<unk>"] + sorted({w for t in texts for w in tokenize(t)})


class VQAData:
    """Images (N, 3, 64, 64) and questions (image index, token ids, answer id, family id).

    answer_names: every possible answer, the classes of a VQA model; families: the question families.
    """
    has_questions = True

    def __init__(self, pixels, q_image, texts, answers, families, answer_names, family_names, vocab):
        order = np.argsort(q_image, kind="stable")           # group each image's questions together
        self.pixels = torch.as_tensor(pixels)                 # (N, 3, 64, 64) uint8
        self.q_image = torch.as_tensor(np.asarray(q_image, dtype=np.int64)[order])
        self.texts = [texts[i] for i in order]
        self.vocab, self.answer_names, self.families = vocab, answer_names, family_names
        self.q_tokens = encode_questions(self.texts, vocab)
        self.q_answer = torch.tensor([answer_names.index(answers[i]) for i in order], dtype=torch.long)
        self.q_family = torch.tensor([family_names.index(families[i]) for i in order], dtype=torch.long)
        # questions of image n are rows first[n] : first[n + 1]
        self.first = torch.searchsorted(self.q_image, torch.arange(len(self.pixels) + 1))

    def __len__(self):
        return len(self.pixels)

    def images(self, idx):
        return self.pixels[idx].float() / 255

    def rows_of(self, idx):
        """Question rows about images idx (B,), and the position in idx of each one's image."""
        rows = [torch.arange(self.first[n], self.first[n + 1]) for n in torch.as_tensor(idx).tolist()]
        qi = torch.cat([torch.full((len(r),), b) for b, r in enumerate(rows)]).long()
        return qi, torch.cat(rows).long()

    def questions_of(self, idx):
        """All questions about images idx (B,): (position in idx, tokens (Q, L), answers (Q,))."""
        qi, rows = self.rows_of(idx)
        return qi, self.q_tokens[rows], self.q_answer[rows]

    def family_of(self, idx):
        return self.q_family[self.rows_of(idx)[1]]


def load_easyvqa(split, vocab=None):
    """easy-VQA, as shipped inside the `easy-vqa` package (64×64 PNGs, one shape each). The validation
    split is the last VAL_IMAGES["easyvqa"] training images with their questions; "train" is the rest."""
    import easy_vqa
    texts, answers, ids = easy_vqa.get_test_questions() if split == "test" else easy_vqa.get_train_questions()
    paths = easy_vqa.get_test_image_paths() if split == "test" else easy_vqa.get_train_image_paths()
    first, end = {"train": (0, len(paths) - VAL_IMAGES["easyvqa"]), "val": (len(paths) - VAL_IMAGES["easyvqa"], len(paths)),
                  "test": (0, len(paths))}[split]
    pixels = np.stack([np.asarray(Image.open(paths[i]).convert("RGB")) for i in range(first, end)])
    kept = [q for q, i in enumerate(ids) if first <= i < end]
    texts, answers, ids = [texts[q] for q in kept], [answers[q] for q in kept], [ids[q] - first for q in kept]
    families = ["yes/no" if a in ("yes", "no") else "shape" if a in ("circle", "rectangle", "triangle")
                else "color" for a in answers]
    vocab = vocab or build_vocab(easy_vqa.get_train_questions()[0])
    return VQAData(pixels.transpose(0, 3, 1, 2), ids, texts, answers, families,
                   easy_vqa.get_answers(), ["yes/no", "shape", "color"], vocab)


def load_scenes(split, vocab=None):
    """Procedural scenes (scenes.py) with seed 0, generated once and cached (see the top)."""
    n = SPLIT_SIZES["scenes"][split]
    path = CACHE / f"scenes-{split}-{n}-seed0-v2.npz"
    if path.exists():
        z = np.load(path)
        pixels, graph = z["pixels"], json.loads(str(z["graph"]))
    else:
        images, graphs, questions = scenes.generate(n, split, seed=0, progress=True)
        pixels, graph = images.transpose(0, 3, 1, 2), {"scenes": graphs, "questions": questions}
        CACHE.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez_compressed(buf, pixels=pixels, graph=json.dumps(graph))
        write_atomic(path, buf.getvalue())
    q_image, texts, answers, families = zip(*graph["questions"])
    data = VQAData(pixels, q_image, list(texts), answers, families, scenes.ANSWERS, list(scenes.FAMILIES),
                   vocab or build_vocab(scenes.vocabulary()))
    data.scenes = graph["scenes"]
    return data


# ---- photos: no questions, MSE + GAN + rate ------------------------------------------------------
# Training photos come from Debian's wallpaper packages, judged one by one: the photographs among
# them, not the drawings or renders (DATA.md: how to install them, and their licences).
#   sudo apt-get install plasma-workspace-wallpapers mate-backgrounds lomiri-wallpapers-16.04 lomiri-wallpapers-20.04
# The held-out test photos are the ones scikit-image bundles (astronaut, chelsea, coffee, ...): never trained on.
PHOTO_ROOT = Path(os.environ.get("CODEC_PHOTOS", "/usr/share"))
TRAIN_PHOTOS = {
    "plasma-workspace-wallpapers": [f"wallpapers/{n}/contents/images/1920x1080.jpg" for n in (
        "Autumn", "BytheWater", "ColdRipple", "EveningGlow", "FallenLeaf", "Grey", "Kite", "OneStandsOut",
        "Path", "summer_1am")],
    "mate-backgrounds": [f"backgrounds/mate/nature/{n}.jpg" for n in (
        "Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird", "RainDrops", "Storm",
        "TwoWings", "Wood", "YellowFlower")],
    "lomiri-wallpapers-16.04": [f"backgrounds/{n}.jpg" for n in (
        "Bridge_by_Sander_Klootwijk", "Dragonfly_by_Bolly", "Picture_0B_by_freespace", "Picture_1A_by_freespace",
        "Wine_by_Jakkub_Mede", "aitzgorri_by_Aitzol_Berasategi", "analogpattern_by_Peter_Nerlich",
        "free_by_Peter_Nerlich", "friends_by_Aitzol_Berasategi", "greentock_by_Peter_Nerlich",
        "life_by_Aitzol_Berasategi", "picosdeeuropa_by_Aitzol_Berasategi", "seeding_by_Clements_Engelhardt",
        "sunset_by_Aitzol_Berasategi")],
    "lomiri-wallpapers-20.04": ["backgrounds/Kleiber_by_Lukas_Baubkus.jpg"],
}
TEST_PHOTOS = ["astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png", "coins.png", "grass.png",
               "gravel.png", "hubble_deep_field.jpg", "ihc.png", "moon.png", "motorcycle_left.png", "retina.jpg",
               "rocket.jpg"]     # everything photographic in skimage/data; the grey ones are read as RGB


def photo_paths(split):
    """The training photos (Debian's packages; "val": the last five of them, "train" the others) or the
    held-out test photos (scikit-image's). DataError naming the command that installs them if missing."""
    if split == "test":
        import importlib.util
        spec = importlib.util.find_spec("skimage")
        if spec is None:
            raise DataError("photos: the held-out test photos come with scikit-image: pip install scikit-image")
        return [Path(spec.submodule_search_locations[0]) / "data" / n for n in TEST_PHOTOS]
    paths = [PHOTO_ROOT / p for files in TRAIN_PHOTOS.values() for p in files]
    paths = paths[-VAL_IMAGES["photos"]:] if split == "val" else paths[:-VAL_IMAGES["photos"]]
    missing = [pkg for pkg, files in TRAIN_PHOTOS.items() if not all((PHOTO_ROOT / p).is_file() for p in files)]
    if missing:
        raise DataError(f"photos: {PHOTO_ROOT} lacks the training photos; install them with: "
                        f"sudo apt-get install {' '.join(missing)} (or set CODEC_PHOTOS)")
    return paths


class PhotoData:
    """Photos without questions (has_questions is False). Each photo is read once, its short side cut
    to at most `keep` pixels. Training images are random square crops at scales from 1/8 to all of
    the short side, resized to 64×64 and flipped at random: 32 photos give many more views. Validation
    and test images are fixed: each photo's centre square, and the four corner squares of half its short side."""
    has_questions = False

    def __init__(self, paths, split="train", keep=512):
        self.split, self.photos = split, []
        for path in paths:
            img = read_image(path)
            img.thumbnail((10 ** 5, keep) if img.width > img.height else (keep, 10 ** 5), Image.LANCZOS)
            self.photos.append(torch.from_numpy(np.array(img)).permute(2, 0, 1))   # (3, H, W) uint8
        if split != "train":
            self.fixed = torch.stack([to_64(p[:, t:t + s, l:l + s]) for p in self.photos for t, l, s in views(p)])
        self.vocab, self.answer_names, self.families = [], [], []

    def __len__(self):
        return len(self.fixed) if self.split != "train" else len(self.photos)

    def images(self, idx):
        if self.split != "train":
            return self.fixed[idx]
        out = []
        for i in torch.as_tensor(idx).tolist():
            p = self.photos[i]
            short = min(p.shape[1:])
            side = max(1, int(short * 2 ** -torch.empty(()).uniform_(0, 3)))   # 1/8 … 1 of the short side, log-uniform
            top = torch.randint(p.shape[1] - side + 1, ()).item()
            left = torch.randint(p.shape[2] - side + 1, ()).item()
            crop = to_64(p[:, top:top + side, left:left + side])
            out.append(crop.flip(2) if torch.rand(()) < 0.5 else crop)
        return torch.stack(out)

    def questions_of(self, idx):
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, 1, dtype=torch.long), torch.zeros(0, dtype=torch.long)


def views(photo):
    """The fixed test squares of a (3, H, W) photo: (top, left, side) of its centre square and of the
    four corner squares of half its short side."""
    H, W = photo.shape[1:]
    s, h = min(H, W), min(H, W) // 2
    return [((H - s) // 2, (W - s) // 2, s), (0, 0, h), (0, W - h, h), (H - h, 0, h), (H - h, W - h, h)]


def to_64(square):
    """(3, s, s) uint8 -> (3, 64, 64) float in [0, 1], antialiased."""
    return F.interpolate(square[None].float() / 255, size=(64, 64), mode="bilinear", antialias=True)[0].clamp(0, 1)


def load_folder(folder, split):
    """Any folder of images, as photos: all of them for training; for "val" or "test", fixed views of the same ones."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTS)
    if not paths:
        raise DataError(f"{folder}: no images in this folder")
    return PhotoData(paths, split)


def load(name, split="train", vocab=None):
    """'easyvqa', 'scenes', 'photos' or a folder path -> a dataset with images() and questions_of()."""
    if name == "easyvqa":
        return load_easyvqa(split, vocab)
    if name == "scenes":
        return load_scenes(split, vocab)
    if name == "photos":
        return PhotoData(photo_paths(split), split)
    return load_folder(name, split)
