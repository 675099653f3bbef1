"""Datasets: easy-VQA, procedural scenes, or any folder of images, behind one interface.

    data = load("scenes", "test")          # or "easyvqa", or a folder path
    x = data.images(idx)                   # (B, 3, 64, 64) float in [0, 1]
    qi, tokens, answers = data.questions_of(idx)   # the batch's questions; qi indexes into x

Images are kept as uint8 and turned into floats per batch (20,000 float images would be 1 GB).
Questions are sorted by image, so a batch of images brings all of its questions along: a VQA model
runs its CNN once per image and scores every question about it from the same features.
A folder of photos has images only; its `questions_of` returns empty tensors.
"""
import io
import json
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import scenes

CACHE = Path(os.environ.get("CODEC_CACHE", Path(__file__).parent / ".cache"))
SPLIT_SIZES = {"scenes": {"train": 20_000, "test": 2_000}}
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"}


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
    """Images (N, 3, 64, 64) and questions (image index, token ids, answer id, family id)."""

    def __init__(self, pixels, q_image, texts, answers, families, answer_list, family_list, vocab):
        order = np.argsort(q_image, kind="stable")           # group each image's questions together
        self.pixels = torch.as_tensor(pixels)                 # (N, 3, 64, 64) uint8
        self.q_image = torch.as_tensor(np.asarray(q_image, dtype=np.int64)[order])
        self.texts = [texts[i] for i in order]
        self.vocab, self.answers, self.families = vocab, answer_list, family_list
        self.q_tokens = encode_questions(self.texts, vocab)
        self.q_answer = torch.tensor([answer_list.index(answers[i]) for i in order], dtype=torch.long)
        self.q_family = torch.tensor([family_list.index(families[i]) for i in order], dtype=torch.long)
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

    def questions_of(self, idx, per_image=None):
        """The questions about images idx (B,): (position in idx, tokens (Q, L), answers (Q,)).
        All of them, or `per_image` random ones of each image (all it has, if it has fewer)."""
        qi, rows = self.rows_of(idx)
        if per_image is not None:
            shuffled = torch.randperm(len(qi))
            shuffled = shuffled[torch.argsort(qi[shuffled], stable=True)]   # by image, random within one
            grouped = qi[shuffled]
            rank = torch.arange(len(qi)) - torch.searchsorted(grouped, grouped)   # place within its image
            keep = shuffled[rank < per_image].sort().values
            qi, rows = qi[keep], rows[keep]
        return qi, self.q_tokens[rows], self.q_answer[rows]

    def family_of(self, idx):
        return self.q_family[self.rows_of(idx)[1]]


def load_easyvqa(split, vocab=None):
    """easy-VQA, as shipped inside the `easy-vqa` package (64×64 PNGs, one shape each)."""
    import easy_vqa
    texts, answers, ids = easy_vqa.get_test_questions() if split == "test" else easy_vqa.get_train_questions()
    paths = easy_vqa.get_test_image_paths() if split == "test" else easy_vqa.get_train_image_paths()
    pixels = np.stack([np.asarray(Image.open(paths[i]).convert("RGB")) for i in range(len(paths))])
    answer_list = easy_vqa.get_answers()
    families = ["yes/no" if a in ("yes", "no") else "shape" if a in ("circle", "rectangle", "triangle")
                else "color" for a in answers]
    vocab = vocab or build_vocab(easy_vqa.get_train_questions()[0])
    return VQAData(pixels.transpose(0, 3, 1, 2), ids, texts, answers, families,
                   answer_list, ["yes/no", "shape", "color"], vocab)


def load_scenes(split, vocab=None, n=None, seed=0):
    """Procedural scenes (scenes.py), generated once and cached under .cache/."""
    n = n or SPLIT_SIZES["scenes"][split]
    path = CACHE / f"scenes-{split}-{n}-seed{seed}-v2.npz"
    if path.exists():
        z = np.load(path)
        pixels, graph = z["pixels"], json.loads(str(z["graph"]))
    else:
        images, graphs, questions = scenes.generate(n, split, seed)
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


class FolderData:
    """Any folder of images, for natural photos. Training crops are random (resized crop, flip, a
    small colour jitter); test crops are the centre square. No questions."""

    def __init__(self, folder, split="train", size=64):
        from torchvision import transforms as T
        folder = Path(folder)
        if not folder.is_dir():
            raise DataError(f"{folder}: no such folder")
        self.paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTS)
        if not self.paths:
            raise DataError(f"{folder}: no images in this folder")
        for p in self.paths:
            read_image(p)                       # fail now, naming the file, not mid-training
        self.transform = T.Compose([T.RandomResizedCrop(size, scale=(0.25, 1.0), antialias=True),
                                    T.RandomHorizontalFlip(), T.ColorJitter(0.1, 0.1, 0.1)]) \
            if split == "train" else T.Compose([T.Resize(size, antialias=True), T.CenterCrop(size)])
        self.vocab, self.answers, self.families = [], [], []

    def __len__(self):
        return len(self.paths)

    def images(self, idx):
        x = [torch.from_numpy(np.array(read_image(self.paths[i]))).permute(2, 0, 1).float() / 255
             for i in torch.as_tensor(idx).tolist()]
        return torch.stack([self.transform(xi).clamp(0, 1) for xi in x])

    def questions_of(self, idx):
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, 1, dtype=torch.long), torch.zeros(0, dtype=torch.long)


def read_image(path):
    """Any image Pillow reads, as RGB, upright by its EXIF tag; DataError naming the file if unreadable."""
    import warnings
    from PIL import ImageOps
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)   # over MAX_IMAGE_PIXELS: refuse
            img = Image.open(path)
        with img:
            img = ImageOps.exif_transpose(img)
            if img.mode.startswith("I"):                      # 16- or 32-bit grayscale: scale to 8 bits
                img = Image.fromarray((np.asarray(img, dtype=np.float32) / 257).clip(0, 255).astype(np.uint8))
            return img.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataError(f"{path}: not a readable image ({type(e).__name__}: {e})") from None


def write_atomic(path, blob):
    """Write bytes to a temp file beside `path`, then rename: a crash never leaves half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(blob)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load(name, split="train", vocab=None):
    """'easyvqa', 'scenes', or a folder path -> a dataset with images() and questions_of()."""
    if name == "easyvqa":
        return load_easyvqa(split, vocab)
    if name == "scenes":
        return load_scenes(split, vocab)
    return FolderData(name, split)
