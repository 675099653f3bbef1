"""The model zoo: every shipped model, named once. Everything that lists models reads MODELS.

    path = checked_path("easyvqa-256")     # the file, its sha256 checked; a path is passed through
    names = made_by(fingerprint)           # the shipped codecs whose files carry this fingerprint byte

Each entry gives the file (under fewbits/checkpoints/), its sha256, the fingerprint byte its .bin
files carry (codecs only), the data it was trained on, `bits` (the --bits it was trained at), a
one-line description, and the commands that make it at this commit, in order. A `note` says where
the shipped file came from other code than the commands run today.
"""
import hashlib
from functools import lru_cache
from pathlib import Path

from .files import CheckpointError

FOLDER = Path(__file__).parent / "checkpoints"
DEFAULT = "photos-256"


def _entry(name, kind, data, description, commands, sha256, fingerprint=None, bits=None, note=""):
    return {"name": name, "file": f"{name}.pt", "kind": kind, "data": data, "bits": bits, "description": description,
            "commands": commands, "sha256": sha256, "fingerprint": fingerprint, "note": note}


SCENES_FIRST = ("fewbits train --data scenes --code grid --bits 256 --minutes 120 --steps 60000 --w_adv 0.005 "
                "--out runs/scenes-256-first")
MODELS = {m["name"]: m for m in [
    _entry('photos-256', 'codec', 'photos', bits=256, fingerprint=126,
           description="the default: any photo's colour layout in about 200 bits",
           commands=['fewbits train --data photos --code grid --w_adv 0.005'],
           note='trained on all 37 training photos, before the validation split',
           sha256='c9f8807bc3e64c5c90925a637489137429cab86f31fd74788afb6d592ae82c0b'),
    _entry('photos-1472', 'codec', 'photos', bits=1472, fingerprint=119,
           description="photos at WebP's smallest files (about 1,000 bits); use --search 400",
           commands=['fewbits train --data photos --code grid --bits 1472 --deep 256 --w_adv 0.05 '
                     '--steps 10000 --minutes 70'],
           note='trained on all 37 training photos, before the validation split',
           sha256='8d8fa8c2b47d1c8bf88e5791687f6b6168185d2b716a4465280290a2036197bd'),
    _entry('easyvqa-256', 'codec', 'easyvqa', bits=256, fingerprint=155,
           description='easy-VQA images (one coloured shape) for VQA, global code',
           commands=['fewbits train --bits 256'],
           note='trained on every training image, before the validation split',
           sha256='57a015a386fdc51c354e37aacd6f381e542e7d5a8249da6525a182b70a7dc9ae'),
    _entry('easyvqa-128', 'codec', 'easyvqa', bits=128, fingerprint=80,
           description='easy-VQA at 128 bits',
           commands=['fewbits train --bits 128'],
           note='trained on every training image, before the validation split',
           sha256='88f86f2d99cd68062403c56d4d97ba9b6bcc729f26649b011fb8fa2d094bda27'),
    _entry('easyvqa-64', 'codec', 'easyvqa', bits=64, fingerprint=169,
           description='easy-VQA at 64 bits',
           commands=['fewbits train --bits 64 --w_adv 0.005'],
           note="made at commit d31793d, before the expected rate, then its coder's table counted; "
                "this command, with today's rate term, gave a codec that kept less shape (EXPERIMENTS.md)",
           sha256='598838736e34f7455925b6b4a19ad4427471dab886a7dd51c1db8d301c218c83'),
    _entry('easyvqa-256-no-adv', 'codec', 'easyvqa', bits=256, fingerprint=180,
           description='ablation: easyvqa-256 without the GAN term',
           commands=['fewbits train --bits 256 --w_adv 0 --steps 100000 --minutes 19.5 --out '
                     'runs/easyvqa-256-no-adv'],
           note='trained on every training image, before the validation split',
           sha256='194e0678dc78118f68a372c11cf5d1a231b442440b701dacb66b142c536da179'),
    _entry('easyvqa-256-no-vqa', 'codec', 'easyvqa', bits=256, fingerprint=41,
           description='ablation: easyvqa-256 without the VQA terms',
           commands=['fewbits train --bits 256 --w_kl 0 --w_feat 0 --steps 100000 --minutes 19.5 '
                     '--out runs/easyvqa-256-no-vqa'],
           note='trained on every training image, before the validation split',
           sha256='0853c988333550e8cca79bae69fdc6dfe8426feb571dd29dd71a7f900d0f0e3d'),
    _entry('scenes-256', 'codec', 'scenes', bits=256, fingerprint=173,
           description='scenes of 1-6 shapes for VQA, grid code',
           commands=[SCENES_FIRST,
                     'fewbits train --data scenes --code grid --bits 256 --init '
                     'runs/scenes-256-first/codec.pt --minutes 62 --steps 100000 --out '
                     'runs/scenes-256'],
           note='its first run trained with the rate of the drawn bits, the term before the expected rate',
           sha256='cba50e4a5ffdf8222090377a76ca41fa4e3a8790ee0bdebe57a5479538fff41c'),
    _entry('scenes-128', 'codec', 'scenes', bits=128, fingerprint=179,
           description='scenes at 128 bits',
           commands=['fewbits train --data scenes --code grid --bits 128 --minutes 60 --steps 18000 '
                     '--w_adv 0.005'],
           note='trained with the rate of the drawn bits, the term before the expected rate',
           sha256='452b2af292c6665ecfa991c77db2fa4f38d0b633c2ecc803da73c12cb2c4adda'),
    _entry('scenes-map-120', 'codec', 'scenes', bits=120, fingerprint=177,
           description='scenes with an importance map: 120 bits on average, more for busier scenes',
           commands=[SCENES_FIRST,
                     'fewbits train --data scenes --code map --bits 120 --init '
                     'runs/scenes-256-first/codec.pt --minutes 150 --steps 100000 --w_adv 0.005 --out'
                     ' runs/scenes-map-120-first',
                     'fewbits train --data scenes --code map --bits 120 --init '
                     'runs/scenes-map-120-first/codec.pt --minutes 105 --steps 100000 --w_adv 0.005 '
                     '--out runs/scenes-map-120'],
           note="its first step's run trained with the rate of the drawn bits",
           sha256='61626adb908aa322ef641d5abe9e465873d116e9208307be04d82b2fa71009fe'),
    _entry('vqa-easyvqa-loss', 'vqa', 'easyvqa',
           description="the attention VQA model in the easy-VQA codecs' loss, frozen",
           commands=['fewbits vqa --data easyvqa --seed 0 --out runs/vqa-easyvqa-loss.pt'],
           sha256='7d629d37b70b87ed79cea6a25065c451fb2f5e4993680d9248b26d7398a25db4'),
    _entry('vqa-easyvqa-judge', 'vqa', 'easyvqa',
           description='the same family, seed 1: for comparison only',
           commands=['fewbits vqa --data easyvqa --seed 1 --out runs/vqa-easyvqa-judge.pt'],
           sha256='62fd9694f5993cb1943b4c8bcb802f7e826a4d8e20f479078988b881b9e0af0b'),
    _entry('vqa-scenes-loss', 'vqa', 'scenes',
           description="the attention VQA model in the scenes codecs' loss, frozen",
           commands=['fewbits vqa --data scenes --seed 0 --out runs/vqa-scenes-loss.pt'],
           sha256='4d3e2401b5149bcf453a65b1229eb80a5fe57985abac4249ddb469786fbcc5fd'),
    _entry('vqa-scenes-judge', 'vqa', 'scenes',
           description='the same family, seed 1: for comparison only',
           commands=['fewbits vqa --data scenes --seed 1 --out runs/vqa-scenes-judge.pt'],
           sha256='f724cc6649c9f6af625def008451c94c0f98c65c19d9f6bc1bcba4c84f6bdfca'),
    _entry('judge-easyvqa-film', 'judge', 'easyvqa',
           description='held-out judge: FiLM with coordinates',
           commands=['fewbits judges --data easyvqa --family film --out runs/judge-easyvqa-film.pt'],
           sha256='64a6ee94d50e3fdb8b8543d2d0a83a79839d72ab0cbc5f910fc4b43617d68b7c'),
    _entry('judge-easyvqa-fusion', 'judge', 'easyvqa',
           description='held-out judge: late fusion, image vector times bag of words',
           commands=['fewbits judges --data easyvqa --family fusion --epochs 15 --out '
                     'runs/judge-easyvqa-fusion.pt'],
           sha256='a9696128dd24d1bbbf7ef00a0dc3987efae0f3458f5d58a9ece3c79b8c9d1aa8'),
    _entry('judge-scenes-symbolic', 'judge', 'scenes',
           description="held-out judge: a detector and the scenes' question programs",
           commands=['fewbits judges --data scenes --family symbolic --out runs/judge-scenes-symbolic.pt'],
           sha256='949e6344bbf43e9a431e31c1f64178c6e9b77a5ac50a0c62dd8e3b402854873d'),
    _entry('judge-scenes-transformer', 'judge', 'scenes',
           description='held-out judge: a transformer over cells and words',
           commands=['fewbits judges --data scenes --family transformer --epochs 16 --minutes 62 '
                     '--out runs/judge-scenes-transformer.pt'],
           sha256='0a8542663d1e3a47244dedad8ad6958edcfce8ea98b11efc341ba210a20b86b2'),
]}
CODECS = [name for name, m in MODELS.items() if m["kind"] == "codec"]


@lru_cache(maxsize=None)
def sha256_of(path, mtime_ns):
    """The file's sha256, hashed once per version of the file (mtime_ns tells the versions apart)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def checked_path(name_or_path):
    """A zoo name -> its file, refused in one line if it is missing or its hash differs from the
    manifest; any other name is a path, returned as it is (files.load_checkpoint checks it)."""
    entry = MODELS.get(str(name_or_path))
    if entry is None:
        return Path(name_or_path)
    path = FOLDER / entry["file"]
    if not path.is_file():
        raise CheckpointError(f"{entry['name']}: {path} is missing from this installation")
    if sha256_of(str(path), path.stat().st_mtime_ns) != entry["sha256"]:
        raise CheckpointError(f"{entry['name']}: {path} differs from the zoo's (sha256 mismatch); reinstall it")
    return path


def made_by(fingerprint):
    """The shipped codecs whose files carry this fingerprint byte (one byte: possibly several)."""
    return [name for name in CODECS if MODELS[name]["fingerprint"] == fingerprint]


def describe(data):
    """What a codec was trained on, in words, for the line the command line prints first."""
    words = {"photos": "photos (a 64×64 impression of the colour layout, not the details)",
             "easyvqa": "easy-VQA (one coloured shape on a light background; a photo comes back as blobs)",
             "scenes": "scenes (1-6 coloured shapes on a light background; a photo comes back as blobs)"}
    return words.get(data, f"the images in {data} (no questions)" if data else "unrecorded data")
