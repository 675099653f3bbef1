"""The model zoo: every shipped model, named once. Everything that lists models reads MODELS.

    path = checked_path("easyvqa-256")     # the file, its sha256 checked; a path is passed through
    names = made_by(fingerprint)           # the shipped codecs whose files carry this fingerprint byte

The manifest is fewbits/checkpoints/zoo.json, beside the files it names. Each entry gives the file,
its sha256, the fingerprint byte its .bin files carry (codecs only), the data it was trained on,
`bits` (the --bits it was trained at), a one-line description, for a codec how it was chosen
(`chosen`), and the commands that make it at this commit, in order. A photo codec's entry may name
the `quality` (PhotoCodec.quality) it encodes at unless told otherwise. A `note` says where the
shipped file came from other code than the commands run today.
"""
import hashlib
import json
from functools import lru_cache
from pathlib import Path

from .files import CheckpointError

FOLDER = Path(__file__).parent / "checkpoints"
DEFAULT = "photo"
MODELS = {m["name"]: {"bits": None, "fingerprint": None, "quality": None, "note": "", **m}
          for m in json.loads((FOLDER / "zoo.json").read_text(encoding="utf-8"))}
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
             "photos-full": "crops of photos (any photo, coded at its own size)",
             "easyvqa": "easy-VQA (one coloured shape on a light background; a photo comes back as blobs)",
             "scenes": "scenes (1-6 coloured shapes on a light background; a photo comes back as blobs)",
             "clevr": "CLEVR-like 3D scenes at 128×128 (3-10 spheres, cubes and cylinders on grey)"}
    return words.get(data, f"the images in {data} (no questions)" if data else "unrecorded data")
