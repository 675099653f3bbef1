"""Photos: no questions, the codec learns MSE + GAN + rate on them. Two sets of the same photos:

    PhotoData(photo_paths("train"), "train")       # 64×64 views: random crops; fixed squares for val and test
    FullPhotos(full_photo_paths("test"))           # photos at their own resolution, for the full-resolution codec

Training photos come from Debian's wallpaper packages, judged one by one: the photographs among them,
not the drawings or renders (DATA.md: how to install them, and their licences). The last VAL_PHOTOS
of them are the validation split. The held-out photos are never trained on: for the 64×64 codecs the
14 that scikit-image bundles; at their own resolution its 8 colour ones and 20 of OpenCV's samples
(opencv-doc), 28 photos of 254 to 1,282 pixels a side, near Kodak's 24.
"""
import importlib.util
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..files import read_image
from .errors import DataError

VAL_PHOTOS = 5                     # the last five training photos validate


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
        return [skimage_data() / n for n in TEST_PHOTOS]
    paths = [PHOTO_ROOT / p for files in TRAIN_PHOTOS.values() for p in files]
    paths = paths[-VAL_PHOTOS:] if split == "val" else paths[:-VAL_PHOTOS]
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


FULL_TEST_PHOTOS = {
    "scikit-image": ["astronaut.png", "chelsea.png", "coffee.png", "hubble_deep_field.jpg", "ihc.png",
                     "motorcycle_left.png", "retina.jpg", "rocket.jpg"],      # its colour photos
    "opencv-doc": [f"doc/opencv-doc/examples/{n}" for n in (
        "data/aero1.jpg", "data/aloeL.jpg", "data/apple.jpg", "data/baboon.jpg", "data/board.jpg",
        "data/building.jpg", "data/butterfly.jpg", "data/chicky_512.png", "data/ela_original.jpg",
        "data/fruits.jpg", "data/graf1.png", "data/home.jpg", "data/leuvenA.jpg", "data/messi5.jpg",
        "data/orange.jpg", "data/rubberwhale1.png", "data/squirrel_cls.jpg", "data/stuff.jpg",
        "hfs/data/000.jpg", "hfs/data/002.jpg")],     # its colour photographs: no drawings, paintings or pairs
}


def skimage_data():
    """scikit-image's folder of sample images (it is a dependency for these files alone, never imported)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None:
        raise DataError("photos: the held-out test photos come with scikit-image: pip install scikit-image")
    return Path(spec.submodule_search_locations[0]) / "data"


def full_photo_paths(split):
    """The photos at their own resolution: "train" and "val" as photo_paths; "test" the 28 held-out
    ones. DataError naming the command that installs them if any is missing."""
    if split != "test":
        return photo_paths(split)
    paths = [skimage_data() / n for n in FULL_TEST_PHOTOS["scikit-image"]]
    paths += [PHOTO_ROOT / n for n in FULL_TEST_PHOTOS["opencv-doc"]]
    if not all(p.is_file() for p in paths):
        raise DataError(f"photos: {PHOTO_ROOT} lacks OpenCV's sample photos, held out; install them with: "
                        f"sudo apt-get install opencv-doc (or set CODEC_PHOTOS)")
    return paths


class FullPhotos:
    """Photos at their own resolution, each (3, H, W) uint8 in `photos`, read once (the long side cut
    to at most `longest` pixels: training photos are wallpapers of up to 5,000).

    crops(n, size) -> (n, 3, size, size) float in [0, 1], the training views, three augmentations:
    a scale from 1/4 to 1 (log-uniform, so the wallpapers' detail comes in the held-out photos' sizes
    too), a random square, a mirror half of the time, and a colour jitter (brightness and saturation
    each ×0.8…1.2) so that 32 photos' palettes don't become the codec's only ones."""

    def __init__(self, paths, longest=2048):
        self.names, self.photos = [Path(p).name for p in paths], []
        for path in paths:
            img = read_image(path)
            img.thumbnail((longest, longest), Image.LANCZOS)
            self.photos.append(torch.from_numpy(np.array(img)).permute(2, 0, 1))   # (3, H, W) uint8

    def __len__(self):
        return len(self.photos)

    def image(self, i):
        """Photo i, (1, 3, H, W) float in [0, 1]."""
        return self.photos[i][None].float() / 255

    def crops(self, n, size=256, generator=None):
        rand = lambda *shape: torch.rand(shape, generator=generator)
        out = []
        for i in torch.randint(len(self.photos), (n,), generator=generator).tolist():
            p = self.photos[i]
            short = min(p.shape[1:])
            lowest = min(1.0, max(size / short, 0.25))                      # never smaller than the crop
            scale = lowest ** rand(1).item()                                 # lowest … 1, log-uniform
            side = min(short, max(size, round(size / scale)))                # the square to take, in pixels
            top = int(rand(1).item() * (p.shape[1] - side + 1))
            left = int(rand(1).item() * (p.shape[2] - side + 1))
            x = p[None, :, top:top + side, left:left + side].float() / 255
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True) if side != size else x
            x = x.flip(3) if rand(1).item() < 0.5 else x
            grey = x.mean(1, keepdim=True)
            x = grey + (x - grey) * (0.8 + 0.4 * rand(1).item())             # saturation
            out.append((x * (0.8 + 0.4 * rand(1).item())).clamp(0, 1)[0])   # brightness
        return torch.stack(out)


class PhotoCrops:
    """FullPhotos as train.py reads a dataset: images(idx) -> (len(idx), 3, CROP, CROP), no questions.
    Training: a fresh random crop (FullPhotos.crops) for each index, whatever it is, so a "pass"
    (len, 1,000) is only a count: of crops the coder's table is counted on at the end. Validation:
    VAL_CROPS fixed crops of the validation photos, the same every time."""
    has_questions, vocab, answer_names, families = False, [], [], []
    CROP, VAL_CROPS, PASS = 128, 40, 1000   # 128: as fast per pixel as 256, so four times the steps

    def __init__(self, paths, split="train"):
        self.photos, self.split = FullPhotos(paths), split
        if split != "train":
            self.fixed = self.photos.crops(self.VAL_CROPS, self.CROP, torch.Generator().manual_seed(0))

    def __len__(self):
        return self.PASS if self.split == "train" else len(self.fixed)

    def images(self, idx):
        if self.split != "train":
            return self.fixed[idx]
        return self.photos.crops(len(torch.as_tensor(idx).reshape(-1)), self.CROP)

    def questions_of(self, idx):
        return PhotoData.questions_of(self, idx)
