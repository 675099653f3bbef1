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
returns empty tensors (photos.py).

The scenes splits are generated once (about a minute for the 20,000 training images) and cached
under ~/.cache/fewbits/, or under the folder the environment variable CODEC_CACHE names.
"""
import io
import json
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..files import IMAGE_EXTS, write_atomic
from . import clevr, scenes
from .errors import DataError
from .photos import TEST_PHOTOS, TRAIN_PHOTOS, PhotoCrops, PhotoData, full_photo_paths, photo_paths   # noqa: F401

CACHE = Path(os.environ.get("CODEC_CACHE", Path.home() / ".cache" / "fewbits"))
SPLIT_SIZES = {"scenes": {"train": 20_000, "val": 1_000, "test": 2_000},    # val: its own scenes, never trained on
               "clevr": {"train": 20_000, "val": 1_000, "test": 2_000}}
VAL_IMAGES = {"easyvqa": 500}                   # carved from the end of the training data (photos: photos.py)
IMAGE_SIZES = {"clevr": clevr.IMAGE_SIZE}       # pixels per side where it isn't 64
FLIPPABLE = {"easyvqa"}   # data whose every answer survives a mirror: nothing asks left or right


def mirror(x):
    """Each image of x (B, C, H, W) mirrored left-right with probability 1/2. Only that: easy-VQA's
    triangles all point up, so a flip top-bottom or a quarter turn makes images it never has."""
    chosen = torch.rand(len(x), 1, 1, 1, device=x.device) < 0.5
    return torch.where(chosen, x.flip(3), x)


def image_size(name):
    """The side in pixels of the images of dataset `name`: 64, or 128 for CLEVR's."""
    return IMAGE_SIZES.get(name, 64)


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


def load_scenes(split, vocab=None, module=scenes, version="v2"):
    """Procedural scenes (scenes.py, or clevr.py for the 3D ones) with seed 0, generated once and
    cached (see the top)."""
    name = module.__name__.rsplit(".", 1)[-1]
    n = SPLIT_SIZES[name][split]
    path = CACHE / f"{name}-{split}-{n}-seed0-{version}.npz"
    if path.exists():
        z = np.load(path)
        pixels, graph = z["pixels"], json.loads(str(z["graph"]))
    else:
        images, graphs, questions = module.generate(n, split, seed=0, progress=True)
        pixels, graph = images.transpose(0, 3, 1, 2), {"scenes": graphs, "questions": questions}
        CACHE.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez_compressed(buf, pixels=pixels, graph=json.dumps(graph))
        write_atomic(path, buf.getvalue())
    q_image, texts, answers, families = zip(*graph["questions"])
    data = VQAData(pixels, q_image, list(texts), answers, families, module.ANSWERS, list(module.FAMILIES),
                   vocab or build_vocab(module.vocabulary()))
    data.scenes = graph["scenes"]
    return data


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
    """'easyvqa', 'scenes', 'clevr', 'photos', 'photos-full' or a folder path -> a dataset with
    images() and questions_of()."""
    if name == "easyvqa":
        return load_easyvqa(split, vocab)
    if name == "scenes":
        return load_scenes(split, vocab)
    if name == "clevr":                       # rendered in 3D, 128×128 (clevr.py)
        return load_scenes(split, vocab, clevr, "v1")
    if name == "photos":
        return PhotoData(photo_paths(split), split)
    if name == "photos-full":                  # at their own resolution: crops for training
        return PhotoCrops(full_photo_paths(split), split)
    return load_folder(name, split)
